//! The `[aws]` section: names of the resources the stack creates (table, bucket, queues, Batch
//! queue, schedules, Secrets Manager secrets) and the token vault's key. Region and credentials
//! are not here: they come from the standard AWS chain.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::redacted;

/// Names of the AWS resources, as `infra/template.yaml` creates them and passes them to each
/// function in its environment. Region and credentials come from the standard AWS chain.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    pub table: String,
    pub bucket: String,
    /// KMS key id, ARN or alias for the token vault's envelope encryption (`TokenVaultKey=kms`).
    /// Set this or `vault_key` (or `secrets.vault_key`), not both.
    pub kms_key_id: String,
    /// The token vault's AES-256 key as the base64 of 32 bytes (`TokenVaultKey=secret`): filled
    /// from `secrets.vault_key` at start-up, or set directly (`openssl rand -base64 32`) against
    /// a local endpoint. Set: tokens are sealed in the function with it instead of with KMS.
    #[serde(serialize_with = "redacted")]
    pub vault_key: Option<SecretString>,
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
    /// Holds `vault_seed`, from which the token vault's key is derived; fills `aws.vault_key`.
    pub vault_key: String,
    /// Holds `llm_api_key` (may be empty); fills `llm.api_key`.
    pub llm_api_key: String,
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
