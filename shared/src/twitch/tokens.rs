//! The OAuth tokens the Twitch client holds: the app token (client credentials, kept in memory
//! only) and user tokens (device code flow, kept as JSON in the [`TokenVault`], which encrypts
//! them). Their `Debug` output never shows a token; the raw strings leave this module only
//! through methods named `expose_*`.
//!
//! This module stores and reads; getting and refreshing tokens is `auth.rs`.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::error::TwitchError;
use crate::domain::{TokenRef, UserId};
use crate::store::TokenVault;

/// A token this close to its expiry is refreshed before use rather than after a 401.
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);

/// Where a user's token is kept in the vault: `twitch/user/<user_id>`.
pub fn user_token_ref(user: &UserId) -> TokenRef {
    // Digits only (UserId), so the reference is always valid.
    TokenRef::parse(format!("twitch/user/{user}"))
        .unwrap_or_else(|e| unreachable!("user ids make valid refs: {e}"))
}

/// What Twitch's token endpoint answers (client credentials, device code, refresh):
/// <https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/>.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub scope: Vec<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The app access token, cached in memory and fetched again on 401 or expiry.
#[derive(Clone)]
pub(crate) struct AppToken {
    pub access_token: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl AppToken {
    pub fn usable(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at - REFRESH_MARGIN > now)
    }
}

impl fmt::Debug for AppToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A user's access and refresh tokens with what `/validate` said about them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct UserTokenSet {
    access_token: String,
    refresh_token: Option<String>,
    pub scopes: Vec<String>,
    pub user_id: UserId,
    pub login: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub obtained_at: DateTime<Utc>,
}

impl fmt::Debug for UserTokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTokenSet")
            .field("user_id", &self.user_id)
            .field("login", &self.login)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl UserTokenSet {
    pub(crate) fn from_response(
        r: TokenResponse,
        user_id: UserId,
        login: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            expires_at: r.expires_in.map(|s| now + Duration::seconds(s)),
            access_token: r.access_token,
            refresh_token: r.refresh_token,
            scopes: r.scope,
            user_id,
            login,
            obtained_at: now,
        }
    }

    /// The same user after a refresh: new access token and (rotated) refresh token. Twitch may
    /// omit a refresh token it did not rotate; the old one stays then.
    pub(crate) fn refreshed(&self, r: TokenResponse, now: DateTime<Utc>) -> Self {
        Self {
            expires_at: r.expires_in.map(|s| now + Duration::seconds(s)),
            access_token: r.access_token,
            refresh_token: r.refresh_token.or_else(|| self.refresh_token.clone()),
            scopes: if r.scope.is_empty() {
                self.scopes.clone()
            } else {
                r.scope
            },
            user_id: self.user_id.clone(),
            login: self.login.clone(),
            obtained_at: now,
        }
    }

    /// Whether to refresh before using it.
    pub fn expires_soon(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at - REFRESH_MARGIN <= now)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The bearer token, for the one place that sends it.
    pub fn expose_access_token(&self) -> &str {
        &self.access_token
    }

    pub fn expose_refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    fn to_secret(&self) -> Result<SecretString, TwitchError> {
        serde_json::to_string(self)
            .map(SecretString::from)
            .map_err(|e| TwitchError::Malformed(format!("cannot encode a token set: {e}")))
    }

    fn from_secret(name: &TokenRef, secret: &SecretString) -> Result<Self, TwitchError> {
        // The parse error could quote the secret: say only where it came from.
        serde_json::from_str(secret.expose_secret()).map_err(|_| {
            TwitchError::Malformed(format!("the vault entry {name} is not a Twitch token set"))
        })
    }
}

/// Read a user's token set from the vault.
pub async fn load_user_token(
    vault: &dyn TokenVault,
    name: &TokenRef,
) -> Result<Option<UserTokenSet>, TwitchError> {
    match vault.get_token(name).await? {
        Some(secret) => Ok(Some(UserTokenSet::from_secret(name, &secret)?)),
        None => Ok(None),
    }
}

/// Write a user's token set to the vault (replacing what was there).
pub async fn store_user_token(
    vault: &dyn TokenVault,
    name: &TokenRef,
    set: &UserTokenSet,
) -> Result<(), TwitchError> {
    vault.put_token(name, &set.to_secret()?).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(expires_in: Option<i64>) -> UserTokenSet {
        let r = TokenResponse {
            access_token: "acc-secret-1".into(),
            refresh_token: Some("ref-secret-1".into()),
            expires_in,
            scope: vec!["channel:manage:clips".into()],
        };
        UserTokenSet::from_response(
            r,
            UserId::parse("1001").unwrap(),
            "streamer_one".into(),
            Utc::now(),
        )
    }

    #[test]
    fn debug_output_never_shows_a_token() {
        let s = set(Some(3600));
        let shown = format!(
            "{s:?} {:?}",
            AppToken {
                access_token: "app-secret".into(),
                expires_at: None
            }
        );
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn a_refresh_rotates_the_refresh_token_or_keeps_the_old_one() {
        let s = set(Some(3600));
        let now = Utc::now();
        let rotated = s.refreshed(
            TokenResponse {
                access_token: "a2".into(),
                refresh_token: Some("r2".into()),
                expires_in: Some(60),
                scope: vec![],
            },
            now,
        );
        assert_eq!(
            (
                rotated.expose_access_token(),
                rotated.expose_refresh_token()
            ),
            ("a2", Some("r2"))
        );
        assert_eq!(rotated.scopes, s.scopes);
        let kept = s.refreshed(
            TokenResponse {
                access_token: "a3".into(),
                refresh_token: None,
                expires_in: None,
                scope: vec![],
            },
            now,
        );
        assert_eq!(kept.expose_refresh_token(), Some("ref-secret-1"));
    }

    #[test]
    fn tokens_near_expiry_are_refreshed_first() {
        assert!(set(Some(60)).expires_soon(Utc::now()));
        assert!(!set(Some(3600)).expires_soon(Utc::now()));
        assert!(!set(None).expires_soon(Utc::now()));
    }

    #[test]
    fn a_token_set_survives_the_vault_encoding_and_a_bad_entry_is_not_echoed() {
        let s = set(Some(3600));
        let name = user_token_ref(&s.user_id);
        assert_eq!(name.as_str(), "twitch/user/1001");
        assert_eq!(
            UserTokenSet::from_secret(&name, &s.to_secret().unwrap()).unwrap(),
            s
        );
        let err =
            UserTokenSet::from_secret(&name, &SecretString::from("not-json-secret".to_string()))
                .unwrap_err();
        assert!(!err.to_string().contains("not-json-secret"), "{err}");
    }
}
