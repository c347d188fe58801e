//! The collect stage: one stream window in, the new clips recorded and one *download* message
//! per clip out (seed 000, step [1], minus the sleep: the delay is on the queue).
//!
//! 1. The window's start is the message's, else the broadcaster's latest archive video's
//!    `created_at` (HiLite missed `stream.online`), else `pipeline.lookback_hours` before its
//!    end; the log says which.
//! 2. Get Clips for the window (split past Twitch's ~1000-result cap, each clip once).
//! 3. The active editor whitelist filters clips **before** any write: a clip by an editor who
//!    is not trusted never reaches the state store.
//! 4. Each remaining clip is inserted only if absent, as `pending`, and a download is enqueued.
//!
//! 5. When the broadcaster has `chat.moments` on, the stream's best chat moments that no clip
//!    covers become new clips (`moments.rs`).
//!
//! Not the download: this stage never touches a clip's media.

use chrono::{DateTime, Duration, Utc};

use super::messages::{encode, ClipMessage, CollectMessage};
use super::StageError;
use crate::backend::Ports;
use crate::domain::{
    editor_allowed, Attempts, BroadcasterId, Clip, ClipId, ClipStatus, EditorId, ExternalId,
    InvalidId, MediaKeys,
};
use crate::queue::QueueName;
use crate::twitch::helix::HelixClip;
use crate::twitch::TwitchClient;

/// An archive older than this before the window's end belongs to an earlier stream.
const LONGEST_STREAM: Duration = Duration::hours(48);

/// What collect needs besides the ports and the Twitch client.
#[derive(Debug, Clone)]
pub struct CollectSettings {
    /// How far back to look when the stream's start is unknown.
    pub lookback: Duration,
    /// Chat capture, for the moments nobody clipped (`moments.rs`).
    pub chat: crate::pipeline::chat::ChatConfig,
}

impl CollectSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let hours = i64::try_from(config.pipeline.lookback_hours).unwrap_or(12);
        Self {
            lookback: Duration::hours(hours),
            chat: config.chat.clone(),
        }
    }
}

/// What one collect did, for the log and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Clips Twitch returned for the window.
    pub found: usize,
    /// Of those, clips by editors the whitelist accepts.
    pub allowed: usize,
    /// Newly recorded clips.
    pub inserted: usize,
    /// Download messages sent (new clips, and pending ones again on a redelivery).
    pub enqueued: usize,
    /// Clips made from the chat's uncovered moments (`chat.moments`; zero when off).
    pub moments: usize,
}

/// The stream's chat hype (`stream_hype.rs`), computed and stored before any clip is sent to
/// download so that analyze finds it; `None` when no chat was captured or there is no VOD.
#[cfg(feature = "analysis")]
type StreamHype = Option<(
    crate::twitch::helix::HelixVideo,
    crate::analysis::chat::ChatHype,
)>;
#[cfg(not(feature = "analysis"))]
type StreamHype = ();

#[cfg(feature = "analysis")]
async fn stream_hype(
    ports: &Ports,
    twitch: &TwitchClient,
    settings: &CollectSettings,
    msg: &CollectMessage,
    start: DateTime<Utc>,
) -> Result<StreamHype, StageError> {
    super::stream_hype::compute_and_store(ports, twitch, &settings.chat, msg, start).await
}

/// Without the `analysis` feature there is no hype analysis.
#[cfg(not(feature = "analysis"))]
async fn stream_hype(
    _ports: &Ports,
    _twitch: &TwitchClient,
    _settings: &CollectSettings,
    _msg: &CollectMessage,
    _start: DateTime<Utc>,
) -> Result<StreamHype, StageError> {
    Ok(())
}

/// The stream's uncovered chat moments as new clips, when the broadcaster has them on. It
/// runs after the window's clips are recorded, so a failure here retries only what is left:
/// collect is idempotent and each moment is claimed before it is clipped.
#[cfg(feature = "analysis")]
async fn moments(
    ports: &Ports,
    twitch: &TwitchClient,
    settings: &CollectSettings,
    msg: &CollectMessage,
    hype: &StreamHype,
    clips: &[HelixClip],
) -> Result<usize, StageError> {
    let Some((video, hype)) = hype else {
        return Ok(0);
    };
    if settings.chat.moments.broadcasters.is_empty() {
        return Ok(0);
    }
    super::moments::clip_moments(ports, twitch, &settings.chat, msg, video, hype, clips)
        .await
        .map(|m| m.created)
}

/// Without the `analysis` feature there is no hype analysis: say so once per stream when
/// moments were asked for.
#[cfg(not(feature = "analysis"))]
async fn moments(
    _ports: &Ports,
    _twitch: &TwitchClient,
    settings: &CollectSettings,
    msg: &CollectMessage,
    _hype: &StreamHype,
    _clips: &[HelixClip],
) -> Result<usize, StageError> {
    if !settings.chat.moments.broadcasters.is_empty() {
        tracing::warn!(broadcaster = %msg.broadcaster_id, "chat.moments is set but this build has no chat analysis (cargo feature `analysis`)");
    }
    Ok(0)
}

/// Collect one stream window.
///
/// A collect message is the only trace of its window: no record fails with it, as a clip does
/// with a clip stage's permanent failure. So a refusal no retry will change by itself (a
/// client secret rotated on the Twitch console, a 403) is retried like any failure, and after
/// the queue's receives the message waits in the dead-letter queue for the cause to be fixed.
pub async fn collect(
    ports: &Ports,
    twitch: &TwitchClient,
    settings: CollectSettings,
    msg: &CollectMessage,
) -> Result<Collected, StageError> {
    collect_window(ports, twitch, settings, msg)
        .await
        .map_err(|e| match e {
            StageError::Permanent(m) => StageError::Retryable(format!(
                "{m} (the window is kept: it goes to the dead-letter queue if this goes on)"
            )),
            other => other,
        })
}

async fn collect_window(
    ports: &Ports,
    twitch: &TwitchClient,
    settings: CollectSettings,
    msg: &CollectMessage,
) -> Result<Collected, StageError> {
    let broadcaster = &msg.broadcaster_id;
    let start = window_start(twitch, &settings, msg).await?;
    let whitelist = ports.store.list_whitelist().await.map_err(retry)?;
    let clips = twitch
        .clips_between(broadcaster, start, msg.ended_at)
        .await?;
    let hype = stream_hype(ports, twitch, &settings, msg, start).await?;
    let now = ports.clock.now();
    let mut done = Collected {
        found: clips.len(),
        ..Collected::default()
    };

    for helix in clips.iter().cloned() {
        let clip = match to_clip(helix, now) {
            Ok(c) if &c.broadcaster_id == broadcaster => c,
            Ok(c) => {
                tracing::warn!(clip = %c.id, broadcaster = %c.broadcaster_id, "Get Clips returned another broadcaster's clip; ignored");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "Get Clips returned a clip with an unusable id; ignored");
                continue;
            }
        };
        // The whitelist decides before anything is written (seed 000: "ne touche pas la BDD").
        if !editor_allowed(&whitelist, broadcaster, &clip.editor_id) {
            tracing::debug!(clip = %clip.id, editor = %clip.editor_id, "clip by an editor not on the whitelist; skipped");
            continue;
        }
        done.allowed += 1;
        let inserted = ports
            .store
            .insert_clip_if_absent(&clip)
            .await
            .map_err(retry)?;
        let enqueue = if inserted {
            done.inserted += 1;
            true
        } else {
            // Already recorded: by an earlier delivery of this same message that may have
            // stopped between the insert and the send, or by an overlapping window. A clip still
            // `pending` may never have been enqueued, so it is enqueued again; the download
            // stage is idempotent (a clip it finds `downloaded` only re-enqueues analyze). A
            // clip past `pending` has been downloaded, so nothing is sent.
            match ports.store.get_clip(&clip.id).await.map_err(retry)? {
                Some(existing) => existing.status == ClipStatus::Pending,
                None => false,
            }
        };
        if enqueue {
            let body = encode(&ClipMessage {
                clip_id: clip.id.clone(),
            });
            ports
                .queue
                .send(QueueName::Download, &body, std::time::Duration::ZERO)
                .await
                .map_err(retry)?;
            done.enqueued += 1;
        }
    }
    tracing::info!(
        broadcaster = %broadcaster,
        from = %start,
        to = %msg.ended_at,
        found = done.found,
        allowed = done.allowed,
        inserted = done.inserted,
        enqueued = done.enqueued,
        "collected a stream window"
    );
    done.moments = moments(ports, twitch, &settings, msg, &hype, &clips).await?;
    Ok(done)
}

/// Where the window starts, and the log line saying how it was found.
async fn window_start(
    twitch: &TwitchClient,
    settings: &CollectSettings,
    msg: &CollectMessage,
) -> Result<DateTime<Utc>, StageError> {
    if let Some(start) = msg.started_at {
        return Ok(start);
    }
    let fallback = msg.ended_at - settings.lookback;
    match twitch.latest_archive(&msg.broadcaster_id).await {
        Ok(Some(video))
            if video.created_at < msg.ended_at
                && msg.ended_at - video.created_at <= LONGEST_STREAM =>
        {
            tracing::info!(broadcaster = %msg.broadcaster_id, video = %video.id, start = %video.created_at, "stream start taken from the latest archive video");
            Ok(video.created_at)
        }
        Ok(_) => {
            tracing::info!(broadcaster = %msg.broadcaster_id, start = %fallback, hours = settings.lookback.num_hours(), "no archive video for this stream; using the look-back window");
            Ok(fallback)
        }
        Err(e) if e.is_permanent() => {
            tracing::warn!(broadcaster = %msg.broadcaster_id, error = %e, start = %fallback, "cannot read the archive videos; using the look-back window");
            Ok(fallback)
        }
        Err(e) => Err(e.into()),
    }
}

/// A Helix clip as HiLite records it: `pending`, nothing done yet.
pub(super) fn to_clip(h: HelixClip, now: DateTime<Utc>) -> Result<Clip, InvalidId> {
    Ok(Clip {
        id: ClipId::parse(h.id)?,
        broadcaster_id: BroadcasterId::parse(h.broadcaster_id)?,
        broadcaster_name: h.broadcaster_name,
        editor_id: EditorId::parse(h.creator_id)?,
        editor_name: h.creator_name,
        url: h.url,
        title: h.title,
        duration_secs: h.duration,
        view_count: h.view_count,
        created_at: h.created_at,
        video_id: if h.video_id.is_empty() {
            None
        } else {
            Some(ExternalId::parse(h.video_id)?)
        },
        vod_offset_secs: h.vod_offset,
        found_by_hilite: false,
        status: ClipStatus::Pending,
        attempts: Attempts::default(),
        failed_stage: None,
        skip_reason: None,
        score: None,
        window: None,
        media: MediaKeys::default(),
        generated_title: None,
        generated_description: None,
        generated_hashtags: Vec::new(),
        moderation: None,
        edit_job: None,
        review_reason: None,
        errors: Vec::new(),
        fetched_at: now,
        updated_at: now,
    })
}

fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helix(id: &str, creator: &str, video: &str) -> HelixClip {
        HelixClip {
            id: id.into(),
            url: format!("https://clips.twitch.tv/{id}"),
            broadcaster_id: "1001".into(),
            broadcaster_name: "StreamerOne".into(),
            creator_id: creator.into(),
            creator_name: "Ed".into(),
            video_id: video.into(),
            title: "t".into(),
            view_count: 3,
            created_at: Utc::now(),
            duration: 29.5,
            vod_offset: None,
        }
    }

    #[test]
    fn a_helix_clip_becomes_a_pending_record() {
        let c = to_clip(helix("GoodClip-1", "501", ""), Utc::now()).unwrap();
        assert_eq!(
            (c.status, c.video_id, c.editor_id.as_str()),
            (ClipStatus::Pending, None, "501")
        );
        assert_eq!(
            to_clip(helix("GoodClip-1", "501", "123"), Utc::now())
                .unwrap()
                .video_id
                .unwrap()
                .as_str(),
            "123"
        );
    }

    #[test]
    fn clips_with_unsafe_ids_are_refused() {
        assert!(to_clip(helix("../x", "501", ""), Utc::now()).is_err());
        assert!(to_clip(helix("Ok", "not-digits", ""), Utc::now()).is_err());
    }
}
