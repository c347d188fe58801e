//! Each function's (and the render job's) environment: exactly the `HILITE_*` variables its
//! configuration needs, each naming the right resource, and each loading into its `Config` key.

use std::collections::{BTreeMap, BTreeSet};

use hilite::config::Config;
use hilite::queue::QueueName;
use serde_norway::Value;

use crate::template::{function_environment, job_environment, of_type, refers_to, title};

/// What each function reads, and why (shared/src/config.rs; `backend = "aws"` requires
/// `aws.table` and `aws.bucket`). Queue URLs: the queues a function sends to, and the ones it
/// consumes (delaying a retry changes a message's visibility, which needs its queue's URL).
/// The vault key: only the functions that read or refresh OAuth tokens. No function needs a
/// dead-letter queue's URL; `hilite status` reads those from the stack outputs.
fn expected_environment() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    const BASE: [&str; 4] = [
        "HILITE_BACKEND",
        "HILITE_LOG__FORMAT",
        "HILITE_AWS__TABLE",
        "HILITE_AWS__BUCKET",
    ];
    let with = |extra: &[&'static str]| BASE.iter().chain(extra).copied().collect::<BTreeSet<_>>();
    BTreeMap::from([
        // Verifies, remembers the message id, records the stream, queues the collect.
        ("WebhookFunction", with(&["HILITE_AWS__QUEUES__COLLECT"])),
        // Consumes collect and download; sends one download per clip and each analyze; uses
        // broadcaster and editor user tokens for Twitch's download URLs.
        (
            "DownloadFunction",
            with(&[
                "HILITE_AWS__KMS_KEY_ID",
                "HILITE_AWS__QUEUES__COLLECT",
                "HILITE_AWS__QUEUES__DOWNLOAD",
                "HILITE_AWS__QUEUES__ANALYZE",
            ]),
        ),
        // Consumes analyze; sends the clips it keeps to edit.
        (
            "AnalyzeFunction",
            with(&["HILITE_AWS__QUEUES__ANALYZE", "HILITE_AWS__QUEUES__EDIT"]),
        ),
        // Submits render jobs; their outcome arrives as an EventBridge event, not a message.
        ("EditFunction", with(&["HILITE_AWS__QUEUES__EDIT"])),
        // Plans into and consumes its own queue; uses the platforms' OAuth tokens.
        (
            "PublishFunction",
            with(&["HILITE_AWS__KMS_KEY_ID", "HILITE_AWS__QUEUES__PUBLISH"]),
        ),
    ])
}

#[test]
fn each_function_gets_exactly_the_environment_its_configuration_needs() {
    let functions: BTreeSet<&str> = of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let expected = expected_environment();
    assert_eq!(
        functions,
        expected.keys().copied().collect(),
        "a new function needs its expected environment here"
    );
    for (function, names) in expected {
        let env = function_environment(function);
        let actual: BTreeSet<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(actual, names, "{function}");
        for (name, value) in &env {
            let ok = match name.as_str() {
                "HILITE_BACKEND" => value.as_str() == Some("aws"),
                "HILITE_LOG__FORMAT" => value.as_str() == Some("json"),
                "HILITE_AWS__TABLE" => refers_to(value, "StateTable", None),
                "HILITE_AWS__BUCKET" => refers_to(value, "MediaBucket", None),
                "HILITE_AWS__KMS_KEY_ID" => refers_to(value, "VaultKey", Some("Arn")),
                // `Ref` of a queue is its URL, which is what the SQS adapter needs (not its ARN).
                queue => {
                    let name = queue
                        .strip_prefix("HILITE_AWS__QUEUES__")
                        .unwrap_or_else(|| panic!("{function}: {queue}"));
                    let q = QueueName::ALL
                        .into_iter()
                        .find(|q| q.as_str().eq_ignore_ascii_case(name));
                    q.is_some_and(|q| refers_to(value, &format!("{}Queue", title(q)), None))
                }
            };
            assert!(ok, "{function}: {name} = {value:?}");
        }
    }
    let job: BTreeSet<String> = job_environment().into_iter().map(|(k, _)| k).collect();
    let expected_job = [
        "AWS_REGION",
        "HILITE_BACKEND",
        "HILITE_LOG__FORMAT",
        "HILITE_AWS__TABLE",
        "HILITE_AWS__BUCKET",
    ];
    assert_eq!(
        job,
        expected_job.iter().map(|s| s.to_string()).collect(),
        "the render job's environment"
    );
}

/// Load `Config` from exactly these variables (nothing else from the process environment) and
/// return it serialised, or figment's error. figment's `Jail` (which serialises the tests that
/// change the environment) fixes the closure's error type.
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail's closure returns figment::Result"
)]
fn load(vars: &[(String, String)]) -> Result<serde_json::Value, String> {
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

#[test]
fn every_hilite_variable_in_the_template_loads_into_its_configuration_key() {
    let mut consumers: Vec<(String, Vec<(String, &Value)>)> = expected_environment()
        .keys()
        .map(|f| (f.to_string(), function_environment(f)))
        .collect();
    consumers.push(("RenderJobDefinition".into(), job_environment()));
    for (consumer, env) in consumers {
        // Literal values as written; references get a stand-in, as CloudFormation would fill them.
        let vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("HILITE_"))
            .map(|(k, v)| {
                let value = v.as_str().map_or_else(
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
            assert_eq!(
                field.as_str(),
                Some(value.as_str()),
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
