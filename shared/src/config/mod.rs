//! HiLite's configuration: one typed struct, loaded once at start-up from a TOML file
//! (`hilite.toml`, optional) and `HILITE_<SECTION>__<KEY>` environment variables (which win),
//! then validated. Lambda functions read the environment alone. Every field is documented in
//! the sample file `hilite init` writes (`config/hilite.sample.toml`).
//!
//! The sections live in submodules (`local`, `aws`, `pipeline`, `log`, `platforms`; render,
//! transcription, analysis, chat and LLM sections with the code they configure), the checks run
//! after loading in `validate`; every type is re-exported here, so `hilite::config::X` names it.

mod aws;
mod local;
mod log;
mod pipeline;
mod platforms;
mod validate;

pub use aws::{AwsBatchConfig, AwsConfig, AwsQueueUrls, AwsScheduleConfig, AwsSecretIds};
pub use local::{LocalConfig, ServerConfig};
pub use log::{LogConfig, LogFormat};
pub use pipeline::{PipelineConfig, QueuesConfig};
pub use platforms::{PlatformConfig, TwitchConfig};
pub use validate::check_eventsub_secret;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The commented sample configuration `hilite init` writes.
pub const SAMPLE: &str = include_str!("../../../config/hilite.sample.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// SQLite and a local folder, everything in one process.
    #[default]
    Local,
    /// DynamoDB, SQS, S3 and KMS.
    Aws,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub backend: BackendKind,
    pub local: LocalConfig,
    pub server: ServerConfig,
    pub aws: AwsConfig,
    pub queues: QueuesConfig,
    pub pipeline: PipelineConfig,
    pub log: LogConfig,
    pub twitch: TwitchConfig,
    pub youtube: PlatformConfig,
    pub tiktok: PlatformConfig,
    pub instagram: PlatformConfig,
    pub transcribe: crate::render::TranscribeConfig,
    pub render: crate::render::RenderConfig,
    pub analysis: crate::analysis::AnalysisConfig,
    pub chat: crate::pipeline::chat::ChatConfig,
    pub llm: crate::llm::LlmConfig,
    pub moderation: crate::llm::ModerationConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            backend: BackendKind::Local,
            local: LocalConfig::default(),
            server: ServerConfig::default(),
            aws: AwsConfig::default(),
            queues: QueuesConfig::default(),
            pipeline: PipelineConfig::default(),
            log: LogConfig::default(),
            twitch: TwitchConfig::default(),
            youtube: PlatformConfig::with_bases(
                "https://www.googleapis.com/youtube/v3",
                "https://www.googleapis.com/upload/youtube/v3",
                "https://oauth2.googleapis.com",
            ),
            tiktok: PlatformConfig::with_bases(
                "https://open.tiktokapis.com/v2",
                "https://open.tiktokapis.com/v2",
                "https://open.tiktokapis.com/v2/oauth",
            ),
            instagram: PlatformConfig::with_bases(
                "https://graph.instagram.com",
                "https://graph.instagram.com",
                "https://api.instagram.com/oauth",
            ),
            transcribe: Default::default(),
            render: Default::default(),
            analysis: Default::default(),
            chat: Default::default(),
            llm: Default::default(),
            moderation: Default::default(),
        }
    }
}

/// Secrets serialise as a placeholder, so printing the effective configuration never shows one.
pub(crate) fn redacted<S: serde::Serializer>(
    v: &Option<SecretString>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("[redacted]"),
        None => s.serialize_none(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse; figment's message names the key and where it came from
    /// (the file or the environment variable).
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration file {0} not found")]
    MissingFile(PathBuf),
    #[error("configuration: {key} {problem} (from {source_name})")]
    Invalid {
        key: &'static str,
        problem: String,
        source_name: String,
    },
}

impl Config {
    /// Load from `file` (when it exists, or an error when `required`) and the environment.
    pub fn load(file: Option<&Path>, required: bool) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let mut source_name = "defaults and HILITE_* environment variables".to_string();
        if let Some(path) = file {
            if path.exists() {
                figment = figment.merge(Toml::file_exact(path));
                source_name = format!("{} and HILITE_* environment variables", path.display());
            } else if required {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
        }
        figment = figment.merge(Env::prefixed("HILITE_").split("__"));
        let config: Config = figment.extract().map_err(|e| {
            // One line per problem; figment names the key path and the provider it came from.
            ConfigError::Parse(
                e.into_iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        config.validate(&source_name)?;
        Ok(config)
    }

    /// Load from the environment only (Lambda functions).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(None, false)
    }
}

#[cfg(test)]
// figment's `Jail` closures return its (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use std::io::Write;

    // figment's Jail isolates environment variables per test.
    #[test]
    fn the_sample_file_loads_and_matches_the_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hilite.toml", SAMPLE)?;
            let c =
                Config::load(Some(Path::new("hilite.toml")), true).map_err(|e| e.to_string())?;
            let d = Config::default();
            assert_eq!(c.local.data_dir, d.local.data_dir);
            assert_eq!(c.server.listen, d.server.listen);
            assert_eq!(c.pipeline.collect_delay_secs, 600);
            assert_eq!(c.twitch.api_base.as_str(), "https://api.twitch.tv/helix");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hilite.toml", "[local]\ndata_dir = \"/from/file\"\n")?;
            jail.set_env("HILITE_LOCAL__DATA_DIR", "/from/env");
            jail.set_env("HILITE_SERVER__LISTEN", "127.0.0.1:9999");
            let c =
                Config::load(Some(Path::new("hilite.toml")), true).map_err(|e| e.to_string())?;
            assert_eq!(c.local.data_dir, PathBuf::from("/from/env"));
            assert_eq!(c.server.listen.port(), 9999);
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hilite.toml", "[pipeline]\nmax_attempts = \"three\"\n")?;
            let err = Config::load(Some(Path::new("hilite.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("pipeline.max_attempts"), "{err}");
            assert!(err.contains("hilite.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_corrupt_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "[local]\ndata_dri = \"x\"\n")?;
            let err = Config::load(Some(Path::new("typo.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("data_dri"), "{err}");
            let mut f = std::fs::File::create(jail.directory().join("bad.toml"))
                .map_err(|e| e.to_string())?;
            f.write_all(b"[local\n").map_err(|e| e.to_string())?;
            let err = Config::load(Some(Path::new("bad.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("bad.toml"), "{err}");
            let err = Config::load(Some(Path::new("missing.toml")), true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn printing_the_config_never_shows_a_secret() {
        let mut c = Config::default();
        c.twitch.client_secret = Some(SecretString::from("sup3r-s3cret-value".to_string()));
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("sup3r-s3cret-value"), "{shown}");
    }
}
