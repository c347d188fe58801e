//! Counting a stage's failure on its clip (DESIGN.md §3, "Nothing lost"): the attempt is
//! recorded with its error while the clip is still waiting for the stage; a permanent error, or
//! the stage's last attempt, moves the clip to `failed` with the stage named, its media and
//! record left in place for `hilite clips retry`. Every clip stage ends its failures here.

use crate::backend::Ports;
use crate::domain::{ClipId, ClipPatch, ClipStatus, Stage, Transition};
use crate::store::StoreError;

use super::StageError;

/// Record `error` against `stage` for `clip` and return what the queue should do with the
/// message: the same error while attempts remain, `Permanent` once the clip is failed.
pub async fn record_failure(
    ports: &Ports,
    clip: &ClipId,
    stage: Stage,
    max_attempts: u32,
    error: StageError,
) -> StageError {
    let (message, permanent) = match &error {
        // Rate limits and unreadable messages are not the clip's failures.
        StageError::RateLimited { .. } | StageError::Poison(_) => return error,
        StageError::Permanent(m) => (m.clone(), true),
        StageError::Retryable(m) => (m.clone(), false),
    };
    let waiting = stage.input_status();
    let now = ports.clock.now();
    let counted = match ports
        .store
        .record_clip_failure(clip, waiting, stage, &message, now)
        .await
    {
        Ok(c) => c,
        // Moved on meanwhile (another worker finished the stage): nothing to count against it.
        Err(StoreError::Conflict { .. }) => {
            return StageError::Permanent(format!("{message} (the clip has moved on meanwhile)"))
        }
        Err(e) => {
            return StageError::Retryable(format!(
                "{message} (and the failure was not recorded: {e})"
            ))
        }
    };
    let attempts = counted.attempts.get(stage);
    if !permanent && attempts < max_attempts {
        tracing::warn!(clip = %clip, stage = %stage, attempts, max_attempts, error = %message, "stage failed; it will be retried");
        return error;
    }
    let reason = if permanent {
        message
    } else {
        format!("gave up after {attempts} attempts: {message}")
    };
    tracing::warn!(clip = %clip, stage = %stage, attempts, error = %reason, "stage failed for good; the clip is failed");
    let patch = ClipPatch {
        failed_stage: Some(stage),
        ..ClipPatch::default()
    };
    let failed = match Transition::new(waiting, ClipStatus::Failed) {
        Ok(t) => t,
        Err(e) => return StageError::Permanent(format!("{reason} ({e})")),
    };
    match ports.store.transition_clip(clip, failed, patch, now).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => StageError::Permanent(reason),
        Err(e) => StageError::Retryable(format!(
            "{reason} (and the clip could not be marked failed: {e})"
        )),
    }
}

/// Why a clip could not be retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no clip {0}")]
    NotFound(ClipId),
    #[error("clip {id} is {status}, not failed: only failed clips are retried")]
    NotFailed { id: ClipId, status: ClipStatus },
    #[error("clip {0} is failed without a recorded stage")]
    NoStage(ClipId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

/// `hilite clips retry`: put a failed clip back where its stage waits for it, with that
/// stage's attempts at zero, and queue the stage again. Returns the stage.
pub async fn retry_failed(ports: &Ports, id: &ClipId) -> Result<Stage, RetryError> {
    let clip = ports
        .store
        .get_clip(id)
        .await?
        .ok_or_else(|| RetryError::NotFound(id.clone()))?;
    if clip.status != ClipStatus::Failed {
        return Err(RetryError::NotFailed {
            id: id.clone(),
            status: clip.status,
        });
    }
    let stage = clip
        .failed_stage
        .ok_or_else(|| RetryError::NoStage(id.clone()))?;
    let back =
        Transition::new(ClipStatus::Failed, stage.input_status()).map_err(StoreError::from)?;
    let patch = ClipPatch {
        reset_attempts: Some(stage),
        // A render job recorded before the clip failed is over: the job's own run fails the
        // clip without marking its job, and a job still recorded as live would make the
        // queued edit message submit nothing, leaving the clip `analyzed` with no job.
        edit_job: Some(None),
        ..ClipPatch::default()
    };
    ports
        .store
        .transition_clip(id, back, patch, ports.clock.now())
        .await?;
    let queue = match stage {
        Stage::Download => crate::queue::QueueName::Download,
        Stage::Analyze => crate::queue::QueueName::Analyze,
        Stage::Edit => crate::queue::QueueName::Edit,
    };
    let body = super::messages::encode(&super::ClipMessage {
        clip_id: id.clone(),
    });
    if let Err(e) = ports
        .queue
        .send(queue, &body, std::time::Duration::ZERO)
        .await
    {
        // Without its message the clip would wait at its stage for nothing, and no longer be
        // `failed` for the retry to be run again: it is put back as it was.
        let undo =
            Transition::new(stage.input_status(), ClipStatus::Failed).map_err(StoreError::from)?;
        let patch = ClipPatch {
            failed_stage: Some(stage),
            ..ClipPatch::default()
        };
        if let Err(undone) = ports
            .store
            .transition_clip(id, undo, patch, ports.clock.now())
            .await
        {
            tracing::error!(clip = %id, error = %undone, "a retried clip could not be queued nor put back to failed; it waits at its stage without a message");
        }
        return Err(e.into());
    }
    tracing::info!(clip = %id, stage = %stage, "failed clip queued again");
    Ok(stage)
}
