//! `hilite doctor` on an AWS deployment (`backend = "aws"`): whether the credentials work and
//! whose they are, and whether every resource the configuration names exists as the code needs
//! it — the table with the adapter's keys, index and TTL attribute, each queue, the bucket, the
//! vault key (the KMS key, or the `vault_seed` of the secret it is derived from), and each
//! secret with the keys its reader takes (through `hilite::secrets`, the path the functions
//! use). Read-only: describe and get calls only.

use aws_sdk_dynamodb::types::{KeyType, TimeToLiveStatus};
use hilite::config::Config;
use hilite::store::dynamo::{GSI1, GSI1_PK, GSI1_SK, PK, SK, TTL_ATTRIBUTE};

use crate::doctor::Report;

/// The AWS SDK's error as one line: the service's code and message when it answered, else the
/// transport's failure (no credentials, no route).
fn reason<E, R>(e: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("no message")
        ),
        None => aws_sdk_sts::error::DisplayErrorContext(e).to_string(),
    }
}

pub async fn check(config: &Config, report: &mut Report) {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    match sdk.region() {
        Some(r) => report.ok("region", r.to_string()),
        None => {
            report.fail(
                "region",
                "no AWS region: set AWS_REGION or a profile's region",
            );
            return;
        }
    }
    match aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(who) => report.ok(
            "credentials",
            format!(
                "account {} as {}",
                who.account().unwrap_or("?"),
                who.arn().unwrap_or("?")
            ),
        ),
        Err(e) => {
            report.fail(
                "credentials",
                format!("{}; set AWS_PROFILE or run `aws configure`", reason(&e)),
            );
            return;
        }
    }
    table(&aws_sdk_dynamodb::Client::new(&sdk), config, report).await;
    queues(&aws_sdk_sqs::Client::new(&sdk), config, report).await;
    bucket(&sdk, config, report).await;
    vault_key(
        &aws_sdk_kms::Client::new(&sdk),
        &aws_sdk_secretsmanager::Client::new(&sdk),
        config,
        report,
    )
    .await;
    secrets(&aws_sdk_secretsmanager::Client::new(&sdk), config, report).await;
}

async fn table(client: &aws_sdk_dynamodb::Client, config: &Config, report: &mut Report) {
    let name = &config.aws.table;
    let what = format!("table {name}");
    let described = match client.describe_table().table_name(name).send().await {
        Ok(d) => d.table,
        Err(e) => {
            return report.fail(
                &what,
                format!(
                    "{}: deploy the stack (`make deploy`) or fix aws.table",
                    reason(&e)
                ),
            )
        }
    };
    let Some(t) = described else {
        return report.fail(&what, "DescribeTable returned no table");
    };
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        let of = |kind: KeyType| {
            schema
                .iter()
                .find(|k| k.key_type == kind)
                .map(|k| k.attribute_name.clone())
                .unwrap_or_default()
        };
        (of(KeyType::Hash), of(KeyType::Range))
    };
    let mut problems = Vec::new();
    if keys(t.key_schema()) != (PK.to_string(), SK.to_string()) {
        problems.push(format!("its keys must be {PK} (hash) and {SK} (range)"));
    }
    let index = t
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(GSI1));
    match index {
        Some(i) if keys(i.key_schema()) == (GSI1_PK.to_string(), GSI1_SK.to_string()) => {}
        _ => problems.push(format!("it needs index {GSI1} on {GSI1_PK}/{GSI1_SK}")),
    }
    let ttl = client.describe_time_to_live().table_name(name).send().await;
    let ttl_on = ttl
        .as_ref()
        .ok()
        .and_then(|o| o.time_to_live_description())
        .is_some_and(|d| {
            d.attribute_name() == Some(TTL_ATTRIBUTE)
                && matches!(
                    d.time_to_live_status(),
                    Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
                )
        });
    if !ttl_on {
        problems.push(format!("TTL must be enabled on {TTL_ATTRIBUTE}"));
    }
    if problems.is_empty() {
        report.ok(
            &what,
            format!("keys {PK}/{SK}, index {GSI1}, TTL on {TTL_ATTRIBUTE}"),
        );
    } else {
        report.fail(
            &what,
            format!("{}; redeploy infra/template.yaml", problems.join("; ")),
        );
    }
}

async fn queues(client: &aws_sdk_sqs::Client, config: &Config, report: &mut Report) {
    let q = &config.aws.queues;
    // The stage queues are required; the dead-letter queues only feed `hilite status`, and the
    // chat queue only chat capture.
    let all = [
        ("collect", &q.collect, true),
        ("download", &q.download, true),
        ("analyze", &q.analyze, true),
        ("edit", &q.edit, true),
        ("publish", &q.publish, true),
        ("collect_dlq", &q.collect_dlq, false),
        ("download_dlq", &q.download_dlq, false),
        ("analyze_dlq", &q.analyze_dlq, false),
        ("edit_dlq", &q.edit_dlq, false),
        ("publish_dlq", &q.publish_dlq, false),
        // Only `hilite subscribe --chat` needs it.
        ("chat", &q.chat, false),
        ("chat_dlq", &q.chat_dlq, false),
    ];
    for (key, url, required) in all {
        let what = format!("aws.queues.{key}");
        if url.is_empty() {
            let fix =
                "not set; copy it from the stack outputs (aws cloudformation describe-stacks)";
            if required {
                report.fail(&what, fix);
            } else if key.starts_with("chat") {
                report.warn(&what, format!("{fix}: chat capture needs it"));
            } else {
                report.warn(
                    &what,
                    format!("{fix}: `hilite status` cannot count its dead letters"),
                );
            }
            continue;
        }
        let answer = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await;
        match answer {
            Ok(_) => report.ok(&what, url.as_str()),
            Err(e) => report.fail(&what, format!("{url}: {}", reason(&e))),
        }
    }
}

async fn bucket(sdk: &aws_config::SdkConfig, config: &Config, report: &mut Report) {
    let name = &config.aws.bucket;
    // Path-style for local endpoints, as the media store does.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(std::env::var_os("AWS_ENDPOINT_URL").is_some())
            .build(),
    );
    match s3.head_bucket().bucket(name).send().await {
        Ok(_) => report.ok(format!("bucket {name}"), "exists and is reachable"),
        Err(e) => report.fail(
            format!("bucket {name}"),
            format!("{}: deploy the stack or fix aws.bucket", reason(&e)),
        ),
    }
}

/// The token vault's key, whichever the stack's `TokenVaultKey` chose: the KMS key, or the key
/// derived from the secret's `vault_seed` (missing or too short is a failure saying how to fix
/// it), or a key set directly.
async fn vault_key(
    client: &aws_sdk_kms::Client,
    secrets: &aws_sdk_secretsmanager::Client,
    config: &Config,
    report: &mut Report,
) {
    let seed_secret = config.aws.secrets.vault_key.clone();
    if !seed_secret.is_empty() {
        let mut one = config.clone();
        one.aws.secrets = Default::default();
        one.aws.secrets.vault_key = seed_secret.clone();
        return match hilite::secrets::resolve_with(secrets, &mut one).await {
            Ok(()) => report.ok(
                "vault key",
                format!("derived from the vault_seed of {seed_secret} (TokenVaultKey=secret)"),
            ),
            Err(e) => report.fail("vault key", e.to_string()),
        };
    }
    if let Some(key) = &config.aws.vault_key {
        return if hilite::store::secret_vault::decode_key(key).is_some() {
            report.ok("vault key", "aws.vault_key is set (32 bytes)")
        } else {
            report.fail(
                "vault key",
                "aws.vault_key is not the base64 of 32 bytes; set it to the output of \
                 `openssl rand -base64 32`, or name the secret in aws.secrets.vault_key",
            )
        };
    }
    let id = &config.aws.kms_key_id;
    if id.is_empty() {
        return report.warn(
            "vault key",
            "neither aws.secrets.vault_key (stack output SecretsArn) nor aws.kms_key_id \
             (VaultKeyArn, with TokenVaultKey=kms) is set: commands that read OAuth tokens will fail",
        );
    }
    match client.describe_key().key_id(id).send().await {
        Ok(k) if k.key_metadata().is_some_and(|m| m.enabled()) => {
            report.ok("vault key", id.as_str())
        }
        Ok(_) => report.fail("vault key", format!("{id} is disabled; enable it in KMS")),
        Err(e) => report.fail("vault key", format!("{id}: {}", reason(&e))),
    }
}

async fn secrets(client: &aws_sdk_secretsmanager::Client, config: &Config, report: &mut Report) {
    let ids = config.aws.secrets.clone();
    let named = [
        (
            "aws.secrets.twitch_client_secret",
            ids.twitch_client_secret.clone(),
        ),
        ("aws.secrets.eventsub_secret", ids.eventsub_secret.clone()),
        (
            "aws.secrets.platform_client_secrets",
            ids.platform_client_secrets.clone(),
        ),
        ("aws.secrets.llm_api_key", ids.llm_api_key.clone()),
    ];
    if named.iter().all(|(_, id)| id.is_empty()) {
        return report.warn(
            "secrets",
            "no aws.secrets.* set: secrets must come from the file or environment",
        );
    }
    // One key at a time through the functions' own loader, so each line says which is missing.
    for (key, id) in named.into_iter().filter(|(_, id)| !id.is_empty()) {
        let mut one = config.clone();
        one.aws.secrets = Default::default();
        match key {
            "aws.secrets.twitch_client_secret" => one.aws.secrets.twitch_client_secret = id,
            "aws.secrets.eventsub_secret" => one.aws.secrets.eventsub_secret = id,
            "aws.secrets.llm_api_key" => one.aws.secrets.llm_api_key = id,
            _ => one.aws.secrets.platform_client_secrets = id,
        }
        // The LLM key may be empty (a self-hosted server needs none): worth a warning only.
        let llm_key_unset = key == "aws.secrets.llm_api_key" && config.llm.api_key.is_none();
        match hilite::secrets::resolve_with(client, &mut one).await {
            Ok(()) if llm_key_unset && one.llm.api_key.is_none() => report.warn(
                key,
                "readable, but llm_api_key is empty: LLM requests are sent without a bearer token",
            ),
            Ok(()) => report.ok(key, "readable, with its keys set"),
            Err(e) => report.fail(key, e.to_string()),
        }
    }
}
