//! `make bench` for the analysis (DESIGN.md §6): audio analysis speed as a multiple of real
//! time on a generated 60 s clip shaped like Twitch's (720p H.264 at 6 Mb/s, AAC-LC stereo at
//! 48 kHz), beside `ffmpeg -af ebur128` on the same file timed in the same run; and chat
//! analysis of 1,000,000 synthetic messages. The figures are printed before criterion's own
//! measurements.
//!
//! Run alone with `cargo bench -p hilite-shared --bench analysis`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hilite::analysis::audio::analyze_file;
use hilite::analysis::chat::{analyze, ChatHypeConfig, ChatMessage};
use hilite::analysis::AudioConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CLIP_SECS: f64 = 60.0;
const MESSAGES: usize = 1_000_000;
/// Timed runs behind each printed figure (the median is printed).
const RUNS: usize = 7;

/// A 60 s clip: 720p test pattern at Twitch's bitrate, and audio that varies like a stream
/// (pink noise under a tone, loudness swinging every few seconds).
fn make_clip(dir: &Path) -> PathBuf {
    let path = dir.join("bench-60s.mp4");
    let audio = "aevalsrc='0.25*sin(2*PI*440*t)*(0.6+0.4*sin(2*PI*t/7))|0.25*sin(2*PI*660*t)*(0.6+0.4*sin(2*PI*t/5))':s=48000:d=60";
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30:duration=60",
        ])
        .args(["-f", "lavfi", "-i", audio])
        .args([
            "-f",
            "lavfi",
            "-i",
            "anoisesrc=color=pink:amplitude=0.1:duration=60:sample_rate=48000",
        ])
        .args([
            "-filter_complex",
            "[1:a][2:a]amix=inputs=2:normalize=0[a]",
            "-map",
            "0:v",
            "-map",
            "[a]",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "6M",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-c:a",
            "aac",
            "-profile:a",
            "aac_low",
            "-b:a",
            "160k",
            "-ac",
            "2",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg is needed to generate the bench clip (`make setup`)");
    assert!(status.success(), "ffmpeg could not generate the bench clip");
    path
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

fn ffmpeg_ebur128(path: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-af", "ebur128", "-f", "null", "-"])
        .stdout(Stdio::null())
        .status()
        .expect("ffmpeg");
    assert!(status.success());
}

fn audio(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = make_clip(dir.path());
    let cfg = AudioConfig::default();
    let signals = analyze_file(&clip, &cfg).expect("the bench clip analyses");
    assert!(
        (signals.duration_secs - CLIP_SECS).abs() < 0.5,
        "{}",
        signals.duration_secs
    );

    println!("\n== HiLite analysis benchmarks (medians of {RUNS} runs) ==");
    let ours = time(|| analyze_file(&clip, &cfg).expect("analysis"));
    let theirs = time(|| ffmpeg_ebur128(&clip));
    let x = |d: Duration| CLIP_SECS / d.as_secs_f64();
    println!(
        "audio, {CLIP_SECS:.0} s clip ({:.1} MB): hilite {:.1} ms = {:.0}x real time | ffmpeg -af ebur128 {:.1} ms = {:.0}x real time | hilite/ffmpeg speed {:.2}",
        std::fs::metadata(&clip).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0),
        ours.as_secs_f64() * 1e3,
        x(ours),
        theirs.as_secs_f64() * 1e3,
        x(theirs),
        theirs.as_secs_f64() / ours.as_secs_f64(),
    );

    c.bench_function("audio: decode + EBU R128 of a 60 s clip", |b| {
        b.iter(|| analyze_file(&clip, &cfg))
    });
    c.bench_function("audio: ffmpeg -af ebur128 on the same clip", |b| {
        b.iter(|| ffmpeg_ebur128(&clip))
    });
}

/// A four-hour chat of `MESSAGES`: steady talk with a burst of laughter and emotes every ten
/// minutes.
fn synthetic_chat() -> Vec<ChatMessage> {
    let mut rng = StdRng::seed_from_u64(2026);
    let span = 4.0 * 3600.0;
    let quiet = [
        "hi chat",
        "what game is this",
        "gg",
        "he is so good at this",
        "first time here",
        "nice shot",
    ];
    let loud = [
        "KEKW",
        "LMAOOO",
        "jajajaja KEKW",
        "OMEGALUL OMEGALUL",
        "no way",
        "hahaha LUL",
        "kkkkkkk",
        "mdr",
    ];
    (0..MESSAGES)
        .map(|i| {
            // One message in five belongs to a burst.
            let (offset_secs, text) = if i % 5 == 0 {
                let burst = rng.gen_range(0..24) as f64 * 600.0 + 300.0;
                (
                    burst + rng.gen_range(0.0..20.0),
                    loud[rng.gen_range(0..loud.len())],
                )
            } else {
                (
                    rng.gen_range(0.0..span),
                    quiet[rng.gen_range(0..quiet.len())],
                )
            };
            ChatMessage {
                offset_secs,
                text: text.to_string(),
                emote_ids: Vec::new(),
            }
        })
        .collect()
}

fn chat(c: &mut Criterion) {
    let messages = synthetic_chat();
    let cfg = ChatHypeConfig::default();
    let hype = analyze(&messages, &cfg).expect("default config");
    let took = time(|| analyze(&messages, &cfg).expect("analysis"));
    println!(
        "chat, {MESSAGES} messages over 4 h: {:.0} ms ({:.0} ns a message), {} moments found",
        took.as_secs_f64() * 1e3,
        took.as_nanos() as f64 / MESSAGES as f64,
        hype.moments.len(),
    );
    c.bench_function("chat: hype and moments of 1,000,000 messages", |b| {
        b.iter(|| analyze(&messages, &cfg))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = audio, chat
}
criterion_main!(benches);
