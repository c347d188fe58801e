//! Fault injectors that stand between HiLite and a real tool or service: an `ffmpeg` wrapper
//! that fails the runs whose input carries a planned marker (a render failing N times, or
//! always), and an HTTP proxy in front of `moto_server` that answers S3 writes with errors
//! for a while (S3's `SlowDown`/`InternalError`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// The wrapper's folder: `ffmpeg` (the script) and `plan` (one `MARKER LIMIT` per line, LIMIT
/// a count or `always`; a marker's failures so far are counted in `count.MARKER`).
pub struct FfmpegWrapper {
    pub dir: PathBuf,
    plan: Mutex<()>,
}

/// The process-wide wrapper, put first on this process's `PATH` on first use (every ffmpeg
/// run by the in-process pipeline goes through it; without a planned marker it is ffmpeg).
pub fn ffmpeg_wrapper() -> &'static FfmpegWrapper {
    static W: OnceLock<FfmpegWrapper> = OnceLock::new();
    W.get_or_init(|| {
        let w = FfmpegWrapper::install(
            // For the life of the process (a later HiLite process removes it).
            hilite::scratch::folder("ffmpeg-wrapper-")
                .expect("wrapper dir")
                .keep(),
        );
        let path = std::env::var("PATH").unwrap_or_default();
        // Set once, before any render of this process: Rust's own env access is locked, and
        // the pipeline reads PATH only when it spawns ffmpeg.
        std::env::set_var("PATH", format!("{}:{path}", w.dir.display()));
        w
    })
}

impl FfmpegWrapper {
    /// Write the wrapper into `dir` (for a child process: put `dir` first on its `PATH`).
    pub fn install(dir: PathBuf) -> Self {
        let real = which("ffmpeg");
        let script = format!(
            r#"#!/bin/sh
# Test wrapper: fail runs whose input carries a planned marker, else run the real ffmpeg.
dir='{dir}'
prev=''
for a in "$@"; do
  if [ "$prev" = "-i" ] && [ -f "$a" ] && [ -f "$dir/plan" ]; then
    while read -r marker limit; do
      [ -n "$marker" ] || continue
      if grep -q -a "hilite-e2e:$marker" "$a"; then
        n=$(cat "$dir/count.$marker" 2>/dev/null || echo 0)
        if [ "$limit" = always ] || [ "$n" -lt "$limit" ]; then
          # Written aside then renamed: a render kills its other ffmpeg when one fails, and a
          # wrapper killed between truncating and writing the count would leave it empty.
          echo $((n + 1)) > "$dir/count.$marker.$$"
          mv -f "$dir/count.$marker.$$" "$dir/count.$marker"
          echo "injected ffmpeg failure for $marker" >&2
          exit 1
        fi
      fi
    done < "$dir/plan"
  fi
  prev="$a"
done
exec '{real}' "$@"
"#,
            dir = dir.display(),
            real = real.display()
        );
        let bin = dir.join("ffmpeg");
        std::fs::write(&bin, script).expect("write the ffmpeg wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
            .expect("make the wrapper executable");
        Self {
            dir,
            plan: Mutex::new(()),
        }
    }

    /// Fail the next `limit` runs on inputs carrying `marker` (`None`: every run).
    pub fn fail(&self, marker: &str, limit: Option<u32>) {
        let _one = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join("plan");
        let mut lines: Vec<String> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().next() != Some(marker))
            .map(str::to_string)
            .collect();
        lines.push(match limit {
            Some(n) => format!("{marker} {n}"),
            None => format!("{marker} always"),
        });
        std::fs::write(&path, lines.join("\n") + "\n").expect("write the plan");
    }

    /// Stop failing `marker`.
    pub fn heal(&self, marker: &str) {
        self.fail(marker, Some(0));
    }

    /// Runs failed so far for `marker`.
    pub fn failures(&self, marker: &str) -> u32 {
        std::fs::read_to_string(self.dir.join(format!("count.{marker}")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn which(program: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH (make setup installs it)"))
}

/// A proxy to `moto_server` whose next S3 writes (PUT and POST) fail with 503 `SlowDown`.
#[derive(Clone)]
pub struct S3Proxy {
    pub url: String,
    failing: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    failing: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    _calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl S3Proxy {
    pub async fn start() -> Self {
        let upstream = format!("http://{}", crate::moto::endpoint());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the S3 proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let failing = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let state = ProxyState {
            upstream,
            http: reqwest::Client::new(),
            failing: failing.clone(),
            refused: refused.clone(),
            _calls: Arc::default(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            failing,
            refused,
        }
    }

    /// The next `n` writes fail.
    pub fn fail_writes(&self, n: usize) {
        self.failing.store(n, Ordering::SeqCst);
    }

    /// An S3 client through this proxy (path-style, as local endpoints need) that makes one
    /// attempt per request: each refusal reaches the stage, whichever of the concurrent writes
    /// it falls on. (With the SDK's own retries, a few refusals spread over concurrent writes
    /// are all absorbed, and the test would depend on timing.)
    pub async fn client(&self) -> aws_sdk_s3::Client {
        let sdk = crate::aws::sdk_config().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .endpoint_url(&self.url)
                .force_path_style(true)
                .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                .build(),
        )
    }
}

async fn forward(State(s): State<ProxyState>, req: Request<Body>) -> Response {
    let write = matches!(*req.method(), Method::PUT | Method::POST);
    if write
        && s.failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        s.refused.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        )
            .into_response();
    }
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut out = s
        .http
        .request(parts.method.clone(), format!("{}{path}", s.upstream))
        .body(bytes);
    for (k, v) in &parts.headers {
        if k != "host" {
            out = out.header(k, v);
        }
    }
    match out.send().await {
        Ok(r) => {
            let mut b = Response::builder().status(r.status().as_u16());
            for (k, v) in r.headers() {
                b = b.header(k, v);
            }
            let bytes: Bytes = r.bytes().await.unwrap_or_default();
            b.body(Body::from(bytes))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
