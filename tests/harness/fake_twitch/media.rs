//! The clip files the fake CDN serves: a one-second landscape (320×180) and portrait (180×320)
//! MP4 with a tone, made with ffmpeg the first time a test needs them and kept for the process.

use std::process::Command;
use std::sync::OnceLock;

pub struct ClipMedia {
    pub landscape: Vec<u8>,
    pub portrait: Vec<u8>,
}

static MEDIA: OnceLock<ClipMedia> = OnceLock::new();

/// The generated files (blocking on first use: call from `spawn_blocking` in async code).
pub fn clip_media() -> &'static ClipMedia {
    MEDIA.get_or_init(|| ClipMedia {
        landscape: render(320, 180),
        portrait: render(180, 320),
    })
}

fn render(width: u32, height: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir for ffmpeg");
    let out = dir.path().join("clip.mp4");
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc=size={width}x{height}:rate=15:duration=1"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=1"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
        ])
        .arg(&out)
        .status()
        .expect("run ffmpeg (make setup installs it)");
    assert!(
        status.success(),
        "ffmpeg failed to make a {width}x{height} test clip"
    );
    std::fs::read(&out).expect("read the generated clip")
}
