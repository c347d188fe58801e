//! The checks a loaded configuration passes before anything uses it: ranges set by AWS and
//! Twitch, keys that must be set together or not together, and the sections' own `validate`.
//! Each refusal names the key and where its value came from. Not parsing (`Config::load`).

use secrecy::SecretString;

use super::{BackendKind, Config, ConfigError};

impl Config {
    pub(super) fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| ConfigError::Invalid {
            key,
            problem,
            source_name: source_name.to_string(),
        };
        if self.pipeline.collect_delay_secs > 900 {
            return Err(invalid(
                "pipeline.collect_delay_secs",
                format!(
                    "is {}, over the 900 s SQS delay limit",
                    self.pipeline.collect_delay_secs
                ),
            ));
        }
        if !(1..=168).contains(&self.pipeline.lookback_hours) {
            return Err(invalid(
                "pipeline.lookback_hours",
                "must be between 1 and 168".into(),
            ));
        }
        if self.pipeline.max_download_bytes == 0 || self.pipeline.download_timeout_secs == 0 {
            return Err(invalid(
                "pipeline.max_download_bytes",
                "and pipeline.download_timeout_secs must be at least 1".into(),
            ));
        }
        if self.twitch.request_timeout_secs == 0 {
            return Err(invalid(
                "twitch.request_timeout_secs",
                "must be at least 1".into(),
            ));
        }
        if let Some(bad) = self
            .twitch
            .download_host_suffixes
            .iter()
            .find(|s| !s.starts_with('.') || s.len() < 3)
        {
            // Without the leading dot, "twitch.tv" would also match "eviltwitch.tv".
            return Err(invalid(
                "twitch.download_host_suffixes",
                format!("entry {bad:?} must start with '.', e.g. \".twitchcdn.net\""),
            ));
        }
        self.render
            .validate()
            .map_err(|(key, problem)| invalid(key, problem))?;
        self.analysis
            .validate()
            .map_err(|(key, problem)| invalid(key, problem))?;
        self.chat
            .validate()
            .map_err(|(key, problem)| invalid(key, problem))?;
        self.llm
            .validate()
            .map_err(|(key, problem)| invalid(key, problem))?;
        self.moderation
            .validate()
            .map_err(|(key, problem)| invalid(key, problem))?;
        let secret_vault = self.aws.vault_key.is_some() || !self.aws.secrets.vault_key.is_empty();
        if secret_vault && !self.aws.kms_key_id.is_empty() {
            return Err(invalid(
                "aws.kms_key_id",
                "and aws.vault_key / aws.secrets.vault_key name two token vault keys; set one \
                 (the stack's TokenVaultKey parameter says which)"
                    .into(),
            ));
        }
        if self.aws.batch.job_queue.is_empty() != self.aws.batch.job_definition.is_empty() {
            return Err(invalid(
                "aws.batch.job_queue",
                "and aws.batch.job_definition must be set together".into(),
            ));
        }
        if self.pipeline.max_attempts == 0 {
            return Err(invalid(
                "pipeline.max_attempts",
                "must be at least 1".into(),
            ));
        }
        if !(1..=1000).contains(&self.queues.max_receives) {
            return Err(invalid(
                "queues.max_receives",
                "must be between 1 and 1000 (the SQS range)".into(),
            ));
        }
        if self.queues.visibility_timeout_secs == 0
            || self.queues.visibility_timeout_secs > 12 * 3600
        {
            return Err(invalid(
                "queues.visibility_timeout_secs",
                "must be between 1 and 43200".into(),
            ));
        }
        if self.queues.workers == 0 || self.queues.workers > 64 {
            return Err(invalid("queues.workers", "must be between 1 and 64".into()));
        }
        // An idle worker polls the embedded queue in a write transaction: without a pause
        // between polls, each one would hold the database's write lock in a loop.
        if !(10..=60_000).contains(&self.queues.poll_interval_ms) {
            return Err(invalid(
                "queues.poll_interval_ms",
                "must be between 10 and 60000".into(),
            ));
        }
        if let Some(secret) = &self.twitch.eventsub_secret {
            if let Err(problem) = check_eventsub_secret(secret) {
                return Err(invalid("twitch.eventsub_secret", problem.into()));
            }
        }
        if self.backend == BackendKind::Aws {
            for (key, value) in [
                ("aws.table", &self.aws.table),
                ("aws.bucket", &self.aws.bucket),
            ] {
                if value.is_empty() {
                    return Err(invalid(key, "must be set when backend = \"aws\"".into()));
                }
            }
        }
        Ok(())
    }
}

/// Twitch's rule for an EventSub subscription secret: 10 to 100 ASCII characters. The problem
/// never quotes the secret.
pub fn check_eventsub_secret(secret: &SecretString) -> Result<(), &'static str> {
    use secrecy::ExposeSecret;
    let s = secret.expose_secret();
    if (10..=100).contains(&s.len()) && s.is_ascii() {
        Ok(())
    } else {
        Err("must be 10 to 100 ASCII characters (Twitch's rule)")
    }
}

#[cfg(test)]
// figment's `Jail` closures return its (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn two_token_vault_keys_are_refused_with_the_parameter_to_check() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HILITE_AWS__KMS_KEY_ID", "arn:aws:kms:us-east-1:1:key/k");
            jail.set_env("HILITE_AWS__SECRETS__VAULT_KEY", "arn:aws:secretsmanager:s");
            let err = Config::from_env().unwrap_err().to_string();
            assert!(
                err.contains("aws.kms_key_id") && err.contains("TokenVaultKey"),
                "{err}"
            );
            jail.set_env("HILITE_AWS__KMS_KEY_ID", "");
            assert!(Config::from_env().is_ok());
            Ok(())
        });
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hilite.toml", "[pipeline]\ncollect_delay_secs = 1200\n")?;
            let err = Config::load(Some(Path::new("hilite.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("pipeline.collect_delay_secs") && err.contains("900"),
                "{err}"
            );
            jail.create_file("h2.toml", "[twitch]\neventsub_secret = \"short\"\n")?;
            let err = Config::load(Some(Path::new("h2.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("twitch.eventsub_secret"), "{err}");
            assert!(
                !err.contains("short"),
                "the secret leaked into the error: {err}"
            );
            jail.create_file("h3.toml", "[queues]\npoll_interval_ms = 0\n")?;
            let err = Config::load(Some(Path::new("h3.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("queues.poll_interval_ms"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn download_host_suffixes_must_start_with_a_dot() {
        figment::Jail::expect_with(|jail| {
            // "twitch.tv" would also match "eviltwitch.tv".
            jail.create_file(
                "h.toml",
                "[twitch]\ndownload_host_suffixes = [\"twitch.tv\"]\n",
            )?;
            let err = Config::load(Some(Path::new("h.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("twitch.download_host_suffixes"), "{err}");
            let c = Config::default();
            assert!(
                !c.twitch.allow_insecure_download_hosts,
                "the test-only flag is off by default"
            );
            assert_eq!(
                (c.pipeline.lookback_hours, c.pipeline.max_download_bytes),
                (12, 1 << 30)
            );
            Ok(())
        });
    }
}
