//! How a publish attempt ends: recording the outcome of a claimed attempt (and telling the
//! queue what to do next), recording what the platform decided without an upload, and moving
//! a clip to `published` once every account that should post it has. Not here: the upload
//! itself (`pipeline::publish`).

use super::{retry, Platforms, LEASE};
use crate::backend::Ports;
use crate::domain::{
    Account, Claim, Clip, ClipPatch, ClipStatus, Platform, PostResult, PostStatus, Publication,
    PublicationKey, Transition,
};
use crate::pipeline::StageError;
use crate::platforms::{PlatformError, Step};
use crate::store::StoreError;

/// Record the outcome of a claimed attempt and tell the queue what to do.
pub(super) async fn settle_claim(
    ports: &Ports,
    platforms: &Platforms,
    key: &PublicationKey,
    claimed: &Publication,
    claim: &str,
    outcome: Result<Step, PlatformError>,
) -> Result<(), StageError> {
    let now = ports.clock.now();
    let store = &ports.store;
    let release = |error: String, again: bool| async move {
        match store
            .release_publication(key, claim, &error, again, now)
            .await
        {
            Ok(_) => Ok(()),
            // Our claim was overtaken: the new holder decides.
            Err(StoreError::Conflict { .. }) => Err(StageError::Retryable(format!(
                "{key}: lost the claim while recording: {error}"
            ))),
            Err(e) => Err(retry(format!("{error} (and the release failed: {e})"))),
        }
    };
    let attempts = claimed.attempts;
    let max = platforms.max_attempts;
    match outcome {
        Ok(Step::Posted(result)) => {
            store
                .complete_publication(key, claim, &result, now)
                .await
                .map_err(retry)?;
            tracing::info!(publication = %key, url = %result.url, "posted");
            finish_clip(ports, key).await
        }
        Ok(Step::Processing { check_at }) => {
            release("processing on the platform".into(), true).await?;
            Err(StageError::RateLimited {
                until: check_at,
                reason: format!("{key} is processing on {}", key.platform),
            })
        }
        Err(e @ (PlatformError::Rejected { .. } | PlatformError::NotConnected { .. })) => {
            tracing::warn!(publication = %key, error = %e, "publication failed without retry");
            release(e.to_string(), false).await?;
            Err(StageError::Permanent(e.to_string()))
        }
        Err(PlatformError::RateLimited { until, message, .. }) => {
            release(format!("rate limited: {message}"), true).await?;
            Err(StageError::RateLimited {
                until,
                reason: message,
            })
        }
        Err(e) => {
            let limit = if matches!(e, PlatformError::Transient { .. }) {
                max * 3
            } else {
                max
            };
            if attempts >= limit {
                let reason = format!("gave up after {attempts} attempts: {e}");
                tracing::warn!(publication = %key, error = %reason, "publication failed");
                release(reason.clone(), false).await?;
                return Err(StageError::Permanent(reason));
            }
            tracing::warn!(publication = %key, attempts, error = %e, "publication attempt failed; it will be retried");
            release(e.to_string(), true).await?;
            // The publication counts its own attempts (above, up to `limit`): its message must
            // not also spend the queue's receives (`queues.max_receives`, 3 by default, fewer
            // than `limit`), which would dead-letter a healthy post before its own limit. It
            // comes back after a backoff as a new message, like a wait.
            let pause = crate::pipeline::runner::backoff(attempts);
            Err(StageError::RateLimited {
                until: now + chrono::Duration::from_std(pause).unwrap_or_default(),
                reason: format!("retrying after a failed attempt ({attempts} of {limit}): {e}"),
            })
        }
    }
}

pub(super) fn stage_error_without_claim(e: PlatformError) -> StageError {
    match e {
        PlatformError::RateLimited { until, message, .. } => StageError::RateLimited {
            until,
            reason: message,
        },
        other => StageError::Retryable(other.to_string()),
    }
}

/// Claim only to record what the platform already decided (a finished or failed post).
pub(super) async fn record_unclaimed(
    ports: &Ports,
    key: &PublicationKey,
    outcome: Result<PostResult, String>,
) -> Result<(), StageError> {
    let now = ports.clock.now();
    let Claim::Claimed(p) = ports
        .store
        .claim_publication(key, LEASE, now)
        .await
        .map_err(retry)?
    else {
        return Ok(());
    };
    let claim = p.claim_token.unwrap_or_default();
    match outcome {
        Ok(result) => {
            ports
                .store
                .complete_publication(key, &claim, &result, now)
                .await
                .map_err(retry)?;
            finish_clip(ports, key).await
        }
        Err(reason) => {
            ports
                .store
                .release_publication(key, &claim, &reason, false, now)
                .await
                .map_err(retry)?;
            Err(StageError::Permanent(reason))
        }
    }
}

pub(super) async fn fail_unclaimed(
    ports: &Ports,
    key: &PublicationKey,
    reason: &str,
) -> Result<(), StageError> {
    tracing::warn!(publication = %key, error = %reason, "publication cannot be posted");
    record_unclaimed(ports, key, Err(reason.to_string())).await
}

/// Whether `account` posts `clip`'s broadcaster (all when its list is empty).
pub async fn covers(ports: &Ports, account: &Account, clip: &Clip) -> Result<bool, StoreError> {
    if account.broadcasters.is_empty() {
        return Ok(true);
    }
    let login = match ports.store.get_broadcaster(&clip.broadcaster_id).await? {
        Some(b) => b.login.as_str().to_string(),
        None => clip.broadcaster_name.to_lowercase(),
    };
    Ok(account.broadcasters.iter().any(|b| b.as_str() == login))
}

/// Move the clip to `published` once every active account that should post it has, on every
/// one of its platforms. Until then its media stays.
pub async fn finish_clip(ports: &Ports, key: &PublicationKey) -> Result<(), StageError> {
    let Some(clip) = ports.store.get_clip(&key.clip_id).await.map_err(retry)? else {
        return Ok(());
    };
    if clip.status != ClipStatus::Edited {
        return Ok(());
    }
    let pubs = ports
        .store
        .list_publications(Some(&clip.id), None)
        .await
        .map_err(retry)?;
    for account in ports.store.list_accounts().await.map_err(retry)? {
        if account.paused || !covers(ports, &account, &clip).await.map_err(retry)? {
            continue;
        }
        let done = |pl: &Platform| {
            pubs.iter().any(|p| {
                p.key.account == account.name
                    && p.key.platform == *pl
                    && p.status == PostStatus::Success
            })
        };
        if !account.platforms.iter().all(done) {
            return Ok(());
        }
    }
    let t = Transition::new(ClipStatus::Edited, ClipStatus::Published)
        .map_err(|e| StageError::Permanent(e.to_string()))?;
    match ports
        .store
        .transition_clip(&clip.id, t, ClipPatch::default(), ports.clock.now())
        .await
    {
        Ok(_) => {
            tracing::info!(clip = %clip.id, "posted everywhere it should be; the clip is published");
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(retry(e)),
    }
}
