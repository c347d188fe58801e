//! Building the ports from the configuration: the one place that knows which adapter backs
//! which port. Everything downstream holds `Ports` and never asks which backend it is on.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{BackendKind, Config};
use crate::media::MediaStore;
use crate::queue::Queue;
use crate::store::{StateStore, TokenVault};

#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn StateStore>,
    pub queue: Arc<dyn Queue>,
    pub media: Arc<dyn MediaStore>,
    pub vault: Arc<dyn TokenVault>,
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// Build the adapters the configuration names, with the system clock.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        match config.backend {
            BackendKind::Local => Self::local(config, clock),
            BackendKind::Aws => Self::aws(config, clock).await,
        }
    }

    #[cfg(feature = "embedded")]
    fn local(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        use crate::media::fs::FsMediaStore;
        use crate::queue::sqlite::SqliteQueue;
        use crate::store::local_vault::LocalVault;
        use crate::store::sqlite::{Database, SqliteStore};

        std::fs::create_dir_all(&config.local.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                config.local.data_dir.display()
            )
        })?;
        let db = Database::open(&config.local.database_path())?;
        Ok(Self {
            store: Arc::new(SqliteStore::new(db.clone())),
            queue: Arc::new(SqliteQueue::new(
                db.clone(),
                config.queues.max_receives,
                clock.clone(),
            )),
            media: Arc::new(FsMediaStore::open(
                &config.local.media_dir(),
                &config.local.media_signing_key_path(),
                config.server.public_url.clone(),
                clock.clone(),
            )?),
            vault: Arc::new(LocalVault::open(db, &config.local.vault_key_path())?),
            clock,
        })
    }

    #[cfg(not(feature = "embedded"))]
    fn local(_: &Config, _: Arc<dyn Clock>) -> anyhow::Result<Self> {
        anyhow::bail!("this build has no embedded backend (cargo feature `embedded`)")
    }

    #[cfg(feature = "aws")]
    async fn aws(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        use crate::media::s3::S3MediaStore;
        use crate::queue::sqs::SqsQueue;
        use crate::store::dynamo::DynamoStore;
        use crate::store::kms_vault::KmsVault;
        use crate::store::secret_vault::SecretKeyVault;

        // Endpoints, region and credentials come from the standard chain (AWS_ENDPOINT_URL*,
        // AWS_REGION, AWS_PROFILE, the Lambda role): the same code path locally and deployed.
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                // Path-style addressing works with every endpoint, including local ones;
                // AWS still serves it for existing buckets.
                .force_path_style(
                    std::env::var_os("AWS_ENDPOINT_URL").is_some()
                        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some(),
                )
                .build(),
        );
        // The template's TokenVaultKey: a key from Secrets Manager (aws.vault_key, filled by
        // `hilite::secrets`) or KMS (aws.kms_key_id). The configuration refuses both at once;
        // with neither, the KMS vault says what to set when a token is first needed, so the
        // functions that never touch a token start without one.
        let vault: Arc<dyn TokenVault> = match &config.aws.vault_key {
            Some(key) => Arc::new(SecretKeyVault::new(
                dynamo.clone(),
                config.aws.table.clone(),
                key,
            )?),
            None => Arc::new(KmsVault::new(
                aws_sdk_kms::Client::new(&sdk),
                dynamo.clone(),
                config.aws.table.clone(),
                config.aws.kms_key_id.clone(),
            )),
        };
        Ok(Self {
            store: Arc::new(DynamoStore::new(dynamo, config.aws.table.clone())),
            queue: Arc::new(SqsQueue::new(
                aws_sdk_sqs::Client::new(&sdk),
                config.aws.queues.clone(),
            )),
            media: Arc::new(S3MediaStore::new(s3, config.aws.bucket.clone())),
            vault,
            clock,
        })
    }

    #[cfg(not(feature = "aws"))]
    async fn aws(_: &Config, _: Arc<dyn Clock>) -> anyhow::Result<Self> {
        anyhow::bail!("this build has no AWS backend (cargo feature `aws`)")
    }
}
