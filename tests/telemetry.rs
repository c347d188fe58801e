//! Secrets never reach a log line or a metric. Every log event emitted while tokens are stored,
//! read, found corrupt, and while signed webhooks (the secret) are verified and refused, is
//! captured at TRACE level and searched for the secret values. The stage metrics are checked as
//! CloudWatch Embedded Metric Format documents (the `_aws.CloudWatchMetrics` structure, every
//! named member present and numeric), and the embedded backend's counters, which
//! `hilite status` prints, are checked to count what the worker pool actually ran.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use harness::backends::TestBackend;
use harness::eventsub::{offline, signed, signed_with, SECRET};
use harness::logs::Captured;
use hilite::domain::{Platform, TokenRef};
use hilite::metrics::emf::{document, NAMESPACE};
use hilite::metrics::local::LocalCounters;
use hilite::metrics::{MessageFacts, Outcome, StageRun};
use hilite::pipeline::webhook::{handle_webhook, WebhookSettings};
use hilite::queue::QueueName;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

const TOKEN: &str = "oauth-token-that-must-never-be-logged-7f3a9c";

#[test]
fn tokens_and_the_eventsub_secret_never_appear_in_logs() {
    let captured = Captured::default();
    let subscriber = captured.subscriber();
    // A current-thread runtime, so every event of the test goes to this subscriber.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let b = TestBackend::embedded(3).await;
            let name = TokenRef::parse("twitch/user/1001").unwrap();
            b.ports
                .vault
                .put_token(&name, &SecretString::from(TOKEN.to_string()))
                .await
                .unwrap();
            let back = b.ports.vault.get_token(&name).await.unwrap().unwrap();
            assert_eq!(back.expose_secret(), TOKEN);
            tracing::info!(token = ?back, "a token value passed to a log macro by mistake");

            let settings = WebhookSettings {
                secret: SecretString::from(SECRET.to_string()),
                collect_delay: std::time::Duration::ZERO,
            };
            for d in [
                signed("notification", "tel-1", Utc::now(), &offline("1001")),
                signed_with(
                    "some-other-secret-xyz",
                    "notification",
                    "tel-2",
                    Utc::now(),
                    &offline("1001"),
                ),
                signed("notification", "tel-3", Utc::now(), "{not json"),
            ] {
                handle_webhook(&b.ports, &settings, &d.headers, &d.body).await;
            }
            let mut config = hilite::config::Config::default();
            config.twitch.client_secret = Some(SecretString::from(TOKEN.to_string()));
            tracing::info!(config = ?config, "effective configuration");
        })
    });
    let logs = captured.text();
    assert!(
        logs.contains("refused a webhook delivery"),
        "the capture saw nothing: {logs}"
    );
    assert!(logs.contains("effective configuration"));
    for secret in [TOKEN, SECRET] {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
    }
}

/// The EMF units CloudWatch accepts.
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html>
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Check `doc` against the EMF specification and return (metric name → value, dimension sets).
/// <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
fn valid_emf(doc: &Value) -> (Vec<(String, f64)>, Vec<Vec<String>>) {
    let root = doc.as_object().expect("an EMF document is a JSON object");
    let meta = root["_aws"].as_object().expect("_aws is an object");
    assert!(
        meta["Timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "Timestamp in ms: {doc}"
    );
    let directives = meta["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    let (mut metrics, mut dimension_sets) = (Vec::new(), Vec::new());
    for d in directives {
        assert_eq!(d["Namespace"].as_str(), Some(NAMESPACE));
        for set in d["Dimensions"].as_array().expect("Dimensions is an array") {
            let keys: Vec<String> = set
                .as_array()
                .expect("a dimension set is an array")
                .iter()
                .map(|k| k.as_str().expect("dimension keys are strings").to_string())
                .collect();
            assert!(keys.len() <= 30);
            for k in &keys {
                assert!(
                    root[k.as_str()].is_string(),
                    "dimension {k} is a string member: {doc}"
                );
            }
            dimension_sets.push(keys);
        }
        let list = d["Metrics"].as_array().expect("Metrics is an array");
        assert!(!list.is_empty() && list.len() <= 100);
        for m in list {
            let name = m["Name"].as_str().expect("a metric has a Name");
            if let Some(unit) = m.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap_or("?")), "{unit}");
            }
            let value = root[name]
                .as_f64()
                .unwrap_or_else(|| panic!("metric {name} has a numeric member: {doc}"));
            metrics.push((name.to_string(), value));
        }
    }
    (metrics, dimension_sets)
}

fn run(stage: QueueName, body: &str, outcome: Outcome) -> StageRun {
    StageRun {
        stage,
        facts: MessageFacts::read(stage, body),
        attempt: 2,
        duration: Duration::from_millis(1500),
        outcome,
    }
}

#[test]
fn each_stage_run_is_one_valid_emf_document_with_its_stage_metrics() {
    let doc = document(
        &run(
            QueueName::Analyze,
            r#"{"clip_id":"Clip_1"}"#,
            Outcome::Retried,
        ),
        1_763_700_000_000,
    );
    let (metrics, sets) = valid_emf(&doc);
    let value = |n: &str| metrics.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
    assert_eq!(value("StageDuration"), Some(1500.0));
    assert_eq!(
        (
            value("StageSucceeded"),
            value("StageFailed"),
            value("StageRetried")
        ),
        (Some(0.0), Some(0.0), Some(1.0))
    );
    assert_eq!(sets, vec![vec!["Stage".to_string()]]);
    assert_eq!(doc["Stage"], "analyze");
    assert_eq!(doc["ClipId"], "Clip_1");
    assert_eq!(doc["Attempt"], 2);
    // Only publish runs carry the per-platform and alarm metrics.
    assert_eq!(value("PublishAttempts"), None);
}

#[test]
fn a_publish_run_counts_a_post_for_its_platform_and_the_alarm_pair() {
    let body = r#"{"clip_id":"Clip_1","account":"main","platform":"youtube"}"#;
    for (outcome, posts, failures) in [(Outcome::Succeeded, 1.0, 0.0), (Outcome::Failed, 0.0, 1.0)]
    {
        let doc = document(&run(QueueName::Publish, body, outcome), 1_763_700_000_000);
        let (metrics, sets) = valid_emf(&doc);
        let value = |n: &str| metrics.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
        assert_eq!(doc["Platform"], Platform::Youtube.as_str());
        assert_eq!(
            (value("Posts"), value("PostFailures")),
            (Some(posts), Some(failures))
        );
        assert_eq!(
            (value("PublishAttempts"), value("PublishFailures")),
            (Some(1.0), Some(failures))
        );
        let sets: BTreeSet<Vec<String>> = sets.into_iter().collect();
        // The failure-rate alarm reads the pair without dimensions (infra/template.yaml).
        assert!(sets.contains(&Vec::<String>::new()), "{sets:?}");
        assert!(sets.contains(&vec!["Platform".to_string()]));
    }
}

#[test]
fn an_emf_line_never_carries_a_token_from_its_message() {
    // A token smuggled into a message: an unknown field makes the message unreadable (so the
    // line has no clip at all), and a known field that is not a metric is never copied.
    for body in [
        format!(r#"{{"clip_id":"Clip_1","token":"{TOKEN}"}}"#),
        format!(
            r#"{{"clip_id":"Clip_1","account":"{}","platform":"tiktok"}}"#,
            &TOKEN[..20]
        ),
        TOKEN.to_string(),
    ] {
        for stage in [QueueName::Download, QueueName::Publish] {
            let line = document(&run(stage, &body, Outcome::Failed), 1_763_700_000_000).to_string();
            valid_emf(&serde_json::from_str(&line).unwrap());
            assert!(!line.contains(&TOKEN[..20]), "{line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_pool_counts_each_run_where_hilite_status_reads_it() {
    use hilite::pipeline::worker::{spawn_workers, WorkerSettings};
    use hilite::pipeline::Pipeline;

    let b = TestBackend::embedded(3).await;
    // Two edit messages for clips that do not exist: each run ends, and is counted, once.
    for clip in ["Missing_1", "Missing_2"] {
        b.ports
            .queue
            .send(
                QueueName::Edit,
                &format!(r#"{{"clip_id":"{clip}"}}"#),
                Duration::ZERO,
            )
            .await
            .unwrap();
    }
    let pipeline = Pipeline::new(b.ports.clone(), Arc::new(b.config.clone()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut settings = WorkerSettings::from_config(&b.config);
    settings.poll_interval = Duration::from_millis(20);
    let pool = spawn_workers(
        b.ports.queue.clone(),
        Arc::new(pipeline),
        &[QueueName::Edit],
        settings,
        stop.clone(),
    );
    let counters = LocalCounters::open(&b.config.local.database_path()).unwrap();
    let edit = harness::local::eventually(harness::local::WAIT, "both runs counted", || async {
        let rows = counters.read().await.ok()?;
        rows.into_iter()
            .find(|r| r.stage == "edit" && r.runs() >= 2)
    })
    .await;
    stop.cancel();
    pool.join().await;
    assert_eq!(edit.runs(), 2, "{edit:?}");
    assert_eq!(edit.platform, "");
}
