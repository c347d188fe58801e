//! The daily plan of one account (seed 000 [4]): up to `max_per_day` clips in `edited` status
//! that this account has not posted yet, best score first, only its broadcasters' when it names
//! some, within each platform's remaining quota. It records the publications (idempotent:
//! the key (clip, account, platform) is unique) and enqueues one *publish* message per clip ×
//! platform. And when an account's next plan runs: [`next_run`], in its own time zone.
//!
//! Quotas: YouTube's `videos.insert` bucket is 100 a day per project, shared by every account
//! (<https://developers.google.com/youtube/v3/determine_quota_cost>); TikTok allows each user
//! token 6 init calls a minute (<https://developers.tiktok.com/doc/content-posting-api-reference-direct-post>),
//! so that platform's messages are spread 10 s apart, and caps posts per creator per day
//! (answered as `spam_risk_too_many_posts`, which waits for tomorrow); Instagram's
//! `content_publishing_limit` is read at run time.
//!
//! A publication that failed on an earlier day is set pending again and planned like a new
//! one (seed 000: tomorrow's plan retries it), keeping whatever resume handle may still lead to
//! the post — the publish stage checks it instead of posting again — and dropping one the
//! platform itself reports as failed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

use super::messages::{encode, PublishMessage};
use super::publish::{covers, Platforms};
use super::StageError;
use crate::backend::Ports;
use crate::domain::{
    Account, AccountName, ClipStatus, Platform, PostStatus, Publication, PublicationKey,
    ResumeHandles,
};
use crate::platforms::oauth;
use crate::platforms::{AccessToken, Check, PlatformError};
use crate::queue::{QueueName, MAX_DELAY};
use crate::store::StoreError;

/// YouTube's default `videos.insert` quota per project and day.
pub const YOUTUBE_DAILY_UPLOADS: u32 = 100;
/// Posts one TikTok creator may make in a day through the API (TikTok answers
/// `spam_risk_too_many_posts` past its cap; this keeps plans under it).
pub const TIKTOK_DAILY_POSTS: u32 = 15;
/// Instagram's limit when `content_publishing_limit` cannot be read (the lowest it has been).
pub const INSTAGRAM_FALLBACK_POSTS: u32 = 25;
/// Spacing of TikTok messages: 6 inits a minute per user token.
const TIKTOK_SPACING: StdDuration = StdDuration::from_secs(10);
/// How many edited clips a plan looks at.
const CANDIDATES: usize = 500;
/// A failed publication is retried by a plan at least this long after it failed: the next
/// day's, not a second `hilite publish --now` the same afternoon.
pub const RETRY_FAILED_AFTER: Duration = Duration::hours(12);
/// A failed publication is retried by at most this many later plans, then left `failed` with
/// its reason for the operator (`hilite posts list`): a post the platform refuses every day
/// (a video it will never accept, an account it suspended) is not tried for ever.
pub const MAX_DAILY_RETRIES: u32 = 3;

/// Whether a plan at `now` retries the failed publication `p`.
pub fn retry_due(p: &Publication, now: DateTime<Utc>) -> bool {
    p.status == PostStatus::Failed
        && p.reopened < MAX_DAILY_RETRIES
        && p.updated_at <= now - RETRY_FAILED_AFTER
}

/// What a plan did, for `hilite publish --now` and the logs.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct PlanReport {
    pub account: String,
    pub clips: Vec<String>,
    pub enqueued: u32,
    /// Per platform, why nothing (more) was planned there.
    pub skipped: BTreeMap<String, String>,
}

/// When `account`'s next plan runs after `now`: its `post_at` in its time zone. A time that a
/// daylight-saving jump skips runs an hour later; one that happens twice runs the first time.
pub fn next_run(account: &Account, now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = account.timezone.tz();
    let today = now.with_timezone(&tz).date_naive();
    (0..=2)
        .filter_map(|d| {
            let local = (today + Duration::days(d)).and_time(account.post_at);
            resolve(&tz, local)
        })
        .find(|t| *t > now)
        .unwrap_or(now + Duration::days(1))
}

fn resolve(tz: &chrono_tz::Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => tz
            .from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}

/// Posts made (or under way) in the last 24 h among `pubs` on `platform`.
fn used_today(pubs: &[Publication], platform: Platform, now: DateTime<Utc>) -> u32 {
    let since = now - Duration::hours(24);
    let n = pubs
        .iter()
        .filter(|p| p.key.platform == platform)
        .filter(|p| match p.status {
            PostStatus::Success => p.published_at.is_some_and(|t| t > since),
            // Under way: held by a worker, or touched today. One whose worker died long ago
            // does not keep a day's slot forever.
            PostStatus::Uploading => !p.claimable(now) || p.updated_at > since,
            PostStatus::Pending | PostStatus::Failed => false,
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Every account's publications, for YouTube's upload count: its daily quota is the Google
/// Cloud project's, shared by every channel HiLite posts to. One index query per account (a
/// handful), where listing every publication would scan the whole table (clips, streams,
/// chat and all) once a day per account. An account removed today no longer counts; should
/// that overrun the quota, YouTube's `quotaExceeded` answer waits for the reset.
async fn every_accounts_publications(ports: &Ports) -> Result<Vec<Publication>, StoreError> {
    let mut all = Vec::new();
    for account in ports.store.list_accounts().await? {
        all.extend(
            ports
                .store
                .list_publications(None, Some(&account.name))
                .await?,
        );
    }
    Ok(all)
}

/// Plan `account`'s posts now.
pub async fn plan(
    ports: &Ports,
    platforms: &Platforms,
    name: &AccountName,
    now: DateTime<Utc>,
) -> Result<PlanReport, StageError> {
    let account = ports
        .store
        .get_account(name)
        .await
        .map_err(retry)?
        .ok_or_else(|| StageError::Permanent(format!("no account {name}")))?;
    let mut report = PlanReport {
        account: name.to_string(),
        ..PlanReport::default()
    };
    if account.paused {
        report
            .skipped
            .insert("all".into(), "the account is paused".into());
        return Ok(report);
    }
    let mine = ports
        .store
        .list_publications(None, Some(name))
        .await
        .map_err(retry)?;
    let all = if account.platforms.contains(&Platform::Youtube) {
        every_accounts_publications(ports).await.map_err(retry)?
    } else {
        Vec::new()
    };

    let mut room: BTreeMap<Platform, u32> = BTreeMap::new();
    let mut tokens: BTreeMap<Platform, AccessToken> = BTreeMap::new();
    for &platform in &account.platforms {
        match remaining(ports, platforms, &account, platform, &mine, &all, now).await {
            Ok((0, _)) => {
                report
                    .skipped
                    .insert(platform.to_string(), "no quota left today".into());
            }
            Ok((n, token)) => {
                room.insert(platform, n);
                tokens.insert(platform, token);
            }
            Err(e) => {
                report.skipped.insert(platform.to_string(), e.to_string());
            }
        }
    }

    // Clips this account already took up in the last day count against max_per_day.
    let since = now - Duration::hours(24);
    let recent: BTreeSet<_> = mine
        .iter()
        .filter(|p| p.created_at > since)
        .map(|p| p.key.clip_id.clone())
        .collect();
    let mut slots = account
        .max_per_day
        .saturating_sub(u32::try_from(recent.len()).unwrap_or(u32::MAX));
    let mut tiktok_n = 0u32;
    for clip in ports
        .store
        .list_clips(ClipStatus::Edited, CANDIDATES)
        .await
        .map_err(retry)?
    {
        if room.values().all(|n| *n == 0) {
            break;
        }
        if clip.media.short.is_none() || !covers(ports, &account, &clip).await.map_err(retry)? {
            continue;
        }
        let existing = |pl: Platform| {
            mine.iter()
                .find(|p| p.key.clip_id == clip.id && p.key.platform == pl)
        };
        let todo: Vec<Platform> = account
            .platforms
            .iter()
            .copied()
            .filter(|pl| match existing(*pl) {
                None => true,
                Some(p) => match p.status {
                    PostStatus::Pending => true,
                    PostStatus::Failed => retry_due(p, now),
                    // Its worker died with the lease (and its message may be dead-lettered):
                    // queued again, the publish stage claims it and resumes from its handles.
                    PostStatus::Uploading => p.claimable(now),
                    PostStatus::Success => false,
                },
            })
            .collect();
        if todo.is_empty() {
            continue;
        }
        let fresh = !recent.contains(&clip.id);
        if fresh && slots == 0 {
            continue;
        }
        let mut planned = false;
        for platform in todo {
            let Some(left) = room.get_mut(&platform).filter(|n| **n > 0) else {
                continue;
            };
            let key = PublicationKey {
                clip_id: clip.id.clone(),
                account: name.clone(),
                platform,
            };
            match existing(platform) {
                Some(failed) if failed.status == PostStatus::Failed => {
                    let token = tokens.get(&platform);
                    if !reopen(ports, platforms, failed, token, now).await? {
                        continue;
                    }
                }
                _ => {
                    ports
                        .store
                        .create_publication_if_absent(&Publication::planned(key, now))
                        .await
                        .map_err(retry)?;
                }
            }
            let delay = if platform == Platform::Tiktok {
                tiktok_n += 1;
                (TIKTOK_SPACING * (tiktok_n - 1)).min(MAX_DELAY)
            } else {
                StdDuration::ZERO
            };
            let msg = PublishMessage {
                clip_id: clip.id.clone(),
                account: name.clone(),
                platform,
            };
            ports
                .queue
                .send(QueueName::Publish, &encode(&msg), delay)
                .await
                .map_err(retry)?;
            *left -= 1;
            report.enqueued += 1;
            planned = true;
        }
        if planned {
            report.clips.push(clip.id.to_string());
            if fresh {
                slots -= 1;
            }
        }
    }
    tracing::info!(account = %name, clips = report.clips.len(), enqueued = report.enqueued, "plan made");
    Ok(report)
}

/// Set a publication that failed on an earlier day pending again; `false` when another plan
/// got there first. Its resume handles are kept unless the platform says the post they lead
/// to failed: a handle that may still lead to a post (an upload session, a post still
/// processing, one published but never recorded) lets the publish stage check instead of
/// posting twice.
async fn reopen(
    ports: &Ports,
    platforms: &Platforms,
    failed: &Publication,
    token: Option<&AccessToken>,
    now: DateTime<Utc>,
) -> Result<bool, StageError> {
    let mut keep = failed.resume.clone();
    if let (Some(token), Ok((publisher, _))) = (token, platforms.client(failed.key.platform)) {
        if keep != ResumeHandles::default() {
            if let Ok(Check::Failed(reason)) = publisher.check(token, &keep, None).await {
                tracing::info!(publication = %failed.key, %reason, "the platform failed the earlier post; the retry starts afresh");
                keep = ResumeHandles::default();
            }
        }
    }
    match ports
        .store
        .reopen_publication(&failed.key, &keep, now)
        .await
    {
        Ok(_) => {
            tracing::info!(publication = %failed.key, "retrying a publication that failed on an earlier day");
            Ok(true)
        }
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(retry(e)),
    }
}

/// Posts `account` may still make on `platform` today, with the token to post there; an error
/// when it cannot post there.
async fn remaining(
    ports: &Ports,
    platforms: &Platforms,
    account: &Account,
    platform: Platform,
    mine: &[Publication],
    all: &[Publication],
    now: DateTime<Utc>,
) -> Result<(u32, AccessToken), PlatformError> {
    let (publisher, client) =
        platforms
            .client(platform)
            .map_err(|e| PlatformError::NotConnected {
                platform,
                message: e.to_string(),
            })?;
    // An unhealthy platform is not planned until it is reconnected.
    let token =
        oauth::access_token(ports.vault.as_ref(), client, &account.name, now, false).await?;
    let left = match platform {
        Platform::Youtube => YOUTUBE_DAILY_UPLOADS.saturating_sub(used_today(all, platform, now)),
        Platform::Tiktok => TIKTOK_DAILY_POSTS.saturating_sub(used_today(mine, platform, now)),
        Platform::Instagram => match publisher.remaining_posts(&token).await {
            Ok(Some(n)) => n,
            Ok(None) | Err(_) => {
                INSTAGRAM_FALLBACK_POSTS.saturating_sub(used_today(mine, platform, now))
            }
        },
    };
    Ok((left, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClipId, Privacy, TimeZoneName};
    use chrono::NaiveTime;

    fn account(tz: &str, at: &str) -> Account {
        Account {
            name: AccountName::parse("main").unwrap(),
            timezone: TimeZoneName::parse(tz).unwrap(),
            post_at: NaiveTime::parse_from_str(at, "%H:%M").unwrap(),
            max_per_day: 3,
            platforms: Platform::ALL.to_vec(),
            broadcasters: vec![],
            privacy: Privacy::Public,
            paused: false,
            templates: Default::default(),
            created_at: Utc::now(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_next_run_is_today_or_tomorrow_at_local_time() {
        let a = account("Europe/Paris", "17:00");
        // Winter: Paris is UTC+1.
        assert_eq!(
            next_run(&a, utc("2026-01-10T10:00:00Z")),
            utc("2026-01-10T16:00:00Z")
        );
        assert_eq!(
            next_run(&a, utc("2026-01-10T16:00:00Z")),
            utc("2026-01-11T16:00:00Z")
        );
        // Summer: UTC+2.
        assert_eq!(
            next_run(&a, utc("2026-07-10T10:00:00Z")),
            utc("2026-07-10T15:00:00Z")
        );
    }

    #[test]
    fn the_run_follows_the_clock_across_daylight_saving_changes() {
        let a = account("Europe/Paris", "17:00");
        // Paris springs forward on 29 March 2026: the day before at 16:00Z, the day of at 15:00Z.
        assert_eq!(
            next_run(&a, utc("2026-03-28T17:00:00Z")),
            utc("2026-03-29T15:00:00Z")
        );
        // And falls back on 25 October 2026.
        assert_eq!(
            next_run(&a, utc("2026-10-24T16:00:00Z")),
            utc("2026-10-25T16:00:00Z")
        );
    }

    #[test]
    fn a_time_skipped_by_the_spring_jump_runs_an_hour_later_and_a_repeated_one_runs_once() {
        let skipped = account("America/New_York", "02:30");
        // 8 March 2026: 02:00 jumps to 03:00 EDT; 03:30 EDT is 07:30Z.
        assert_eq!(
            next_run(&skipped, utc("2026-03-08T05:00:00Z")),
            utc("2026-03-08T07:30:00Z")
        );
        let repeated = account("America/New_York", "01:30");
        // 1 November 2026: 01:30 happens in EDT (05:30Z) and EST (06:30Z); the first counts,
        // and the second is not a new run.
        let first = next_run(&repeated, utc("2026-11-01T04:00:00Z"));
        assert_eq!(first, utc("2026-11-01T05:30:00Z"));
        assert_eq!(next_run(&repeated, first), utc("2026-11-02T06:30:00Z"));
    }

    #[test]
    fn a_failed_post_is_retried_by_a_later_days_plan_a_bounded_number_of_times() {
        let failed_at = utc("2026-11-01T17:00:00Z");
        let mut p = Publication::planned(
            PublicationKey {
                clip_id: ClipId::parse("SomeClip").unwrap(),
                account: AccountName::parse("main").unwrap(),
                platform: Platform::Youtube,
            },
            failed_at,
        );
        assert!(!retry_due(&p, failed_at + Duration::days(1)), "pending");
        p.status = PostStatus::Failed;
        assert!(!retry_due(&p, failed_at + Duration::hours(2)), "same day");
        let mut day = failed_at;
        for n in 0..MAX_DAILY_RETRIES {
            day += Duration::days(1);
            assert!(retry_due(&p, day), "retry {n}");
            assert!(p.reopen(&ResumeHandles::default(), day));
            // ... and it fails again that day.
            p.status = PostStatus::Failed;
            p.updated_at = day;
        }
        assert_eq!(p.reopened, MAX_DAILY_RETRIES);
        assert!(!retry_due(&p, day + Duration::days(1)), "given up");
        assert!(!retry_due(&p, day + Duration::days(30)), "for good");
    }
}
