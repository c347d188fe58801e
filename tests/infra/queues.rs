//! Queues, their consumers and their alarms: a dead-letter queue after the configured receives, a
//! visibility timeout that outlasts the consumer, partial batch failures reported, and an alarm on
//! every dead-letter queue, function and stage queue.

use std::collections::{BTreeMap, BTreeSet};

use hilite::config::QueuesConfig;
use hilite::queue::{QueueName, MAX_VISIBILITY};
use serde_norway::Value;

use crate::template::{
    dead_letter_targets, number, of_type, reference, refers_to, resource, title,
};

#[test]
fn every_stage_queue_dead_letters_after_the_configured_receives() {
    let max_receives = u64::from(QueuesConfig::default().max_receives);
    assert_eq!(max_receives, 3);
    let targets = dead_letter_targets();
    let mut stage_queues = BTreeSet::new();
    for name in QueueName::ALL {
        let id = format!("{}Queue", title(name));
        let dlq = format!("{}DeadLetterQueue", title(name));
        let p = &resource(&id)["Properties"];
        assert!(
            refers_to(
                &p["RedrivePolicy"]["deadLetterTargetArn"],
                &dlq,
                Some("Arn")
            ),
            "{id} → {dlq}"
        );
        assert_eq!(
            number(&p["RedrivePolicy"]["maxReceiveCount"], "maxReceiveCount"),
            max_receives,
            "{id}"
        );
        let d = &resource(&dlq)["Properties"];
        assert!(
            d["RedrivePolicy"].is_null(),
            "{dlq} must not redrive further"
        );
        assert!(
            number(&d["MessageRetentionPeriod"], "retention")
                > number(&p["MessageRetentionPeriod"], "retention"),
            "{dlq} must keep a message longer than {id} did"
        );
        stage_queues.insert(id);
    }
    for (id, q) in of_type("AWS::SQS::Queue") {
        assert_eq!(
            q["Properties"]["SqsManagedSseEnabled"].as_bool(),
            Some(true),
            "{id} is encrypted"
        );
        assert!(
            stage_queues.contains(id) || targets.contains(id),
            "{id} is neither a stage queue nor a dead-letter queue"
        );
        assert!(
            !(stage_queues.contains(id) && targets.contains(id)),
            "{id} is both"
        );
    }
}

#[test]
fn every_queue_hides_a_message_six_times_longer_than_its_consumer_may_run() {
    let mut consumers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, m) in of_type("AWS::Lambda::EventSourceMapping") {
        let p = &m["Properties"];
        let (queue, _) =
            reference(&p["EventSourceArn"]).unwrap_or_else(|| panic!("{id}: EventSourceArn"));
        let (function, _) =
            reference(&p["FunctionName"]).unwrap_or_else(|| panic!("{id}: FunctionName"));
        let timeout = number(&resource(&function)["Properties"]["Timeout"], "Timeout");
        let window = p["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0);
        let visibility = number(
            &resource(&queue)["Properties"]["VisibilityTimeout"],
            "VisibilityTimeout",
        );
        // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
        assert!(
            visibility >= 6 * timeout + window,
            "{queue}: {visibility} s < 6 × {timeout} s + {window} s ({function})"
        );
        // The platforms' ceilings, which cfn-lint does not check on SAM functions: a Lambda runs
        // at most 900 s, a message hides at most 12 hours (hilite::queue::MAX_VISIBILITY).
        assert!(
            timeout <= 900,
            "{function}: Timeout {timeout} s is over Lambda's 900 s"
        );
        assert!(
            visibility <= MAX_VISIBILITY.as_secs(),
            "{queue}: VisibilityTimeout {visibility} s is over SQS's 12 hours"
        );
        consumers.entry(queue).or_default().insert(function);
    }
    let expected = [
        (QueueName::Collect, "DownloadFunction"),
        (QueueName::Download, "DownloadFunction"),
        (QueueName::Analyze, "AnalyzeFunction"),
        (QueueName::Edit, "EditFunction"),
        (QueueName::Publish, "PublishFunction"),
        (QueueName::Chat, "AnalyzeFunction"),
    ]
    .map(|(q, f)| {
        (
            format!("{}Queue", title(q)),
            BTreeSet::from([f.to_string()]),
        )
    });
    assert_eq!(consumers, BTreeMap::from(expected));
}

/// The download function's clip fetch gives up on its own, while the function still has time
/// to count the attempt: a Lambda stopped at its Timeout counts nothing, and after the queue's
/// receives its clips would sit in the dead-letter queue still `pending`.
#[test]
fn a_clip_download_gives_up_before_its_function_is_stopped() {
    // Storing a clip of `pipeline.max_download_bytes` in S3 and recording it, after the fetch.
    const AFTER_THE_FETCH_SECS: u64 = 20;
    let timeout = number(
        &resource("DownloadFunction")["Properties"]["Timeout"],
        "Timeout",
    );
    let env = crate::template::function_environment("DownloadFunction");
    let (_, value) = env
        .iter()
        .find(|(name, _)| name == "HILITE_PIPELINE__DOWNLOAD_TIMEOUT_SECS")
        .expect("DownloadFunction sets HILITE_PIPELINE__DOWNLOAD_TIMEOUT_SECS");
    let fetch: u64 = value
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a number of seconds");
    assert!(
        fetch + AFTER_THE_FETCH_SECS <= timeout,
        "a {fetch} s fetch and {AFTER_THE_FETCH_SECS} s after it do not fit in the function's {timeout} s"
    );
}

#[test]
fn every_event_source_mapping_reports_batch_item_failures() {
    let mappings = of_type("AWS::Lambda::EventSourceMapping");
    assert!(!mappings.is_empty());
    for (id, m) in mappings {
        let p = &m["Properties"];
        let types: Vec<&str> = p["FunctionResponseTypes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(types, ["ReportBatchItemFailures"], "{id}");
        // Above 10 SQS needs a batching window of at least one second; we keep batches small,
        // except chat's, whose messages are tiny and written together.
        let size = number(&p["BatchSize"], "BatchSize");
        let window = p["MaximumBatchingWindowInSeconds"].as_u64().unwrap_or(0);
        assert!(
            (1..=10).contains(&size) || (size <= 1000 && window >= 1),
            "{id}"
        );
        // A cap is optional (docs/cost.md: each one costs idle polling); where set, SQS's
        // minimum is 2.
        if !p["ScalingConfig"].is_null() {
            assert!(
                number(
                    &p["ScalingConfig"]["MaximumConcurrency"],
                    "MaximumConcurrency"
                ) >= 2,
                "{id}: SQS minimum is 2"
            );
        }
    }
    // SAM `Events` of type SQS would create mappings this test cannot see.
    for (id, f) in of_type("AWS::Serverless::Function") {
        assert!(
            f["Properties"]["Events"].is_null(),
            "{id}: declare mappings as AWS::Lambda::EventSourceMapping"
        );
    }
}

#[test]
fn every_dead_letter_queue_function_and_stage_queue_has_an_alarm() {
    let watched: BTreeSet<(String, String)> = of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter_map(|(_, a)| {
            let p = &a["Properties"];
            let dimension = reference(&p["Dimensions"][0]["Value"])?.0;
            Some((p["MetricName"].as_str()?.to_string(), dimension))
        })
        .collect();
    let has = |metric: &str, id: &str| {
        assert!(
            watched.contains(&(metric.to_string(), id.to_string())),
            "no {metric} alarm on {id}"
        )
    };
    for id in dead_letter_targets() {
        has("ApproximateNumberOfMessagesVisible", &id);
    }
    for (id, _) in of_type("AWS::Serverless::Function") {
        has("Errors", id);
    }
    for name in QueueName::ALL {
        has(
            "ApproximateAgeOfOldestMessage",
            &format!("{}Queue", title(name)),
        );
    }
    let rate = &resource("PublishFailureRateAlarm")["Properties"];
    let names: BTreeSet<&str> = rate["Metrics"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["PublishAttempts", "PublishFailures"])
    );
    assert_eq!(number(&rate["Threshold"], "Threshold"), 10);
}

/// The render-job sweep stops a job not ended `JOB_DEADLINE` after its submission: that must be
/// longer than a healthy job can take (its longest wait for capacity before the job queue
/// cancels it, then each of its attempts at its time limit), or the sweep would kill renders
/// that were about to finish. The sweep's schedule must reach the edit function.
#[test]
fn the_render_job_sweep_runs_on_a_schedule_and_never_stops_a_healthy_job() {
    use hilite::pipeline::render_sweep::JOB_DEADLINE;
    let queue = &resource("RenderJobQueue")["Properties"];
    let longest_wait = queue["JobStateTimeLimitActions"]
        .as_sequence()
        .expect("the job queue cancels jobs stuck RUNNABLE")
        .iter()
        .map(|a| number(&a["MaxTimeSeconds"], "MaxTimeSeconds"))
        .max()
        .unwrap();
    let definition = &resource("RenderJobDefinition")["Properties"];
    let attempts = number(&definition["RetryStrategy"]["Attempts"], "Attempts");
    let per_attempt = number(
        &definition["Timeout"]["AttemptDurationSeconds"],
        "AttemptDurationSeconds",
    );
    let healthy = longest_wait + attempts * per_attempt;
    assert!(
        JOB_DEADLINE.as_secs() > healthy,
        "the sweep stops jobs after {} s, but a healthy one may take {healthy} s",
        JOB_DEADLINE.as_secs()
    );

    let rule = &resource("RenderJobSweepRule")["Properties"];
    let every = rule["ScheduleExpression"].as_str().expect("a schedule");
    assert!(every.starts_with("rate("), "{every}");
    let targets = rule["Targets"].as_sequence().unwrap();
    assert!(
        targets
            .iter()
            .any(|t| refers_to(&t["Arn"], "EditFunction", Some("Arn"))),
        "the sweep's schedule does not invoke the edit function"
    );
    let allowed = of_type("AWS::Lambda::Permission")
        .into_iter()
        .any(|(_, p)| {
            refers_to(&p["Properties"]["FunctionName"], "EditFunction", None)
                && refers_to(
                    &p["Properties"]["SourceArn"],
                    "RenderJobSweepRule",
                    Some("Arn"),
                )
        });
    assert!(
        allowed,
        "EventBridge may not invoke the edit function for the sweep"
    );
}
