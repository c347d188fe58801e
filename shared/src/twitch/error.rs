//! What can go wrong talking to Twitch, sorted by what the caller should do about it. The
//! pipeline maps each kind onto a [`StageError`] in one place ([`From`] below), so no stage
//! guesses whether a Twitch failure is worth retrying.
//!
//! Messages carry Twitch's own explanation (`message` of its error body), never a token, an
//! `Authorization` header or a client secret.

use chrono::{DateTime, Utc};

use crate::domain::TokenRef;
use crate::pipeline::StageError;
use crate::store::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum TwitchError {
    /// A required setting is missing (`twitch.client_id`, `twitch.client_secret`).
    #[error("Twitch is not configured: set {0}")]
    NotConfigured(&'static str),
    /// A setting Twitch would refuse, caught before calling it.
    #[error("{key} {problem}")]
    InvalidSetting { key: &'static str, problem: String },
    /// No user token is stored under this name: `hilite auth twitch` was never run for it.
    #[error("no Twitch user token stored as {0}; run `hilite auth twitch --broadcaster LOGIN`")]
    NoUserToken(TokenRef),
    /// 401 even after a fresh token: the authorization was revoked or lacks a scope.
    #[error("Twitch refused the token (401): {0}; run `hilite auth twitch` again")]
    Unauthorized(String),
    /// 403: e.g. the token's user is not an editor of the channel.
    #[error("Twitch forbade the request (403): {0}")]
    Forbidden(String),
    /// 404: the clip, user or subscription does not exist (any more).
    #[error("Twitch has no such resource (404): {0}")]
    NotFound(String),
    /// 400 and other 4xx: the request itself is wrong; retrying will not help.
    #[error("Twitch rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// 409 from Create EventSub Subscription: it exists already.
    #[error("Twitch says it exists already (409): {0}")]
    Conflict(String),
    /// 429, or a bucket empty until `until` too far away to wait for in-process.
    #[error("Twitch rate limit reached until {until}: {message}")]
    RateLimited {
        until: DateTime<Utc>,
        message: String,
    },
    /// 5xx (503 after its one retry).
    #[error("Twitch server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// The connection failed or timed out, after bounded retries.
    #[error("cannot reach Twitch: {0}")]
    Network(String),
    /// A 2xx whose body is not what the API reference promises.
    #[error("unexpected answer from Twitch: {0}")]
    Malformed(String),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl TwitchError {
    /// Whether this failure says the thing asked for is gone or forbidden for good.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            TwitchError::NoUserToken(_)
                | TwitchError::Unauthorized(_)
                | TwitchError::Forbidden(_)
                | TwitchError::NotFound(_)
                | TwitchError::Rejected { .. }
                | TwitchError::Conflict(_)
        )
    }
}

impl From<TwitchError> for StageError {
    fn from(e: TwitchError) -> Self {
        match e {
            TwitchError::RateLimited { until, message } => StageError::RateLimited {
                until,
                reason: message,
            },
            // Missing configuration is fixed by the operator: keep the message until then (it is
            // dead-lettered after the queue's maximum receives, never dropped).
            e @ (TwitchError::NotConfigured(_)
            | TwitchError::InvalidSetting { .. }
            | TwitchError::Server { .. }
            | TwitchError::Network(_)
            | TwitchError::Malformed(_)
            | TwitchError::Vault(_)) => StageError::Retryable(e.to_string()),
            e => StageError::Permanent(e.to_string()),
        }
    }
}

/// Twitch's error body: `{"error":"Not Found","status":404,"message":"..."}` on Helix, and
/// `{"status":400,"message":"authorization_pending"}` on the OAuth endpoints.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// The most useful short explanation in an error body, bounded in length.
pub(crate) fn explain(status: u16, body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let text = parsed
        .message
        .filter(|m| !m.is_empty())
        .or(parsed.error)
        .unwrap_or_else(|| format!("HTTP {status}"));
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_onto_the_retry_decision() {
        let until = Utc::now();
        assert!(matches!(
            StageError::from(TwitchError::Forbidden("x".into())),
            StageError::Permanent(_)
        ));
        assert!(matches!(
            StageError::from(TwitchError::NotFound("x".into())),
            StageError::Permanent(_)
        ));
        assert!(matches!(
            StageError::from(TwitchError::Unauthorized("x".into())),
            StageError::Permanent(_)
        ));
        assert!(matches!(
            StageError::from(TwitchError::Rejected {
                status: 400,
                message: "x".into()
            }),
            StageError::Permanent(_)
        ));
        assert!(matches!(
            StageError::from(TwitchError::Server {
                status: 503,
                message: "x".into()
            }),
            StageError::Retryable(_)
        ));
        assert!(matches!(
            StageError::from(TwitchError::Network("x".into())),
            StageError::Retryable(_)
        ));
        match StageError::from(TwitchError::RateLimited {
            until,
            message: "x".into(),
        }) {
            StageError::RateLimited { until: u, .. } => assert_eq!(u, until),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn twitch_error_bodies_are_explained_briefly() {
        assert_eq!(
            explain(
                404,
                br#"{"error":"Not Found","status":404,"message":"clip not found"}"#
            ),
            "clip not found"
        );
        assert_eq!(
            explain(400, br#"{"status":400,"message":"authorization_pending"}"#),
            "authorization_pending"
        );
        assert_eq!(explain(502, b"<html>bad gateway</html>"), "HTTP 502");
        assert_eq!(explain(400, &[b'"'; 1]).len(), "HTTP 400".len());
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(1000));
        assert_eq!(explain(400, long.as_bytes()).len(), 300);
    }
}
