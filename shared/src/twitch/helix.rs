//! The Helix endpoints HiLite calls, typed: Get Users, Get Videos, Get Clips (with the window
//! split that gets past Twitch's ~1000-result cap), Get Clips Download, Create Clip From VOD,
//! and EventSub subscriptions. Shapes and limits are from the API reference,
//! <https://dev.twitch.tv/docs/api/reference/>; every call goes through the client core
//! (`client.rs`), which owns tokens, rate limits and retries.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::client::{parse, Auth, TwitchClient, MAX_INLINE_WAIT};
use super::error::TwitchError;
use crate::config::TwitchConfig;
use crate::domain::{BroadcasterId, ClipId, EditorId, Login, TokenRef, UserId};

pub use super::vod_clip::{CreatedClip, VodClip, VOD_CLIP_SECS};

/// Get Clips returns at most 100 per page.
const CLIPS_PAGE: usize = 100;
/// "The maximum number of results returned over multiple requests will be approximately
/// 1,000" (Get Clips): a window that returns this many may hide more, so it is split.
pub const CLIPS_CAP: usize = 1000;
/// Pages read from one window before it is treated as capped (10 pages make 1000).
const MAX_PAGES: usize = 12;
/// Pages of Get EventSub Subscriptions read before giving up on a listing that does not end (a
/// cursor that keeps coming back). HiLite makes a few subscriptions per broadcaster. Twitch
/// does not document the page size; even pages of 20 would make this room for 2,000.
/// <https://dev.twitch.tv/docs/api/reference/#get-eventsub-subscriptions>
const MAX_SUBSCRIPTION_PAGES: usize = 100;
/// Get Clips Download takes up to 10 clip ids per call.
pub const MAX_DOWNLOAD_IDS: usize = 10;

#[derive(Debug, Deserialize)]
pub(super) struct Page<T> {
    pub(super) data: Vec<T>,
    #[serde(default)]
    pagination: Pagination,
}

#[derive(Debug, Default, Deserialize)]
struct Pagination {
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HelixUser {
    pub id: UserId,
    pub login: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HelixVideo {
    pub id: String,
    #[serde(default)]
    pub stream_id: Option<String>,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub duration: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A clip as Get Clips returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct HelixClip {
    pub id: String,
    pub url: String,
    pub broadcaster_id: String,
    pub broadcaster_name: String,
    pub creator_id: String,
    pub creator_name: String,
    /// Empty when the video is not available.
    #[serde(default)]
    pub video_id: String,
    pub title: String,
    pub view_count: u64,
    pub created_at: DateTime<Utc>,
    pub duration: f64,
    /// Null until Twitch has made the VOD (typically minutes after the clip).
    #[serde(default)]
    pub vod_offset: Option<u32>,
}

/// Where a clip's file can be downloaded; either URL may be missing.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipDownload {
    pub clip_id: String,
    #[serde(default)]
    pub landscape_download_url: Option<String>,
    #[serde(default)]
    pub portrait_download_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventSubSubscription {
    pub id: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: String,
    #[serde(default)]
    pub condition: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub transport: EventSubTransport,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventSubTransport {
    pub method: String,
    #[serde(default)]
    pub callback: Option<String>,
}

/// A webhook subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub kind: String,
    pub version: String,
    pub condition: serde_json::Value,
    pub callback: Url,
    pub secret: SecretString,
}

impl NewSubscription {
    /// A webhook subscription to `twitch.callback_url` signed with `twitch.eventsub_secret`,
    /// both checked as Twitch checks them (HTTPS on port 443; 10–100 ASCII characters) before
    /// any call: <https://dev.twitch.tv/docs/api/reference/#create-eventsub-subscription>.
    pub fn webhook(
        kind: &str,
        condition: serde_json::Value,
        config: &TwitchConfig,
    ) -> Result<Self, TwitchError> {
        let callback = config
            .callback_url
            .clone()
            .ok_or(TwitchError::NotConfigured("twitch.callback_url"))?;
        if callback.scheme() != "https" || callback.port().is_some_and(|p| p != 443) {
            return Err(TwitchError::InvalidSetting {
                key: "twitch.callback_url",
                problem: "must be an https:// URL on port 443 (Twitch calls nothing else)".into(),
            });
        }
        let secret = config
            .eventsub_secret
            .clone()
            .ok_or(TwitchError::NotConfigured("twitch.eventsub_secret"))?;
        let s = secret.expose_secret();
        if !(10..=100).contains(&s.len()) || !s.is_ascii() {
            return Err(TwitchError::InvalidSetting {
                key: "twitch.eventsub_secret",
                problem: "must be 10 to 100 ASCII characters".into(),
            });
        }
        Ok(Self {
            kind: kind.into(),
            version: "1".into(),
            condition,
            callback,
            secret,
        })
    }
}

/// Create EventSub Subscription's outcome: 409 means it exists already, which is what we want.
#[derive(Debug)]
pub enum Created {
    /// 202: usually `webhook_callback_verification_pending` until the challenge is answered.
    New(EventSubSubscription),
    Existing,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl TwitchClient {
    /// Get Users by login (app token); `None` when no such user.
    pub async fn user_by_login(&self, login: &Login) -> Result<Option<HelixUser>, TwitchError> {
        let answer = self
            .helix(
                Auth::App,
                Method::GET,
                "users",
                &[("login", login.to_string())],
                None,
            )
            .await?;
        let page: Page<HelixUser> = parse("Get Users", &answer.body)?;
        Ok(page.data.into_iter().next())
    }

    /// The broadcaster's most recent archive (VOD of a past or running stream), if any.
    pub async fn latest_archive(&self, user: &UserId) -> Result<Option<HelixVideo>, TwitchError> {
        let query = [
            ("user_id", user.to_string()),
            ("type", "archive".to_string()),
            ("first", "1".to_string()),
        ];
        let answer = self
            .helix(Auth::App, Method::GET, "videos", &query, None)
            .await?;
        let page: Page<HelixVideo> = parse("Get Videos", &answer.body)?;
        // Sorted by time, newest first (the default `sort`).
        Ok(page.data.into_iter().next())
    }

    /// Every clip of `broadcaster` created in [`from`, `to`], each once. A window that hits
    /// Twitch's result cap is split in halves, recursively, and the halves merged.
    pub async fn clips_between(
        &self,
        broadcaster: &BroadcasterId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HelixClip>, TwitchError> {
        let mut found: BTreeMap<String, HelixClip> = BTreeMap::new();
        let mut windows = vec![(from, to)];
        while let Some((start, end)) = windows.pop() {
            let (clips, capped) = self.clips_window(broadcaster, start, end).await?;
            let span = end - start;
            if capped && span >= chrono::Duration::seconds(2) {
                let mid = start + span / 2;
                tracing::debug!(broadcaster = %broadcaster, start = %start, end = %end, "clip window hit Twitch's cap; splitting it");
                windows.push((mid, end));
                windows.push((start, mid));
                continue;
            }
            if capped {
                tracing::warn!(broadcaster = %broadcaster, at = %start, "over 1000 clips within two seconds; some may be missed");
            }
            for clip in clips {
                found.entry(clip.id.clone()).or_insert(clip);
            }
        }
        Ok(found.into_values().collect())
    }

    /// All pages of one window; `true` when the window reached the cap (it may hold more).
    async fn clips_window(
        &self,
        broadcaster: &BroadcasterId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(Vec<HelixClip>, bool), TwitchError> {
        let mut clips = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("broadcaster_id", broadcaster.to_string()),
                ("started_at", rfc3339(start)),
                ("ended_at", rfc3339(end)),
                ("first", CLIPS_PAGE.to_string()),
            ];
            if let Some(c) = cursor.take() {
                query.push(("after", c));
            }
            let answer = self
                .helix(Auth::App, Method::GET, "clips", &query, None)
                .await?;
            let page: Page<HelixClip> = parse("Get Clips", &answer.body)?;
            let empty = page.data.is_empty();
            clips.extend(page.data);
            match page.pagination.cursor.filter(|c| !c.is_empty()) {
                Some(c) if !empty => cursor = Some(c),
                _ => {
                    let capped = clips.len() >= CLIPS_CAP;
                    return Ok((clips, capped));
                }
            }
        }
        Ok((clips, true))
    }

    /// Get Clips Download with the user token stored as `token`; `editor` must be that token's
    /// user (the broadcaster themself, or one of their editors). At most 10 ids.
    pub async fn clip_downloads(
        &self,
        token: &TokenRef,
        broadcaster: &BroadcasterId,
        editor: &EditorId,
        clips: &[ClipId],
    ) -> Result<Vec<ClipDownload>, TwitchError> {
        if clips.is_empty() || clips.len() > MAX_DOWNLOAD_IDS {
            return Err(TwitchError::Rejected {
                status: 400,
                message: format!(
                    "Get Clips Download takes 1 to 10 clip ids, not {}",
                    clips.len()
                ),
            });
        }
        // 100 requests per minute for this endpoint, on top of the token's bucket.
        loop {
            match self
                .clip_download_window
                .take(token.as_str(), Instant::now())
            {
                Ok(()) => break,
                Err(wait) if wait <= MAX_INLINE_WAIT => {
                    tokio::time::sleep(wait + Duration::from_millis(10)).await
                }
                Err(wait) => {
                    let until = Utc::now()
                        + chrono::Duration::from_std(wait)
                            .unwrap_or_else(|_| chrono::Duration::seconds(60));
                    return Err(TwitchError::RateLimited {
                        until,
                        message: "Get Clips Download: 100 requests per minute".into(),
                    });
                }
            }
        }
        let mut query = vec![
            ("broadcaster_id", broadcaster.to_string()),
            ("editor_id", editor.to_string()),
        ];
        query.extend(clips.iter().map(|c| ("clip_id", c.to_string())));
        let answer = self
            .helix(
                Auth::User(token),
                Method::GET,
                "clips/downloads",
                &query,
                None,
            )
            .await?;
        let page: Page<ClipDownload> = parse("Get Clips Download", &answer.body)?;
        Ok(page.data)
    }

    /// Create a webhook subscription (app token, as Twitch requires for webhooks).
    pub async fn create_subscription(&self, sub: &NewSubscription) -> Result<Created, TwitchError> {
        let body = serde_json::json!({
            "type": sub.kind,
            "version": sub.version,
            "condition": sub.condition,
            "transport": {"method": "webhook", "callback": sub.callback.as_str(), "secret": sub.secret.expose_secret()},
        });
        match self
            .helix(
                Auth::App,
                Method::POST,
                "eventsub/subscriptions",
                &[],
                Some(&body),
            )
            .await
        {
            Ok(answer) => {
                let page: Page<EventSubSubscription> =
                    parse("Create EventSub Subscription", &answer.body)?;
                let created = page.data.into_iter().next().ok_or_else(|| {
                    TwitchError::Malformed("no subscription in the answer".into())
                })?;
                Ok(Created::New(created))
            }
            Err(TwitchError::Conflict(_)) => Ok(Created::Existing),
            Err(e) => Err(e),
        }
    }

    /// Every subscription of this client id, optionally filtered (`type`, `status`, `user_id`).
    pub async fn list_subscriptions(
        &self,
        filter: Option<(&str, String)>,
    ) -> Result<Vec<EventSubSubscription>, TwitchError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_SUBSCRIPTION_PAGES {
            let mut query: Vec<(&str, String)> = filter.iter().cloned().collect();
            if let Some(c) = cursor.take() {
                query.push(("after", c));
            }
            let answer = self
                .helix(
                    Auth::App,
                    Method::GET,
                    "eventsub/subscriptions",
                    &query,
                    None,
                )
                .await?;
            let page: Page<EventSubSubscription> =
                parse("Get EventSub Subscriptions", &answer.body)?;
            let empty = page.data.is_empty();
            all.extend(page.data);
            match page.pagination.cursor.filter(|c| !c.is_empty()) {
                Some(c) if !empty => cursor = Some(c),
                _ => return Ok(all),
            }
        }
        Err(TwitchError::Malformed(format!(
            "Get EventSub Subscriptions went on past {MAX_SUBSCRIPTION_PAGES} pages ({} subscriptions); stopped reading",
            all.len()
        )))
    }

    /// Delete a subscription; [`TwitchError::NotFound`] when there is none with this id.
    pub async fn delete_subscription(&self, id: &str) -> Result<(), TwitchError> {
        self.helix(
            Auth::App,
            Method::DELETE,
            "eventsub/subscriptions",
            &[("id", id.to_string())],
            None,
        )
        .await
        .map(drop)
    }
}
