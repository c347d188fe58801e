//! The `[twitch]`, `[youtube]`, `[tiktok]` and `[instagram]` sections: client credentials and
//! API endpoints (overridable so tests can point them at fakes), and where Twitch clip files may
//! be fetched from. Secrets filled from Secrets Manager are `aws::AwsSecretIds`.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::redacted;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwitchConfig {
    pub client_id: String,
    #[serde(serialize_with = "redacted")]
    pub client_secret: Option<SecretString>,
    /// The EventSub subscription secret: 10–100 ASCII characters.
    #[serde(serialize_with = "redacted")]
    pub eventsub_secret: Option<SecretString>,
    pub callback_url: Option<Url>,
    pub api_base: Url,
    pub auth_base: Url,
    /// Timeout of one Helix or OAuth call, in seconds.
    pub request_timeout_secs: u64,
    /// Clip files are only fetched over HTTPS from hosts ending with one of these suffixes,
    /// checked again on every redirect.
    pub download_host_suffixes: Vec<String>,
    /// TEST ONLY: also fetch clip files over plain HTTP from loopback addresses (the strict
    /// fake Twitch in `tests/`). Never set this in production.
    pub allow_insecure_download_hosts: bool,
}

impl Default for TwitchConfig {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            eventsub_secret: None,
            callback_url: None,
            api_base: fixed_url("https://api.twitch.tv/helix"),
            auth_base: fixed_url("https://id.twitch.tv/oauth2"),
            request_timeout_secs: 30,
            // Get Clips Download answers with URLs on production.assets.clips.twitchcdn.net
            // (https://dev.twitch.tv/docs/api/reference/#get-clips-download); clip media has
            // also been served from *.twitch.tv and *.jtvnw.net.
            download_host_suffixes: vec![
                ".twitchcdn.net".into(),
                ".twitch.tv".into(),
                ".jtvnw.net".into(),
            ],
            allow_insecure_download_hosts: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformConfig {
    #[serde(default)]
    pub client_id: String,
    #[serde(default, serialize_with = "redacted")]
    pub client_secret: Option<SecretString>,
    pub api_base: Url,
    pub upload_base: Url,
    pub oauth_base: Url,
}

impl PlatformConfig {
    pub(super) fn with_bases(api: &str, upload: &str, oauth: &str) -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            api_base: fixed_url(api),
            upload_base: fixed_url(upload),
            oauth_base: fixed_url(oauth),
        }
    }
}

fn fixed_url(s: &str) -> Url {
    Url::parse(s).unwrap_or_else(|e| unreachable!("built-in URL {s}: {e}"))
}
