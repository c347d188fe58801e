//! The publish stage: one clip to one platform for one account (seed 000 [4], seed 003's error
//! strategy). The plan step that enqueues these messages is `pipeline::plan`.
//!
//! 1. A publication already `success` or `failed` is done: the message is dropped. One held
//!    under a live lease comes back when the lease ends (its worker may die).
//! 2. Saved resume handles are looked at first, without a claim (Instagram's container still
//!    processing, TikTok's post still publishing): waiting is a re-enqueue, never a sleep.
//! 3. Otherwise the publication is claimed (pending → uploading with a lease), the short is
//!    copied once to a temporary file and checked against the platform's rules, and the
//!    platform client uploads from that file by offset, saving each resume handle through the
//!    claim the moment it exists. A retry resumes or checks instead of posting again.
//! 4. Errors: an invalid token is refreshed and the call retried once; a rate limit releases
//!    the claim until the reset; network or 5xx errors back off, up to `3 × max_attempts`
//!    claims; a video or post the platform refuses fails at once with its reason; anything
//!    else fails after `max_attempts` claims. A failed publication is retried by a later plan.
//! 5. When every active account that should post the clip has posted it everywhere, the clip
//!    becomes `published` (and its media eligible for deletion — never before).
//!
//! This file holds steps 1–3; recording outcomes (4, 5) is `outcome`, the platform clients
//! `clients`. The post text comes from the account's templates (`platforms::templates`).

mod clients;
mod outcome;

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

pub use clients::Platforms;
pub use outcome::{covers, finish_clip};
use outcome::{fail_unclaimed, record_unclaimed, settle_claim, stage_error_without_claim};

use super::messages::PublishMessage;
use super::StageError;
use crate::backend::Ports;
use crate::domain::{
    Account, Claim, Clip, Platform, PostStatus, Publication, PublicationKey, ResumeHandles,
};
use crate::platforms::oauth::{self, OAuthClient};
use crate::platforms::templates::{self, Templates};
use crate::platforms::{
    validate, AccessToken, Check, PlatformError, PostJob, ProgressSink, Publisher, Step,
};

/// How long a claim holds a publication: longer than any single upload attempt.
pub const LEASE: Duration = Duration::minutes(30);
/// How long Instagram's presigned media URL lives: long enough for Meta to fetch it.
const MEDIA_URL_TTL: StdDuration = StdDuration::from_secs(3600);

/// How soon a delivery that found the publication claimed by another worker looks again. Not
/// the whole lease: the holder usually finishes, or stops to wait for the platform, long before
/// it runs out, and this copy may be the only one left to carry the post on (the holder's own
/// may be gone with a crash). A wait is a fresh delayed message, so it uses up no receive.
const RECHECK_HELD: Duration = Duration::seconds(30);
/// How long a post may stay processing on its platform before the publication stops polling
/// and fails, its resume handles kept: the next day's plan looks at it again (and takes the
/// post if it appeared) instead of a worker polling forever. TikTok gives processing no time
/// limit and its moderation "may take a few hours"
/// (<https://developers.tiktok.com/doc/content-posting-api-reference-get-video-status>); an
/// Instagram container expires after 24 hours
/// (<https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container>).
const MAX_PROCESSING: Duration = Duration::hours(24);

/// The wait for a publication another worker holds: until its lease ends, or the next recheck.
fn held_elsewhere(key: &PublicationKey, p: &Publication, now: DateTime<Utc>) -> StageError {
    let until = p.lease_until.unwrap_or(now + LEASE).min(now + RECHECK_HELD);
    StageError::RateLimited {
        until,
        reason: format!("{key} is being uploaded by another worker"),
    }
}

/// Saves resume handles under our claim.
struct ClaimSink<'a> {
    ports: &'a Ports,
    key: &'a PublicationKey,
    claim: &'a str,
}

#[async_trait]
impl ProgressSink for ClaimSink<'_> {
    async fn save(&mut self, handles: &ResumeHandles) -> Result<(), PlatformError> {
        let now = self.ports.clock.now();
        self.ports
            .store
            .save_publication_progress(self.key, self.claim, handles, now)
            .await
            .map_err(|e| PlatformError::Transient {
                platform: self.key.platform,
                message: format!("could not record upload progress: {e}"),
            })
    }
}

pub(super) fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}

/// Post one clip to one platform for one account.
pub async fn publish(
    ports: &Ports,
    platforms: &Platforms,
    msg: &PublishMessage,
) -> Result<(), StageError> {
    let key = PublicationKey {
        clip_id: msg.clip_id.clone(),
        account: msg.account.clone(),
        platform: msg.platform,
    };
    let now = ports.clock.now();
    let Some(p) = ports.store.get_publication(&key).await.map_err(retry)? else {
        return Err(StageError::Poison(format!(
            "no publication {key} was planned"
        )));
    };
    match p.status {
        PostStatus::Success => return finish_clip(ports, &key).await,
        PostStatus::Failed => return Ok(()),
        PostStatus::Uploading if !p.claimable(now) => return Err(held_elsewhere(&key, &p, now)),
        PostStatus::Pending | PostStatus::Uploading => {}
    }
    let account = ports.store.get_account(&key.account).await.map_err(retry)?;
    let clip = ports.store.get_clip(&key.clip_id).await.map_err(retry)?;
    let (publisher, oauth_client) = platforms.client(key.platform)?;

    let mut token =
        match oauth::access_token(ports.vault.as_ref(), oauth_client, &key.account, now, false)
            .await
        {
            Ok(t) => Some(t),
            Err(e @ PlatformError::NotConnected { .. }) => {
                return fail_unclaimed(ports, &key, &e.to_string()).await
            }
            Err(e) => return Err(retry(e)),
        };
    let (Some(account), Some(clip)) = (account, clip) else {
        return fail_unclaimed(ports, &key, "the account or the clip no longer exists").await;
    };

    // Look at what an earlier attempt left, without claiming.
    if p.resume != ResumeHandles::default() {
        let resume = &p.resume;
        let size = match &clip.media.short {
            Some(short) => ports.media.size(short).await.map_err(retry)?,
            None => None,
        };
        let checked = with_refresh(ports, oauth_client, &key, &mut token, |t| async move {
            publisher.check(&t, resume, size).await
        })
        .await;
        match checked {
            // The publication was last written when the upload ended and the wait began.
            Ok(Check::Processing { .. }) if now - p.updated_at > MAX_PROCESSING => {
                let reason = format!(
                    "still processing on {} {} hours after the upload; the next plan looks again",
                    key.platform,
                    (now - p.updated_at).num_hours()
                );
                return record_unclaimed(ports, &key, Err(reason)).await;
            }
            Ok(Check::Processing { check_at }) => {
                return Err(StageError::RateLimited {
                    until: check_at,
                    reason: format!("{key} is still processing on {}", key.platform),
                })
            }
            Ok(Check::Continue) => {}
            Ok(Check::Posted(result)) => return record_unclaimed(ports, &key, Ok(result)).await,
            Ok(Check::Failed(reason)) => return record_unclaimed(ports, &key, Err(reason)).await,
            Err(e) => return Err(stage_error_without_claim(e)),
        }
    }

    let claimed = match ports
        .store
        .claim_publication(&key, LEASE, now)
        .await
        .map_err(retry)?
    {
        Claim::Claimed(p) => p,
        // Lost to a concurrent delivery of the same message: the winner may end by asking to
        // come back later (Instagram processing), and deleting this copy would lose that
        // post, so this copy waits out the lease and looks again.
        Claim::NotClaimable(p) if p.status == PostStatus::Uploading => {
            return Err(held_elsewhere(&key, &p, now))
        }
        Claim::NotClaimable(_) => return Ok(()),
        Claim::Missing => {
            return Err(StageError::Poison(format!(
                "no publication {key} was planned"
            )))
        }
    };
    let claim = claimed.claim_token.clone().unwrap_or_default();
    let outcome = post(
        ports,
        publisher,
        oauth_client,
        &account,
        &clip,
        &claimed,
        &claim,
        &mut token,
    )
    .await;
    settle_claim(ports, platforms, &key, &claimed, &claim, outcome).await
}

/// Call `f` with the token; after a 401 refresh it once and call again.
async fn with_refresh<T, F, Fut>(
    ports: &Ports,
    client: &OAuthClient,
    key: &PublicationKey,
    token: &mut Option<AccessToken>,
    f: F,
) -> Result<T, PlatformError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, PlatformError>>,
{
    let current = token.clone().ok_or_else(|| PlatformError::NotConnected {
        platform: key.platform,
        message: "no token".into(),
    })?;
    match f(current).await {
        Err(PlatformError::Unauthorized { message, .. }) => {
            tracing::info!(publication = %key, error = %message, "token refused; refreshing it once");
            let fresh = oauth::access_token(
                ports.vault.as_ref(),
                client,
                &key.account,
                ports.clock.now(),
                true,
            )
            .await?;
            *token = Some(fresh.clone());
            f(fresh).await
        }
        other => other,
    }
}

/// Everything done under the claim: copy, validate, upload or resume.
#[allow(clippy::too_many_arguments)]
async fn post(
    ports: &Ports,
    publisher: &dyn Publisher,
    client: &OAuthClient,
    account: &Account,
    clip: &Clip,
    claimed: &Publication,
    claim: &str,
    token: &mut Option<AccessToken>,
) -> Result<Step, PlatformError> {
    let platform = claimed.key.platform;
    let local = |e: &dyn std::fmt::Display| PlatformError::Transient {
        platform,
        message: format!("preparing the video: {e}"),
    };
    let short = clip
        .media
        .short
        .clone()
        .ok_or_else(|| PlatformError::Rejected {
            platform,
            message: "the clip has no rendered short".into(),
        })?;
    let file = crate::scratch::file("hilite-post-", ".mp4").map_err(|e| local(&e))?;
    let size = ports
        .media
        .get_to_file(&short, file.path())
        .await
        .map_err(|e| local(&e))?;
    let probe = validate::probe(file.path()).await.map_err(|e| match e {
        // The copy just fetched cannot be opened: this machine's trouble, not the video's.
        validate::ProbeError::Open(_) => local(&e),
        validate::ProbeError::Unreadable(_) => PlatformError::Rejected {
            platform,
            message: e.to_string(),
        },
    })?;
    let refused = validate::check(&probe, platform);
    if !refused.is_empty() {
        return Err(PlatformError::Rejected {
            platform,
            message: format!(
                "the video does not meet {platform}'s rules: {}",
                refused.join("; ")
            ),
        });
    }
    let media_url = match platform {
        Platform::Instagram => Some(
            ports
                .media
                .presign_get(&short, MEDIA_URL_TTL)
                .await
                .map_err(|e| local(&e))?,
        ),
        _ => None,
    };
    let text = templates::render(&Templates::for_account(&account.templates), clip, platform);
    let job = PostJob {
        file: file.path(),
        size,
        content_type: "video/mp4",
        media_url: media_url.as_ref(),
        duration_secs: probe.duration_secs,
        text: &text,
        privacy: account.privacy,
    };
    let handles = tokio::sync::Mutex::new(claimed.resume.clone());
    let key = &claimed.key;
    with_refresh(ports, client, key, token, |t| {
        let (job, handles) = (&job, &handles);
        async move {
            let mut sink = ClaimSink { ports, key, claim };
            let mut h = handles.lock().await;
            publisher.publish(&t, job, &mut h, &mut sink).await
        }
    })
    .await
}
