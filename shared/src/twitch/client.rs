//! The Twitch API client's core: one place that sends a Helix call with the right token and
//! applies DESIGN.md §3's rules for external APIs — a timeout on every call, the rate-limit
//! bucket of the token checked before and updated after each call, 429 → wait until
//! `Ratelimit-Reset`, 503 → one more try, 401 → a fresh token once, network errors → bounded
//! retries with exponential backoff and jitter, other 4xx → fail fast with Twitch's message.
//! A POST is not sent again once Twitch may have received it (a timeout, a cut answer, a 503):
//! Create Clip From VOD would make a second clip.
//!
//! Tokens live here too (the app token in memory, user tokens in the vault and cached per
//! user); getting and refreshing them is in `auth.rs`, the endpoints in `helix.rs`. Nothing is
//! logged with a token or an `Authorization` header: reqwest marks `bearer_auth` values
//! sensitive, and errors are built from status codes and Twitch's `message` only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use rand::Rng;
use reqwest::Method;
use secrecy::SecretString;
use tokio::sync::Mutex as AsyncMutex;
use url::Url;

use super::error::{explain, TwitchError};
use super::ratelimit::{BucketKey, RateBuckets, Report, SlidingWindow};
use super::tokens::{AppToken, UserTokenSet};
use crate::config::TwitchConfig;
use crate::domain::TokenRef;
use crate::store::TokenVault;

/// Tries of a call whose connection fails or times out, before giving up as retryable.
const NETWORK_TRIES: u32 = 3;
/// First pause after a network failure; doubled each time, with jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// The longest wait for a bucket to refill that is spent in-process. Helix buckets refill
/// each minute, so a longer wait means something else is wrong: it goes back to the queue.
pub(crate) const MAX_INLINE_WAIT: Duration = Duration::from_secs(65);

/// Which token a call is made with.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// The app access token (client credentials).
    App,
    /// The user token stored under this name.
    User(&'a TokenRef),
}

impl Auth<'_> {
    fn bucket(&self) -> BucketKey {
        match self {
            Auth::App => BucketKey::App,
            Auth::User(name) => BucketKey::User(name.to_string()),
        }
    }
}

/// What the client needs from `[twitch]`.
#[derive(Clone)]
pub struct TwitchSettings {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub api_base: Url,
    pub auth_base: Url,
    pub timeout: Duration,
}

impl TwitchSettings {
    pub fn from_config(c: &TwitchConfig) -> Self {
        Self {
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            api_base: c.api_base.clone(),
            auth_base: c.auth_base.clone(),
            timeout: Duration::from_secs(c.request_timeout_secs.max(1)),
        }
    }
}

/// A Helix or OAuth answer: status and body bytes (these bodies are small JSON documents).
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
}

pub struct TwitchClient {
    pub(crate) http: reqwest::Client,
    pub(crate) settings: TwitchSettings,
    pub(crate) vault: Arc<dyn TokenVault>,
    pub(crate) app_token: AsyncMutex<Option<AppToken>>,
    /// One lock per stored user token, so one refresh runs at a time per user in this
    /// process (Twitch rotates refresh tokens: a second concurrent refresh would fail).
    user_tokens: Mutex<HashMap<TokenRef, Arc<AsyncMutex<Option<UserTokenSet>>>>>,
    buckets: RateBuckets,
    /// Get Clips Download: 100 requests per minute per user.
    pub(crate) clip_download_window: SlidingWindow,
}

impl TwitchClient {
    /// Build the client; no call is made until one is needed. Fails only if the TLS backend
    /// cannot start.
    pub fn new(settings: TwitchSettings, vault: Arc<dyn TokenVault>) -> Result<Self, TwitchError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hilite/", env!("CARGO_PKG_VERSION")))
            // Helix answers directly; a redirect would be a proxy or a misconfiguration.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|e| TwitchError::Network(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            settings,
            vault,
            app_token: AsyncMutex::new(None),
            user_tokens: Mutex::default(),
            buckets: RateBuckets::default(),
            clip_download_window: SlidingWindow::new(100, Duration::from_secs(60)),
        })
    }

    pub fn from_config(
        config: &TwitchConfig,
        vault: Arc<dyn TokenVault>,
    ) -> Result<Self, TwitchError> {
        Self::new(TwitchSettings::from_config(config), vault)
    }

    pub(crate) fn client_id(&self) -> Result<&str, TwitchError> {
        match self.settings.client_id.as_str() {
            "" => Err(TwitchError::NotConfigured("twitch.client_id")),
            id => Ok(id),
        }
    }

    pub(crate) fn api_url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.settings.api_base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    pub(crate) fn auth_url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.settings.auth_base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    /// The cache slot of one user's token.
    pub(crate) fn user_slot(&self, name: &TokenRef) -> Arc<AsyncMutex<Option<UserTokenSet>>> {
        let mut slots = self.user_tokens.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(name.clone()).or_default().clone()
    }

    /// Send one Helix call and return its 2xx answer, applying the retry rules above.
    pub(crate) async fn helix(
        &self,
        auth: Auth<'_>,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, TwitchError> {
        let client_id = self.client_id()?.to_string();
        let url = self.api_url(path);
        let key = auth.bucket();
        let (mut network_failures, mut refreshed, mut retried_503, mut waited_429) =
            (0, false, false, false);
        loop {
            let token = self.bearer(auth).await?;
            self.wait_for_bucket(&key).await?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .query(query)
                .header("Client-Id", &client_id)
                .bearer_auth(&token)
                .timeout(self.settings.timeout);
            if let Some(body) = json {
                request = request.json(body);
            }
            let answer = match send_call(request).await {
                Ok(a) => a,
                // A call that may have done something is not sent again (Create Clip From VOD:
                // a second clip on the channel); a connection never made sent nothing.
                Err(NoAnswer {
                    error,
                    maybe_received: true,
                }) if !repeatable(&method) => return Err(error),
                Err(NoAnswer { error: e, .. }) => {
                    network_failures += 1;
                    if network_failures >= NETWORK_TRIES {
                        return Err(e);
                    }
                    tracing::debug!(path, error = %e, "Twitch call failed; trying again");
                    tokio::time::sleep(backoff(network_failures)).await;
                    continue;
                }
            };
            let (status, headers, body) = answer;
            let report = Report::from_headers(&headers);
            if let Some(r) = report {
                self.buckets.report(&key, r);
            }
            match status {
                200..=299 => return Ok(Answer { status, body }),
                401 if !refreshed => {
                    refreshed = true;
                    tracing::info!(path, "Twitch refused the token; getting a fresh one");
                    self.invalidate(auth, &token).await?;
                }
                401 => return Err(TwitchError::Unauthorized(explain(status, &body))),
                429 => {
                    let now = Utc::now();
                    let until = report
                        .map(|r| r.reset)
                        .filter(|r| *r > now)
                        .unwrap_or(now + chrono::Duration::seconds(60));
                    self.buckets.exhaust(&key, until);
                    let message = explain(status, &body);
                    if waited_429 || (until - now).to_std().unwrap_or_default() > MAX_INLINE_WAIT {
                        return Err(TwitchError::RateLimited { until, message });
                    }
                    waited_429 = true;
                    tracing::info!(path, until = %until, "Twitch rate limit reached; waiting for the reset");
                }
                503 if !retried_503 && repeatable(&method) => {
                    retried_503 = true;
                    tokio::time::sleep(backoff(1)).await;
                }
                500..=599 => {
                    return Err(TwitchError::Server {
                        status,
                        message: explain(status, &body),
                    })
                }
                403 => return Err(TwitchError::Forbidden(explain(status, &body))),
                404 => return Err(TwitchError::NotFound(explain(status, &body))),
                409 => return Err(TwitchError::Conflict(explain(status, &body))),
                _ => {
                    return Err(TwitchError::Rejected {
                        status,
                        message: explain(status, &body),
                    })
                }
            }
        }
    }

    /// Wait (in-process) until `key`'s bucket has a call left, or say when it will.
    async fn wait_for_bucket(&self, key: &BucketKey) -> Result<(), TwitchError> {
        loop {
            let now = Utc::now();
            match self.buckets.take(key, now) {
                Ok(()) => return Ok(()),
                Err(until) => {
                    let wait = (until - now).to_std().unwrap_or_default();
                    if wait > MAX_INLINE_WAIT {
                        return Err(TwitchError::RateLimited {
                            until,
                            message: "rate-limit bucket empty".into(),
                        });
                    }
                    // Reset is in whole seconds; a little slack avoids arriving just before it.
                    tokio::time::sleep(wait + Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The access token for `auth`, fetched or refreshed first when needed.
    async fn bearer(&self, auth: Auth<'_>) -> Result<String, TwitchError> {
        match auth {
            Auth::App => self.app_access_token().await,
            Auth::User(name) => Ok(self
                .user_token(name)
                .await?
                .expose_access_token()
                .to_string()),
        }
    }

    /// Forget the token that just got a 401 and get a fresh one.
    async fn invalidate(&self, auth: Auth<'_>, failed: &str) -> Result<(), TwitchError> {
        match auth {
            Auth::App => {
                let mut slot = self.app_token.lock().await;
                if slot.as_ref().is_some_and(|t| t.access_token == failed) {
                    *slot = None;
                }
                Ok(())
            }
            Auth::User(name) => self.refresh_user_token(name, failed).await.map(drop),
        }
    }

    /// POST a form to the OAuth service (token, device), with the timeout and network retries.
    /// Returns the answer whatever its status: the OAuth flows read their 400s.
    pub(crate) async fn oauth_post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, TwitchError> {
        let url = self.auth_url(path);
        let mut failures = 0;
        loop {
            let request = self
                .http
                .post(&url)
                .form(form)
                .timeout(self.settings.timeout);
            match send(request).await {
                Ok((status, _, body)) => return Ok(Answer { status, body }),
                Err(e) => {
                    failures += 1;
                    if failures >= NETWORK_TRIES {
                        return Err(e);
                    }
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }
}

/// Send and read the whole (small) body; transport failures become [`TwitchError::Network`]
/// without the URL (it could carry query parameters nobody needs in a log).
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
) -> Result<(u16, http::HeaderMap, Bytes), TwitchError> {
    send_call(request).await.map_err(|f| f.error)
}

/// A call that got no answer.
struct NoAnswer {
    error: TwitchError,
    /// Whether Twitch may have received the request: only a connection that was never made
    /// (DNS, TCP, TLS) is sure to have sent nothing. A timeout or a cut answer may follow a
    /// request Twitch acted on.
    maybe_received: bool,
}

async fn send_call(
    request: reqwest::RequestBuilder,
) -> Result<(u16, http::HeaderMap, Bytes), NoAnswer> {
    let failed = |e: reqwest::Error, maybe_received: bool| NoAnswer {
        error: TwitchError::Network(e.without_url().to_string()),
        maybe_received,
    };
    let response = request.send().await.map_err(|e| {
        let sent = !e.is_connect();
        failed(e, sent)
    })?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| failed(e, true))?;
    Ok((status, headers, body))
}

/// Whether a call may be sent again after it may have reached Twitch: the methods HTTP
/// defines as idempotent (RFC 9110 §9.2.2) do the same thing twice. Helix's POSTs are not all
/// safe to repeat (Create Clip From VOD makes a second clip), so none is: after a timeout or a
/// 503 the caller is told, and decides. 401 and 429 answers say the call was not acted on, so
/// those are retried whatever the method.
fn repeatable(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// Exponential backoff with jitter: `BACKOFF_BASE · 2^(n-1)` times a random factor in
/// [0.5, 1.0], so concurrent callers do not retry in step.
pub(crate) fn backoff(failures: u32) -> Duration {
    let base = BACKOFF_BASE.saturating_mul(1 << failures.saturating_sub(1).min(6));
    base.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// Parse a 2xx JSON body, or say what was wrong with it (never echoing the body).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    what: &str,
    body: &[u8],
) -> Result<T, TwitchError> {
    serde_json::from_slice(body).map_err(|e| TwitchError::Malformed(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_bounded() {
        for n in 1..10 {
            let b = backoff(n);
            let base = BACKOFF_BASE.saturating_mul(1 << (n - 1).min(6));
            assert!(b >= base / 2 && b <= base, "{n}: {b:?}");
        }
    }

    #[test]
    fn urls_keep_the_base_path() {
        let c = TwitchConfig {
            api_base: "http://127.0.0.1:9/helix/".parse().unwrap(),
            ..TwitchConfig::default()
        };
        let s = TwitchSettings::from_config(&c);
        struct NoVault;
        #[async_trait::async_trait]
        impl TokenVault for NoVault {
            async fn put_token(
                &self,
                _: &TokenRef,
                _: &SecretString,
            ) -> Result<(), crate::store::VaultError> {
                Ok(())
            }
            async fn get_token(
                &self,
                _: &TokenRef,
            ) -> Result<Option<SecretString>, crate::store::VaultError> {
                Ok(None)
            }
            async fn delete_token(&self, _: &TokenRef) -> Result<(), crate::store::VaultError> {
                Ok(())
            }
        }
        let client = TwitchClient::new(s, Arc::new(NoVault)).unwrap();
        assert_eq!(client.api_url("/clips"), "http://127.0.0.1:9/helix/clips");
        assert_eq!(
            client.auth_url("token"),
            "https://id.twitch.tv/oauth2/token"
        );
        assert!(matches!(
            client.client_id(),
            Err(TwitchError::NotConfigured("twitch.client_id"))
        ));
    }
}
