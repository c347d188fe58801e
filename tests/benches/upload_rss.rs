//! `cargo bench -p hilite-tests --bench upload_rss` (part of `make bench`): peak resident memory
//! of this process while it uploads a 1 GiB file to each strict fake platform through the
//! production clients (`Platforms::from_config`, the platforms' real chunk rules): YouTube's
//! resumable upload in 8 MiB chunks, TikTok's `FILE_UPLOAD` in 10 MiB chunks, and Instagram
//! pulling the file from the presigned media URL that this process serves (the embedded media
//! route, as `hilite serve` does). DESIGN.md §6: constant memory whatever the file size; the
//! target is under 64 MiB.
//!
//! The fakes run in a child process (this binary again, with `HILITE_UPLOAD_BENCH_FAKES=1`), so
//! what they buffer is not counted. Before each platform the peak is reset (`5` written to
//! `/proc/self/clear_refs`, Linux ≥ 4.0) and the resident size read as that platform's
//! baseline; after it `VmHWM` is its peak. The 1 GiB file is sparse: made at once, read as
//! zeros through the page cache (which is not resident in this process).
//!
//! `UPLOAD_BENCH_MIB` changes the size (e.g. 256 for a quick run).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use harness::backends::TestBackend;
use harness::fake_platforms::{config_for, Config as FakeConfig, FakePlatforms};
use hilite::domain::{MediaKey, Platform, Privacy, ResumeHandles};
use hilite::pipeline::publish::Platforms;
use hilite::platforms::tiktok::ChunkRules;
use hilite::platforms::{
    youtube, AccessToken, PlatformError, PostJob, PostText, ProgressSink, Step,
};

const TARGET_MIB: f64 = 64.0;
const FAKES_ENV: &str = "HILITE_UPLOAD_BENCH_FAKES";

struct Discard;

#[async_trait::async_trait]
impl ProgressSink for Discard {
    async fn save(&mut self, _: &ResumeHandles) -> Result<(), PlatformError> {
        Ok(())
    }
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak() {
    // Resets VmHWM to the current RSS (Documentation/filesystems/proc.rst, clear_refs).
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!(
            "cannot reset the peak RSS: figures after the first platform include earlier ones"
        );
    }
}

fn main() {
    if std::env::var_os(FAKES_ENV).is_some() {
        return serve_fakes();
    }
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and test discovery: nothing to list.
        return;
    }
    let mib: u64 = std::env::var("UPLOAD_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let over = rt.block_on(run(mib));
    if over {
        std::process::exit(1);
    }
}

/// The child: the three fakes with the platforms' real chunk rules, until stdin closes.
fn serve_fakes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let rules = ChunkRules::TIKTOK;
        let fake = FakePlatforms::start(FakeConfig {
            yt_unit: youtube::CHUNK_UNIT,
            tt_min: rules.min,
            tt_max: rules.max,
            tt_last_max: rules.last_max,
        })
        .await;
        println!("{}", fake.base);
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
        })
        .await;
    });
}

async fn run(mib: u64) -> bool {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env(FAKES_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the fakes");
    let mut base = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut base)
        .expect("the fakes' address");
    let base = base.trim().to_string();

    let b = TestBackend::embedded(3).await;
    let mut config = b.config.clone();
    config.youtube = config_for(&base, "youtube");
    config.tiktok = config_for(&base, "tiktok");
    config.instagram = config_for(&base, "instagram");
    let platforms = Platforms::from_config(&config).expect("clients");

    let size = mib * 1024 * 1024;
    let file = b.scratch().join("big.mp4");
    std::fs::File::create(&file)
        .and_then(|f| f.set_len(size))
        .expect("sparse file");
    let key = MediaKey::parse("shorts/UploadBench/short.mp4").expect("key");
    b.ports
        .media
        .put_file(&key, &file, "video/mp4")
        .await
        .expect("into the media store");
    let media_url = b
        .ports
        .media
        .presign_get(&key, std::time::Duration::from_secs(3600))
        .await
        .expect("media URL");
    let text = PostText {
        title: "upload bench".into(),
        description: "1 GiB".into(),
        tags: vec![],
    };
    let job = PostJob {
        file: &file,
        size,
        content_type: "video/mp4",
        media_url: Some(&media_url),
        duration_secs: 30.0,
        text: &text,
        privacy: Privacy::Public,
    };

    let mut over = false;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "upload_rss: {mib} MiB to each fake platform; peak RSS of this process (target < {TARGET_MIB} MiB)"
    );
    let _ = writeln!(
        out,
        "{:<10} {:>14} {:>12} {:>8} {:>9} {:>8}",
        "platform", "baseline MiB", "peak MiB", "peak/base", "secs", "MiB/s"
    );
    for platform in Platform::ALL {
        let (publisher, _) = platforms.client(platform).expect("client");
        let token = AccessToken::new(format!("{platform}-access-0"));
        reset_peak();
        let baseline = status_kib("VmRSS") as f64 / 1024.0;
        let started = Instant::now();
        let mut handles = ResumeHandles::default();
        let mut posted = false;
        // Instagram answers "processing" first; every call after the first continues.
        for _ in 0..20 {
            match publisher
                .publish(&token, &job, &mut handles, &mut Discard)
                .await
            {
                Ok(Step::Posted(_)) => {
                    posted = true;
                    break;
                }
                Ok(Step::Processing { .. }) => {}
                Err(e) => panic!("{platform}: {e}"),
            }
        }
        assert!(posted, "{platform} never finished");
        let secs = started.elapsed().as_secs_f64();
        let peak = status_kib("VmHWM") as f64 / 1024.0;
        over |= peak >= TARGET_MIB;
        let _ = writeln!(
            out,
            "{:<10} {:>14.1} {:>12.1} {:>8.2}x {:>9.2} {:>8.0}{}",
            platform.as_str(),
            baseline,
            peak,
            peak / baseline.max(1.0),
            secs,
            mib as f64 / secs,
            if peak >= TARGET_MIB {
                "  OVER TARGET"
            } else {
                ""
            }
        );
    }
    drop(child.stdin.take());
    let _ = child.wait();
    over
}
