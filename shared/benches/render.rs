//! `make bench` for the render job (issue 5): a generated 60 s 1080p30 clip rendered into a
//! captioned 1080×1920 short on the CPU encoder, with the seconds of each step and the speed
//! as a multiple of real time, beside seed 000's edit of the same clip — a MoviePy script
//! overlaying the same SRT (`render_moviepy.py`), run from the benchmark's own venv — timed in
//! the same run. The ratio of the two is the figure reported.
//!
//! The words come from a fixed list (transcription is not what is compared: the MoviePy edit
//! starts from an SRT too). MoviePy runs as the seed would, with its default `medium` preset;
//! `HILITE_BENCH_MOVIEPY_SAME_PRESET=1` runs it again with the render job's x264 settings, to
//! show the ratio without the encoder settings' share (it takes minutes more).
//!
//! Run alone with `cargo bench -p hilite-shared --bench render`; `make bench` makes the venv
//! (`HILITE_BENCH_PYTHON` points at its python). Without it the baseline is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hilite::domain::Window;
use hilite::render::captions::Word;
use hilite::render::settings::{EncoderChoice, SplitRegions};
use hilite::render::{
    render, LayoutKind, RenderConfig, RenderInput, TranscribeError, Transcriber, Transcript,
};

const CLIP_SECS: f64 = 60.0;
const SPEECH: &str = "No way did you see that that was the best play of the night chat \
                      let's go again one more time";

/// The words of a streamer talking all minute long, about three words a second.
struct ScriptedWords(Vec<Word>);

#[async_trait]
impl Transcriber for ScriptedWords {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn transcribe(&self, _: &Path, _: Option<&str>) -> Result<Transcript, TranscribeError> {
        Ok(Transcript {
            language: Some("en".into()),
            text: self
                .0
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            words: self.0.clone(),
        })
    }
}

fn scripted_words() -> Vec<Word> {
    let vocabulary: Vec<&str> = SPEECH.split(' ').collect();
    let mut words = Vec::new();
    let mut t = 0.3;
    let mut i = 0;
    while t < CLIP_SECS - 0.5 {
        let len = 0.22 + 0.03 * (i % 5) as f64;
        words.push(Word {
            text: vocabulary[i % vocabulary.len()].to_string(),
            start: t,
            end: t + len,
        });
        // A pause after every eighth word: phrases, as people talk.
        t += len + if i % 8 == 7 { 0.6 } else { 0.08 };
        i += 1;
    }
    words
}

/// A 60 s 1080p30 clip shaped like Twitch's: a moving test pattern at 6 Mb/s, speech from
/// espeak-ng over a noise bed, AAC-LC stereo at 48 kHz.
fn make_clip(dir: &Path) -> PathBuf {
    let speech = dir.join("speech.wav");
    run(
        Command::new("espeak-ng").arg("-w").arg(&speech).arg(SPEECH),
        "espeak-ng",
    );
    let path = dir.join("bench-60s-1080p30.mp4");
    run(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=60"])
            .args(["-stream_loop", "-1", "-i"])
            .arg(&speech)
            .args(["-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.05:duration=60"])
            .args([
                "-filter_complex",
                "[1:a]aresample=48000,apad[s];[2:a]aresample=48000[n];[s][n]amix=inputs=2:normalize=0:duration=shortest[a]",
                "-map",
                "0:v",
                "-map",
                "[a]",
                "-t",
                "60",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                "6M",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "160k",
                "-ac",
                "2",
            ])
            .arg(&path),
        "ffmpeg",
    );
    path
}

fn run(cmd: &mut Command, tool: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{tool} cannot start (`make setup`, `make bench`): {e}"));
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The venv's python: `HILITE_BENCH_PYTHON`, else `<target>/bench-venv/bin/python`.
fn bench_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HILITE_BENCH_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    Some(target.join("bench-venv/bin/python")).filter(|p| p.is_file())
}

fn moviepy(
    python: &Path,
    source: &Path,
    srt: &Path,
    out: &Path,
    (preset, params): (&str, &str),
) -> Duration {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/render_moviepy.py");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    run(
        Command::new(python)
            .arg(script)
            .arg(source)
            .arg(srt)
            .arg(out)
            .arg("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
            .arg(preset)
            .arg(threads.to_string())
            .arg(params),
        "the MoviePy baseline",
    );
    started.elapsed()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and wants no run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("hilite-bench-render-")
        .tempdir()
        .expect("temp dir");
    eprintln!("render bench: generating a 60 s 1080p30 clip…");
    let source = make_clip(dir.path());
    let cfg = RenderConfig {
        encoder: EncoderChoice::X264,
        ..RenderConfig::default()
    };
    let input = RenderInput {
        source: source.clone(),
        window: Some(Window {
            start_secs: 0.0,
            end_secs: CLIP_SECS,
        }),
        layout: LayoutKind::Blur,
        split: SplitRegions::default(),
        source_is_portrait: false,
        language: None,
        peak_secs: None,
    };
    let words = ScriptedWords(scripted_words());
    let out_dir = dir.path().join("hilite");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    eprintln!("render bench: rendering with HiLite…");
    let started = Instant::now();
    let out = runtime
        .block_on(render(&input, &cfg, &words, &out_dir))
        .expect("the render job");
    let ours = started.elapsed().as_secs_f64();

    let r = &out.report;
    println!(
        "render job, 60 s 1080p30 → 1080×1920 blur layout, {} captions, {} preset {} ({}):",
        r.captions,
        r.encoder.ffmpeg_name(),
        cfg.x264_preset,
        cfg.x264_params
    );
    for (step, ms) in &r.timings_ms {
        println!("  {step:<32} {:>7.2} s", *ms as f64 / 1000.0);
    }
    println!(
        "  {:<32} {ours:>7.2} s  = {:.2}× real time",
        "total",
        CLIP_SECS / ours
    );

    let Some(python) = bench_python() else {
        println!("MoviePy baseline skipped: no target/bench-venv (`make bench` makes it)");
        return;
    };
    let mut runs = vec![(
        "seed 000's way (MoviePy's default preset medium)",
        ("medium", ""),
    )];
    if std::env::var_os("HILITE_BENCH_MOVIEPY_SAME_PRESET").is_some() {
        runs.push((
            "with HiLite's x264 settings",
            (cfg.x264_preset.as_str(), cfg.x264_params.as_str()),
        ));
    }
    for (label, x264) in runs {
        eprintln!("render bench: MoviePy, {label}…");
        let secs = moviepy(
            &python,
            &source,
            &out.srt,
            &dir.path().join(format!("moviepy-{}.mp4", x264.0)),
            x264,
        )
        .as_secs_f64();
        println!(
            "MoviePy + SRT overlay, {label}: {secs:.2} s = {:.2}× real time; HiLite is {:.1}× faster",
            CLIP_SECS / secs,
            secs / ours
        );
    }
}
