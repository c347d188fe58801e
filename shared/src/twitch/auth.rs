//! Getting and keeping Twitch OAuth tokens:
//! - the app token by the client credentials flow, fetched when first needed and again after a
//!   401 or near its expiry;
//! - user tokens (a broadcaster's, or one of their editors') by the device code flow, which
//!   needs no web server: <https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/#device-code-grant-flow>;
//! - refreshing a user token on 401 or shortly before it expires, storing the rotated refresh
//!   token at once: <https://dev.twitch.tv/docs/authentication/refresh-tokens/>;
//! - `GET /oauth2/validate`, which Twitch asks apps to call at start-up and hourly:
//!   <https://dev.twitch.tv/docs/authentication/validate-tokens/>.
//!
//! No token ever reaches a log line or an error message.

use std::time::Duration;

use chrono::Utc;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::client::TwitchClient;
use super::error::{explain, TwitchError};
use super::tokens::{
    load_user_token, store_user_token, user_token_ref, AppToken, TokenResponse, UserTokenSet,
};
use crate::domain::{BroadcasterId, TokenRef, UserId};
use crate::store::StateStore;

/// The device code grant type (RFC 8628), as Twitch's token endpoint expects it.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What `POST /oauth2/device` answers: the code the user types at `verification_uri`.
#[derive(Deserialize)]
pub struct DeviceAuthorization {
    device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between two polls.
    pub interval: u64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// One poll of the token endpoint during the device code flow.
#[derive(Debug)]
pub enum DevicePoll {
    /// The user has not answered yet.
    Pending,
    /// Polling too fast: wait `interval` plus five more seconds from now on (RFC 8628 §3.5).
    SlowDown,
    /// Authorized: the validated token set of the user who said yes.
    Done(UserTokenSet),
}

/// What `/validate` says about an access token.
#[derive(Debug, Clone, Deserialize)]
pub struct Validated {
    pub client_id: String,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub user_id: Option<UserId>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub expires_in: i64,
}

impl TwitchClient {
    /// The cached app token, or a new one from the client credentials flow.
    pub(crate) async fn app_access_token(&self) -> Result<String, TwitchError> {
        let mut slot = self.app_token.lock().await;
        let now = Utc::now();
        if let Some(t) = slot.as_ref().filter(|t| t.usable(now)) {
            return Ok(t.access_token.clone());
        }
        let client_id = self.client_id()?.to_string();
        let secret = self
            .settings
            .client_secret
            .clone()
            .ok_or(TwitchError::NotConfigured("twitch.client_secret"))?;
        let form = [
            ("client_id", client_id.as_str()),
            ("client_secret", secret.expose_secret()),
            ("grant_type", "client_credentials"),
        ];
        let answer = self.oauth_post("token", &form).await?;
        let r: TokenResponse = token_answer(answer.status, &answer.body)?;
        let token = AppToken {
            expires_at: r.expires_in.map(|s| now + chrono::Duration::seconds(s)),
            access_token: r.access_token,
        };
        let bearer = token.access_token.clone();
        *slot = Some(token);
        Ok(bearer)
    }

    /// The user token stored under `name`, refreshed first when it is about to expire.
    pub(crate) async fn user_token(&self, name: &TokenRef) -> Result<UserTokenSet, TwitchError> {
        let slot = self.user_slot(name);
        let mut cached = slot.lock().await;
        let set = match cached.take() {
            Some(set) => set,
            None => load_user_token(&*self.vault, name)
                .await?
                .ok_or_else(|| TwitchError::NoUserToken(name.clone()))?,
        };
        let set = if set.expires_soon(Utc::now()) {
            // Another worker may have refreshed it already (and rotated the refresh token).
            let stored = load_user_token(&*self.vault, name).await?.unwrap_or(set);
            if stored.expires_soon(Utc::now()) && stored.expose_refresh_token().is_some() {
                self.refresh_or_take_newer(name, &stored).await?
            } else {
                stored
            }
        } else {
            set
        };
        *cached = Some(set.clone());
        Ok(set)
    }

    /// After a 401 with `failed`: use a newer token if another worker stored one, else refresh.
    pub(crate) async fn refresh_user_token(
        &self,
        name: &TokenRef,
        failed: &str,
    ) -> Result<UserTokenSet, TwitchError> {
        let slot = self.user_slot(name);
        let mut cached = slot.lock().await;
        let stored = load_user_token(&*self.vault, name)
            .await?
            .ok_or_else(|| TwitchError::NoUserToken(name.clone()))?;
        if stored.expose_access_token() != failed {
            *cached = Some(stored.clone());
            return Ok(stored);
        }
        let set = self.refresh_or_take_newer(name, &stored).await?;
        *cached = Some(set.clone());
        Ok(set)
    }

    /// Refresh `stored`; when Twitch refuses because another process refreshed between our
    /// read and our refresh (Twitch rotates refresh tokens, so the one we sent is spent), use
    /// the tokens that process stored. A refusal with nothing newer stored is the account's.
    async fn refresh_or_take_newer(
        &self,
        name: &TokenRef,
        stored: &UserTokenSet,
    ) -> Result<UserTokenSet, TwitchError> {
        match self.refresh_and_store(name, stored).await {
            Err(e @ TwitchError::Unauthorized(_)) => {
                match load_user_token(&*self.vault, name).await? {
                    Some(newer)
                        if newer.expose_access_token() != stored.expose_access_token()
                            || newer.expose_refresh_token() != stored.expose_refresh_token() =>
                    {
                        Ok(newer)
                    }
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// Exchange the refresh token and store the result (with its rotated refresh token).
    async fn refresh_and_store(
        &self,
        name: &TokenRef,
        set: &UserTokenSet,
    ) -> Result<UserTokenSet, TwitchError> {
        let refresh = set.expose_refresh_token().ok_or_else(|| {
            TwitchError::Unauthorized(format!("the token {name} has no refresh token"))
        })?;
        let client_id = self.client_id()?.to_string();
        let mut form = vec![
            ("client_id", client_id.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
        ];
        // Confidential clients send their secret; public clients (device flow only) do not.
        let secret = self.settings.client_secret.clone();
        if let Some(s) = &secret {
            form.push(("client_secret", s.expose_secret()));
        }
        let answer = self.oauth_post("token", &form).await?;
        if answer.status == 400 || answer.status == 401 {
            // "Invalid refresh token": the user revoked access or it was used already.
            return Err(TwitchError::Unauthorized(format!(
                "cannot refresh {name}: {}",
                explain(answer.status, &answer.body)
            )));
        }
        let refreshed = set.refreshed(token_answer(answer.status, &answer.body)?, Utc::now());
        store_user_token(&*self.vault, name, &refreshed).await?;
        tracing::info!(token = %name, user = %refreshed.user_id, "refreshed a Twitch user token");
        Ok(refreshed)
    }

    /// Start the device code flow for `scopes`; show the user `verification_uri` and `user_code`.
    pub async fn start_device_flow(
        &self,
        scopes: &[&str],
    ) -> Result<DeviceAuthorization, TwitchError> {
        let client_id = self.client_id()?.to_string();
        let scopes = scopes.join(" ");
        let answer = self
            .oauth_post(
                "device",
                &[
                    ("client_id", client_id.as_str()),
                    ("scopes", scopes.as_str()),
                ],
            )
            .await?;
        match answer.status {
            200 => super::client::parse("device authorization", &answer.body),
            s => Err(TwitchError::Rejected {
                status: s,
                message: explain(s, &answer.body),
            }),
        }
    }

    /// Poll once for the user's answer. On success the token is validated (to learn whose it
    /// is) but not stored: see [`TwitchClient::save_user_token`].
    pub async fn poll_device_flow(
        &self,
        device: &DeviceAuthorization,
        scopes: &[&str],
    ) -> Result<DevicePoll, TwitchError> {
        let client_id = self.client_id()?.to_string();
        let scopes = scopes.join(" ");
        let form = [
            ("client_id", client_id.as_str()),
            ("scopes", scopes.as_str()),
            ("device_code", device.device_code.as_str()),
            ("grant_type", DEVICE_GRANT),
        ];
        let answer = self.oauth_post("token", &form).await?;
        if answer.status == 400 {
            let why = explain(400, &answer.body);
            return match why.as_str() {
                "authorization_pending" => Ok(DevicePoll::Pending),
                "slow_down" => Ok(DevicePoll::SlowDown),
                _ => Err(TwitchError::Rejected {
                    status: 400,
                    message: format!("device authorization failed: {why}"),
                }),
            };
        }
        let r: TokenResponse = token_answer(answer.status, &answer.body)?;
        let v = self.validate(&r.access_token).await?;
        let user_id = v.user_id.ok_or_else(|| {
            TwitchError::Malformed("validate returned no user for a user token".into())
        })?;
        Ok(DevicePoll::Done(UserTokenSet::from_response(
            r,
            user_id,
            v.login.unwrap_or_default(),
            Utc::now(),
        )))
    }

    /// Poll at the interval Twitch asked for until the user answers or the codes expire.
    pub async fn finish_device_flow(
        &self,
        device: &DeviceAuthorization,
        scopes: &[&str],
    ) -> Result<UserTokenSet, TwitchError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(device.expires_in.max(1));
        let mut interval = Duration::from_secs(device.interval.max(1));
        loop {
            tokio::time::sleep(interval).await;
            match self.poll_device_flow(device, scopes).await? {
                DevicePoll::Done(set) => return Ok(set),
                DevicePoll::SlowDown => interval += Duration::from_secs(5),
                DevicePoll::Pending => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TwitchError::Rejected {
                    status: 400,
                    message: "the device code expired before it was authorized".into(),
                });
            }
        }
    }

    /// Store a user's token set under `twitch/user/<user_id>` and use it from now on.
    pub async fn save_user_token(&self, set: &UserTokenSet) -> Result<TokenRef, TwitchError> {
        let name = user_token_ref(&set.user_id);
        store_user_token(&*self.vault, &name, set).await?;
        *self.user_slot(&name).lock().await = Some(set.clone());
        Ok(name)
    }

    /// Ask Twitch what it knows about an access token; 401 → [`TwitchError::Unauthorized`].
    pub async fn validate(&self, access_token: &str) -> Result<Validated, TwitchError> {
        let mut auth =
            http::HeaderValue::from_str(&format!("OAuth {access_token}")).map_err(|_| {
                TwitchError::Malformed(
                    "an access token with characters a header cannot hold".into(),
                )
            })?;
        auth.set_sensitive(true);
        let request = self
            .http
            .get(self.auth_url("validate"))
            .header(http::header::AUTHORIZATION, auth)
            .timeout(self.settings.timeout);
        let (status, _, body) = super::client::send(request).await?;
        match status {
            200 => super::client::parse("validate", &body),
            401 => Err(TwitchError::Unauthorized(explain(status, &body))),
            s => Err(TwitchError::Server {
                status: s,
                message: explain(s, &body),
            }),
        }
    }

    /// Validate a stored user token, refreshing it once if Twitch says it is no longer valid.
    pub async fn validate_user_token(&self, name: &TokenRef) -> Result<Validated, TwitchError> {
        let set = self.user_token(name).await?;
        match self.validate(set.expose_access_token()).await {
            Err(TwitchError::Unauthorized(_)) => {
                let fresh = self
                    .refresh_user_token(name, set.expose_access_token())
                    .await?;
                self.validate(fresh.expose_access_token()).await
            }
            other => other,
        }
    }

    /// Validate every broadcaster's stored token (start-up and hourly in `hilite serve`), and
    /// log at warn level each one that no longer works so an operator re-runs `hilite auth`.
    pub async fn validate_stored_tokens(
        &self,
        store: &dyn StateStore,
    ) -> Result<Vec<(BroadcasterId, Result<Validated, TwitchError>)>, crate::store::StoreError>
    {
        let mut results = Vec::new();
        for b in store.list_broadcasters().await? {
            let Some(name) = b.token_ref.clone() else {
                continue;
            };
            let outcome = self.validate_user_token(&name).await;
            if let Err(e) = &outcome {
                tracing::warn!(broadcaster = %b.id, login = %b.login, token = %name, error = %e, "a Twitch user token no longer works");
            }
            results.push((b.id, outcome));
        }
        Ok(results)
    }
}

/// How long a 429 from the token endpoint is waited out. id.twitch.tv documents no reset
/// header for it (<https://dev.twitch.tv/docs/authentication/>); a minute is ours, the
/// length of Helix's own rate-limit window.
const TOKEN_ENDPOINT_WAIT_SECS: i64 = 60;

/// A token endpoint answer: 200 with a token, its rate limit, or Twitch's refusal.
fn token_answer(status: u16, body: &[u8]) -> Result<TokenResponse, TwitchError> {
    match status {
        200 => super::client::parse("token", body),
        // Not a refusal: a burst of cold starts each asking for a token. Failing the stage for
        // good would lose the clip; it waits like any rate limit.
        429 => Err(TwitchError::RateLimited {
            until: Utc::now() + chrono::Duration::seconds(TOKEN_ENDPOINT_WAIT_SECS),
            message: explain(status, body),
        }),
        400..=499 => Err(TwitchError::Rejected {
            status,
            message: explain(status, body),
        }),
        s => Err(TwitchError::Server {
            status: s,
            message: explain(s, body),
        }),
    }
}
