//! A stream's chat hype, computed once when the stream is collected and read back by analyze
//! for each of its clips (issue 4: the score weighs "chat hype at the clip's position, via
//! `vod_offset`").
//!
//! Collect reads the stream's captured chat (`chat_window`), scores it with seed 001's
//! algorithm (`analysis::chat`) on the timeline of the stream's VOD — the timeline Get Clips'
//! `vod_offset` is on — and stores the signal as one small gzip JSON object per VOD,
//! `chat/<broadcaster>/hype/<vod_id>.json.gz`, before any of the stream's clips is sent to
//! download, so analyze always finds it. Analyze reads it for a clip that names its VOD; a clip
//! without one (VODs turned off) is scored without the chat feature, as is a stream whose chat
//! was not captured.
//!
//! Not the moments nobody clipped (`moments.rs`), which use the same hype.

use std::io::{BufReader, Write};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::chat::ChatConfig;
use super::chat_window::read_window;
use super::messages::CollectMessage;
use super::StageError;
use crate::analysis::chat::{hype_from_scores, ChatHype, ChatHypeConfig, HypeScorer};
use crate::backend::Ports;
use crate::domain::{BroadcasterId, Clip, MediaKey};
use crate::media::MediaError;
use crate::twitch::helix::HelixVideo;
use crate::twitch::TwitchClient;

/// The stored form. The signal is kept as `f32`: it is compared with itself only.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    vod_id: String,
    origin_secs: f64,
    bucket_secs: f64,
    mean: f64,
    std: f64,
    threshold: f64,
    messages: usize,
    signal: Vec<f32>,
}

/// Where the hype of `vod_id` is stored.
pub fn key(broadcaster: &BroadcasterId, vod_id: &str) -> Result<MediaKey, StageError> {
    MediaKey::parse(format!("chat/{broadcaster}/hype/{vod_id}.json.gz"))
        .map_err(|e| StageError::Permanent(format!("the VOD id {vod_id:?} is unusable: {e}")))
}

/// Compute the hype of the stream `msg` closed (which started at `start`) and store it.
/// `None` when no chat was captured for it or it has no VOD to place the chat on.
pub async fn compute_and_store(
    ports: &Ports,
    twitch: &TwitchClient,
    config: &ChatConfig,
    msg: &CollectMessage,
    start: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(HelixVideo, ChatHype)>, StageError> {
    let hype_config = ChatHypeConfig::default();
    let scorer = HypeScorer::new(&hype_config).map_err(|e| StageError::Permanent(e.to_string()))?;
    // Read first on the wall clock: a stream without chat costs a listing, not a Helix call.
    let mut scored: Vec<(chrono::DateTime<chrono::Utc>, f64)> = Vec::new();
    let read = read_window(
        ports,
        &msg.broadcaster_id,
        start,
        msg.ended_at,
        config.bucket_secs,
        |line| {
            scored.push((
                line.at,
                scorer.score(&line.text, line.emote_ids.iter().map(String::as_str)),
            ))
        },
    )
    .await
    .map_err(retry)?;
    if scored.is_empty() {
        return Ok(None);
    }
    let Some(video) = stream_vod(twitch, msg, start).await? else {
        tracing::info!(broadcaster = %msg.broadcaster_id, messages = read.messages, "no VOD of this stream: its chat cannot be placed on the clips' timeline");
        return Ok(None);
    };
    let origin = video.created_at;
    let offsets = scored
        .iter()
        .map(|&(at, score)| ((at - origin).num_milliseconds() as f64 / 1000.0, score));
    let hype = hype_from_scores(offsets, &hype_config)
        .map_err(|e| StageError::Permanent(e.to_string()))?;
    drop(scored);
    store(ports, &msg.broadcaster_id, &video.id, &hype).await?;
    tracing::info!(broadcaster = %msg.broadcaster_id, vod = %video.id, messages = read.messages, duplicates = read.duplicates, days_cut = read.days_cut, moments = hype.moments.len(), "stored the stream's chat hype");
    Ok(Some((video, hype)))
}

/// The stream's VOD: the broadcaster's latest archive, when it started within the window.
pub(super) async fn stream_vod(
    twitch: &TwitchClient,
    msg: &CollectMessage,
    start: chrono::DateTime<chrono::Utc>,
) -> Result<Option<HelixVideo>, StageError> {
    let video = twitch.latest_archive(&msg.broadcaster_id).await?;
    Ok(video.filter(|v| {
        let same_stream = match (&v.stream_id, &msg.stream_id) {
            (Some(a), Some(b)) if !a.is_empty() => a == b.as_str(),
            _ => true,
        };
        // Twitch starts the archive with the stream; a few minutes of slack either way.
        same_stream
            && v.created_at <= msg.ended_at
            && (v.created_at - start).abs() <= Duration::minutes(15)
    }))
}

async fn store(
    ports: &Ports,
    broadcaster: &BroadcasterId,
    vod_id: &str,
    hype: &ChatHype,
) -> Result<(), StageError> {
    let key = key(broadcaster, vod_id)?;
    let stored = Stored {
        vod_id: vod_id.to_string(),
        origin_secs: hype.origin_secs,
        bucket_secs: hype.bucket_secs,
        mean: hype.mean,
        std: hype.std,
        threshold: hype.threshold,
        messages: hype.messages,
        signal: hype.signal.iter().map(|&v| v as f32).collect(),
    };
    let file = crate::scratch::file("hilite-hype-", ".json.gz").map_err(retry)?;
    {
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file.as_file()),
            flate2::Compression::default(),
        );
        serde_json::to_writer(&mut gz, &stored).map_err(retry)?;
        gz.finish().map_err(retry)?.flush().map_err(retry)?;
    }
    ports
        .media
        .put_file(&key, file.path(), "application/gzip")
        .await
        .map_err(retry)?;
    Ok(())
}

/// The hype of the clip's stream, when its VOD is known and its chat was captured. A stored
/// object that cannot be read is logged and left out of the score rather than failing the clip.
pub async fn load(ports: &Ports, clip: &Clip) -> Result<Option<ChatHype>, StageError> {
    let Some(vod) = &clip.video_id else {
        return Ok(None);
    };
    let key = key(&clip.broadcaster_id, vod.as_str())?;
    let file = crate::scratch::file("hilite-hype-", "").map_err(retry)?;
    match ports.media.get_to_file(&key, file.path()).await {
        Ok(_) => {}
        Err(MediaError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(retry(e)),
    }
    // Opened again by path: the store may have replaced the file rather than written into it.
    let parsed = tokio::task::spawn_blocking(move || {
        let opened = std::fs::File::open(file.path()).map_err(serde_json::Error::io)?;
        let reader = BufReader::new(flate2::read::GzDecoder::new(opened));
        serde_json::from_reader::<_, Stored>(reader)
    })
    .await
    .map_err(retry)?;
    match parsed {
        Ok(s) if s.vod_id == vod.as_str() && s.bucket_secs > 0.0 => Ok(Some(ChatHype {
            origin_secs: s.origin_secs,
            bucket_secs: s.bucket_secs,
            signal: s.signal.into_iter().map(f64::from).collect(),
            mean: s.mean,
            std: s.std,
            threshold: s.threshold,
            moments: Vec::new(),
            messages: s.messages,
        })),
        Ok(_) => {
            tracing::warn!(clip = %clip.id, key = %key, "the stored chat hype is for another VOD or has no buckets; scored without chat");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(clip = %clip.id, key = %key, error = %e, "the stored chat hype cannot be read; scored without chat");
            Ok(None)
        }
    }
}

fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}
