//! The stateful resources and the functions' build and permissions: the table's keys are the
//! DynamoDB adapter's, the bucket is private and cleans itself, each function is built from its own
//! binary, and no role reaches every resource or media outside its prefixes.

use std::collections::BTreeMap;

use hilite::store::dynamo::{GSI1, GSI1_PK, GSI1_SK, PK, SK, TTL_ATTRIBUTE};
use serde_norway::Value;

use crate::template::{of_type, root, template};

#[test]
fn the_state_table_has_exactly_the_keys_and_index_the_dynamodb_adapter_uses() {
    let tables = of_type("AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table holds every record");
    let p = &tables[0].1["Properties"];
    let keys = |schema: &Value| -> Vec<(String, String)> {
        let schema = schema.as_sequence().expect("a key schema");
        schema
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().into(),
                    k["KeyType"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let pair = |a: &str, b: &str| {
        vec![
            (a.to_string(), "HASH".to_string()),
            (b.to_string(), "RANGE".to_string()),
        ]
    };
    assert_eq!(keys(&p["KeySchema"]), pair(PK, SK));
    let attributes: BTreeMap<String, String> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().into(),
                a["AttributeType"].as_str().unwrap().into(),
            )
        })
        .collect();
    let strings = |names: [&str; 4]| {
        names
            .iter()
            .map(|n| (n.to_string(), "S".to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(attributes, strings([PK, SK, GSI1_PK, GSI1_SK]));
    let indexes = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("the table has its index");
    assert_eq!(indexes.len(), 1);
    assert_eq!(indexes[0]["IndexName"].as_str(), Some(GSI1));
    assert_eq!(keys(&indexes[0]["KeySchema"]), pair(GSI1_PK, GSI1_SK));
    assert_eq!(
        indexes[0]["Projection"]["ProjectionType"].as_str(),
        Some("ALL")
    );
    assert_eq!(
        p["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(TTL_ATTRIBUTE)
    );
    assert_eq!(
        p["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
}

#[test]
fn the_bucket_is_private_and_its_lifecycle_expires_raw_after_a_week_and_shorts_after_a_month() {
    let buckets = of_type("AWS::S3::Bucket");
    assert_eq!(buckets.len(), 1);
    let p = &buckets[0].1["Properties"];
    let rules = p["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .expect("lifecycle rules");
    let mut expiry = BTreeMap::new();
    let mut abort_days = Vec::new();
    for rule in rules {
        assert_eq!(rule["Status"].as_str(), Some("Enabled"), "{rule:?}");
        if let Some(days) = rule["ExpirationInDays"].as_u64() {
            let prefix = rule["Prefix"]
                .as_str()
                .or(rule["Filter"]["Prefix"].as_str())
                .expect("an expiry names its prefix");
            expiry.insert(prefix.to_string(), days);
        }
        if let Some(days) = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64() {
            assert!(
                rule["Prefix"].is_null() && rule["Filter"].is_null(),
                "aborting applies to the whole bucket"
            );
            abort_days.push(days);
        }
    }
    assert_eq!(
        expiry,
        BTreeMap::from([
            ("raw/".to_string(), 7),
            ("shorts/".to_string(), 30),
            ("chat/".to_string(), 30)
        ])
    );
    assert_eq!(abort_days, [1]);
    assert!(
        p["VersioningConfiguration"].is_null(),
        "media is not versioned"
    );
    let block = &p["PublicAccessBlockConfiguration"];
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[key].as_bool(), Some(true), "{key}");
    }
    assert!(!p["BucketEncryption"].is_null());
    let policy =
        &of_type("AWS::S3::BucketPolicy")[0].1["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Effect"].as_str(), Some("Deny"));
    assert_eq!(
        policy["Condition"]["Bool"]["aws:SecureTransport"].as_str(),
        Some("false")
    );
}

#[test]
fn each_function_is_built_by_cargo_lambda_from_its_own_binary() {
    let globals = &template()["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(
        globals["CodeUri"].as_str(),
        Some(".."),
        "the workspace root, relative to infra/"
    );
    assert_eq!(
        template()["Parameters"]["Architecture"]["Default"].as_str(),
        Some("arm64")
    );
    for (id, f) in of_type("AWS::Serverless::Function") {
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: Binary"));
        let manifest = root().join("functions").join(binary).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{id}: {}: {e}", manifest.display()));
        let cargo: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        let bins: Vec<&str> = cargo["bin"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b.get("name")?.as_str())
            .collect();
        // The crate's other binaries (edit's `edit-job`, the Batch container's entry point) are
        // not Lambda functions; the one named like the function must be there.
        assert!(
            bins.contains(&binary),
            "{id}: no [[bin]] {binary} in {}: {bins:?}",
            manifest.display()
        );
    }
}

/// Actions that take no resource-level permission: a policy must name `*` for them.
/// <https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbatch.html>
const NO_RESOURCE_LEVEL: &[&str] = &["batch:DescribeJobs"];

#[test]
fn no_role_grants_an_action_on_every_resource_or_media_outside_its_prefixes() {
    for (id, role) in of_type("AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            // A statement inside an `!If` is checked in each choice that keeps it.
            let statements = policy["PolicyDocument"]["Statement"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(|st| {
                    crate::template::every_choice()
                        .into_iter()
                        .filter_map(move |c| crate::template::resolve(st, &c))
                });
            for statement in statements {
                let many = |v: &Value| -> Vec<Value> {
                    v.as_sequence().cloned().unwrap_or_else(|| vec![v.clone()])
                };
                let actions = many(&statement["Action"]);
                for action in &actions {
                    let action = action.as_str().unwrap_or_default();
                    assert!(!action.ends_with('*'), "{id}: wildcard action {action}");
                }
                // Only a statement of actions IAM cannot narrow may name every resource.
                let unnarrowable = actions
                    .iter()
                    .all(|a| NO_RESOURCE_LEVEL.contains(&a.as_str().unwrap_or_default()));
                for resource in many(&statement["Resource"]) {
                    if !unnarrowable {
                        assert_ne!(resource.as_str(), Some("*"), "{id}: every resource");
                    }
                    if let Value::Tagged(t) = &resource {
                        let text = t.value.as_str().unwrap_or_default();
                        if t.tag == "!Sub" && text.starts_with("${MediaBucket.Arn}/") {
                            assert!(
                                ["raw/*", "shorts/*", "chat/*", "chat/*/hype/*"]
                                    .map(|p| format!("${{MediaBucket.Arn}}/{p}"))
                                    .contains(&text.to_string()),
                                "{id}: {text}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Whether `role` has a statement allowing `action` on the media object `key` (IAM's `*`
/// matches any run of characters, `/` included).
fn role_may(role: &str, action: &str, key: &str) -> bool {
    fn glob(pattern: &str, text: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == text,
            Some((head, rest)) => {
                text.starts_with(head)
                    && (0..=text.len() - head.len()).any(|i| glob(rest, &text[head.len() + i..]))
            }
        }
    }
    let many =
        |v: &Value| -> Vec<Value> { v.as_sequence().cloned().unwrap_or_else(|| vec![v.clone()]) };
    let policies = crate::template::resource(role)["Properties"]["Policies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    policies.iter().any(|policy| {
        many(&policy["PolicyDocument"]["Statement"])
            .iter()
            .any(|st| {
                many(&st["Action"])
                    .iter()
                    .any(|a| a.as_str() == Some(action))
                    && many(&st["Resource"]).iter().any(|r| match r {
                        Value::Tagged(t) if t.tag == "!Sub" => t
                            .value
                            .as_str()
                            .and_then(|p| p.strip_prefix("${MediaBucket.Arn}/"))
                            .is_some_and(|p| glob(p, key)),
                        _ => false,
                    })
            })
    })
}

/// The chat hype of a stream is written by collect (in the download function) and read by
/// analyze for each clip of the stream: both roles need that object, at the key the code uses.
/// Without them, S3 answers 403 and every clip with a VOD is retried into the dead-letter queue.
#[test]
fn the_roles_that_write_and_read_a_streams_chat_hype_may() {
    use hilite::domain::BroadcasterId;
    use hilite::pipeline::stream_hype;
    let key = stream_hype::key(&BroadcasterId::parse("1001").unwrap(), "2048576")
        .unwrap()
        .to_string();
    assert!(role_may("DownloadRole", "s3:PutObject", &key), "{key}");
    assert!(role_may("AnalyzeRole", "s3:GetObject", &key), "{key}");
    // The matcher itself: what the roles are known not to have.
    assert!(!role_may("AnalyzeRole", "s3:PutObject", "raw/x.mp4"));
    assert!(role_may("AnalyzeRole", "s3:GetObject", "raw/x.mp4"));
    assert!(!role_may(
        "DownloadRole",
        "s3:PutObject",
        "chat/1001/1795000000-a.jsonl.gz"
    ));
}
