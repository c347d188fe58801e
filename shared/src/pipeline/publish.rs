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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;

use super::messages::PublishMessage;
use super::StageError;
use crate::backend::Ports;
use crate::config::Config;
use crate::domain::{
    Account, Claim, Clip, ClipPatch, ClipStatus, Platform, PostResult, PostStatus, Publication,
    PublicationKey, ResumeHandles, Transition,
};
use crate::platforms::instagram::Instagram;
use crate::platforms::oauth::{self, OAuthClient};
use crate::platforms::templates::{self, Templates};
use crate::platforms::tiktok::{ChunkRules, TikTok};
use crate::platforms::youtube::{self, YouTube};
use crate::platforms::{
    validate, AccessToken, Check, PlatformError, PostJob, ProgressSink, Publisher, Step,
};
use crate::store::StoreError;

/// How long a claim holds a publication: longer than any single upload attempt.
pub const LEASE: Duration = Duration::minutes(30);
/// How long Instagram's presigned media URL lives: long enough for Meta to fetch it.
const MEDIA_URL_TTL: StdDuration = StdDuration::from_secs(3600);

/// The three platform clients and their token endpoints, built once per process.
#[derive(Clone)]
pub struct Platforms {
    clients: BTreeMap<Platform, (Arc<dyn Publisher>, OAuthClient)>,
    pub templates: Templates,
    pub account_templates: BTreeMap<String, Templates>,
    pub max_attempts: u32,
}

impl Platforms {
    /// The real clients, with the configured base URLs and the platforms' chunk rules.
    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(StdDuration::from_secs(15))
            .timeout(StdDuration::from_secs(600))
            .build()?;
        let yt = YouTube::new(
            http.clone(),
            config.youtube.clone(),
            youtube::DEFAULT_CHUNK_BYTES,
            youtube::CHUNK_UNIT,
        );
        let tt = TikTok::new(
            http.clone(),
            config.tiktok.clone(),
            10 * 1024 * 1024,
            ChunkRules::TIKTOK,
        );
        let ig = Instagram::new(http.clone(), config.instagram.clone());
        let oauth = |p: Platform, c: &crate::config::PlatformConfig| {
            OAuthClient::new(p, http.clone(), c.clone())
        };
        Ok(Self::new(
            vec![
                (
                    Arc::new(yt) as Arc<dyn Publisher>,
                    oauth(Platform::Youtube, &config.youtube),
                ),
                (Arc::new(tt), oauth(Platform::Tiktok, &config.tiktok)),
                (Arc::new(ig), oauth(Platform::Instagram, &config.instagram)),
            ],
            config.pipeline.max_attempts,
        ))
    }

    pub fn new(clients: Vec<(Arc<dyn Publisher>, OAuthClient)>, max_attempts: u32) -> Self {
        let clients = clients
            .into_iter()
            .map(|(p, o)| (p.platform(), (p, o)))
            .collect();
        Self {
            clients,
            templates: Templates::default(),
            account_templates: BTreeMap::new(),
            max_attempts: max_attempts.max(1),
        }
    }

    pub fn client(&self, platform: Platform) -> Result<(&dyn Publisher, &OAuthClient), StageError> {
        self.clients
            .get(&platform)
            .map(|(p, o)| (p.as_ref(), o))
            .ok_or_else(|| StageError::Permanent(format!("this build has no {platform} client")))
    }

    fn templates_for(&self, account: &Account) -> &Templates {
        self.account_templates
            .get(account.name.as_str())
            .unwrap_or(&self.templates)
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

fn retry(e: impl std::fmt::Display) -> StageError {
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
        PostStatus::Uploading if !p.claimable(now) => {
            let until = p.lease_until.unwrap_or(now + LEASE);
            return Err(StageError::RateLimited {
                until,
                reason: format!("{key} is being uploaded by another worker"),
            });
        }
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
        let checked = with_refresh(ports, oauth_client, &key, &mut token, |t| async move {
            publisher.check(&t, resume).await
        })
        .await;
        match checked {
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
        platforms,
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
    platforms: &Platforms,
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
    let file = tempfile::Builder::new()
        .prefix("hilite-post-")
        .suffix(".mp4")
        .tempfile()
        .map_err(|e| local(&e))?;
    let size = ports
        .media
        .get_to_file(&short, file.path())
        .await
        .map_err(|e| local(&e))?;
    let probe = validate::probe(file.path())
        .await
        .map_err(|e| PlatformError::Rejected {
            platform,
            message: e.to_string(),
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
    let text = templates::render(platforms.templates_for(account), clip, platform);
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

/// Record the outcome of a claimed attempt and tell the queue what to do.
async fn settle_claim(
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
            Err(StageError::Retryable(e.to_string()))
        }
    }
}

fn stage_error_without_claim(e: PlatformError) -> StageError {
    match e {
        PlatformError::RateLimited { until, message, .. } => StageError::RateLimited {
            until,
            reason: message,
        },
        other => StageError::Retryable(other.to_string()),
    }
}

/// Claim only to record what the platform already decided (a finished or failed post).
async fn record_unclaimed(
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

async fn fail_unclaimed(
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
