//! Each function's (and the render job's) environment: exactly the `HILITE_*` variables its
//! configuration needs, each naming the right resource, and each loading into its `Config` key,
//! for every choice of the parameters that change them (`TokenVaultKey`, `LlmApiBase`); and the
//! roles that may read the secret or use the KMS key are exactly those told about them.

use std::collections::{BTreeMap, BTreeSet};

use hilite::config::Config;
use hilite::queue::QueueName;
use serde_norway::Value;

use crate::template::{
    every_choice, function_environment, function_environment_when, job_environment_when, of_type,
    refers_to, resolve, title, Conditions,
};

/// What each function reads, and why (shared/src/config/; `backend = "aws"` requires
/// `aws.table` and `aws.bucket`). Queue URLs: the queues a function sends to, and the ones it
/// consumes (delaying a retry changes a message's visibility, which needs its queue's URL).
/// The vault key: only the functions that read or refresh OAuth tokens, as a KMS key or as the
/// secret it is derived from (`TokenVaultKey`). No function needs a dead-letter queue's URL;
/// `hilite status` reads those from the stack outputs.
fn expected_environment(c: &Conditions) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let vault = if c["VaultOnKms"] {
        "HILITE_AWS__KMS_KEY_ID"
    } else {
        "HILITE_AWS__SECRETS__VAULT_KEY"
    };
    const BASE: [&str; 4] = [
        "HILITE_BACKEND",
        "HILITE_LOG__FORMAT",
        "HILITE_AWS__TABLE",
        "HILITE_AWS__BUCKET",
    ];
    let with = |extra: &[&'static str]| BASE.iter().chain(extra).copied().collect::<BTreeSet<_>>();
    BTreeMap::from([
        // Verifies, remembers the message id, records the stream, queues the collect; queues
        // each chat message. Its HMAC key is the EventSub secret, from Secrets Manager.
        (
            "WebhookFunction",
            with(&[
                "HILITE_AWS__QUEUES__COLLECT",
                "HILITE_AWS__QUEUES__CHAT",
                "HILITE_AWS__SECRETS__EVENTSUB_SECRET",
            ]),
        ),
        // Consumes collect and download; sends one download per clip and each analyze; uses
        // broadcaster and editor user tokens for Twitch's download URLs.
        (
            "DownloadFunction",
            with(&[
                vault,
                "HILITE_AWS__QUEUES__COLLECT",
                "HILITE_AWS__QUEUES__DOWNLOAD",
                "HILITE_AWS__QUEUES__ANALYZE",
                // The app access token (Get Clips) needs the Twitch client secret.
                "HILITE_AWS__SECRETS__TWITCH_CLIENT_SECRET",
                // Under the function's Timeout (queues.rs checks by how much).
                "HILITE_PIPELINE__DOWNLOAD_TIMEOUT_SECS",
            ]),
        ),
        // Consumes analyze, sends the clips it keeps to edit; consumes chat into the chat log.
        (
            "AnalyzeFunction",
            with(&[
                "HILITE_AWS__QUEUES__ANALYZE",
                "HILITE_AWS__QUEUES__EDIT",
                "HILITE_AWS__QUEUES__CHAT",
            ]),
        ),
        // Submits render jobs to the Batch queue and definition; their outcome arrives as an
        // EventBridge event, and a failed one queues its clip again.
        (
            "EditFunction",
            with(&[
                "HILITE_AWS__QUEUES__EDIT",
                "HILITE_AWS__BATCH__JOB_QUEUE",
                "HILITE_AWS__BATCH__JOB_DEFINITION",
            ]),
        ),
        // Plans into and consumes its own queue; uses the platforms' OAuth tokens.
        (
            "PublishFunction",
            with(&[
                vault,
                "HILITE_AWS__QUEUES__PUBLISH",
                // Refreshing a platform token needs that platform's client secret.
                "HILITE_AWS__SECRETS__PLATFORM_CLIENT_SECRETS",
            ]),
        ),
    ])
}

/// The render job's: it moves its clip on (table, bucket), and with an LLM it needs the API
/// base and model (`llm.api_base` and `llm.model` go together) and the secret holding the key.
fn expected_job_environment(c: &Conditions) -> BTreeSet<&'static str> {
    let mut vars = BTreeSet::from([
        "AWS_REGION",
        "HILITE_BACKEND",
        "HILITE_LOG__FORMAT",
        "HILITE_AWS__TABLE",
        "HILITE_AWS__BUCKET",
    ]);
    if c["HasLlm"] {
        vars.extend([
            "HILITE_LLM__API_BASE",
            "HILITE_LLM__MODEL",
            "HILITE_AWS__SECRETS__LLM_API_KEY",
        ]);
    }
    vars
}

fn value_is_right(name: &str, value: &Value) -> bool {
    match name {
        "AWS_REGION" => refers_to(value, "AWS::Region", None),
        "HILITE_BACKEND" => value.as_str() == Some("aws"),
        "HILITE_LOG__FORMAT" => value.as_str() == Some("json"),
        "HILITE_AWS__TABLE" => refers_to(value, "StateTable", None),
        "HILITE_AWS__BUCKET" => refers_to(value, "MediaBucket", None),
        "HILITE_AWS__KMS_KEY_ID" => refers_to(value, "VaultKey", Some("Arn")),
        "HILITE_AWS__BATCH__JOB_QUEUE" => refers_to(value, "RenderJobQueue", None),
        "HILITE_AWS__BATCH__JOB_DEFINITION" => refers_to(value, "RenderJobDefinition", None),
        "HILITE_LLM__API_BASE" => refers_to(value, "LlmApiBase", None),
        "HILITE_LLM__MODEL" => refers_to(value, "LlmModel", None),
        "HILITE_PIPELINE__DOWNLOAD_TIMEOUT_SECS" => {
            value.as_str().and_then(|v| v.parse::<u64>().ok()).is_some()
        }
        // `Ref` of a secret is its ARN.
        secret if secret.starts_with("HILITE_AWS__SECRETS__") => {
            refers_to(value, "AppSecrets", None)
        }
        // `Ref` of a queue is its URL, which is what the SQS adapter needs (not its ARN).
        queue => {
            let Some(name) = queue.strip_prefix("HILITE_AWS__QUEUES__") else {
                return false;
            };
            let q = QueueName::ALL
                .into_iter()
                .find(|q| q.as_str().eq_ignore_ascii_case(name));
            q.is_some_and(|q| refers_to(value, &format!("{}Queue", title(q)), None))
        }
    }
}

#[test]
fn each_function_gets_exactly_the_environment_its_configuration_needs() {
    let functions: BTreeSet<&str> = of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for c in every_choice() {
        let expected = expected_environment(&c);
        assert_eq!(
            functions,
            expected.keys().copied().collect(),
            "a new function needs its expected environment here"
        );
        for (function, names) in expected {
            let env = function_environment_when(function, &c);
            let actual: BTreeSet<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(actual, names, "{function} when {c:?}");
            for (name, value) in &env {
                assert!(
                    value_is_right(name, value),
                    "{function}: {name} = {value:?}"
                );
            }
        }
        let job = job_environment_when(&c);
        let actual: BTreeSet<&str> = job.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            actual,
            expected_job_environment(&c),
            "the render job's environment when {c:?}"
        );
        for (name, value) in &job {
            assert!(
                value_is_right(name, value),
                "render job: {name} = {value:?}"
            );
        }
    }
}

/// Load `Config` from exactly these variables (nothing else from the process environment) and
/// return it serialised, or figment's error. figment's `Jail` (which serialises the tests that
/// change the environment) fixes the closure's error type.
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closure returns figment::Result"
)]
pub fn load(vars: &[(String, String)]) -> Result<serde_json::Value, String> {
    let mut loaded = Err(String::from("the jail did not run"));
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        for (k, v) in vars {
            jail.set_env(k, v);
        }
        loaded = Config::load(None, false)
            .map_err(|e| e.to_string())
            .and_then(|c| serde_json::to_value(&c).map_err(|e| e.to_string()));
        Ok(())
    });
    loaded
}

/// What a deployer would pass for the parameters the environment refers to.
fn parameter_sample(value: &Value) -> Option<&'static str> {
    if refers_to(value, "LlmApiBase", None) {
        Some("https://api.example.com/v1")
    } else if refers_to(value, "LlmModel", None) {
        Some("some-model")
    } else {
        None
    }
}

#[test]
fn every_hilite_variable_in_the_template_loads_into_its_configuration_key() {
    let mut consumers: Vec<(String, Vec<(String, &Value)>)> = Vec::new();
    for c in every_choice() {
        for f in expected_environment(&c).keys() {
            consumers.push((format!("{f} when {c:?}"), function_environment_when(f, &c)));
        }
        consumers.push((
            format!("RenderJobDefinition when {c:?}"),
            job_environment_when(&c),
        ));
    }
    for (consumer, env) in consumers {
        // Literal values as written; references get a stand-in, as CloudFormation would fill them
        // (a parameter gets a value a deployer would give).
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("HILITE_"))
            .map(|(k, v)| {
                let value = parameter_sample(v).or_else(|| v.as_str()).map_or_else(
                    || format!("stand-in-for-{}", k.to_lowercase()),
                    str::to_string,
                );
                (k, value)
            })
            .collect();
        let config = load(&vars).unwrap_or_else(|e| panic!("{consumer}: {e}"));
        for (name, value) in &vars {
            let path = name["HILITE_".len()..].to_lowercase();
            let field = path.split("__").fold(&config, |v, key| &v[key]);
            // A number (a timeout) reads back as its digits; a missing key as `null`.
            let read = field
                .as_str()
                .map_or_else(|| field.to_string(), str::to_string);
            assert_eq!(
                read,
                *value,
                "{consumer}: {name} did not reach `{}`",
                path.replace("__", ".")
            );
        }
    }
    // The check above means something only because a name that is no configuration key is refused.
    let misspelt = [
        ("HILITE_BACKEND".to_string(), "local".to_string()),
        ("HILITE_AWS__QUEUE__COLLECT".into(), "x".into()),
    ];
    assert!(
        load(&misspelt).is_err_and(|e| e.contains("queue")),
        "an unknown key must be refused"
    );
}

/// The statements of `role_id`'s inline policies that allow `action` under `c`, as the ids they
/// name.
fn granted(role_id: &str, action: &str, c: &Conditions) -> BTreeSet<String> {
    let one_or_many = |v: &'static Value| -> Vec<&'static Value> {
        match v {
            Value::Sequence(items) => items.iter().collect(),
            other => vec![other],
        }
    };
    let mut ids = BTreeSet::new();
    let policies = crate::template::resource(role_id)["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{role_id} has inline policies"));
    for policy in policies {
        let statements = one_or_many(&policy["PolicyDocument"]["Statement"]);
        for statement in statements.into_iter().filter_map(|st| resolve(st, c)) {
            let allows = one_or_many(&statement["Action"])
                .iter()
                .any(|a| a.as_str() == Some(action));
            if allows {
                for r in one_or_many(&statement["Resource"]) {
                    let (id, _) = crate::template::reference(r)
                        .unwrap_or_else(|| panic!("{role_id}: {action} on {r:?}"));
                    ids.insert(id);
                }
            }
        }
    }
    ids
}

/// The ids the `prefix` variables of `env` refer to.
fn named_by(env: &[(String, &Value)], prefix: &str) -> BTreeSet<String> {
    env.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter_map(|(_, v)| crate::template::reference(v).map(|(id, _)| id))
        .collect()
}

#[test]
fn a_role_may_read_exactly_the_secrets_and_use_exactly_the_key_its_code_is_told_about() {
    for c in every_choice() {
        let mut readers = 0;
        for (function, body) in of_type("AWS::Serverless::Function") {
            let env = function_environment_when(function, &c);
            let (role, _) = crate::template::reference(&body["Properties"]["Role"])
                .unwrap_or_else(|| panic!("{function} names its role"));
            let secrets = named_by(&env, "HILITE_AWS__SECRETS__");
            assert_eq!(
                granted(&role, "secretsmanager:GetSecretValue", &c),
                secrets,
                "{function} when {c:?}: secrets its role may read vs. those its environment names"
            );
            for action in ["kms:Decrypt", "kms:GenerateDataKey"] {
                assert_eq!(
                    granted(&role, action, &c),
                    named_by(&env, "HILITE_AWS__KMS_KEY_ID"),
                    "{function} when {c:?}: {action}"
                );
            }
            readers += usize::from(!secrets.is_empty());
        }
        // Webhook (EventSub), download (Twitch client secret), publish (platforms).
        assert_eq!(readers, 3, "the functions that read secrets when {c:?}");
        // The render job reads the secret only for the LLM's key.
        let job = job_environment_when(&c);
        assert_eq!(
            granted("EditJobRole", "secretsmanager:GetSecretValue", &c),
            named_by(&job, "HILITE_AWS__SECRETS__"),
            "the render job when {c:?}"
        );
        assert_eq!(
            !named_by(&job, "HILITE_AWS__SECRETS__").is_empty(),
            c["HasLlm"]
        );
    }
    for (id, _) in of_type("AWS::SecretsManager::Secret") {
        assert_eq!(
            id, "AppSecrets",
            "one secret: each is $0.40/month (docs/cost.md)"
        );
    }
}

#[test]
fn a_function_told_about_a_secret_reads_it_at_cold_start() {
    for (function, body) in of_type("AWS::Serverless::Function") {
        let names_a_secret = function_environment(function)
            .iter()
            .any(|(k, _)| k.starts_with("HILITE_AWS__SECRETS__"));
        if !names_a_secret {
            continue;
        }
        let binary = body["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{function} names its binary"));
        let main = crate::template::root().join(format!("functions/{binary}/src/main.rs"));
        let source =
            std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{}: {e}", main.display()));
        // Config::from_env alone would leave the secret unread and the field empty.
        assert!(
            source.contains("secrets::config_from_env"),
            "{}: load the configuration with hilite::secrets::config_from_env",
            main.display()
        );
    }
    // The render job is told about the LLM's key when an LLM is configured.
    let job = crate::template::root().join("functions/edit/src/bin/edit-job.rs");
    let source = std::fs::read_to_string(&job).unwrap_or_else(|e| panic!("{}: {e}", job.display()));
    assert!(
        source.contains("secrets::config_from_env"),
        "{}: load the configuration with hilite::secrets::config_from_env",
        job.display()
    );
}
