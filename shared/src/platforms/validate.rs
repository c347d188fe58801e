//! Checking a rendered short against each platform's rules before uploading it: a video the
//! platform would reject fails its publication at once, with the reason, instead of after an
//! upload. The facts come from `ffprobe`'s JSON (a minimal private probe: the render module's
//! probe did not exist when this was written).
//!
//! The rules, per platform:
//! - YouTube Shorts: vertical or square, up to 3 minutes
//!   (<https://support.google.com/youtube/answer/15424877>); the upload formats of
//!   <https://support.google.com/youtube/answer/1722171>.
//! - TikTok: MP4/WebM/MOV, H.264/H.265/VP8/VP9, 23–60 fps, 360–4096 px a side, at most 4 GB
//!   and 10 minutes (<https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide>;
//!   the creator's own `max_video_post_duration_sec` is checked by the TikTok client).
//! - Instagram Reels: MOV/MP4, H.264/HEVC, AAC at most 48 kHz mono or stereo, 23–60 fps, 3 s to
//!   15 min, at most 1920 px wide and 300 MB
//!   (<https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media#reel-specifications>).

use std::path::Path;

use serde::Deserialize;

use crate::domain::Platform;

#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
}

/// What ffprobe says about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// ffprobe's `format_name`, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    pub duration_secs: f64,
    pub size: u64,
    pub video: Option<VideoStream>,
    pub audio: Option<AudioStream>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot run ffprobe (is ffmpeg installed?): {0}")]
    Spawn(std::io::Error),
    #[error("ffprobe cannot read the video: {0}")]
    Unreadable(String),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: RawFormat,
}

#[derive(Deserialize)]
struct RawStream {
    codec_type: String,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
}

#[derive(Deserialize)]
struct RawFormat {
    format_name: String,
    duration: Option<String>,
    size: Option<String>,
}

fn rate(s: &str) -> f64 {
    match s.split_once('/') {
        Some((n, d)) => match (n.parse::<f64>(), d.parse::<f64>()) {
            (Ok(n), Ok(d)) if d > 0.0 => n / d,
            _ => 0.0,
        },
        None => s.parse().unwrap_or(0.0),
    }
}

/// Parse ffprobe's `-show_format -show_streams` JSON.
pub fn parse(json: &str) -> Result<Probe, ProbeError> {
    let raw: Raw = serde_json::from_str(json).map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let video = raw
        .streams
        .iter()
        .find(|s| s.codec_type == "video")
        .map(|s| VideoStream {
            codec: s.codec_name.clone().unwrap_or_default(),
            width: s.width.unwrap_or(0),
            height: s.height.unwrap_or(0),
            fps: s.avg_frame_rate.as_deref().map_or(0.0, rate),
        });
    let audio = raw
        .streams
        .iter()
        .find(|s| s.codec_type == "audio")
        .map(|s| AudioStream {
            codec: s.codec_name.clone().unwrap_or_default(),
            sample_rate: s
                .sample_rate
                .as_deref()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            channels: s.channels.unwrap_or(0),
        });
    Ok(Probe {
        container: raw.format.format_name,
        duration_secs: raw
            .format
            .duration
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
        size: raw.format.size.and_then(|d| d.parse().ok()).unwrap_or(0),
        video,
        audio,
    })
}

/// Run ffprobe on `path`.
pub async fn probe(path: &Path) -> Result<Probe, ProbeError> {
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(ProbeError::Spawn)?;
    if !out.status.success() {
        return Err(ProbeError::Unreadable(
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(300)
                .collect(),
        ));
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// One platform's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub containers: &'static [&'static str],
    pub video_codecs: &'static [&'static str],
    pub audio_codecs: &'static [&'static str],
    pub min_secs: f64,
    pub max_secs: f64,
    pub max_bytes: u64,
    pub fps: (f64, f64),
    pub min_side: u32,
    pub max_width: u32,
    pub max_height: u32,
    /// Width over height must not exceed this (Shorts are vertical or square).
    pub max_aspect: f64,
    pub max_sample_rate: u32,
    pub max_channels: u32,
}

const GB: u64 = 1_000_000_000;

pub fn rules(platform: Platform) -> Rules {
    match platform {
        Platform::Youtube => Rules {
            containers: &["mp4", "mov", "webm", "matroska"],
            video_codecs: &["h264", "hevc", "vp9", "av1", "mpeg4"],
            audio_codecs: &["aac", "opus", "mp3", "vorbis", "ac3"],
            min_secs: 1.0,
            max_secs: 180.0,
            max_bytes: 256 * GB,
            fps: (1.0, 60.0),
            min_side: 1,
            max_width: 8192,
            max_height: 8192,
            max_aspect: 1.0,
            max_sample_rate: 96_000,
            max_channels: 8,
        },
        Platform::Tiktok => Rules {
            containers: &["mp4", "mov", "webm"],
            video_codecs: &["h264", "hevc", "vp8", "vp9"],
            audio_codecs: &["aac", "mp3", "opus", "vorbis"],
            min_secs: 1.0,
            max_secs: 600.0,
            max_bytes: 4 * GB,
            fps: (23.0, 60.0),
            min_side: 360,
            max_width: 4096,
            max_height: 4096,
            max_aspect: f64::MAX,
            max_sample_rate: 96_000,
            max_channels: 8,
        },
        Platform::Instagram => Rules {
            containers: &["mp4", "mov"],
            video_codecs: &["h264", "hevc"],
            audio_codecs: &["aac"],
            min_secs: 3.0,
            max_secs: 900.0,
            max_bytes: 300 * 1024 * 1024,
            fps: (23.0, 60.0),
            min_side: 1,
            max_width: 1920,
            max_height: 3600,
            max_aspect: f64::MAX,
            max_sample_rate: 48_000,
            max_channels: 2,
        },
    }
}

/// Every reason `platform` would refuse the probed video; empty when it is acceptable.
pub fn check(p: &Probe, platform: Platform) -> Vec<String> {
    let r = rules(platform);
    let mut why = Vec::new();
    if !p.container.split(',').any(|c| r.containers.contains(&c)) {
        why.push(format!(
            "container {} is not one of {}",
            p.container,
            r.containers.join(", ")
        ));
    }
    if p.size > r.max_bytes {
        why.push(format!(
            "{} bytes is over the {}-byte limit",
            p.size, r.max_bytes
        ));
    }
    if p.duration_secs < r.min_secs || p.duration_secs > r.max_secs {
        why.push(format!(
            "duration {:.1} s is outside {}–{} s",
            p.duration_secs, r.min_secs, r.max_secs
        ));
    }
    match &p.video {
        None => why.push("there is no video stream".into()),
        Some(v) => {
            if !r.video_codecs.contains(&v.codec.as_str()) {
                why.push(format!(
                    "video codec {} is not one of {}",
                    v.codec,
                    r.video_codecs.join(", ")
                ));
            }
            if v.fps < r.fps.0 || v.fps > r.fps.1 + 0.01 {
                why.push(format!(
                    "frame rate {:.2} is outside {}–{} fps",
                    v.fps, r.fps.0, r.fps.1
                ));
            }
            if v.width.min(v.height) < r.min_side
                || v.width > r.max_width
                || v.height > r.max_height
            {
                why.push(format!(
                    "{}x{} is outside the allowed frame size",
                    v.width, v.height
                ));
            }
            if v.height == 0 || f64::from(v.width) / f64::from(v.height) > r.max_aspect {
                why.push(format!(
                    "{}x{} is not vertical or square",
                    v.width, v.height
                ));
            }
        }
    }
    if let Some(a) = &p.audio {
        if !r.audio_codecs.contains(&a.codec.as_str()) {
            why.push(format!(
                "audio codec {} is not one of {}",
                a.codec,
                r.audio_codecs.join(", ")
            ));
        }
        if a.sample_rate > r.max_sample_rate || a.channels > r.max_channels {
            why.push(format!(
                "audio {} Hz × {} channels is over {} Hz × {}",
                a.sample_rate, a.channels, r.max_sample_rate, r.max_channels
            ));
        }
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short() -> Probe {
        Probe {
            container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_secs: 30.0,
            size: 5_000_000,
            video: Some(VideoStream {
                codec: "h264".into(),
                width: 1080,
                height: 1920,
                fps: 30.0,
            }),
            audio: Some(AudioStream {
                codec: "aac".into(),
                sample_rate: 48_000,
                channels: 2,
            }),
        }
    }

    #[test]
    fn a_vertical_h264_short_passes_everywhere() {
        for p in Platform::ALL {
            assert_eq!(check(&short(), p), Vec::<String>::new(), "{p}");
        }
    }

    #[test]
    fn each_platform_refuses_what_it_would_reject() {
        let landscape = Probe {
            video: Some(VideoStream {
                width: 1920,
                height: 1080,
                ..short().video.unwrap()
            }),
            ..short()
        };
        assert!(check(&landscape, Platform::Youtube)
            .iter()
            .any(|w| w.contains("not vertical")));
        let long = Probe {
            duration_secs: 200.0,
            ..short()
        };
        assert!(!check(&long, Platform::Youtube).is_empty());
        assert!(check(&long, Platform::Tiktok).is_empty());
        let slow = Probe {
            video: Some(VideoStream {
                fps: 15.0,
                ..short().video.unwrap()
            }),
            ..short()
        };
        assert!(check(&slow, Platform::Instagram)
            .iter()
            .any(|w| w.contains("frame rate")));
        let big = Probe {
            size: 400 * 1024 * 1024,
            ..short()
        };
        assert!(check(&big, Platform::Instagram)
            .iter()
            .any(|w| w.contains("limit")));
        let webm = Probe {
            container: "matroska,webm".into(),
            ..short()
        };
        assert!(!check(&webm, Platform::Instagram).is_empty());
    }

    #[test]
    fn ffprobe_json_is_parsed() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"h264","width":720,"height":1280,"avg_frame_rate":"30000/1001"},
            {"codec_type":"audio","codec_name":"aac","sample_rate":"44100","channels":2}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"12.5","size":"123456"}}"#;
        let p = parse(json).unwrap();
        assert_eq!(p.video.as_ref().unwrap().width, 720);
        assert!((p.video.unwrap().fps - 29.97).abs() < 0.01);
        assert_eq!((p.size, p.duration_secs), (123456, 12.5));
    }
}
