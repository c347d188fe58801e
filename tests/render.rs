//! The render job on generated fixtures (ffmpeg test pattern + espeak-ng speech + a loud
//! burst), transcribed by the strict fake transcription server: the short's frame, duration,
//! loudness and captions are measured on the output. Renders are kept to a few seconds: CI has
//! two cores.
//!
//! One module per subject under `render/`; the fixtures they share are here.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::fake_transcribe::{FakeTranscribe, Fault, API_KEY};
use hilite::domain::Window;
use hilite::render::bitrate::RateControl;
use hilite::render::captions::Word;
use hilite::render::loudness::Method;
use hilite::render::settings::{EncoderChoice, SplitRegions, TranscribeBackend, X264RateControl};
use hilite::render::transcribe::{self, NoCaptions};
use hilite::render::{
    render, LayoutKind, RenderConfig, RenderError, RenderInput, TranscribeConfig, TranscribeError,
};
use secrecy::SecretString;
use serde_json::Value;

/// The words the fake server returns, in seconds from the window's start (the speech starts
/// 0.5 s into the window).
fn known_words() -> Vec<Word> {
    [
        ("Hello", 0.5, 0.9),
        ("there.", 0.9, 1.3),
        ("This", 1.6, 1.8),
        ("is", 1.8, 1.95),
        ("a", 1.95, 2.05),
        ("big", 2.05, 2.4),
        ("play!", 2.4, 2.9),
    ]
    .iter()
    .map(|&(t, s, e)| Word {
        text: t.into(),
        start: s,
        end: e,
    })
    .collect()
}

struct Source {
    width: u32,
    height: u32,
    fps: u32,
    secs: u32,
    sound: Sound,
}

/// A source's sound track.
enum Sound {
    /// None at all.
    Absent,
    /// Digital silence.
    Silence,
    /// Speech and a burst.
    Speech,
    /// Quiet speech and a 5 ms bang at full scale: no plain gain reaches the loudness target
    /// under the peak ceiling.
    QuietSpeechAndBang,
}

/// Generate a source clip: a test pattern and its sound; speech is espeak-ng saying a known
/// sentence from 1.5 s and a loud 1 kHz burst at 4 s (the true-peak limiter has something to do).
fn make_source(dir: &Path, name: &str, s: Source) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg(format!(
        "testsrc2=size={}x{}:rate={}:duration={}",
        s.width, s.height, s.fps, s.secs
    ));
    match s.sound {
        Sound::Absent => {}
        Sound::Silence => {
            cmd.args([
                "-f",
                "lavfi",
                "-i",
                "anullsrc=r=48000:cl=stereo",
                "-c:a",
                "aac",
            ]);
        }
        Sound::Speech | Sound::QuietSpeechAndBang => {
            let speech = dir.join(format!("{name}.speech.wav"));
            let ok = Command::new("espeak-ng")
                .arg("-w")
                .arg(&speech)
                .arg("Hello there. This is a big play!")
                .status()
                .expect("espeak-ng (make setup)");
            assert!(ok.success());
            let (graph, burst) = if matches!(s.sound, Sound::Speech) {
                (
                    "[1:a]adelay=1500:all=1,apad[s];[2:a]volume=12,adelay=4000:all=1,apad[b];\
                     [s][b]amix=inputs=2:normalize=0,aresample=48000[a]",
                    "sine=frequency=1000:duration=0.4",
                )
            } else {
                (
                    "[1:a]volume=0.5,adelay=1500:all=1,apad[s];[2:a]volume=8,adelay=2500:all=1,apad[b];\
                     [s][b]amix=inputs=2:normalize=0,aresample=48000[a]",
                    "sine=frequency=1000:duration=0.005",
                )
            };
            cmd.arg("-i").arg(&speech);
            cmd.args(["-f", "lavfi", "-i", burst]);
            cmd.args([
                "-filter_complex",
                graph,
                "-map",
                "0:v",
                "-map",
                "[a]",
                "-c:a",
                "aac",
            ]);
        }
    }
    cmd.args([
        "-t",
        &s.secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ])
    .arg(&out);
    assert!(
        cmd.status().expect("ffmpeg (make setup)").success(),
        "fixture {name}"
    );
    out
}

/// The fixture the caption tests render: 6 s of 640×360 at 30 fps with the known speech.
fn landscape_speech(dir: &Path) -> PathBuf {
    make_source(
        dir,
        "landscape.mp4",
        Source {
            width: 640,
            height: 360,
            fps: 30,
            secs: 6,
            sound: Sound::Speech,
        },
    )
}

fn config() -> RenderConfig {
    // The production preset: `ultrafast` would drop to Constrained Baseline whatever the profile.
    RenderConfig {
        encoder: EncoderChoice::Auto,
        ..RenderConfig::default()
    }
}

fn input(source: &Path, window: Option<(f64, f64)>, layout: LayoutKind) -> RenderInput {
    RenderInput {
        source: source.to_path_buf(),
        window: window.map(|(a, b)| Window {
            start_secs: a,
            end_secs: b,
        }),
        layout,
        split: SplitRegions::default(),
        source_is_portrait: false,
        language: None,
        peak_secs: None,
    }
}

fn api_transcriber(
    fake: &FakeTranscribe,
    key: Option<&str>,
) -> std::sync::Arc<dyn transcribe::Transcriber> {
    let cfg = TranscribeConfig {
        backend: TranscribeBackend::Api,
        api_base: fake.api_base(),
        api_key: key.map(|k| SecretString::from(k.to_string())),
        request_timeout_secs: 10,
        ..TranscribeConfig::default()
    };
    transcribe::from_config(&cfg).expect("the API backend builds")
}

fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// ffprobe's lines for `entries` (`frame=…` or `packet=…`) of the first video stream, as CSV
/// without the section name.
fn video_csv(path: &Path, entries: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            entries,
        ])
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "ffprobe {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn stream<'a>(probe: &'a Value, kind: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap()
}

fn num(v: &Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

/// One frame at `t` seconds as 8-bit grey pixels, row by row (1080 wide).
fn frame(path: &Path, t: f64) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-ss",
            &format!("{t:.3}"),
            "-i",
        ])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    assert_eq!(out.stdout.len(), 1080 * 1920, "one 1080x1920 frame");
    out.stdout
}

/// Pixels of `rows` that differ clearly (more than a fifth of the range) between two frames.
fn changed_pixels(a: &[u8], b: &[u8], rows: std::ops::Range<usize>) -> usize {
    let range = rows.start * 1080..rows.end * 1080;
    a[range.clone()]
        .iter()
        .zip(&b[range])
        .filter(|(x, y)| x.abs_diff(**y) > 50)
        .count()
}

#[path = "render/captions_and_loudness.rs"]
mod captions_and_loudness;
#[path = "render/edit_stage.rs"]
mod edit_stage;
#[path = "render/parts.rs"]
mod parts;
#[path = "render/refusals.rs"]
mod refusals;
#[path = "render/shapes_and_rates.rs"]
mod shapes_and_rates;
#[path = "render/transcription_client.rs"]
mod transcription_client;
