//! The download stage: one `pending` clip in, its video in the media store and the clip
//! `downloaded` out, then an *analyze* message (seed 000, step [2]).
//!
//! Get Clips Download is called with the user token stored for the clip's broadcaster (theirs,
//! or the editor's who authorized HiLite; the broadcaster record names it). The editor's
//! portrait version is preferred when Twitch has one — recorded in `media.source_is_portrait`
//! so rendering can skip reframing — else the landscape file. The file is streamed to a
//! temporary file under the download policy (`twitch::clip_file`) and put in the media store
//! under its deterministic key, and only then does the clip move `pending → downloaded`.
//!
//! Failures: 403 (the token's user is not an editor), 404 (the clip was deleted, or Twitch
//! lists no download for it), a CDN answering 404 or 410 for the file itself (deleted between
//! Get Clips Download and the fetch), a refused host and an oversized file fail the clip at
//! once, as `failed` at the download stage with the reason; any other failure counts an
//! attempt, and after `pipeline.max_attempts` the clip is `failed` with the reason in its error
//! log. A rate limit is nobody's fault and counts nothing. A failed fetch leaves nothing behind:
//! the temporary file is removed when dropped and the media store is written only after a
//! whole, checked file.
//!
//! Redelivery: a clip found `downloaded` only gets its analyze message again; any other status
//! means the work is done or given up, and nothing happens.

use std::time::Duration;

use super::attempts::record_failure;
use super::messages::{encode, ClipMessage};
use super::StageError;
use crate::backend::Ports;
use crate::domain::{Clip, ClipId, ClipPatch, ClipStatus, MediaKey, MediaKeys, Stage, Transition};
use crate::queue::QueueName;
use crate::store::StoreError;
use crate::twitch::clip_file::{ClipFetcher, FetchError};
use crate::twitch::{TwitchClient, TwitchError};

/// Download one clip.
pub async fn download(
    ports: &Ports,
    twitch: &TwitchClient,
    fetcher: &ClipFetcher,
    max_attempts: u32,
    msg: &ClipMessage,
) -> Result<(), StageError> {
    let Some(clip) = ports.store.get_clip(&msg.clip_id).await.map_err(retry)? else {
        // Collect inserts before it enqueues, so this message names no clip HiLite recorded.
        return Err(StageError::Poison(format!(
            "no clip {} is recorded",
            msg.clip_id
        )));
    };
    match clip.status {
        ClipStatus::Pending => {}
        ClipStatus::Downloaded => return enqueue_analyze(ports, &clip.id).await,
        other => {
            tracing::debug!(clip = %clip.id, status = %other, "download redelivered for a clip past it; nothing to do");
            return Ok(());
        }
    }
    match fetch(ports, twitch, fetcher, &clip).await {
        Ok((key, portrait)) => finish(ports, &clip, key, portrait).await,
        Err(e) => Err(record_failure(ports, &clip.id, Stage::Download, max_attempts, e).await),
    }
}

/// Get the download URL and bring the file into the media store. Returns its key and whether
/// it is the portrait version.
async fn fetch(
    ports: &Ports,
    twitch: &TwitchClient,
    fetcher: &ClipFetcher,
    clip: &Clip,
) -> Result<(MediaKey, bool), StageError> {
    let broadcaster = ports
        .store
        .get_broadcaster(&clip.broadcaster_id)
        .await
        .map_err(retry)?
        .ok_or_else(|| no_token(&clip.broadcaster_id.to_string()))?;
    let token = broadcaster
        .token_ref
        .clone()
        .ok_or_else(|| no_token(broadcaster.login.as_str()))?;
    // The editor id must be the token's user: the broadcaster's own id unless an editor
    // authorized HiLite for them.
    let editor = broadcaster
        .token_user_id
        .clone()
        .unwrap_or_else(|| broadcaster.id.clone());
    let urls = twitch
        .clip_downloads(
            &token,
            &broadcaster.id,
            &editor,
            std::slice::from_ref(&clip.id),
        )
        .await?
        .into_iter()
        .find(|d| d.clip_id == clip.id.as_str())
        .ok_or_else(|| {
            StageError::from(TwitchError::NotFound(format!(
                "Twitch lists no download for clip {} (deleted?)",
                clip.id
            )))
        })?;
    let nonempty = |u: Option<String>| u.filter(|s| !s.is_empty());
    let (url, portrait) = match (
        nonempty(urls.portrait_download_url),
        nonempty(urls.landscape_download_url),
    ) {
        (Some(p), _) => (p, true),
        (None, Some(l)) => (l, false),
        (None, None) => {
            return Err(StageError::Retryable(
                "Twitch has no download URL for this clip yet".into(),
            ))
        }
    };

    let file = crate::scratch::file("hilite-clip-", ".mp4")
        .map_err(|e| StageError::Retryable(format!("cannot create a temporary file: {e}")))?;
    let bytes = fetcher
        .fetch_to(&url, file.path())
        .await
        .map_err(|e: FetchError| {
            if e.is_permanent() {
                StageError::Permanent(e.to_string())
            } else {
                StageError::Retryable(e.to_string())
            }
        })?;
    let key = MediaKey::source(&clip.id);
    ports
        .media
        .put_file(&key, file.path(), "video/mp4")
        .await
        .map_err(retry)?;
    tracing::info!(clip = %clip.id, bytes, portrait, "clip downloaded");
    Ok((key, portrait))
}

/// Move the clip to `downloaded` and hand it to analyze.
async fn finish(
    ports: &Ports,
    clip: &Clip,
    key: MediaKey,
    portrait: bool,
) -> Result<(), StageError> {
    let media = MediaKeys {
        source: Some(key),
        source_is_portrait: portrait,
        ..clip.media.clone()
    };
    let patch = ClipPatch {
        media: Some(media),
        ..ClipPatch::default()
    };
    let to = Transition::new(ClipStatus::Pending, ClipStatus::Downloaded)
        .map_err(|e| StageError::Permanent(e.to_string()))?;
    match ports
        .store
        .transition_clip(&clip.id, to, patch, ports.clock.now())
        .await
    {
        Ok(_) => {}
        // Another worker finished it first (same file, same key): analyze is enqueued below in
        // case that worker stopped before doing so.
        Err(StoreError::Conflict { .. }) => {
            match ports.store.get_clip(&clip.id).await.map_err(retry)? {
                Some(c) if c.status == ClipStatus::Downloaded => {}
                _ => return Ok(()),
            }
        }
        Err(e) => return Err(retry(e)),
    }
    enqueue_analyze(ports, &clip.id).await
}

async fn enqueue_analyze(ports: &Ports, clip: &ClipId) -> Result<(), StageError> {
    let body = encode(&ClipMessage {
        clip_id: clip.clone(),
    });
    ports
        .queue
        .send(QueueName::Analyze, &body, Duration::ZERO)
        .await
        .map_err(retry)
}

fn no_token(who: &str) -> StageError {
    StageError::Permanent(format!(
        "no Twitch user token for broadcaster {who}; run `hilite auth twitch --broadcaster LOGIN`"
    ))
}

fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}
