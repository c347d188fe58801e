//! The media round trip measured in a child process (`media-roundtrip`), so its peak memory is
//! its own and not the test runner's.

use serde::Deserialize;

use crate::backends::TestBackend;

#[derive(Debug, Deserialize)]
pub struct RoundTrip {
    pub bytes: u64,
    pub identical: bool,
    pub baseline_rss_mib: f64,
    pub peak_rss_mib: f64,
    pub put_secs: f64,
    pub get_secs: f64,
}

impl std::fmt::Display for RoundTrip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} MiB, peak RSS {:.1} MiB (baseline {:.1} MiB), put {:.2} s, get {:.2} s",
            self.bytes / (1024 * 1024),
            self.peak_rss_mib,
            self.baseline_rss_mib,
            self.put_secs,
            self.get_secs
        )
    }
}

/// Run `media-roundtrip` (`exe`: its path, which only the test target knows through
/// `env!("CARGO_BIN_EXE_media-roundtrip")`) against `b`'s backend with a file of `mib` MiB.
pub async fn round_trip_in_child(exe: &str, b: &TestBackend, mib: u64) -> RoundTrip {
    let out = tokio::process::Command::new(exe)
        .arg("--mib")
        .arg(mib.to_string())
        .arg("--dir")
        .arg(b.scratch())
        .envs(b.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .expect("run media-roundtrip");
    assert!(
        out.status.success(),
        "media-roundtrip failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("media-roundtrip report")
}
