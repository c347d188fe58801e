//! Clients for the three platforms HiLite posts to — YouTube Shorts, TikTok and Instagram
//! Reels — behind one [`Publisher`] trait, with what they share: the error kinds that decide
//! retries, OAuth tokens (`oauth`), pre-upload validation (`validate`) and post text templates
//! (`templates`).
//!
//! A publisher translates one post into the platform's HTTP calls and reports every handle
//! that lets a retry resume (YouTube's session URI, TikTok's `publish_id`, Instagram's
//! container id) through a [`ProgressSink`] the moment it exists. It knows nothing about
//! queues, claims or clip statuses: that is `pipeline::publish`.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::domain::{Platform, PostResult, Privacy, ResumeHandles};

pub mod instagram;
pub mod oauth;
pub mod templates;
pub mod tiktok;
pub mod validate;
pub mod youtube;

pub use oauth::{AccessToken, TokenSet};

/// How a platform call failed; the publish stage maps each kind to a retry decision
/// (DESIGN.md §3, seed 003's error strategy).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlatformError {
    /// 401 or an invalid-token error: refresh the token once and try again.
    #[error("{platform} refused the access token: {message}")]
    Unauthorized { platform: Platform, message: String },
    /// 429 or a quota exhausted: try again no sooner than `until`.
    #[error("{platform} rate limit until {until}: {message}")]
    RateLimited {
        platform: Platform,
        until: DateTime<Utc>,
        message: String,
    },
    /// Network errors and 5xx: bounded backoff.
    #[error("{platform} unavailable: {message}")]
    Transient { platform: Platform, message: String },
    /// The platform will never accept this post as it is (invalid or too large video,
    /// unaudited app, bad metadata): fail the publication without retry.
    #[error("{platform} rejected the post: {message}")]
    Rejected { platform: Platform, message: String },
    /// Anything else: retried a few times, then failed with this message.
    #[error("{platform} failed: {message}")]
    Unknown { platform: Platform, message: String },
    /// The account has no usable token for this platform (never connected, or its refresh
    /// failed): `hilite auth <platform> --account NAME` fixes it.
    #[error("{platform} is not connected for this account: {message}")]
    NotConnected { platform: Platform, message: String },
}

impl PlatformError {
    pub fn platform(&self) -> Platform {
        match self {
            PlatformError::Unauthorized { platform, .. }
            | PlatformError::RateLimited { platform, .. }
            | PlatformError::Transient { platform, .. }
            | PlatformError::Rejected { platform, .. }
            | PlatformError::Unknown { platform, .. }
            | PlatformError::NotConnected { platform, .. } => *platform,
        }
    }

    pub(crate) fn unknown(platform: Platform, e: impl std::fmt::Display) -> Self {
        PlatformError::Unknown {
            platform,
            message: e.to_string(),
        }
    }

    /// A reqwest failure: timeouts, refused or dropped connections are transient. The error's
    /// text never holds a token (tokens travel in headers or bodies, never in URLs we log).
    pub(crate) fn from_reqwest(platform: Platform, e: reqwest::Error) -> Self {
        PlatformError::Transient {
            platform,
            message: e.without_url().to_string(),
        }
    }
}

/// How long to wait after a 429 without a usable reset header.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::seconds(60);

/// Classify an error response by status. `message` is the platform's own message (already
/// extracted from its JSON); `headers` may carry `Retry-After` (seconds) for a 429.
pub(crate) fn classify(
    platform: Platform,
    status: StatusCode,
    headers: &HeaderMap,
    message: String,
    now: DateTime<Utc>,
) -> PlatformError {
    let message = truncate(&message);
    match status.as_u16() {
        401 => PlatformError::Unauthorized { platform, message },
        429 => PlatformError::RateLimited {
            platform,
            until: now + retry_after(headers).unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            message,
        },
        500..=599 => PlatformError::Transient {
            platform,
            message: format!("HTTP {status}: {message}"),
        },
        400 | 403 | 404 | 413 | 415 | 422 => PlatformError::Rejected {
            platform,
            message: format!("HTTP {status}: {message}"),
        },
        _ => PlatformError::Unknown {
            platform,
            message: format!("HTTP {status}: {message}"),
        },
    }
}

/// `Retry-After` in seconds (RFC 9110 §10.2.3), or `X-RateLimit-Reset` as epoch seconds.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<i64>().ok())
    };
    if let Some(secs) = header("retry-after") {
        return Some(Duration::seconds(secs.clamp(0, 24 * 3600)));
    }
    header("x-ratelimit-reset")
        .map(|epoch| Duration::seconds((epoch - Utc::now().timestamp()).clamp(0, 24 * 3600)))
}

/// Platform messages go into publication records and logs: keep them bounded.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}

/// What to post: the local copy of the rendered short and its text.
#[derive(Debug, Clone)]
pub struct PostJob<'a> {
    /// The rendered short, copied once from the media store; uploads read it by offset.
    pub file: &'a Path,
    pub size: u64,
    pub content_type: &'a str,
    /// A short-lived URL the platform may GET (Instagram pulls the video; others ignore it).
    pub media_url: Option<&'a url::Url>,
    pub duration_secs: f64,
    pub text: &'a PostText,
    pub privacy: Privacy,
}

/// Title, description and tags, rendered from the account's templates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostText {
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
}

/// Where a publisher reports resume handles the moment the platform returns them.
#[async_trait]
pub trait ProgressSink: Send {
    async fn save(&mut self, handles: &ResumeHandles) -> Result<(), PlatformError>;
}

/// The result of one `publish` call.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The post exists on the platform.
    Posted(PostResult),
    /// The platform is still processing; look again no sooner than `check_at`.
    Processing { check_at: DateTime<Utc> },
}

/// What a look at saved handles found, before anything is claimed.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Nothing to look at, or work to do: claim the publication and call `publish`.
    Continue,
    /// Still processing on the platform's side; look again no sooner than `check_at`.
    Processing { check_at: DateTime<Utc> },
    /// The platform finished the post: record it.
    Posted(PostResult),
    /// The platform gave up on this post, with its reason.
    Failed(String),
}

/// One platform's posting client.
#[async_trait]
pub trait Publisher: Send + Sync {
    fn platform(&self) -> Platform;

    /// Post `job`, or continue from `handles` (what earlier attempts saved). Every new handle
    /// is passed to `sink` before the next call to the platform.
    async fn publish(
        &self,
        token: &AccessToken,
        job: &PostJob<'_>,
        handles: &mut ResumeHandles,
        sink: &mut dyn ProgressSink,
    ) -> Result<Step, PlatformError>;

    /// Look at saved handles without posting anything (safe without a claim). `size`: the
    /// video's size in bytes, when the caller knows it (an upload with every byte is waited
    /// for, one with bytes missing is continued).
    async fn check(
        &self,
        _token: &AccessToken,
        _handles: &ResumeHandles,
        _size: Option<u64>,
    ) -> Result<Check, PlatformError> {
        Ok(Check::Continue)
    }

    /// Posts this account may still make today according to the platform, when it says.
    async fn remaining_posts(&self, _token: &AccessToken) -> Result<Option<u32>, PlatformError> {
        Ok(None)
    }
}

/// Read the platform's error message from a JSON error body, whichever shape it has
/// (`{"error":{"message":…}}` for Google, Meta and TikTok alike), else the raw text.
pub(crate) fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            let msg = e
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default();
            let code = e.get("code").map(|c| c.to_string()).unwrap_or_default();
            Some(format!("{msg} ({code})"))
        })
        .unwrap_or_else(|| body.to_string())
}

/// A request body that streams `len` bytes of `file` from `offset`: memory stays at one read
/// buffer whatever the chunk size.
pub(crate) async fn file_range_body(
    platform: Platform,
    file: &Path,
    offset: u64,
    len: u64,
) -> Result<reqwest::Body, PlatformError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let local = |e: std::io::Error| {
        PlatformError::unknown(
            platform,
            format!("reading the local copy of the video: {e}"),
        )
    };
    let mut f = tokio::fs::File::open(file).await.map_err(local)?;
    f.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(local)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 64 * 1024);
    Ok(reqwest::Body::wrap_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_retry_strategy() {
        let now = Utc::now();
        let h = HeaderMap::new();
        let c = |s: u16| {
            classify(
                Platform::Youtube,
                StatusCode::from_u16(s).unwrap(),
                &h,
                "m".into(),
                now,
            )
        };
        assert!(matches!(c(401), PlatformError::Unauthorized { .. }));
        assert!(
            matches!(c(429), PlatformError::RateLimited { until, .. } if until == now + DEFAULT_RATE_LIMIT_WAIT)
        );
        assert!(matches!(c(503), PlatformError::Transient { .. }));
        assert!(matches!(c(413), PlatformError::Rejected { .. }));
        assert!(matches!(c(409), PlatformError::Unknown { .. }));
    }

    #[test]
    fn retry_after_seconds_set_the_rate_limit_end() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "120".parse().unwrap());
        let now = Utc::now();
        let e = classify(
            Platform::Tiktok,
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            "slow down".into(),
            now,
        );
        assert_eq!(
            e,
            PlatformError::RateLimited {
                platform: Platform::Tiktok,
                until: now + Duration::seconds(120),
                message: "slow down".into()
            }
        );
    }

    #[test]
    fn error_messages_are_read_from_json_bodies() {
        assert_eq!(
            error_message(r#"{"error":{"code":"spam_risk","message":"too many"}}"#),
            "too many (\"spam_risk\")"
        );
        assert_eq!(error_message("plain"), "plain");
    }
}
