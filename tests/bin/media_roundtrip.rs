//! `media-roundtrip`: put a generated file into the configured media store and get it back,
//! then print one JSON line with the peak resident memory of this process (`VmHWM`). The
//! configuration comes from `HILITE_*` variables, exactly as a Lambda function gets it.
//!
//! Usage: `media-roundtrip --mib 200 --dir /tmp/x`

use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use hilite::backend::Ports;
use hilite::config::Config;
use hilite::domain::MediaKey;
use sha2::{Digest, Sha256};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("missing {name}"))
    };
    let mib: u64 = arg("--mib")?.parse()?;
    let dir = std::path::PathBuf::from(arg("--dir")?);

    let config = Config::from_env()?;
    let ports = Ports::from_config(&config).await?;
    let src = dir.join("roundtrip-src.bin");
    let back = dir.join("roundtrip-back.bin");
    write_pseudo_random(&src, mib * 1024 * 1024)?;
    let baseline = rss_kib("VmRSS")?;

    let key = MediaKey::parse("raw/RoundTrip/source.mp4")?;
    let t = Instant::now();
    let bytes = ports.media.put_file(&key, &src, "video/mp4").await?;
    let put_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    ports.media.get_to_file(&key, &back).await?;
    let get_secs = t.elapsed().as_secs_f64();
    let peak = rss_kib("VmHWM")?;
    ports.media.delete(&key).await?;

    let identical = sha256(&src)? == sha256(&back)?;
    std::fs::remove_file(&src)?;
    std::fs::remove_file(&back)?;
    let report = serde_json::json!({
        "bytes": bytes,
        "identical": identical,
        "baseline_rss_mib": baseline as f64 / 1024.0,
        "peak_rss_mib": peak as f64 / 1024.0,
        "put_secs": put_secs,
        "get_secs": get_secs,
    });
    std::io::stdout().write_all(format!("{report}\n").as_bytes())?;
    Ok(())
}

/// Fill a file 1 MiB at a time from a xorshift generator: incompressible, never all in memory.
fn write_pseudo_random(path: &Path, len: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1024 * 1024];
    let mut left = len;
    while left > 0 {
        for word in chunk.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.flush()
}

fn sha256(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().to_vec());
        }
        h.update(&buf[..n]);
    }
}

/// A line of /proc/self/status in KiB (`VmRSS` now, `VmHWM` the peak so far).
fn rss_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|r| r.trim_start_matches(':').trim().strip_suffix("kB"))
        })
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/self/status"))
}
