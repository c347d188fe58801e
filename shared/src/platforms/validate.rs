//! Checking a rendered short against each platform's rules before uploading it: a video the
//! platform would reject fails its publication at once, with the reason, instead of after an
//! upload. The facts come from the file's MP4 header (`probe`).
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

/// What a file's header says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `mp4`, or `mov` for a QuickTime file (its `ftyp` brand `qt  `).
    pub container: String,
    pub duration_secs: f64,
    pub size: u64,
    pub video: Option<VideoStream>,
    pub audio: Option<AudioStream>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot open the video: {0}")]
    Open(std::io::Error),
    #[error("the video is not a readable MP4: {0}")]
    Unreadable(String),
}

/// Read the facts of an MP4 (or MOV) from its header boxes, with the `mp4` crate: the file's
/// `moov` only, whatever its size, and no ffprobe, which the publish function does not have
/// (a Lambda zip on `provided.al2023`). HiLite's shorts are always MP4 as the render job writes
/// them; a file the crate cannot read (not an MP4, or a QuickTime file with a version 1 sound
/// description) is unreadable, and its publication fails with the reason.
pub async fn probe(path: &Path) -> Result<Probe, ProbeError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || probe_file(&path))
        .await
        .map_err(|e| ProbeError::Unreadable(format!("the probe stopped: {e}")))?
}

fn probe_file(path: &Path) -> Result<Probe, ProbeError> {
    let file = std::fs::File::open(path).map_err(ProbeError::Open)?;
    let size = file.metadata().map_err(ProbeError::Open)?.len();
    let mp4 = mp4::Mp4Reader::read_header(std::io::BufReader::new(file), size)
        .map_err(|e| ProbeError::Unreadable(e.to_string()))?;
    let container = if mp4.major_brand().to_string() == "qt  " {
        "mov"
    } else {
        "mp4"
    };
    let tracks: Vec<&mp4::Mp4Track> = mp4.tracks().values().collect();
    let of_type = |want: mp4::TrackType| {
        let mut found: Vec<_> = tracks
            .iter()
            .copied()
            .filter(|t| t.track_type().ok() == Some(want))
            .collect();
        // The first of its kind, as a player picks it: track ids in file order.
        found.sort_by_key(|t| t.track_id());
        found.into_iter().next()
    };
    let video = of_type(mp4::TrackType::Video).map(|t| VideoStream {
        codec: codec_name(t),
        width: u32::from(t.width()),
        height: u32::from(t.height()),
        fps: t.frame_rate(),
    });
    let audio = of_type(mp4::TrackType::Audio).map(|t| AudioStream {
        codec: codec_name(t),
        sample_rate: t.sample_freq_index().map_or(0, |f| f.freq()),
        channels: t.channel_config().map_or(0, channel_count),
    });
    Ok(Probe {
        container: container.into(),
        duration_secs: mp4.duration().as_secs_f64(),
        size,
        video,
        audio,
    })
}

/// A track's codec under ffmpeg's name (what the rules list), or its sample entry's
/// four-character code when the crate does not know it (so the rules refuse it by name).
fn codec_name(t: &mp4::Mp4Track) -> String {
    match t.media_type() {
        Ok(mp4::MediaType::H264) => "h264".into(),
        Ok(mp4::MediaType::H265) => "hevc".into(),
        Ok(mp4::MediaType::VP9) => "vp9".into(),
        Ok(mp4::MediaType::AAC) => "aac".into(),
        _ => t
            .box_type()
            .map_or_else(|_| "unknown".into(), |b| b.to_string()),
    }
}

/// Channels of an AAC channel configuration (ISO/IEC 14496-3, Table 1.19).
fn channel_count(c: mp4::ChannelConfig) -> u32 {
    match c {
        mp4::ChannelConfig::Mono => 1,
        mp4::ChannelConfig::Stereo => 2,
        mp4::ChannelConfig::Three => 3,
        mp4::ChannelConfig::Four => 4,
        mp4::ChannelConfig::Five => 5,
        mp4::ChannelConfig::FiveOne => 6,
        mp4::ChannelConfig::SevenOne => 8,
    }
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
            container: "mp4".into(),
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

    /// A file made by ffmpeg with these settings, in `dir`.
    fn made(dir: &Path, name: &str, video: &str, rate: u32, audio: &[&str]) -> std::path::PathBuf {
        let out = dir.join(name);
        let status = std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("testsrc2=size={video}:rate={rate}:duration=4"))
            .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=4"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac"])
            .args(audio)
            // As the render job writes a short: the index first.
            .args(["-movflags", "+faststart"])
            .arg(&out)
            .status()
            .expect("ffmpeg runs (`make setup` installs it)");
        assert!(status.success(), "ffmpeg made {name}");
        out
    }

    #[tokio::test]
    async fn the_header_of_a_real_file_gives_its_facts() {
        let dir = tempfile::tempdir().unwrap();
        let short = made(
            dir.path(),
            "short.mp4",
            "1080x1920",
            30,
            &["-ar", "48000", "-ac", "2"],
        );
        let p = probe(&short).await.unwrap();
        assert_eq!(p.container, "mp4");
        assert_eq!(p.size, std::fs::metadata(&short).unwrap().len());
        assert!((p.duration_secs - 4.0).abs() < 0.1, "{p:?}");
        let v = p.video.as_ref().unwrap();
        assert_eq!((v.codec.as_str(), v.width, v.height), ("h264", 1080, 1920));
        assert!((v.fps - 30.0).abs() < 0.01, "{p:?}");
        let a = p.audio.as_ref().unwrap();
        assert_eq!(
            (a.codec.as_str(), a.sample_rate, a.channels),
            ("aac", 48_000, 2)
        );
        for platform in Platform::ALL {
            assert_eq!(check(&p, platform), Vec::<String>::new(), "{platform}");
        }

        let wide = made(
            dir.path(),
            "wide.mp4",
            "640x360",
            25,
            &["-ar", "44100", "-ac", "1"],
        );
        let p = probe(&wide).await.unwrap();
        let v = p.video.as_ref().unwrap();
        assert_eq!((v.width, v.height), (640, 360));
        assert!((v.fps - 25.0).abs() < 0.01, "{p:?}");
        let a = p.audio.as_ref().unwrap();
        assert_eq!((a.sample_rate, a.channels), (44_100, 1));
        assert!(check(&p, Platform::Youtube)
            .iter()
            .any(|w| w.contains("not vertical")));
    }

    #[tokio::test]
    async fn a_file_that_is_not_an_mp4_is_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("page.mp4");
        std::fs::write(&page, "<html><body>Access denied</body></html>").unwrap();
        let err = probe(&page).await.unwrap_err();
        assert!(matches!(err, ProbeError::Unreadable(_)), "{err}");
        let err = probe(&dir.path().join("missing.mp4")).await.unwrap_err();
        assert!(matches!(err, ProbeError::Open(_)), "{err}");
    }
}
