//! What a source file holds, from ffprobe's JSON: its video stream (size, frame rate,
//! rotation), whether it has sound, and its duration. Anything that is not a video with audio
//! is refused here with the reason, before any encoding starts.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{run_tool, stderr_tail, RenderError};

/// The facts the render job needs about a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Displayed size: the coded size turned by the rotation.
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Clockwise rotation from the stream's display matrix or `rotate` tag, in degrees.
    pub rotation: i32,
    pub duration_secs: f64,
    pub video_codec: String,
    pub audio_codec: String,
}

impl MediaInfo {
    /// Taller than wide: Twitch's portrait clip, only scaled to the frame.
    pub fn is_portrait(&self) -> bool {
        self.height > self.width
    }
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    disposition: Option<Disposition>,
}

#[derive(Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Deserialize)]
struct Format {
    duration: Option<String>,
}

/// Probe `path` with ffprobe.
pub async fn probe(path: &Path, timeout: Duration) -> Result<MediaInfo, RenderError> {
    if !path.is_file() {
        return Err(RenderError::Corrupt(format!(
            "{} does not exist or is not a file",
            path.display()
        )));
    }
    let args: Vec<String> = [
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_streams",
        "-show_format",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([path.display().to_string()])
    .collect();
    let out = run_tool("ffprobe", &args, "probing the source", timeout).await?;
    if !out.status.success() {
        return Err(RenderError::Corrupt(stderr_tail(&out)));
    }
    parse(&out.stdout)
}

/// Read ffprobe's JSON into [`MediaInfo`].
pub fn parse(json: &[u8]) -> Result<MediaInfo, RenderError> {
    let p: Probe = serde_json::from_slice(json)
        .map_err(|e| RenderError::Corrupt(format!("ffprobe's answer is unreadable: {e}")))?;
    let kind = |s: &&Stream, k: &str| s.codec_type.as_deref() == Some(k);
    // A cover image is a "video" stream too; it is not the picture we render.
    let video = p
        .streams
        .iter()
        .find(|s| kind(s, "video") && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0))
        .ok_or(RenderError::NoVideo)?;
    let audio = p
        .streams
        .iter()
        .find(|s| kind(s, "audio"))
        .ok_or(RenderError::NoAudio)?;
    let (w, h) = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => {
            return Err(RenderError::Corrupt(
                "the video stream has no picture size".into(),
            ))
        }
    };
    let rotation = rotation(video);
    let (width, height) = if rotation.rem_euclid(180) == 90 {
        (h, w)
    } else {
        (w, h)
    };
    let fps = [&video.avg_frame_rate, &video.r_frame_rate]
        .into_iter()
        .filter_map(|r| r.as_deref().and_then(ratio))
        .find(|f| (1.0..=1000.0).contains(f))
        .ok_or_else(|| RenderError::Corrupt("the video stream has no frame rate".into()))?;
    let duration_secs = p
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| RenderError::Corrupt("the file has no duration".into()))?;
    Ok(MediaInfo {
        width,
        height,
        fps,
        rotation,
        duration_secs,
        video_codec: video.codec_name.clone().unwrap_or_default(),
        audio_codec: audio.codec_name.clone().unwrap_or_default(),
    })
}

fn rotation(s: &Stream) -> i32 {
    // ffprobe 5+ reports a display matrix's rotation counter-clockwise (negative for a phone's
    // portrait video); older files carry a `rotate` tag, clockwise.
    let from_matrix = s
        .side_data_list
        .iter()
        .find_map(|d| d.get("rotation").and_then(|r| r.as_i64()))
        .map(|r| -(r as i32));
    let from_tag = s.tags.get("rotate").and_then(|r| r.parse::<i32>().ok());
    from_matrix.or(from_tag).unwrap_or(0).rem_euclid(360)
}

fn ratio(r: &str) -> Option<f64> {
    let (n, d) = r.split_once('/').unwrap_or((r, "1"));
    let (n, d) = (n.parse::<f64>().ok()?, d.parse::<f64>().ok()?);
    (d != 0.0).then(|| n / d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LANDSCAPE: &str = r#"{"streams":[
        {"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001"},
        {"codec_type":"audio","codec_name":"aac"}],
        "format":{"duration":"29.97"}}"#;

    #[test]
    fn a_landscape_clip_is_read_with_its_fractional_frame_rate() {
        let m = parse(LANDSCAPE.as_bytes()).unwrap();
        assert_eq!((m.width, m.height, m.rotation), (1920, 1080, 0));
        assert!((m.fps - 29.97).abs() < 0.01);
        assert!(!m.is_portrait());
        assert_eq!(m.duration_secs, 29.97);
    }

    #[test]
    fn a_rotated_phone_video_is_portrait() {
        let json = r#"{"streams":[{"codec_type":"video","width":1920,"height":1080,"avg_frame_rate":"30/1",
            "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]},{"codec_type":"audio"}],"format":{"duration":"3"}}"#;
        let m = parse(json.as_bytes()).unwrap();
        assert_eq!((m.width, m.height, m.rotation), (1080, 1920, 90));
        assert!(m.is_portrait());
    }

    #[test]
    fn missing_streams_are_named() {
        let no_audio = r#"{"streams":[{"codec_type":"video","width":2,"height":2,"avg_frame_rate":"30/1"}],"format":{"duration":"1"}}"#;
        assert!(matches!(
            parse(no_audio.as_bytes()),
            Err(RenderError::NoAudio)
        ));
        let audio_only = r#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","width":2,"height":2,"avg_frame_rate":"0/0","disposition":{"attached_pic":1}}],"format":{"duration":"1"}}"#;
        assert!(matches!(
            parse(audio_only.as_bytes()),
            Err(RenderError::NoVideo)
        ));
        assert!(matches!(parse(b"{}"), Err(RenderError::NoVideo)));
        assert!(matches!(parse(b"garbage"), Err(RenderError::Corrupt(_))));
    }
}
