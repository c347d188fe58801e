//! Secrets from AWS Secrets Manager, read once at start-up into the same typed fields a local
//! configuration fills from its file or environment (`twitch.client_secret`,
//! `twitch.eventsub_secret`, each platform's `client_secret`), so nothing downstream knows
//! where a secret came from. `aws.secrets.*` name the secrets (ARNs or names); each function's
//! environment names only the ones it needs, and its role may read only those.
//!
//! Every secret's value is a JSON object of strings. infra/template.yaml keeps all of them in one
//! secret (one secret costs $0.40 a month; docs/cost.md), and each reader takes only its own keys:
//!
//! | config key                           | JSON keys read                                                      |
//! |--------------------------------------|---------------------------------------------------------------------|
//! | `aws.secrets.twitch_client_secret`   | `twitch_client_secret`                                              |
//! | `aws.secrets.eventsub_secret`        | `eventsub_secret` (10–100 ASCII characters)                         |
//! | `aws.secrets.platform_client_secrets`| `youtube_client_secret`, `tiktok_client_secret`, `instagram_client_secret` (at least one) |
//!
//! It is not a cache and does not refresh: a changed secret reaches a function at its next cold
//! start. Errors and logs name the secret and the key, never a value.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{check_eventsub_secret, Config};

pub const TWITCH_CLIENT_SECRET: &str = "twitch_client_secret";
pub const EVENTSUB_SECRET: &str = "eventsub_secret";
pub const YOUTUBE_CLIENT_SECRET: &str = "youtube_client_secret";
pub const TIKTOK_CLIENT_SECRET: &str = "tiktok_client_secret";
pub const INSTAGRAM_CLIENT_SECRET: &str = "instagram_client_secret";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "cannot read secret {secret} from Secrets Manager ({reason}); check that it exists in \
         this region and that this role may call secretsmanager:GetSecretValue on it"
    )]
    Unreadable { secret: String, reason: String },
    #[error(
        "secret {secret} has no string value yet; set it with `aws secretsmanager \
         put-secret-value --secret-id {secret} --secret-string file://secrets.json` (a JSON \
         object; see the README)"
    )]
    NoValue { secret: String },
    #[error(
        "secret {secret} is not a JSON object of string values; rewrite it as one, e.g. \
         {{\"twitch_client_secret\": \"...\"}} (see the README)"
    )]
    NotJson { secret: String },
    #[error("secret {secret} has no value for key \"{key}\"; add it (see the README)")]
    Missing { secret: String, key: &'static str },
    #[error(
        "secret {secret} has none of youtube_client_secret, tiktok_client_secret, \
         instagram_client_secret set; add the platforms you post to (see the README)"
    )]
    NoPlatform { secret: String },
    #[error("secret {secret}: key \"{key}\" {problem}")]
    Invalid {
        secret: String,
        key: &'static str,
        problem: &'static str,
    },
}

/// Why a function's configuration could not be loaded at cold start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// A Lambda function's configuration: its environment, then the secrets it names.
pub async fn config_from_env() -> Result<Config, LoadError> {
    let mut config = Config::from_env()?;
    resolve(&mut config).await?;
    Ok(config)
}

/// One secret's keys and values, as read.
type SecretValues = BTreeMap<String, SecretString>;

/// Read every secret `config.aws.secrets` names and fill the fields it stands for. Nothing to
/// do (and no AWS call) when it names none. Uses the standard AWS chain for region,
/// credentials and endpoint, like the other adapters.
pub async fn resolve(config: &mut Config) -> Result<(), SecretsError> {
    if named(config).is_empty() {
        return Ok(());
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    resolve_with(&aws_sdk_secretsmanager::Client::new(&sdk), config).await
}

/// [`resolve`] with a given client.
pub async fn resolve_with(
    client: &aws_sdk_secretsmanager::Client,
    config: &mut Config,
) -> Result<(), SecretsError> {
    // One call per distinct secret (`named` de-duplicates), however many config keys name it.
    let mut read: BTreeMap<String, SecretValues> = BTreeMap::new();
    for id in named(config) {
        let values = fetch(client, &id).await?;
        read.insert(id, values);
    }
    let ids = config.aws.secrets.clone();
    let values = |id: &str| read.get(id).cloned().unwrap_or_default();

    if !ids.twitch_client_secret.is_empty() {
        let v = required(
            &ids.twitch_client_secret,
            &values(&ids.twitch_client_secret),
            TWITCH_CLIENT_SECRET,
        )?;
        config.twitch.client_secret = Some(v);
    }
    if !ids.eventsub_secret.is_empty() {
        let v = required(
            &ids.eventsub_secret,
            &values(&ids.eventsub_secret),
            EVENTSUB_SECRET,
        )?;
        check_eventsub_secret(&v).map_err(|problem| SecretsError::Invalid {
            secret: ids.eventsub_secret.clone(),
            key: EVENTSUB_SECRET,
            problem,
        })?;
        config.twitch.eventsub_secret = Some(v);
    }
    if !ids.platform_client_secrets.is_empty() {
        let id = &ids.platform_client_secrets;
        let all = values(id);
        let mut found = Vec::new();
        for (key, slot) in [
            (YOUTUBE_CLIENT_SECRET, &mut config.youtube.client_secret),
            (TIKTOK_CLIENT_SECRET, &mut config.tiktok.client_secret),
            (INSTAGRAM_CLIENT_SECRET, &mut config.instagram.client_secret),
        ] {
            if let Some(v) = all.get(key).filter(|v| !v.expose_secret().is_empty()) {
                *slot = Some(v.clone());
                found.push(key);
            }
        }
        if found.is_empty() {
            return Err(SecretsError::NoPlatform { secret: id.clone() });
        }
        // Which platforms can refresh tokens here; a missing one fails its posts, by name.
        tracing::info!(secret = %id, keys = ?found, "platform client secrets read");
    }
    Ok(())
}

/// The distinct secrets `config` names.
fn named(config: &Config) -> Vec<String> {
    let s = &config.aws.secrets;
    let mut ids: Vec<String> = [
        &s.twitch_client_secret,
        &s.eventsub_secret,
        &s.platform_client_secrets,
    ]
    .into_iter()
    .filter(|id| !id.is_empty())
    .cloned()
    .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn required(
    id: &str,
    values: &SecretValues,
    key: &'static str,
) -> Result<SecretString, SecretsError> {
    values
        .get(key)
        .filter(|v| !v.expose_secret().is_empty())
        .cloned()
        .ok_or_else(|| SecretsError::Missing {
            secret: id.to_string(),
            key,
        })
}

async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<SecretValues, SecretsError> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretsError::Unreadable {
            secret: id.to_string(),
            reason: sdk_reason(&e),
        })?;
    let text = out
        .secret_string()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| SecretsError::NoValue {
            secret: id.to_string(),
        })?;
    // serde_json's own message could quote part of the value, so it is not passed on.
    serde_json::from_str::<SecretValues>(text).map_err(|_| SecretsError::NotJson {
        secret: id.to_string(),
    })
}

/// The service's error code and message (they name the secret, never its value), or the
/// transport's failure.
fn sdk_reason<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_is_read_once_however_many_keys_name_it() {
        let mut c = Config::default();
        c.aws.secrets.twitch_client_secret = "arn:one".into();
        c.aws.secrets.eventsub_secret = "arn:one".into();
        c.aws.secrets.platform_client_secrets = "arn:two".into();
        assert_eq!(
            named(&c),
            vec!["arn:one".to_string(), "arn:two".to_string()]
        );
        assert!(named(&Config::default()).is_empty());
    }

    #[test]
    fn a_missing_or_empty_key_is_an_error_naming_the_secret_and_key() {
        let mut values = SecretValues::new();
        values.insert(
            TWITCH_CLIENT_SECRET.into(),
            SecretString::from(String::new()),
        );
        let err = required("arn:s", &values, TWITCH_CLIENT_SECRET)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("arn:s") && err.contains(TWITCH_CLIENT_SECRET),
            "{err}"
        );
        let err = required("arn:s", &SecretValues::new(), EVENTSUB_SECRET)
            .unwrap_err()
            .to_string();
        assert!(err.contains(EVENTSUB_SECRET), "{err}");
    }
}
