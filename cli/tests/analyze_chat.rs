//! `hilite analyze-chat` on generated chat logs: the planted moments are printed, highest hype
//! first, `--plot` writes a PNG, a bad log is one clear error — and no backend is touched.

use std::fmt::Write as _;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");

/// Half an hour of plain `[h:mm:ss] user: text` chat, one quiet message every two seconds, and
/// two bursts of laughter: a bigger one at 0:20:00 and a smaller one at 0:05:00.
fn plain_log() -> String {
    let mut log = String::new();
    let mut lines: Vec<(u32, &str)> = (0..900).map(|i| (i * 2, "hi chat")).collect();
    lines.extend((0..300).map(|i| (1200 + i / 15, "KEKW")));
    lines.extend((0..120).map(|i| (300 + i / 10, "lol")));
    lines.sort();
    for (t, text) in lines {
        let _ = writeln!(
            log,
            "[{}:{:02}:{:02}] viewer{}: {text}",
            t / 3600,
            t / 60 % 60,
            t % 60,
            t % 7
        );
    }
    log
}

#[test]
fn the_moments_of_a_chat_log_are_printed_and_plotted() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("chat.log");
    std::fs::write(&log, plain_log()).unwrap();
    let png = dir.path().join("hype.png");
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["analyze-chat"])
        .arg(&log)
        .arg("--plot")
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("1320 messages, 2 moments"), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with(['1', '2']))
        .skip(1)
        .collect();
    assert!(
        rows[0].starts_with("1  0:19:59") || rows[0].starts_with("1  0:20:00"),
        "{stdout}"
    );
    assert!(
        rows[1].starts_with("2  0:04:59") || rows[1].starts_with("2  0:05:00"),
        "{stdout}"
    );
    let header = std::fs::read(&png).unwrap();
    assert_eq!(&header[..8], b"\x89PNG\r\n\x1a\n", "a PNG is written");
    // A file command: no data folder appears.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn a_file_that_is_not_a_chat_log_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("notes.txt");
    std::fs::write(&log, "[0:00:01] alice: hi\nthis is not chat\n").unwrap();
    let out = Command::new(BIN)
        .arg("analyze-chat")
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("notes.txt"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
