//! The encoded picture's bit rate: its busiest second, read from its packets with ffprobe, and
//! how the encode held it under `render.max_video_kbps`, for the render report.
//!
//! libx264 at a constant quantiser (`render.x264_rate_control = "qp"`) has no ceiling of its
//! own: its VBV needs a rate control that plans bits (CRF or ABR). `encode::encode` measures
//! what such a picture spent and encodes it again at CRF under the ceiling when its busiest
//! second went over.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::parts::Picture;
use super::{run_tool, stderr_tail, strings, RenderError};

/// How the delivered picture's bit rate was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateControl {
    /// libx264 at a constant quantiser; its busiest second was under the ceiling.
    Qp,
    /// libx264 at a constant rate factor under the ceiling's one-second buffer (VBV).
    Crf,
    /// NVENC's constant quality under the same buffer.
    Cq,
}

impl RateControl {
    /// The name the report gives it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Qp => "qp",
            Self::Crf => "crf",
            Self::Cq => "cq",
        }
    }
}

/// The delivered picture's bit rate, for the render report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoRate {
    pub rate_control: RateControl,
    /// The most video the short carries in any one second, in kb/s.
    pub peak_kbps: u32,
    /// The constant-quantiser encode's busiest second when it went over `max_video_kbps` and
    /// the picture was encoded again under the ceiling (`rate_control` is then `crf`).
    pub qp_peak_kbps: Option<u32>,
}

/// The picture's busiest second in kb/s (rounded up): the most bits in the second that
/// starts at any of its packets, the parts read one after the other from where each starts in
/// the window.
pub async fn peak_kbps(picture: &Picture, timeout: Duration) -> Result<u32, RenderError> {
    let reads = picture.files_and_starts().map(|(file, start)| async move {
        let packets = video_packets(file, timeout).await?;
        Ok::<_, RenderError>(packets.into_iter().map(move |(t, size)| (t + start, size)))
    });
    let mut packets: Vec<(f64, u64)> = futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect();
    packets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(busiest_second_kbps(&packets))
}

/// Slack on the end of a second, so that the packet exactly one second after another (a
/// timestamp ffprobe prints to the microsecond) falls in the next one.
const EDGE_SECS: f64 = 1e-6;

/// The most kilobits (rounded up) in the second `[t, t + 1)` from any packet's time `t`, the
/// packets given as (seconds, bytes) in time order. A picture shorter than a second counts
/// all its bits.
pub fn busiest_second_kbps(packets: &[(f64, u64)]) -> u32 {
    let (mut end, mut bytes, mut most) = (0, 0u64, 0u64);
    for &(t, size) in packets {
        while end < packets.len() && packets[end].0 < t + 1.0 - EDGE_SECS {
            bytes += packets[end].1;
            end += 1;
        }
        most = most.max(bytes);
        bytes -= size;
    }
    u32::try_from((most * 8).div_ceil(1000)).unwrap_or(u32::MAX)
}

#[derive(Deserialize)]
struct Packets {
    #[serde(default)]
    packets: Vec<Packet>,
}

#[derive(Deserialize)]
struct Packet {
    dts_time: Option<String>,
    size: Option<String>,
}

/// The video packets of an encoded file, as (decode time in seconds, bytes).
async fn video_packets(path: &Path, timeout: Duration) -> Result<Vec<(f64, u64)>, RenderError> {
    let mut args = strings(&[
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=dts_time,size",
        "-of",
        "json",
    ]);
    args.push(path.display().to_string());
    let step = "reading the picture's bit rate";
    let out = run_tool("ffprobe", &args, step, timeout).await?;
    if !out.status.success() {
        return Err(RenderError::Ffmpeg {
            step,
            detail: stderr_tail(&out),
        });
    }
    parse_packets(&out.stdout).map_err(|detail| RenderError::Ffmpeg { step, detail })
}

/// ffprobe's JSON list of packets as (seconds, bytes).
fn parse_packets(json: &[u8]) -> Result<Vec<(f64, u64)>, String> {
    let list: Packets =
        serde_json::from_slice(json).map_err(|e| format!("ffprobe's answer is unreadable: {e}"))?;
    list.packets
        .iter()
        .map(|p| {
            let t = p.dts_time.as_deref().and_then(|t| t.parse::<f64>().ok());
            let size = p.size.as_deref().and_then(|s| s.parse::<u64>().ok());
            match (t, size) {
                (Some(t), Some(size)) if t.is_finite() => Ok((t, size)),
                _ => Err(format!(
                    "a packet without a time or a size: {:?} {:?}",
                    p.dts_time, p.size
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` packets of `bytes` each, 30 a second from `from` seconds.
    fn steady(from: f64, n: usize, bytes: u64) -> Vec<(f64, u64)> {
        (0..n).map(|i| (from + i as f64 / 30.0, bytes)).collect()
    }

    #[test]
    fn the_busiest_second_is_found_wherever_it_starts() {
        // 2 s at 30 fps of 10 000 bytes a frame: 30 frames a second, 2 400 kb/s.
        assert_eq!(busiest_second_kbps(&steady(0.0, 60, 10_000)), 2_400);
        // A 90 000-byte keyframe every second (frames 0 and 30) and 10 000 bytes otherwise:
        // any second holds exactly one keyframe, 90 000 + 29 × 10 000 bytes = 3 040 kb/s.
        let mut keyed = steady(0.0, 60, 10_000);
        keyed[0].1 = 90_000;
        keyed[30].1 = 90_000;
        assert_eq!(busiest_second_kbps(&keyed), 3_040);
        // A burst in the second second: 10 frames of 50 000 bytes from frame 40. A second
        // that starts at frame 20 to 40 holds all of it, 10 × 50 000 + 20 × 10 000 bytes =
        // 5 600 kb/s; one that starts at frame 0 or 30 holds a part of it.
        let mut burst = steady(0.0, 90, 10_000);
        for p in &mut burst[40..50] {
            p.1 = 50_000;
        }
        assert_eq!(busiest_second_kbps(&burst), 5_600);
        // Under a second counts all of it; nothing is nothing; kilobits round up.
        assert_eq!(busiest_second_kbps(&steady(0.0, 10, 10_000)), 800);
        assert_eq!(busiest_second_kbps(&[]), 0);
        assert_eq!(busiest_second_kbps(&[(0.0, 1)]), 1);
    }

    #[test]
    fn a_packet_one_second_after_another_starts_the_next_second() {
        // ffprobe prints times to the microsecond; a part's start added to them can land the
        // later packet a hair under one second after the earlier (31.733325999999998).
        let start = 30.0;
        let packets = [(start + 0.733326, 1_000), (start + 1.733326, 7_000)];
        assert!(packets[1].0 < packets[0].0 + 1.0);
        assert_eq!(busiest_second_kbps(&packets), 56);
    }

    #[test]
    fn ffprobe_packets_are_read_and_a_packet_without_a_time_is_refused() {
        let json = br#"{"packets":[{"dts_time":"0.000000","size":"1234"},{"dts_time":"0.033333","size":"99"}]}"#;
        assert_eq!(
            parse_packets(json).unwrap(),
            vec![(0.0, 1234), (0.033333, 99)]
        );
        let untimed = br#"{"packets":[{"size":"1234"}]}"#;
        assert!(parse_packets(untimed)
            .unwrap_err()
            .contains("without a time"));
        assert!(parse_packets(b"{}").unwrap().is_empty());
        assert!(parse_packets(b"garbage").is_err());
    }

    #[test]
    fn each_rate_control_is_named_as_the_report_writes_it() {
        for control in [RateControl::Qp, RateControl::Crf, RateControl::Cq] {
            let json = serde_json::to_value(control).unwrap();
            assert_eq!(json, control.name());
        }
    }
}
