//! The analyze stage: one `downloaded` clip in; out, either `analyzed` with its score and best
//! window and an *edit* message, or `skipped` with the reason — "silent", "too short" or
//! "below threshold" (DESIGN.md §2, issue 4).
//!
//! The clip's source is fetched from the media store to a temporary file and its audio decoded
//! and measured in-process (`analysis::audio`, on a blocking thread: it is CPU work). The score
//! weighs the audio's peak energy, the chat's hype where the clip sits in its stream (when
//! collect stored the stream's hype, `stream_hype.rs`; otherwise the part is left out and the
//! others share its weight), the clip's views beside the stream's other clips, and how well the
//! window's length fits a short.
//!
//! Exactly-once effect: the clip moves `downloaded → analyzed` first and edit is enqueued after,
//! so a crash in between leaves a redelivery that finds the clip `analyzed` and only enqueues
//! edit again (edit is idempotent). A transition that loses to another worker is that worker's
//! success, not a failure. A failure counts an attempt; a permanent one (no audio track, the
//! source gone) or the last allowed attempt fails the clip with `failed_stage = analyze`.

use std::time::Duration;

use chrono::Duration as Span;

use super::attempts::record_failure;
use super::messages::{encode, ClipMessage};
use super::StageError;
use crate::analysis::audio::{self, AudioError, AudioSignals};
use crate::analysis::chat::ChatHype;
use crate::analysis::score::{self, Features};
use crate::analysis::window::{best_window, WindowRefusal};
use crate::analysis::AnalysisConfig;
use crate::backend::Ports;
use crate::config::Config;
use crate::domain::{Clip, ClipId, ClipPatch, ClipStatus, Score, Stage, Transition, Window};
use crate::media::MediaError;
use crate::queue::QueueName;
use crate::store::StoreError;

/// Of each status, the clips read to find a clip's stream-mates for the views comparison: a
/// bounded read per clip whatever the store holds.
const PEER_SCAN_LIMIT: usize = 100;
/// Clips of one broadcaster made this close together belong to one stream when Twitch gave no
/// VOD id to compare (streams longer than this are compared by VOD id).
const SAME_STREAM: Span = Span::hours(12);

/// What the stage needs besides the ports.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeSettings {
    pub analysis: AnalysisConfig,
    /// Attempts before the clip is `failed` (`pipeline.max_attempts`).
    pub max_attempts: u32,
}

impl AnalyzeSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            analysis: config.analysis.clone(),
            max_attempts: config.pipeline.max_attempts,
        }
    }
}

/// What analysis decided for a clip.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Keep {
        score: Score,
        window: Window,
    },
    /// The reason is stored on the clip; the score too when one was computed.
    Skip {
        reason: String,
        score: Option<Score>,
    },
}

/// Analyze one clip.
pub async fn analyze(
    ports: &Ports,
    settings: &AnalyzeSettings,
    msg: &ClipMessage,
) -> Result<(), StageError> {
    let Some(clip) = ports.store.get_clip(&msg.clip_id).await.map_err(retry)? else {
        return Err(StageError::Permanent(format!(
            "no clip {} is recorded; nothing to analyze",
            msg.clip_id
        )));
    };
    match clip.status {
        ClipStatus::Downloaded => {}
        ClipStatus::Analyzed => return enqueue_edit(ports, &clip.id).await,
        other => {
            tracing::debug!(clip = %clip.id, status = %other, "analyze redelivered for a clip past it; nothing to do");
            return Ok(());
        }
    }
    match measure(ports, settings, &clip).await {
        Ok((signals, other_views)) => {
            let hype = super::stream_hype::load(ports, &clip).await?;
            let verdict = decide(
                &clip,
                &signals,
                &other_views,
                hype.as_ref(),
                &settings.analysis,
            );
            finish(ports, &clip, verdict).await
        }
        Err(e) => {
            Err(record_failure(ports, &clip.id, Stage::Analyze, settings.max_attempts, e).await)
        }
    }
}

/// Fetch the source, measure its audio, and read the views of the clip's stream-mates.
async fn measure(
    ports: &Ports,
    settings: &AnalyzeSettings,
    clip: &Clip,
) -> Result<(AudioSignals, Vec<u64>), StageError> {
    let key = clip.media.source.clone().ok_or_else(|| {
        StageError::Permanent(
            "the clip has no source media recorded; download it again (`hilite clips retry`)"
                .into(),
        )
    })?;
    let file = crate::scratch::file("hilite-analyze-", ".mp4")
        .map_err(|e| StageError::Retryable(format!("cannot create a temporary file: {e}")))?;
    ports
        .media
        .get_to_file(&key, file.path())
        .await
        .map_err(|e| match e {
            MediaError::NotFound(_) => StageError::Permanent(format!(
                "{e}; download the clip again (`hilite clips retry`)"
            )),
            other => retry(other),
        })?;
    let path = file.path().to_path_buf();
    let cfg = settings.analysis.audio.clone();
    let signals = tokio::task::spawn_blocking(move || audio::analyze_file(&path, &cfg))
        .await
        .map_err(|e| StageError::Retryable(format!("the audio analysis task did not finish: {e}")))?
        .map_err(audio_failure)?;
    drop(file);
    let other_views = stream_mates_views(ports, clip).await?;
    Ok((signals, other_views))
}

/// Decide from the measurements: silent → skip; too short → skip; else score and window, and
/// skip when the score is below the threshold. `chat` is the stream's chat hype when known.
pub fn decide(
    clip: &Clip,
    signals: &AudioSignals,
    other_views: &[u64],
    chat: Option<&ChatHype>,
    cfg: &AnalysisConfig,
) -> Verdict {
    if signals.is_silent() || signals.sound_ratio < cfg.min_sound_ratio {
        return Verdict::Skip {
            reason: "silent".into(),
            score: None,
        };
    }
    let window = match best_window(&signals.series(), signals.duration_secs, &cfg.window) {
        Ok(w) => w,
        Err(refusal @ WindowRefusal::TooShort { .. }) => {
            return Verdict::Skip {
                reason: refusal.to_string(),
                score: None,
            }
        }
    };
    let features = Features {
        audio: Some(score::audio_energy(
            signals.max_momentary_lufs,
            signals.typical_lufs,
            &cfg.score,
        )),
        chat: chat.and_then(|hype| chat_hype_at(hype, clip, &window)),
        views: score::views_relative(clip.view_count, other_views),
        duration: Some(score::duration_fit(
            window.duration_secs(),
            cfg.window.min_secs,
            cfg.window.max_secs,
            &cfg.score,
        )),
    };
    let score = score::combine(&features, &cfg.score.weights);
    if score.total < cfg.min_score {
        let reason = format!(
            "below threshold: score {:.1} is under {:.1}",
            score.total, cfg.min_score
        );
        return Verdict::Skip {
            reason,
            score: Some(score),
        };
    }
    Verdict::Keep { score, window }
}

/// The chat feature where the window sits in the stream: Get Clips' `vod_offset` is where the
/// clip starts in the VOD. <https://dev.twitch.tv/docs/api/reference/#get-clips>
pub fn chat_hype_at(hype: &ChatHype, clip: &Clip, window: &Window) -> Option<f64> {
    let offset = f64::from(clip.vod_offset_secs?);
    hype.hype_between(offset + window.start_secs, offset + window.end_secs)
}

/// Apply the verdict: transition first, then (when kept) enqueue edit.
async fn finish(ports: &Ports, clip: &Clip, verdict: Verdict) -> Result<(), StageError> {
    let (to, patch) = match &verdict {
        Verdict::Keep { score, window } => {
            tracing::info!(clip = %clip.id, score = score.total, start = window.start_secs, end = window.end_secs, "clip analyzed");
            (
                ClipStatus::Analyzed,
                ClipPatch {
                    score: Some(score.clone()),
                    window: Some(*window),
                    ..ClipPatch::default()
                },
            )
        }
        Verdict::Skip { reason, score } => {
            tracing::info!(clip = %clip.id, reason = %reason, "clip skipped");
            (
                ClipStatus::Skipped,
                ClipPatch {
                    score: score.clone(),
                    skip_reason: Some(reason.clone()),
                    ..ClipPatch::default()
                },
            )
        }
    };
    let t = Transition::new(ClipStatus::Downloaded, to)
        .map_err(|e| StageError::Permanent(e.to_string()))?;
    match ports
        .store
        .transition_clip(&clip.id, t, patch, ports.clock.now())
        .await
    {
        Ok(_) => {}
        // Another worker analysed it first; it enqueues edit (or its redelivery will).
        Err(StoreError::Conflict { .. }) => {
            tracing::debug!(clip = %clip.id, "another worker analysed this clip first");
            return Ok(());
        }
        Err(e) => return Err(retry(e)),
    }
    match verdict {
        Verdict::Keep { .. } => enqueue_edit(ports, &clip.id).await,
        Verdict::Skip { .. } => Ok(()),
    }
}

async fn enqueue_edit(ports: &Ports, clip: &ClipId) -> Result<(), StageError> {
    let body = encode(&ClipMessage {
        clip_id: clip.clone(),
    });
    ports
        .queue
        .send(QueueName::Edit, &body, Duration::ZERO)
        .await
        .map_err(retry)
}

/// Views of the other clips of the same broadcaster's same stream (same VOD, or made within
/// [`SAME_STREAM`] when either has no VOD id), from a bounded read of each live status.
async fn stream_mates_views(ports: &Ports, clip: &Clip) -> Result<Vec<u64>, StageError> {
    use ClipStatus::*;
    let mut views = Vec::new();
    for status in [
        Pending, Downloaded, Analyzed, Skipped, Edited, Review, Published,
    ] {
        for other in ports
            .store
            .list_clips(status, PEER_SCAN_LIMIT)
            .await
            .map_err(retry)?
        {
            let same_stream = match (&other.video_id, &clip.video_id) {
                (Some(a), Some(b)) => a == b,
                _ => (other.created_at - clip.created_at).abs() <= SAME_STREAM,
            };
            if other.id != clip.id && other.broadcaster_id == clip.broadcaster_id && same_stream {
                views.push(other.view_count);
            }
        }
    }
    Ok(views)
}

/// What an audio failure means for the clip: a source without usable audio will never get
/// one; a local file problem may pass.
fn audio_failure(e: AudioError) -> StageError {
    match e {
        AudioError::Open { .. } => StageError::Retryable(e.to_string()),
        _ => StageError::Permanent(e.to_string()),
    }
}

fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}

#[cfg(test)]
#[path = "analyze_tests.rs"]
mod tests;
