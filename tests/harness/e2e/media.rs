//! The clip files of the end-to-end scenario and the loopback "CDN" that serves them. Each
//! file is a few seconds of test pattern with espeak-ng speech and a loud burst of pink noise
//! (so analysis finds sound and a peak, and the render has words to caption), generated with
//! ffmpeg on first use and kept for the process. A file may carry a marker in its metadata:
//! the ffmpeg wrapper of the render-fault tests (`faults.rs`) recognises its input by it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// What espeak-ng says in every scenario clip.
pub const SAID: &str = "What a play!";
/// Length of every scenario clip, in seconds: short, so the renders fit CI's two cores.
pub const CLIP_SECS: f64 = 4.0;

/// Orientation of a generated clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Landscape,
    Portrait,
}

type Generated = Mutex<HashMap<(Shape, String), Arc<Vec<u8>>>>;

/// The MP4 bytes of a scenario clip, generated once per (shape, marker).
pub fn speech_clip(shape: Shape, marker: &str) -> Arc<Vec<u8>> {
    static CACHE: OnceLock<Generated> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let key = (shape, marker.to_string());
    if let Some(bytes) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return bytes.clone();
    }
    let bytes = Arc::new(generate(shape, marker));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert(bytes)
        .clone()
}

fn generate(shape: Shape, marker: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir for the scenario media");
    let speech = dir.path().join("said.wav");
    run(
        Command::new("espeak-ng").arg("-w").arg(&speech).arg(SAID),
        "espeak-ng (make setup installs it)",
    );
    let size = match shape {
        Shape::Landscape => "320x180",
        Shape::Portrait => "180x320",
    };
    let out = dir.path().join("clip.mp4");
    // Speech from 0.3 s, a shout-like burst from 2.2 s to 3.0 s, then quiet.
    let graph = "[1:a]adelay=300:all=1[s];[2:a]adelay=2200:all=1[b];\
                 [s][b]amix=inputs=2:normalize=0:duration=longest,apad,aresample=48000[a]";
    run(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("testsrc=size={size}:rate=30:duration={CLIP_SECS}"))
            .arg("-i")
            .arg(&speech)
            .args([
                "-f",
                "lavfi",
                "-i",
                "anoisesrc=color=pink:amplitude=0.8:duration=0.8",
            ])
            .args(["-filter_complex", graph, "-map", "0:v", "-map", "[a]"])
            .args(["-t", &CLIP_SECS.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-ac", "2", "-b:a", "96k"])
            .args(["-metadata", &format!("comment=hilite-e2e:{marker}")])
            .args(["-movflags", "+faststart"])
            .arg(&out),
        "ffmpeg (make setup installs it)",
    );
    std::fs::read(&out).expect("read the generated clip")
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback server standing in for Twitch's clip CDN for the scenario's files:
/// `GET /m/{name}` serves what [`MediaHost::put`] registered under `name`, or 404.
#[derive(Clone)]
pub struct MediaHost {
    pub addr: SocketAddr,
    files: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
    fetches: Arc<Mutex<HashMap<String, usize>>>,
    /// Names whose next fetches announce the whole file, send half and close.
    cuts: Arc<Mutex<HashMap<String, usize>>>,
}

impl MediaHost {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the media host");
        let host = Self {
            addr: listener.local_addr().expect("media host address"),
            files: Arc::default(),
            fetches: Arc::default(),
            cuts: Arc::default(),
        };
        let app = Router::new()
            .route("/m/{name}", get(serve))
            .with_state(host.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        host
    }

    /// Serve `bytes` as `name`; returns its URL.
    pub fn put(&self, name: &str, bytes: Arc<Vec<u8>>) -> String {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.into(), bytes);
        format!("http://{}/m/{name}", self.addr)
    }

    /// Stop serving `name`: the CDN answers 404 from now on.
    pub fn remove(&self, name: &str) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// The next `times` fetches of `name` drop the connection halfway through the body.
    pub fn cut(&self, name: &str, times: usize) {
        self.cuts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.into(), times);
    }

    /// How many times `name` was fetched.
    pub fn fetches(&self, name: &str) -> usize {
        self.fetches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(State(host): State<MediaHost>, UrlPath(name): UrlPath<String>) -> Response {
    *host
        .fetches
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(name.clone())
        .or_default() += 1;
    let file = host
        .files
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&name)
        .cloned();
    let cut = {
        let mut cuts = host.cuts.lock().unwrap_or_else(|e| e.into_inner());
        match cuts.get_mut(&name) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    };
    match file {
        Some(bytes) if cut => {
            // Announce the whole file, send half of it, end the body: the connection closes short.
            let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
            let body = Body::from_stream(futures::stream::iter([Ok::<_, std::io::Error>(half)]));
            Response::builder()
                .header(header::CONTENT_TYPE, "video/mp4")
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(body)
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Some(bytes) => ([(header::CONTENT_TYPE, "video/mp4")], bytes.to_vec()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Whether the file at `path` is one of ours carrying `marker` (what the ffmpeg wrapper checks).
pub fn carries_marker(path: &Path, marker: &str) -> bool {
    let needle = format!("hilite-e2e:{marker}");
    std::fs::read(path)
        .map(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or(false)
}
