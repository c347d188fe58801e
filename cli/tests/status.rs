//! `hilite status` prints the stage figures `hilite serve`'s workers count: runs per stage with
//! their outcomes and mean duration, and publish runs per platform. Recorded here through the
//! same `StageMetrics` sink the workers use, then read by the real binary.

use std::time::Duration;

use harness::local::{Hilite, LocalSite};
use hilite::metrics::local::LocalCounters;
use hilite::metrics::{MessageFacts, Outcome, StageMetrics, StageRun};
use hilite::queue::QueueName;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");

fn run(stage: QueueName, body: &str, ms: u64, outcome: Outcome) -> StageRun {
    StageRun {
        stage,
        facts: MessageFacts::read(stage, body),
        attempt: 1,
        duration: Duration::from_millis(ms),
        outcome,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_runs_per_stage_and_posts_per_platform() {
    let site = LocalSite::new();
    drop(site.ports().await);
    let hilite = Hilite::new(BIN, &site);
    let before = hilite.run(&["status"]);
    assert!(before.status.success());
    assert!(String::from_utf8_lossy(&before.stdout).contains("none yet"));

    let counters = LocalCounters::open(&site.config.local.database_path()).unwrap();
    let clip = r#"{"clip_id":"Clip_1"}"#;
    let post = |p: &str| format!(r#"{{"clip_id":"Clip_1","account":"main","platform":"{p}"}}"#);
    for r in [
        run(QueueName::Analyze, clip, 100, Outcome::Succeeded),
        run(QueueName::Analyze, clip, 300, Outcome::Retried),
        run(QueueName::Analyze, clip, 200, Outcome::Failed),
        run(QueueName::Publish, &post("youtube"), 50, Outcome::Succeeded),
        run(QueueName::Publish, &post("youtube"), 50, Outcome::Succeeded),
        run(QueueName::Publish, &post("tiktok"), 50, Outcome::Retried),
    ] {
        counters.record(&r).await;
    }

    let out = hilite.run(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    // The queue table also has a row per stage: read the stage figures' section only.
    let figures = &text[text.find("Stage runs").expect("a Stage runs section")..];
    let row = |first: &str| -> Vec<String> {
        figures
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.first().map(String::as_str) == Some(first))
            .unwrap_or_else(|| panic!("no {first} row in:\n{text}"))
    };
    // stage, runs, succeeded, failed, retried, mean ms
    assert_eq!(row("analyze"), ["analyze", "3", "1", "1", "1", "200"]);
    assert_eq!(row("publish"), ["publish", "3", "2", "0", "1", "50"]);
    // platform, done, not done
    assert_eq!(row("youtube"), ["youtube", "2", "0"]);
    assert_eq!(row("tiktok"), ["tiktok", "0", "1"]);
}
