//! `hilite process FILE`, the real binary on generated clips: the file is analysed (the window
//! around its sound is chosen) and then rendered into the output folder; a silent file is
//! refused with a clear reason and nothing is written.

use std::path::Path;

use harness::fake_transcribe::{FakeTranscribe, API_KEY};
use harness::fixtures::{duration_of, silent_clip, speech_with_burst};
use harness::local::{Hilite, LocalSite};
use hilite::render::captions::Word;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");

/// A site whose transcriber is the fake server.
fn site_with(fake: &FakeTranscribe) -> LocalSite {
    let mut site = LocalSite::new();
    site.extra_env.extend([
        ("HILITE_TRANSCRIBE__BACKEND".to_string(), "api".to_string()),
        (
            "HILITE_TRANSCRIBE__API_BASE".to_string(),
            fake.api_base().to_string(),
        ),
        (
            "HILITE_TRANSCRIBE__API_KEY".to_string(),
            API_KEY.to_string(),
        ),
    ]);
    site
}

async fn run(site: &LocalSite, args: Vec<String>) -> std::process::Output {
    let hilite = Hilite::new(BIN, site);
    let mut cmd = hilite.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || cmd.output().expect("run hilite"))
        .await
        .expect("the command's thread")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test]
async fn a_file_is_analysed_and_the_short_is_cut_around_its_sound() {
    let words = vec![
        Word {
            text: "No".into(),
            start: 0.6,
            end: 0.9,
        },
        Word {
            text: "way.".into(),
            start: 0.9,
            end: 1.3,
        },
    ];
    let fake = FakeTranscribe::start(words).await;
    let site = site_with(&fake);
    let clip = speech_with_burst(site.path());
    let out = site.path().join("out");
    let o = run(
        &site,
        vec![
            "process".into(),
            path_arg(&clip.path),
            "--out".into(),
            path_arg(&out),
        ],
    )
    .await;
    let stdout = text(&o.stdout);
    assert!(
        o.status.success(),
        "stdout: {stdout}\nstderr: {}",
        text(&o.stderr)
    );
    assert!(
        stdout.contains("chosen by the analysis") && stdout.contains("loudest at"),
        "{stdout}"
    );
    assert!(!stdout.contains(API_KEY) && !text(&o.stderr).contains(API_KEY));

    // The window starts before the first sound and ends after the last (within the analysis
    // pad), not at the file's silent edges.
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let (start, end) = (
        report["window"]["start_secs"].as_f64().unwrap(),
        report["window"]["end_secs"].as_f64().unwrap(),
    );
    assert!(
        start >= clip.sound_start_secs - 1.0 && start <= clip.sound_start_secs,
        "window start {start} vs first sound at {}",
        clip.sound_start_secs
    );
    assert!(
        end >= clip.sound_end_secs - 0.1 && end <= clip.sound_end_secs + 1.0,
        "window end {end} vs last sound at {}",
        clip.sound_end_secs
    );
    assert!(end < clip.duration_secs - 2.0, "the silent tail is cut");
    let short = duration_of(&out.join("short.mp4"));
    assert!(
        (short - (end - start)).abs() < 0.1,
        "the short lasts {short} s, the window {} s",
        end - start
    );
    let srt = std::fs::read_to_string(out.join("captions.srt")).unwrap();
    assert!(srt.contains("No way."), "{srt}");
    assert!(std::fs::metadata(out.join("thumbnail.jpg")).unwrap().len() > 1000);
    // The summary says how the picture's bit rate was held, as the report does.
    let rate = &report["video_rate"];
    let line = format!(
        "libx264 ({}, busiest second {:.1} Mb/s)",
        rate["rate_control"].as_str().unwrap(),
        rate["peak_kbps"].as_f64().unwrap() / 1000.0
    );
    assert!(stdout.contains(&line), "{line:?} in {stdout}");
    assert_eq!(fake.accepted().len(), 1, "one transcription request");
}

#[tokio::test]
async fn a_silent_file_is_refused_with_the_way_round_it_and_nothing_is_written() {
    let fake = FakeTranscribe::start(Vec::new()).await;
    let site = site_with(&fake);
    let silent = silent_clip(site.path(), 6.0);
    let out = site.path().join("out");
    let o = run(
        &site,
        vec![
            "process".into(),
            path_arg(&silent),
            "--out".into(),
            path_arg(&out),
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(1), "stdout: {}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains("silent") && err.contains("--start and --end"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for a refused file");
    assert!(fake.accepted().is_empty(), "nothing was transcribed");
}
