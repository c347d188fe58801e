//! OAuth tokens for the platforms, per account: kept as JSON in the [`TokenVault`] (which
//! encrypts them) under `<platform>/<account>`, refreshed before they expire and once more
//! after a 401. A refresh the platform refuses (revoked, expired refresh token) marks the
//! platform unhealthy for that account — recorded on the token set, shown by `hilite accounts
//! list`, and posting there stops until `hilite auth` reconnects it; other platforms go on.
//!
//! Lifetimes (read from each answer's `expires_in`, never assumed):
//! - Google: access tokens about an hour, refresh tokens long-lived
//!   (<https://developers.google.com/identity/protocols/oauth2/native-app>).
//! - TikTok: access tokens hours, refresh tokens months, **rotated** on every refresh — the
//!   previous one stops working, so the new one is stored every time
//!   (<https://developers.tiktok.com/docs/en/oauth-refresh-a-user-access-token>).
//! - Instagram Login: a short-lived token (1 h) exchanged for a 60-day one, refreshable once it
//!   is 24 h old and before it expires
//!   (<https://developers.facebook.com/documentation/instagram-platform/reference/access_token>,
//!   <https://developers.facebook.com/documentation/instagram-platform/reference/refresh_access_token>).
//!
//! Not here: the interactive authorization (browser, loopback redirect) lives in the CLI; this
//! module builds its URL and exchanges its code.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

mod client;

pub use client::{OAuthClient, Pkce};

use super::PlatformError;
use crate::domain::{AccountName, Platform, TokenRef};
use crate::store::TokenVault;

/// A token this close to its expiry is refreshed before use.
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);
/// Instagram refreshes a long-lived token once it is this old (the earliest Meta allows).
pub const INSTAGRAM_REFRESH_AGE: Duration = Duration::hours(24);

/// A bearer token for one call; its `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    pub fn new(s: impl Into<String>) -> Self {
        Self(SecretString::from(s.into()))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// One account's tokens for one platform, as stored (encrypted) in the vault.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenSet {
    access_token: String,
    refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub obtained_at: DateTime<Utc>,
    /// The platform's user id (Instagram's IG user id, TikTok's open_id), when it gave one.
    pub user_id: Option<String>,
    /// Set when a refresh was refused: the platform is unhealthy until reconnected.
    pub refresh_error: Option<String>,
    pub last_refresh_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .field("obtained_at", &self.obtained_at)
            .field("refresh_error", &self.refresh_error)
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    pub fn new(
        access: impl Into<String>,
        refresh: Option<String>,
        expires_in: Option<i64>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            access_token: access.into(),
            refresh_token: refresh,
            expires_at: expires_in.map(|s| now + Duration::seconds(s)),
            refresh_expires_at: None,
            obtained_at: now,
            user_id: None,
            refresh_error: None,
            last_refresh_at: None,
        }
    }

    pub fn access(&self) -> AccessToken {
        AccessToken::new(self.access_token.clone())
    }

    pub fn expose_refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    /// Whether the token should be refreshed before use at `now`.
    pub fn needs_refresh(&self, platform: Platform, now: DateTime<Utc>) -> bool {
        let near_expiry = self.expires_at.is_some_and(|at| at - REFRESH_MARGIN <= now);
        match platform {
            // Meta refuses a refresh of a token under 24 h old; past that, refresh daily so
            // a 60-day token never comes near its end.
            Platform::Instagram => now - self.obtained_at >= INSTAGRAM_REFRESH_AGE || near_expiry,
            Platform::Youtube | Platform::Tiktok => near_expiry,
        }
    }
}

/// What `hilite accounts list` shows for one platform of one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenHealth {
    pub connected: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_error: Option<String>,
}

/// Where an account's token for a platform is kept: `<platform>/<account>`.
pub fn token_ref(platform: Platform, account: &AccountName) -> TokenRef {
    // Both parts are safe slugs (Platform names, AccountName's alphabet).
    TokenRef::parse(format!("{platform}/{account}"))
        .unwrap_or_else(|e| unreachable!("platform/account refs are valid: {e}"))
}

fn vault_error(platform: Platform, e: impl fmt::Display) -> PlatformError {
    PlatformError::Transient {
        platform,
        message: format!("token vault: {e}"),
    }
}

pub async fn load(
    vault: &dyn TokenVault,
    platform: Platform,
    account: &AccountName,
) -> Result<Option<TokenSet>, PlatformError> {
    let Some(secret) = vault
        .get_token(&token_ref(platform, account))
        .await
        .map_err(|e| vault_error(platform, e))?
    else {
        return Ok(None);
    };
    serde_json::from_str(secret.expose_secret())
        .map(Some)
        .map_err(|e| PlatformError::NotConnected {
            platform,
            message: format!(
                "the stored token does not parse ({e}); reconnect with `hilite auth {platform}`"
            ),
        })
}

pub async fn store(
    vault: &dyn TokenVault,
    platform: Platform,
    account: &AccountName,
    set: &TokenSet,
) -> Result<(), PlatformError> {
    let json = serde_json::to_string(set).map_err(|e| PlatformError::unknown(platform, e))?;
    vault
        .put_token(&token_ref(platform, account), &SecretString::from(json))
        .await
        .map_err(|e| vault_error(platform, e))
}

pub async fn health(
    vault: &dyn TokenVault,
    platform: Platform,
    account: &AccountName,
) -> Result<TokenHealth, PlatformError> {
    Ok(match load(vault, platform, account).await? {
        None => TokenHealth {
            connected: false,
            expires_at: None,
            refresh_error: None,
        },
        Some(s) => TokenHealth {
            connected: s.refresh_error.is_none(),
            expires_at: s.expires_at,
            refresh_error: s.refresh_error,
        },
    })
}

/// A usable access token for `account` on the client's platform: refreshed first when it is
/// near its end, or when `force` (after a 401). A refused refresh marks the platform
/// unhealthy and answers `NotConnected`.
pub async fn access_token(
    vault: &dyn TokenVault,
    client: &OAuthClient,
    account: &AccountName,
    now: DateTime<Utc>,
    force: bool,
) -> Result<AccessToken, PlatformError> {
    let platform = client.platform;
    let Some(set) = load(vault, platform, account).await? else {
        return Err(PlatformError::NotConnected {
            platform,
            message: format!("no token; run `hilite auth {platform} --account {account}`"),
        });
    };
    if let Some(e) = &set.refresh_error {
        return Err(PlatformError::NotConnected { platform, message: format!("the last token refresh failed ({e}); run `hilite auth {platform} --account {account}`") });
    }
    if !force && !set.needs_refresh(platform, now) {
        return Ok(set.access());
    }
    match client.refresh(&set, now).await {
        Ok(fresh) => {
            // Store before use: TikTok's old refresh token is dead from this moment.
            store(vault, platform, account, &fresh).await?;
            tracing::info!(%platform, %account, expires_at = ?fresh.expires_at, "token refreshed");
            Ok(fresh.access())
        }
        // Only the platform refusing the refresh token says the account must be reconnected.
        // Anything else (the network, a rate limit, a missing `client_secret`, an answer that
        // is not the token endpoint's) is no verdict on it: nothing is marked, and the next use
        // tries again, the setting fixed or the fault passed.
        Err(e) if !matches!(e, PlatformError::Rejected { .. }) => {
            if !force && set.expires_at.is_none_or(|at| at > now) {
                // The token still works for now.
                tracing::warn!(%platform, %account, error = %e, "token refresh failed for now; using the current token");
                Ok(set.access())
            } else {
                Err(e)
            }
        }
        Err(e) => {
            // Another worker may have refreshed since `set` was read: TikTok rotates refresh
            // tokens, so its refresh spent ours, which is now refused though the account is
            // fine. Its tokens are in the vault: they are used, and not overwritten with ours.
            if let Some(stored) = load(vault, platform, account).await? {
                if stored.refresh_token != set.refresh_token && stored.refresh_error.is_none() {
                    tracing::info!(%platform, %account, "the token was refreshed meanwhile by another worker; using that one");
                    return Ok(stored.access());
                }
            }
            let reason = e.to_string();
            tracing::warn!(%platform, %account, error = %reason, "token refresh refused; the platform is unhealthy for this account until reconnected");
            let marked = TokenSet {
                refresh_error: Some(reason.clone()),
                last_refresh_at: Some(now),
                ..set
            };
            store(vault, platform, account, &marked).await?;
            Err(PlatformError::NotConnected {
                platform,
                message: reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn tokens_are_refreshed_shortly_before_they_expire() {
        let set = TokenSet::new("a", Some("r".into()), Some(3600), t0());
        assert!(!set.needs_refresh(Platform::Youtube, t0() + Duration::minutes(54)));
        assert!(set.needs_refresh(Platform::Youtube, t0() + Duration::minutes(55)));
    }

    #[test]
    fn instagram_tokens_are_refreshed_once_a_day_old() {
        let set = TokenSet::new("a", None, Some(60 * 86400), t0());
        assert!(!set.needs_refresh(Platform::Instagram, t0() + Duration::hours(23)));
        assert!(set.needs_refresh(Platform::Instagram, t0() + Duration::hours(24)));
    }

    #[test]
    fn token_sets_never_show_their_tokens_in_debug_output() {
        let set = TokenSet::new("secret-access", Some("secret-refresh".into()), None, t0());
        let shown = format!("{set:?} {:?}", set.access());
        assert!(!shown.contains("secret"), "{shown}");
    }
}
