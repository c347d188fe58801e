//! Media fixtures generated at test time with ffmpeg and espeak-ng (DESIGN.md §5), never
//! committed: clips shaped like Twitch's (H.264 video, AAC-LC stereo audio at 48 kHz in MP4)
//! whose timeline the test knows, so it can check what analysis makes of them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What espeak-ng says in the speech fixture.
pub const SENTENCE: &str = "No way. Did you see that? That was the best play of the night.";

/// A clip with silence at both ends, speech, a loud burst and speech again, and where each is.
#[derive(Debug, Clone)]
pub struct SpeechClip {
    pub path: PathBuf,
    pub duration_secs: f64,
    /// The first and the last sound (the speech's edges).
    pub sound_start_secs: f64,
    pub sound_end_secs: f64,
    /// The loud burst (pink noise, like a crowd or a shout).
    pub burst_start_secs: f64,
    pub burst_end_secs: f64,
}

/// Leading silence of the speech fixture.
pub const LEAD_SILENCE_SECS: f64 = 3.0;
/// Trailing silence of the speech fixture.
pub const TAIL_SILENCE_SECS: f64 = 4.0;
const BURST_SECS: f64 = 1.5;
const PAUSE_SECS: f64 = 1.0;

/// Silence, [`SENTENCE`], a pause, a loud burst, a pause, the sentence again, silence. The
/// speech is talk (about −27 LUFS), the burst a shout over it (about −15 LUFS).
pub fn speech_with_burst(dir: &Path) -> SpeechClip {
    let speech = dir.join("sentence.wav");
    run(
        Command::new("espeak-ng")
            .arg("-w")
            .arg(&speech)
            .arg(SENTENCE),
        "espeak-ng",
    );
    let said = duration_of(&speech);
    let first = LEAD_SILENCE_SECS;
    let burst = first + said + PAUSE_SECS;
    let second = burst + BURST_SECS + PAUSE_SECS;
    let end_of_sound = second + said;
    let total = end_of_sound + TAIL_SILENCE_SECS;
    let path = dir.join("speech-burst.mp4");
    let ms = |t: f64| (t * 1000.0).round() as u64;
    let graph = format!(
        "[1:a]volume=0.35,asplit=2[s1][s2];\
         [s1]adelay={first}:all=1[a1];\
         [s2]adelay={second}:all=1[a2];\
         [2:a]adelay={burst}:all=1[b];\
         [a1][a2][b]amix=inputs=3:normalize=0:duration=longest,apad,aresample=48000[a]",
        first = ms(first),
        second = ms(second),
        burst = ms(burst),
    );
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size=320x240:rate=15:duration={total}"),
        "-i",
        path_str(&speech),
        "-f",
        "lavfi",
        "-i",
        &format!("anoisesrc=color=pink:amplitude=0.7:duration={BURST_SECS}"),
        "-filter_complex",
        &graph,
        "-map",
        "0:v",
        "-map",
        "[a]",
        "-t",
        &total.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-profile:a",
        "aac_low",
        "-ac",
        "2",
        "-b:a",
        "128k",
        path_str(&path),
    ]);
    SpeechClip {
        path,
        duration_secs: total,
        sound_start_secs: first,
        sound_end_secs: end_of_sound,
        burst_start_secs: burst,
        burst_end_secs: burst + BURST_SECS,
    }
}

/// Video with an audio track of digital silence.
pub fn silent_clip(dir: &Path, secs: f64) -> PathBuf {
    let path = dir.join("silent.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size=320x240:rate=15:duration={secs}"),
        "-f",
        "lavfi",
        "-i",
        "anullsrc=channel_layout=stereo:sample_rate=48000",
        "-t",
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-profile:a",
        "aac_low",
        path_str(&path),
    ]);
    path
}

/// Video without any audio track.
pub fn video_only_clip(dir: &Path, secs: f64) -> PathBuf {
    let path = dir.join("video-only.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=size=320x240:rate=15:duration={secs}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-an",
        path_str(&path),
    ]);
    path
}

fn ffmpeg(args: &[&str]) {
    run(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args),
        "ffmpeg",
    );
}

fn run(cmd: &mut Command, tool: &str) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{tool} is needed for media fixtures (`make setup` installs it): {e}")
    });
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The length of a media file in seconds, as ffprobe reads it.
pub fn duration_of(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (installed with ffmpeg by `make setup`)");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("ffprobe prints a duration")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}
