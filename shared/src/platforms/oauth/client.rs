//! The token endpoints of one platform: the authorization URL (authorization code with PKCE,
//! RFC 7636), the code exchange (for Instagram, then the swap for the 60-day token) and the
//! refresh. Not here: where tokens are kept and when they are refreshed (`platforms::oauth`),
//! the interactive part (the CLI).

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Digest;
use url::Url;

use super::TokenSet;
use crate::config::PlatformConfig;
use crate::domain::Platform;
use crate::platforms::{classify, error_message, PlatformError};

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.1–4.2).
#[derive(Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let verifier = b64.encode(bytes);
        let challenge = b64.encode(sha2::Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// The token endpoints of one platform.
#[derive(Clone)]
pub struct OAuthClient {
    pub platform: Platform,
    http: reqwest::Client,
    config: PlatformConfig,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_expires_in: Option<i64>,
    #[serde(default)]
    open_id: Option<String>,
    #[serde(default)]
    user_id: Option<serde_json::Value>,
}

impl OAuthClient {
    pub fn new(platform: Platform, http: reqwest::Client, config: PlatformConfig) -> Self {
        Self {
            platform,
            http,
            config,
        }
    }

    /// With its own HTTP client (timeouts on every call), for one-off use such as `hilite auth`.
    pub fn from_config(platform: Platform, config: PlatformConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self::new(platform, http, config))
    }

    fn secret(&self) -> Result<&str, PlatformError> {
        self.config
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret())
            .ok_or_else(|| PlatformError::NotConnected {
                platform: self.platform,
                message: format!("{}.client_secret is not configured", self.platform),
            })
    }

    /// The URL the user opens to authorize HiLite (authorization code with PKCE).
    pub fn authorize_url(&self, redirect: &Url, state: &str, pkce: &Pkce) -> Url {
        let (base, scope, client_key) = match self.platform {
            // https://developers.google.com/identity/protocols/oauth2/native-app#step-2:-send-a-request-to-googles-oauth-2.0-server
            Platform::Youtube => (
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://www.googleapis.com/auth/youtube.upload",
                "client_id",
            ),
            // https://developers.tiktok.com/doc/login-kit-desktop/ (client_key, PKCE S256)
            Platform::Tiktok => (
                "https://www.tiktok.com/v2/auth/authorize/",
                "video.publish",
                "client_key",
            ),
            // https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/business-login
            Platform::Instagram => (
                "https://www.instagram.com/oauth/authorize",
                "instagram_business_basic,instagram_business_content_publish",
                "client_id",
            ),
        };
        let mut url = Url::parse(base).unwrap_or_else(|e| unreachable!("built-in URL: {e}"));
        url.query_pairs_mut()
            .append_pair(client_key, &self.config.client_id)
            .append_pair("redirect_uri", redirect.as_str())
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        if self.platform == Platform::Youtube {
            url.query_pairs_mut()
                .append_pair("access_type", "offline")
                .append_pair("prompt", "consent");
        }
        url
    }

    fn endpoint(&self, base: &Url, path: &str) -> Result<Url, PlatformError> {
        let joined = format!("{}/{}", base.as_str().trim_end_matches('/'), path);
        Url::parse(&joined).map_err(|e| PlatformError::unknown(self.platform, e))
    }

    async fn post_form(
        &self,
        url: Url,
        form: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<TokenAnswer, PlatformError> {
        let resp = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| PlatformError::from_reqwest(self.platform, e))?;
        self.answer(resp, now).await
    }

    async fn answer(
        &self,
        resp: reqwest::Response,
        now: DateTime<Utc>,
    ) -> Result<TokenAnswer, PlatformError> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .text()
            .await
            .map_err(|e| PlatformError::from_reqwest(self.platform, e))?;
        if !status.is_success() {
            // Meta answers its rate limits with a 400 or 403 and the code in the body (Graph
            // API codes 4, 17, 32, 613:
            // https://developers.facebook.com/docs/graph-api/guides/error-handling/): a wait,
            // as `instagram.rs` reads it, not a refusal of the token.
            let meta_code = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.pointer("/error/code").and_then(|c| c.as_i64()));
            if self.platform == Platform::Instagram && matches!(meta_code, Some(4 | 17 | 32 | 613))
            {
                return Err(PlatformError::RateLimited {
                    platform: self.platform,
                    until: now + Duration::minutes(15),
                    message: format!(
                        "token endpoint: rate limited (code {})",
                        meta_code.unwrap_or_default()
                    ),
                });
            }
            // OAuth errors are `{"error":"invalid_grant","error_description":…}`; never echo
            // the body otherwise, it might hold a token.
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .map(|v| {
                    let e = v
                        .get("error")
                        .map(|e| {
                            e.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| error_message(&body))
                        })
                        .unwrap_or_default();
                    let d = v
                        .get("error_description")
                        .and_then(|d| d.as_str())
                        .unwrap_or_default();
                    format!("{e} {d}").trim().to_string()
                })
                .unwrap_or_else(|| "unreadable error".into());
            return Err(match status.as_u16() {
                // invalid_grant and friends: the refresh token is revoked or expired.
                400 | 401 | 403 => PlatformError::Rejected {
                    platform: self.platform,
                    message: format!("token endpoint HTTP {status}: {msg}"),
                },
                _ => classify(
                    self.platform,
                    status,
                    &headers,
                    format!("token endpoint: {msg}"),
                    now,
                ),
            });
        }
        // TikTok answers 200 with an `error` field on failure.
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
            PlatformError::unknown(
                self.platform,
                "token endpoint answered something that is not JSON",
            )
        })?;
        if v.get("access_token").is_none() {
            let e = v
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("no access_token in the answer");
            return Err(PlatformError::Rejected {
                platform: self.platform,
                message: format!("token endpoint: {e}"),
            });
        }
        serde_json::from_value(v).map_err(|_| {
            PlatformError::unknown(
                self.platform,
                "token endpoint answer has an unexpected shape",
            )
        })
    }

    fn to_set(&self, a: TokenAnswer, previous: Option<&TokenSet>, now: DateTime<Utc>) -> TokenSet {
        let refresh = a
            .refresh_token
            .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
        let mut set = TokenSet::new(a.access_token, refresh, a.expires_in, now);
        set.refresh_expires_at = a
            .refresh_expires_in
            .map(|s| now + Duration::seconds(s))
            .or_else(|| previous.and_then(|p| p.refresh_expires_at));
        let uid = a.open_id.or_else(|| {
            a.user_id.map(|u| {
                u.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| u.to_string())
            })
        });
        set.user_id = uid.or_else(|| previous.and_then(|p| p.user_id.clone()));
        set.last_refresh_at = previous.map(|_| now);
        set
    }

    /// Refresh `set`; the answer replaces it whole (TikTok's rotated refresh token included).
    pub async fn refresh(
        &self,
        set: &TokenSet,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, PlatformError> {
        let a = match self.platform {
            Platform::Youtube | Platform::Tiktok => {
                let refresh =
                    set.refresh_token
                        .as_deref()
                        .ok_or_else(|| PlatformError::Rejected {
                            platform: self.platform,
                            message: "no refresh token stored".into(),
                        })?;
                let secret = self.secret()?;
                let (url, id_key) = if self.platform == Platform::Youtube {
                    // https://developers.google.com/identity/protocols/oauth2/native-app#offline
                    (
                        self.endpoint(&self.config.oauth_base, "token")?,
                        "client_id",
                    )
                } else {
                    // https://developers.tiktok.com/docs/en/oauth-refresh-a-user-access-token
                    (
                        self.endpoint(&self.config.oauth_base, "token/")?,
                        "client_key",
                    )
                };
                let form = [
                    (id_key, self.config.client_id.as_str()),
                    ("client_secret", secret),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh),
                ];
                self.post_form(url, &form, now).await?
            }
            Platform::Instagram => {
                let url = self.endpoint(&self.config.api_base, "refresh_access_token")?;
                let resp = self
                    .http
                    .get(url)
                    .query(&[
                        ("grant_type", "ig_refresh_token"),
                        ("access_token", set.access_token.as_str()),
                    ])
                    .send()
                    .await
                    .map_err(|e| PlatformError::from_reqwest(self.platform, e))?;
                let mut a = self.answer(resp, now).await?;
                a.refresh_token = None;
                a
            }
        };
        let mut fresh = self.to_set(a, Some(set), now);
        if self.platform == Platform::Instagram {
            fresh.obtained_at = now;
        }
        Ok(fresh)
    }

    /// Exchange an authorization code (with its PKCE verifier) for tokens. For Instagram the
    /// short-lived token is exchanged at once for the 60-day one.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &str,
        redirect: &Url,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, PlatformError> {
        let secret = self.secret()?;
        let id_key = if self.platform == Platform::Tiktok {
            "client_key"
        } else {
            "client_id"
        };
        let path = match self.platform {
            Platform::Youtube => "token",
            Platform::Tiktok => "token/",
            Platform::Instagram => "access_token",
        };
        let url = self.endpoint(&self.config.oauth_base, path)?;
        let form = [
            (id_key, self.config.client_id.as_str()),
            ("client_secret", secret),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier),
        ];
        let a = self.post_form(url, &form, now).await?;
        let short = self.to_set(a, None, now);
        if self.platform != Platform::Instagram {
            return Ok(short);
        }
        let url = self.endpoint(&self.config.api_base, "access_token")?;
        let resp = self
            .http
            .get(url)
            .query(&[
                ("grant_type", "ig_exchange_token"),
                ("client_secret", secret),
                ("access_token", short.access_token.as_str()),
            ])
            .send()
            .await
            .map_err(|e| PlatformError::from_reqwest(self.platform, e))?;
        let long = self.answer(resp, now).await?;
        Ok(self.to_set(long, Some(&short), now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_s256_of_the_verifier() {
        let p = Pkce::generate();
        assert_eq!(p.verifier.len(), 43);
        let expect = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(p.verifier.as_bytes()));
        assert_eq!(p.challenge, expect);
    }
}
