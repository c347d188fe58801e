//! The sample SQS events in `events/` (for `cargo lambda invoke`) are events our functions
//! accept, run exactly as each function runs them: the download function routes records by
//! their source queue, the others hand the batch to `handle_sqs_event`. Each file holds one
//! malformed record between good ones; it must be reported in `batchItemFailures` as malformed,
//! while its neighbours' bodies are read as their queue's message type.
//!
//! The signed EventSub samples are Function URL requests run through the webhook function's
//! request handler on a clock set to their signing time, each with its effect checked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use harness::local::LocalSite;
use hilite::backend::Ports;
use hilite::clock::ManualClock;
use hilite::domain::{
    Broadcaster, BroadcasterId, ExternalId, Login, Subscription, SubscriptionStatus,
};
use hilite::pipeline::function_url::handle_function_url;
use hilite::pipeline::lambda::handle_sqs_event_by_source;
use hilite::pipeline::messages::parse;
use hilite::pipeline::webhook::WebhookSettings;
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
        QueueName::Chat => parse::<hilite::pipeline::chat::ChatNote>(body).map(drop),
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

// ---------------------------------------------------------------------------------------------
// The signed EventSub samples (`events/eventsub-*.json`, Function URL requests written by
// `scripts/sign-events.py`), run through the webhook function's own request handler on a clock
// set to their signing time.

/// The secret `scripts/sign-events.py` signs the samples with.
const SAMPLE_SECRET: &str = "hilite-sample-eventsub-secret";
const SAMPLE_BROADCASTER: &str = "141981764";

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn function_url_sample(name: &str) -> LambdaFunctionUrlRequest {
    let path = events_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a Function URL request: {e}", path.display()))
}

fn signed_at(request: &LambdaFunctionUrlRequest) -> DateTime<Utc> {
    let stamp = request.headers["twitch-eventsub-message-timestamp"]
        .to_str()
        .unwrap();
    DateTime::parse_from_rfc3339(stamp).unwrap().into()
}

fn json_body(request: &LambdaFunctionUrlRequest) -> serde_json::Value {
    serde_json::from_str(request.body.as_deref().unwrap()).unwrap()
}

/// An embedded site on a manual clock, with the webhook configured as the samples expect.
async fn webhook_site() -> (LocalSite, Arc<ManualClock>, Ports, WebhookSettings) {
    let mut site = LocalSite::new();
    site.config.twitch.eventsub_secret = Some(SAMPLE_SECRET.to_string().into());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let ports = site.ports_with_clock(clock.clone()).await;
    let settings = WebhookSettings::from_config(&site.config).unwrap();
    (site, clock, ports, settings)
}

async fn send(ports: &Ports, settings: &WebhookSettings, name: &str) -> (i64, String, String) {
    let response = handle_function_url(ports, Some(settings), function_url_sample(name)).await;
    let content_type = response.headers[http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    (
        response.status_code,
        content_type,
        response.body.unwrap_or_default(),
    )
}

#[test]
fn every_file_in_events_is_a_sample_some_test_runs() {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut expected: Vec<String> = QueueName::ALL
        .iter()
        .map(|q| format!("sqs-{q}.json"))
        .chain(
            [
                // Run by tests/batch.rs.
                "batch-job-failed",
                "batch-sweep",
                "eventsub-challenge",
                "eventsub-revocation",
                "eventsub-stream-offline",
                "eventsub-stream-online",
            ]
            .map(|n| format!("{n}.json")),
        )
        .collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "a file in events/ that no test runs (or a sample missing)"
    );
}

#[tokio::test]
async fn the_signed_challenge_sample_is_answered_with_its_challenge_as_plain_text() {
    let (_site, clock, ports, settings) = webhook_site().await;
    let sample = function_url_sample("eventsub-challenge");
    clock.set(signed_at(&sample) + chrono::Duration::seconds(1));
    let challenge = json_body(&sample)["challenge"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, content_type, body) = send(&ports, &settings, "eventsub-challenge").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(body, challenge);
}

#[tokio::test]
async fn the_signed_stream_samples_record_the_stream_and_enqueue_its_window_once() {
    let (_site, clock, ports, settings) = webhook_site().await;
    let broadcaster = BroadcasterId::parse(SAMPLE_BROADCASTER).unwrap();

    let online = function_url_sample("eventsub-stream-online");
    clock.set(signed_at(&online) + chrono::Duration::seconds(1));
    assert_eq!(
        send(&ports, &settings, "eventsub-stream-online").await.0,
        204
    );
    let stream = ports
        .store
        .latest_stream(&broadcaster)
        .await
        .unwrap()
        .unwrap();
    let event = &json_body(&online)["event"];
    assert_eq!(stream.stream_id.as_str(), event["id"].as_str().unwrap());
    let started: DateTime<Utc> = event["started_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(stream.started_at, started);
    assert_eq!(stream.ended_at, None);

    let offline = function_url_sample("eventsub-stream-offline");
    let ended = signed_at(&offline);
    clock.set(ended + chrono::Duration::seconds(1));
    assert_eq!(
        send(&ports, &settings, "eventsub-stream-offline").await.0,
        204
    );
    // Twitch redelivers the same message: answered, no second effect.
    assert_eq!(
        send(&ports, &settings, "eventsub-stream-offline").await.0,
        204
    );

    let visibility = std::time::Duration::from_secs(30);
    let early = ports
        .queue
        .receive(QueueName::Collect, 10, visibility)
        .await
        .unwrap();
    assert!(early.is_empty(), "collect ran before its delay");
    clock.advance(chrono::Duration::seconds(
        settings.collect_delay.as_secs() as i64
    ));
    let due = ports
        .queue
        .receive(QueueName::Collect, 10, visibility)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "one collect message for one stream window");
    let message: CollectMessage = parse(&due[0].body).unwrap();
    assert_eq!(message.broadcaster_id, broadcaster);
    assert_eq!(message.stream_id, Some(stream.stream_id.clone()));
    assert_eq!(message.started_at, Some(started));
    assert_eq!(message.ended_at, ended);
}

#[tokio::test]
async fn the_signed_revocation_sample_marks_the_subscription_revoked_with_its_reason() {
    let (_site, clock, ports, settings) = webhook_site().await;
    let sample = function_url_sample("eventsub-revocation");
    let sub = &json_body(&sample)["subscription"];
    let broadcaster = BroadcasterId::parse(SAMPLE_BROADCASTER).unwrap();
    ports
        .store
        .put_broadcaster(&Broadcaster {
            id: broadcaster.clone(),
            login: Login::parse("cool_user").unwrap(),
            display_name: "Cool_User".into(),
            token_ref: None,
            token_user_id: None,
            subscriptions: vec![Subscription {
                id: ExternalId::parse(sub["id"].as_str().unwrap()).unwrap(),
                kind: sub["type"].as_str().unwrap().into(),
                status: SubscriptionStatus::Enabled,
                reason: None,
                updated_at: Utc::now(),
            }],
            require_approval: false,
            updated_at: Utc::now(),
        })
        .await
        .unwrap();

    clock.set(signed_at(&sample) + chrono::Duration::seconds(1));
    assert_eq!(send(&ports, &settings, "eventsub-revocation").await.0, 204);
    let stored = ports
        .store
        .get_broadcaster(&broadcaster)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.subscriptions.len(), 1);
    assert_eq!(stored.subscriptions[0].status, SubscriptionStatus::Revoked);
    assert_eq!(
        stored.subscriptions[0].reason.as_deref(),
        sub["status"].as_str()
    );
}

#[tokio::test]
async fn the_signed_samples_are_refused_once_stale_or_under_another_secret() {
    let (_site, clock, ports, settings) = webhook_site().await;
    for name in [
        "eventsub-challenge",
        "eventsub-stream-online",
        "eventsub-stream-offline",
        "eventsub-revocation",
    ] {
        let at = signed_at(&function_url_sample(name));
        clock.set(at + chrono::Duration::minutes(11));
        assert_eq!(send(&ports, &settings, name).await.0, 403, "{name}: stale");
        clock.set(at + chrono::Duration::seconds(1));
        let other = WebhookSettings {
            secret: "another-secret-entirely".to_string().into(),
            ..settings.clone()
        };
        assert_eq!(
            send(&ports, &other, name).await.0,
            403,
            "{name}: wrong secret"
        );
    }
    // Nothing got through: no stream, no collect message.
    let broadcaster = BroadcasterId::parse(SAMPLE_BROADCASTER).unwrap();
    assert!(ports
        .store
        .latest_stream(&broadcaster)
        .await
        .unwrap()
        .is_none());
    clock.advance(chrono::Duration::hours(1));
    let queued = ports
        .queue
        .receive(QueueName::Collect, 10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert!(queued.is_empty());
}

#[tokio::test]
async fn the_function_url_handler_answers_only_post() {
    let (_site, clock, ports, settings) = webhook_site().await;
    let mut request = function_url_sample("eventsub-challenge");
    clock.set(signed_at(&request) + chrono::Duration::seconds(1));
    request.request_context.http.method = Some("GET".into());
    let response = handle_function_url(&ports, Some(&settings), request).await;
    assert_eq!(response.status_code, 405);
}

#[tokio::test]
async fn a_base64_encoded_body_is_verified_on_its_decoded_bytes() {
    use base64::Engine;
    let (_site, clock, ports, settings) = webhook_site().await;
    let mut request = function_url_sample("eventsub-challenge");
    let challenge = json_body(&request)["challenge"]
        .as_str()
        .unwrap()
        .to_string();
    clock.set(signed_at(&request) + chrono::Duration::seconds(1));
    request.body =
        Some(base64::engine::general_purpose::STANDARD.encode(request.body.take().unwrap()));
    request.is_base64_encoded = true;
    let response = handle_function_url(&ports, Some(&settings), request).await;
    assert_eq!(response.status_code, 200);
    assert_eq!(response.body.as_deref(), Some(challenge.as_str()));
}
