//! Fresh AWS resources on the test process's `moto_server`, uniquely named per call so tests
//! never see each other's records or messages: the state table (the schema of
//! [`table_schema`], which the infra tests also hold `infra/template.yaml` to), five queues each
//! with a dead-letter queue, a bucket and a KMS key. Returns the `Config` that names them; the
//! ports are then built by the production code path (`Ports::from_config`).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use hilite::backend::Ports;
use hilite::config::{AwsConfig, AwsQueueUrls, BackendKind, Config};
use hilite::queue::QueueName;
use hilite::store::dynamo::{GSI1, GSI1_PK, GSI1_SK, PK, SK, TTL_ATTRIBUTE};

/// The state table as HiLite expects it, in plain terms to compare with a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// Every key attribute and its DynamoDB type (`S`).
    pub attributes: Vec<(&'static str, &'static str)>,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub indexes: Vec<IndexSchema>,
    pub ttl_attribute: &'static str,
    pub billing_mode: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSchema {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: &'static str,
}

/// The one table: `pk`/`sk`, index `gsi1` on `gsi1pk`/`gsi1sk` projecting everything, TTL on
/// `expires_at`, billed per request. Built from the adapter's own constants.
pub fn table_schema() -> TableSchema {
    TableSchema {
        attributes: vec![(PK, "S"), (SK, "S"), (GSI1_PK, "S"), (GSI1_SK, "S")],
        hash_key: PK,
        range_key: SK,
        indexes: vec![IndexSchema {
            name: GSI1,
            hash_key: GSI1_PK,
            range_key: GSI1_SK,
            projection: "ALL",
        }],
        ttl_attribute: TTL_ATTRIBUTE,
        billing_mode: "PAY_PER_REQUEST",
    }
}

/// The SDK configuration for the moto server (starting it if needed).
pub async fn sdk_config() -> SdkConfig {
    crate::moto::endpoint();
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// An S3 client that addresses buckets by path, as local endpoints need.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Create the table of `schema` under `name`, with its TTL enabled.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, schema: &TableSchema) {
    let key = |attr: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .expect("key schema element")
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(schema.billing_mode))
        .key_schema(key(schema.hash_key, KeyType::Hash))
        .key_schema(key(schema.range_key, KeyType::Range));
    for (attr, kind) in &schema.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(*attr)
                .attribute_type(ScalarAttributeType::from(*kind))
                .build()
                .expect("attribute definition"),
        );
    }
    for index in &schema.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.hash_key, KeyType::Hash))
                .key_schema(key(index.range_key, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection))
                        .build(),
                )
                .build()
                .expect("index"),
        );
    }
    request.send().await.expect("create the table on moto");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(schema.ttl_attribute)
                .enabled(true)
                .build()
                .expect("ttl specification"),
        )
        .send()
        .await
        .expect("enable the table's TTL on moto");
}

/// A queue and its dead-letter queue, with a redrive policy after `max_receives` receives.
/// Returns (queue URL, dead-letter queue URL).
async fn create_queue_pair(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
) -> (String, String) {
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("create a dead-letter queue on moto")
        .queue_url
        .expect("dead-letter queue URL");
    let attributes = client
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("read the dead-letter queue's ARN");
    let arn = attributes
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("dead-letter queue ARN");
    // <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue.html>
    let redrive = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string() });
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("create a queue on moto")
        .queue_url
        .expect("queue URL");
    (queue, dlq)
}

/// New, uniquely named resources on moto and the configuration naming them.
pub async fn fresh_resources(max_receives: u32) -> Config {
    let sdk = sdk_config().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("hilite-{id}");

    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&dynamo, &name, &table_schema()).await;

    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut urls = AwsQueueUrls::default();
    for queue in QueueName::ALL {
        let (url, dlq) = create_queue_pair(&sqs, &format!("{name}-{queue}"), max_receives).await;
        let (slot, dead) = match queue {
            QueueName::Collect => (&mut urls.collect, &mut urls.collect_dlq),
            QueueName::Download => (&mut urls.download, &mut urls.download_dlq),
            QueueName::Analyze => (&mut urls.analyze, &mut urls.analyze_dlq),
            QueueName::Edit => (&mut urls.edit, &mut urls.edit_dlq),
            QueueName::Publish => (&mut urls.publish, &mut urls.publish_dlq),
            QueueName::Chat => (&mut urls.chat, &mut urls.chat_dlq),
        };
        (*slot, *dead) = (url, dlq);
    }

    s3_client(&sdk)
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create a bucket on moto");

    let key = aws_sdk_kms::Client::new(&sdk)
        .create_key()
        .description(format!("HiLite test vault {id}"))
        .send()
        .await
        .expect("create a KMS key on moto")
        .key_metadata
        .expect("KMS key metadata")
        .key_id;

    let mut config = Config {
        backend: BackendKind::Aws,
        ..Config::default()
    };
    config.queues.max_receives = max_receives;
    config.aws = AwsConfig {
        table: name.clone(),
        bucket: name,
        kms_key_id: key,
        queues: urls,
        ..AwsConfig::default()
    };
    config
}

/// The ports for `config`, built as production builds them.
pub async fn ports(config: &Config) -> Ports {
    crate::moto::endpoint();
    Ports::from_config(config).await.expect("AWS ports on moto")
}
