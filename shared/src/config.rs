//! HiLite's configuration: one typed struct, loaded once at start-up from a TOML file
//! (`hilite.toml`, optional) and `HILITE_<SECTION>__<KEY>` environment variables (which win),
//! then validated. Lambda functions read the environment alone. Every field is documented in
//! the sample file `hilite init` writes (`config/hilite.sample.toml`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// The commented sample configuration `hilite init` writes.
pub const SAMPLE: &str = include_str!("../../config/hilite.sample.toml");

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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Holds `hilite.db` (state and queues), `media/`, and the key files.
    pub data_dir: PathBuf,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
        }
    }
}

impl LocalConfig {
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("hilite.db")
    }
    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }
    pub fn vault_key_path(&self) -> PathBuf {
        self.data_dir.join("vault.key")
    }
    pub fn media_signing_key_path(&self) -> PathBuf {
        self.data_dir.join("media-url.key")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The address others use to reach this server (presigned media URLs, webhook callback).
    pub public_url: Url,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight work before returning it to its queue.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: Url::parse("http://127.0.0.1:8080/").unwrap_or_else(|_| unreachable!()),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
        }
    }
}

/// Names of the AWS resources, as `infra/template.yaml` creates them and passes them to each
/// function in its environment. Region and credentials come from the standard AWS chain.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    pub table: String,
    pub bucket: String,
    /// KMS key id, ARN or alias for the token vault's envelope encryption.
    pub kms_key_id: String,
    pub queues: AwsQueueUrls,
    pub batch: AwsBatchConfig,
    /// Secrets Manager secrets read once at start-up (`hilite::secrets`).
    pub secrets: AwsSecretIds,
    /// Where `hilite accounts` keeps each account's publish schedule (`hilite::schedules`).
    pub schedules: AwsScheduleConfig,
}

/// The EventBridge Scheduler group, role and target of the accounts' publish schedules: the
/// stack outputs `PublishScheduleGroupName`, `PublishSchedulerRoleArn` and
/// `PublishFunctionArn`. Only the operator's CLI uses them; all empty: schedules are not
/// managed (accounts are then planned only by `hilite publish --now`).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AwsScheduleConfig {
    /// The schedule group's name.
    pub group: String,
    /// The role the schedules run as (allowed to invoke the publish function).
    pub role_arn: String,
    /// The publish function's ARN, invoked with `{"account": NAME}`.
    pub publish_function_arn: String,
    /// Where the scheduler puts an invocation it could not deliver (the stack output
    /// `InvokeDeadLetterQueueArn`); empty: none.
    pub dead_letter_arn: String,
}

impl AwsScheduleConfig {
    pub fn enabled(&self) -> bool {
        !self.group.is_empty() && !self.role_arn.is_empty() && !self.publish_function_arn.is_empty()
    }
}

/// Where the edit function submits render jobs. Both empty: the edit stage renders in its own
/// process, as on one machine.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AwsBatchConfig {
    /// The job queue's name or ARN.
    pub job_queue: String,
    /// The job definition's name, `name:revision` or ARN.
    pub job_definition: String,
}

impl AwsBatchConfig {
    pub fn enabled(&self) -> bool {
        !self.job_queue.is_empty() && !self.job_definition.is_empty()
    }
}

/// ARNs (or names) of the Secrets Manager secrets holding what `[twitch]` and the platforms'
/// `client_secret` would hold locally. Each secret's value is a JSON object; see
/// `hilite::secrets` for its keys. Empty: that value comes from the file or environment.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSecretIds {
    /// Holds `twitch_client_secret`; fills `twitch.client_secret`.
    pub twitch_client_secret: String,
    /// Holds `eventsub_secret`; fills `twitch.eventsub_secret`.
    pub eventsub_secret: String,
    /// Holds `youtube_client_secret`, `tiktok_client_secret`, `instagram_client_secret`.
    pub platform_client_secrets: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AwsQueueUrls {
    pub collect: String,
    pub download: String,
    pub analyze: String,
    pub edit: String,
    pub publish: String,
    pub collect_dlq: String,
    pub download_dlq: String,
    pub analyze_dlq: String,
    pub edit_dlq: String,
    pub publish_dlq: String,
    /// Chat messages (`hilite subscribe --chat`) and their dead-letter queue.
    pub chat: String,
    pub chat_dlq: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuesConfig {
    /// Receives before a message moves to the dead-letter queue (SQS `maxReceiveCount`).
    pub max_receives: u32,
    /// How long a received message stays hidden while a worker handles it.
    pub visibility_timeout_secs: u64,
    /// Workers per queue in `hilite serve`.
    pub workers: usize,
    /// How often an idle worker looks for messages, in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        Self {
            max_receives: 3,
            visibility_timeout_secs: 300,
            workers: 2,
            poll_interval_ms: 500,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Attempts of a stage before a clip is `failed`.
    pub max_attempts: u32,
    /// Wait between a stream's end and collecting its clips (Twitch needs minutes to finish
    /// clips and fill `vod_offset`). At most 900 s, the SQS delay limit.
    pub collect_delay_secs: u64,
    /// When a stream's start is unknown and Twitch has no archive video for it, collect clips
    /// from this many hours before the stream's end.
    pub lookback_hours: u64,
    /// Largest clip file the download stage accepts, in bytes.
    pub max_download_bytes: u64,
    /// Longest one clip file download may take, in seconds.
    pub download_timeout_secs: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            collect_delay_secs: 600,
            lookback_hours: 12,
            max_download_bytes: 1024 * 1024 * 1024,
            download_timeout_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Pretty,
    /// JSON lines, one event per line.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `hilite=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

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
    fn with_bases(api: &str, upload: &str, oauth: &str) -> Self {
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

    fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
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

    #[test]
    fn printing_the_config_never_shows_a_secret() {
        let mut c = Config::default();
        c.twitch.client_secret = Some(SecretString::from("sup3r-s3cret-value".to_string()));
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("sup3r-s3cret-value"), "{shown}");
    }
}
