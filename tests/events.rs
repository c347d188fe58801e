//! The sample SQS events in `events/` (for `cargo lambda invoke`) are events our functions
//! accept, run exactly as each function runs them: the download function routes records by
//! their source queue, the others hand the batch to `handle_sqs_event`. Each file holds one
//! malformed record between good ones; it must be reported in `batchItemFailures` as malformed,
//! while its neighbours' bodies are read as their queue's message type.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_lambda_events::sqs::SqsEvent;
use harness::local::LocalSite;
use hilite::pipeline::lambda::handle_sqs_event_by_source;
use hilite::pipeline::messages::parse;
use hilite::pipeline::{
    handle_sqs_event, ClipMessage, CollectMessage, Pipeline, PublishMessage, StageError,
};
use hilite::queue::QueueName;

fn sample(queue: QueueName) -> SqsEvent {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../events/sqs-{queue}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not an SQS event: {e}", path.display()))
}

/// Read a body as the message type of its queue, as the stage does first.
fn read_body(queue: QueueName, body: &str) -> Result<(), StageError> {
    match queue {
        QueueName::Collect => parse::<CollectMessage>(body).map(drop),
        QueueName::Download | QueueName::Analyze | QueueName::Edit => {
            parse::<ClipMessage>(body).map(drop)
        }
        QueueName::Publish => parse::<PublishMessage>(body).map(drop),
    }
}

#[tokio::test]
async fn each_sample_event_reports_its_malformed_record_as_malformed() {
    let mut site = LocalSite::new();
    // Queue URLs as the template passes them; the samples' ARNs name the same queues.
    let q = &mut site.config.aws.queues;
    for (slot, name) in [
        (&mut q.collect, "collect"),
        (&mut q.download, "download"),
        (&mut q.analyze, "analyze"),
        (&mut q.edit, "edit"),
        (&mut q.publish, "publish"),
    ] {
        *slot = format!("https://sqs.eu-west-1.amazonaws.com/123456789012/hilite-{name}");
    }
    let ports = site.ports().await;
    let pipeline = &Pipeline::new(ports.clone(), Arc::new(site.config.clone()));

    for queue in QueueName::ALL {
        let event = sample(queue);
        let records = event.records.clone();
        assert!(
            records.len() >= 3,
            "{queue}: a realistic batch has several records"
        );
        for r in &records {
            assert_eq!(r.event_source.as_deref(), Some("aws:sqs"));
            assert!(r.attributes.contains_key("ApproximateReceiveCount"));
            assert!(r.receipt_handle.as_deref().is_some_and(|h| !h.is_empty()));
        }
        // The sample files put their malformed record second.
        let id = |i: usize| records[i].message_id.clone().unwrap();
        let body = |i: usize| records[i].body.clone().unwrap();
        let malformed = id(1);
        let parse_error = read_body(queue, &body(1))
            .expect_err("the second record is malformed")
            .to_string();
        for i in [0, 2] {
            read_body(queue, &body(i))
                .unwrap_or_else(|e| panic!("{queue}: record {i} should be well-formed: {e}"));
        }

        let reasons: Mutex<BTreeMap<String, String>> = Mutex::default();
        let reasons = &reasons;
        let run = |q: QueueName, d: hilite::queue::Delivery| async move {
            let outcome = pipeline.handle(q, &d).await;
            if let Err(e) = &outcome {
                reasons
                    .lock()
                    .unwrap()
                    .insert(d.message_id.clone(), e.to_string());
            }
            outcome
        };
        let response = match queue {
            // The download function: both of its queues, told apart by the record's source.
            QueueName::Collect | QueueName::Download => {
                let urls = &site.config.aws.queues;
                handle_sqs_event_by_source(
                    &*ports.queue,
                    urls,
                    &[QueueName::Collect, QueueName::Download],
                    event,
                    4,
                    run,
                )
                .await
            }
            _ => handle_sqs_event(&*ports.queue, queue, event, 4, |d| run(queue, d)).await,
        };

        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let reasons = reasons.lock().unwrap();
        assert!(
            failed.contains(&malformed),
            "{queue}: the malformed record is not reported: {failed:?}"
        );
        assert_eq!(
            reasons[&malformed], parse_error,
            "{queue}: the malformed record failed for another reason"
        );
        for i in [0, 2] {
            if let Some(reason) = reasons.get(&id(i)) {
                assert_ne!(reason, &parse_error, "{queue}: record {i}");
            }
        }
        for f in &failed {
            assert!(
                records.iter().any(|r| r.message_id.as_deref() == Some(f)),
                "{queue}: reported an unknown id {f}"
            );
        }
    }
}

#[tokio::test]
async fn a_record_from_a_queue_the_function_does_not_read_is_reported_not_dropped() {
    let site = LocalSite::new(); // no queue URLs configured: no record can be matched
    let ports = site.ports().await;
    let event = sample(QueueName::Download);
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap())
        .collect();
    let handled = Mutex::new(0);
    let response = handle_sqs_event_by_source(
        &*ports.queue,
        &site.config.aws.queues,
        &[QueueName::Collect, QueueName::Download],
        event,
        4,
        |_, _| async {
            *handled.lock().unwrap() += 1;
            Ok(())
        },
    )
    .await;
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    assert_eq!(failed, ids);
    assert_eq!(*handled.lock().unwrap(), 0);
}
