//! CloudWatch Embedded Metric Format: one JSON line per stage run on stdout, which Lambda sends
//! to the function's log group, where CloudWatch turns the named members into metrics (namespace
//! `HiLite`). It is the only metrics path in AWS: no PutMetricData calls, no agent.
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//!
//! Written by hand rather than with a crate: the maintained ones (`metrics_cloudwatch_embedded`,
//! `metrique-writer-format-emf`) bring a global recorder or a metrics framework and its own
//! flush cycle around the Lambda runtime, for what here is one fixed-shape JSON object built with
//! `serde_json`. Each line carries only the stage, the platform and numbers: never a clip's
//! title, a URL, a token or an error message.
//!
//! Metrics and their dimension sets (each distinct name × dimension value is one billed custom
//! metric; docs/cost.md):
//! - `[Stage]`: `StageDuration` (ms), `StageSucceeded`, `StageFailed`, `StageRetried` (count).
//! - publish runs, `[Platform]`: `Posts`, `PostFailures`; and `[]` (no dimension):
//!   `PublishAttempts`, `PublishFailures`, which the template's failure-rate alarm divides.

use std::io::Write;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::{Outcome, StageMetrics, StageRun};
use crate::queue::QueueName;

/// The CloudWatch namespace of every HiLite metric (infra/template.yaml's alarms read it).
pub const NAMESPACE: &str = "HiLite";

/// The EMF document of one stage run, timestamped `timestamp_ms` (milliseconds since the epoch).
pub fn document(run: &StageRun, timestamp_ms: i64) -> Value {
    let count = |hit: bool| u64::from(hit);
    let mut root = Map::new();
    let mut directives = vec![json!({
        "Namespace": NAMESPACE,
        "Dimensions": [["Stage"]],
        "Metrics": [
            { "Name": "StageDuration", "Unit": "Milliseconds" },
            { "Name": "StageSucceeded", "Unit": "Count" },
            { "Name": "StageFailed", "Unit": "Count" },
            { "Name": "StageRetried", "Unit": "Count" },
        ],
    })];
    root.insert("Stage".into(), json!(run.stage.as_str()));
    root.insert(
        "StageDuration".into(),
        json!(run.duration.as_secs_f64() * 1000.0),
    );
    root.insert(
        "StageSucceeded".into(),
        json!(count(run.outcome == Outcome::Succeeded)),
    );
    root.insert(
        "StageFailed".into(),
        json!(count(run.outcome == Outcome::Failed)),
    );
    root.insert(
        "StageRetried".into(),
        json!(count(run.outcome == Outcome::Retried)),
    );
    if run.stage == QueueName::Publish {
        let failed = run.outcome != Outcome::Succeeded;
        if let Some(platform) = run.facts.platform {
            directives.push(json!({
                "Namespace": NAMESPACE,
                "Dimensions": [["Platform"]],
                "Metrics": [
                    { "Name": "Posts", "Unit": "Count" },
                    { "Name": "PostFailures", "Unit": "Count" },
                ],
            }));
            root.insert("Platform".into(), json!(platform.as_str()));
            root.insert("Posts".into(), json!(count(!failed)));
            root.insert("PostFailures".into(), json!(count(failed)));
        }
        // Seed 003's alarm: failed uploads over all uploads, account-wide, in one metric pair.
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [[]],
            "Metrics": [
                { "Name": "PublishAttempts", "Unit": "Count" },
                { "Name": "PublishFailures", "Unit": "Count" },
            ],
        }));
        root.insert("PublishAttempts".into(), json!(1));
        root.insert("PublishFailures".into(), json!(count(failed)));
    }
    // Plain members, not metrics: searchable in Logs Insights beside the numbers.
    root.insert("Outcome".into(), json!(run.outcome.as_str()));
    root.insert("Attempt".into(), json!(run.attempt));
    if let Some(clip) = &run.facts.clip_id {
        root.insert("ClipId".into(), json!(clip));
    }
    root.insert(
        "_aws".into(),
        json!({ "Timestamp": timestamp_ms, "CloudWatchMetrics": directives }),
    );
    Value::Object(root)
}

/// Prints each run's EMF line on stdout (Lambda's log stream).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmfStdout;

#[async_trait]
impl StageMetrics for EmfStdout {
    async fn record(&self, run: &StageRun) {
        let line = document(run, chrono::Utc::now().timestamp_millis()).to_string();
        // One write per line, under stdout's lock, so concurrent records never interleave.
        // Metrics, not logs: a failed write (stdout closed) has nowhere else to go.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}
