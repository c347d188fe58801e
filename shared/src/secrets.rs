//! Secrets from AWS Secrets Manager, read once at start-up into the same typed fields a local
//! configuration fills from its file or environment (`twitch.client_secret`,
//! `twitch.eventsub_secret`, each platform's `client_secret`, `aws.vault_key`, `llm.api_key`),
//! so nothing downstream knows where a secret came from. `aws.secrets.*` name the secrets (ARNs
//! or names); each function's environment names only the ones it needs, and its role may read
//! only those.
//!
//! Every secret's value is a JSON object of strings. infra/template.yaml keeps all of them in one
//! secret (one secret costs $0.40 a month; docs/cost.md), and each reader takes only its own keys:
//!
//! | config key                           | JSON keys read                                                      |
//! |--------------------------------------|---------------------------------------------------------------------|
//! | `aws.secrets.twitch_client_secret`   | `twitch_client_secret`                                              |
//! | `aws.secrets.eventsub_secret`        | `eventsub_secret` (10–100 ASCII characters)                         |
//! | `aws.secrets.platform_client_secrets`| `youtube_client_secret`, `tiktok_client_secret`, `instagram_client_secret` (at least one) |
//! | `aws.secrets.vault_key`              | `vault_seed` (at least 43 characters)                               |
//! | `aws.secrets.llm_api_key`            | `llm_api_key` (may be empty or absent: no bearer token)             |
//!
//! CloudFormation can generate one value of a secret, and the template generates `vault_seed`
//! (64 letters and digits, about 381 bits). Two keys are derived from it with HMAC-SHA256 under
//! distinct labels (a PRF, so neither reveals the seed or the other): the token vault's AES-256
//! key, and the EventSub secret when `eventsub_secret` is empty or absent — Twitch, which knows
//! the EventSub secret, learns nothing of the vault key. An `eventsub_secret` that is set wins.
//!
//! It is not a cache and does not refresh: a changed secret reaches a function at its next cold
//! start. Errors and logs name the secret and the key, never a value.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use base64::Engine;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{check_eventsub_secret, Config};

pub const TWITCH_CLIENT_SECRET: &str = "twitch_client_secret";
pub const EVENTSUB_SECRET: &str = "eventsub_secret";
pub const YOUTUBE_CLIENT_SECRET: &str = "youtube_client_secret";
pub const TIKTOK_CLIENT_SECRET: &str = "tiktok_client_secret";
pub const INSTAGRAM_CLIENT_SECRET: &str = "instagram_client_secret";
pub const VAULT_SEED: &str = "vault_seed";
pub const LLM_API_KEY: &str = "llm_api_key";
/// Fewest characters of a seed: 43 letters and digits carry 256 bits (43 × log2 62 ≈ 256).
pub const MIN_SEED_LEN: usize = 43;
/// HMAC labels of the keys derived from `vault_seed`; changing one changes the key.
const VAULT_KEY_LABEL: &[u8] = b"hilite/token-vault-key/v1";
const EVENTSUB_LABEL: &[u8] = b"hilite/eventsub-secret/v1";

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
        "secret {secret} has neither \"eventsub_secret\" nor \"vault_seed\"; the template \
         generates vault_seed: restore it from the secret's previous version \
         (`aws secretsmanager get-secret-value --version-stage AWSPREVIOUS`), or set \
         eventsub_secret (10-100 ASCII characters)"
    )]
    NoEventSubSecret { secret: String },
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
pub type SecretValues = BTreeMap<String, SecretString>;

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
        let v = eventsub_secret(&ids.eventsub_secret, &values(&ids.eventsub_secret))?;
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
    if !ids.vault_key.is_empty() {
        let seed = vault_seed(&ids.vault_key, &values(&ids.vault_key))?;
        let key = derive(&seed, VAULT_KEY_LABEL);
        config.aws.vault_key = Some(SecretString::from(
            base64::engine::general_purpose::STANDARD.encode(key.as_slice()),
        ));
    }
    if !ids.llm_api_key.is_empty() {
        // Optional: the template leaves it empty, and a self-hosted server may need none.
        let all = values(&ids.llm_api_key);
        let key = all
            .get(LLM_API_KEY)
            .filter(|v| !v.expose_secret().is_empty());
        tracing::info!(secret = %ids.llm_api_key, set = key.is_some(), "LLM API key read");
        if let Some(key) = key {
            config.llm.api_key = Some(key.clone());
        }
    }
    Ok(())
}

/// The `vault_seed` of `values`: present, and long enough to carry 256 bits.
pub fn vault_seed(id: &str, values: &SecretValues) -> Result<SecretString, SecretsError> {
    let seed = required(id, values, VAULT_SEED)?;
    if seed.expose_secret().chars().count() < MIN_SEED_LEN {
        return Err(SecretsError::Invalid {
            secret: id.to_string(),
            key: VAULT_SEED,
            problem: "is shorter than 43 characters (256 bits); restore the generated one from \
                      the secret's previous version, or put 64 random letters and digits there \
                      (tokens stored under the old seed must then be stored again)",
        });
    }
    Ok(seed)
}

/// The EventSub secret: `eventsub_secret` when set, else derived from `vault_seed`.
fn eventsub_secret(id: &str, values: &SecretValues) -> Result<SecretString, SecretsError> {
    if let Some(set) = values
        .get(EVENTSUB_SECRET)
        .filter(|v| !v.expose_secret().is_empty())
    {
        return Ok(set.clone());
    }
    if !values.contains_key(VAULT_SEED) {
        return Err(SecretsError::NoEventSubSecret {
            secret: id.to_string(),
        });
    }
    let seed = vault_seed(id, values)?;
    Ok(SecretString::from(hex::encode(
        derive(&seed, EVENTSUB_LABEL).as_slice(),
    )))
}

/// HMAC-SHA256(seed, label): 32 bytes, wiped when dropped. One HMAC block is a standard PRF
/// (NIST SP 800-108 in counter mode with one block), so no KDF crate is needed for it.
fn derive(seed: &SecretString, label: &[u8]) -> Zeroizing<[u8; 32]> {
    use hmac::{Hmac, Mac};
    // HMAC takes a key of any length; the error case cannot happen.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(seed.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(label);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The distinct secrets `config` names.
fn named(config: &Config) -> Vec<String> {
    let s = &config.aws.secrets;
    let mut ids: Vec<String> = [
        &s.twitch_client_secret,
        &s.eventsub_secret,
        &s.platform_client_secrets,
        &s.vault_key,
        &s.llm_api_key,
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

    fn seeded(seed: &str) -> SecretValues {
        SecretValues::from([(VAULT_SEED.to_string(), SecretString::from(seed.to_string()))])
    }

    #[test]
    fn the_eventsub_secret_and_the_vault_key_are_distinct_keys_derived_from_the_seed() {
        let seed = "a".repeat(MIN_SEED_LEN) + "0123456789bcdefghijk";
        let values = seeded(&seed);

        let eventsub = eventsub_secret("arn:s", &values).unwrap();
        let again = eventsub_secret("arn:s", &values).unwrap();
        let other = eventsub_secret("arn:s", &seeded(&seed.replace('0', "1"))).unwrap();
        let vault = derive(&SecretString::from(seed.clone()), VAULT_KEY_LABEL);

        assert_eq!(eventsub.expose_secret(), again.expose_secret());
        assert_ne!(eventsub.expose_secret(), other.expose_secret());
        assert!(check_eventsub_secret(&eventsub).is_ok());
        assert_ne!(eventsub.expose_secret(), hex::encode(vault.as_slice()));
        assert!(!eventsub.expose_secret().contains(&seed));
    }

    #[test]
    fn an_eventsub_secret_that_is_set_wins_over_the_seed() {
        let mut values = seeded(&"s".repeat(64));
        values.insert(
            EVENTSUB_SECRET.into(),
            SecretString::from("set-by-hand-123".to_string()),
        );
        assert_eq!(
            eventsub_secret("arn:s", &values).unwrap().expose_secret(),
            "set-by-hand-123"
        );
        let err = eventsub_secret("arn:s", &SecretValues::new()).unwrap_err();
        assert!(
            matches!(err, SecretsError::NoEventSubSecret { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_short_or_missing_seed_is_refused_without_showing_it() {
        let short = "tooshort-seed-value";
        let err = vault_seed("arn:s", &seeded(short)).unwrap_err().to_string();
        assert!(err.contains(VAULT_SEED) && err.contains("43"), "{err}");
        assert!(!err.contains(short), "{err}");
        let err = vault_seed("arn:s", &SecretValues::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("arn:s") && err.contains(VAULT_SEED), "{err}");
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
