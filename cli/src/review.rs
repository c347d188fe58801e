//! `hilite clips approve|reject ID`: a person's decision on a clip the edit stage sent to
//! `review` (moderation flagged it, or its broadcaster's clips need approval). Approving moves
//! it to `edited`, where the next publish plan picks it up; rejecting moves it to `skipped` with
//! the reason, and it is never published. Anything but a clip in `review` is refused and left
//! as it is.

use anyhow::Context;
use hilite::backend::Ports;
use hilite::domain::{ClipId, ClipPatch, ClipStatus, Transition};
use hilite::store::StoreError;

fn not_in_review(id: &ClipId, status: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "clip {id} is {status}, not waiting for review: only clips in review are approved or rejected (hilite clips list --status review)"
    )
}

pub async fn approve(ports: &Ports, id: &ClipId) -> anyhow::Result<String> {
    decide(ports, id, ClipStatus::Edited, ClipPatch::default()).await?;
    Ok(format!(
        "clip {id} approved: it is edited and the next publish plan picks it up\n"
    ))
}

pub async fn reject(ports: &Ports, id: &ClipId, reason: &str) -> anyhow::Result<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        anyhow::bail!("give the reason for rejecting clip {id} with --reason");
    }
    let patch = ClipPatch {
        skip_reason: Some(format!("rejected in review: {reason}")),
        ..ClipPatch::default()
    };
    decide(ports, id, ClipStatus::Skipped, patch).await?;
    Ok(format!(
        "clip {id} rejected: it is skipped and will not be published\n"
    ))
}

async fn decide(
    ports: &Ports,
    id: &ClipId,
    to: ClipStatus,
    patch: ClipPatch,
) -> anyhow::Result<()> {
    let clip = ports
        .store
        .get_clip(id)
        .await
        .context("cannot read the clip")?
        .with_context(|| format!("no clip {id}"))?;
    if clip.status != ClipStatus::Review {
        return Err(not_in_review(id, clip.status));
    }
    let t = Transition::new(ClipStatus::Review, to)?;
    match ports
        .store
        .transition_clip(id, t, patch, ports.clock.now())
        .await
    {
        Ok(_) => Ok(()),
        // Decided by someone else between the read and the write.
        Err(StoreError::Conflict { actual, .. }) => Err(not_in_review(id, actual)),
        Err(e) => Err(anyhow::Error::new(e).context("cannot record the decision")),
    }
}
