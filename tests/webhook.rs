//! The EventSub webhook stage, on both backends: what Twitch sends in, what is stored and
//! enqueued, and what every forged, stale, replayed or malformed delivery is refused with —
//! with nothing stored and nothing enqueued.

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use harness::backends::TestBackend;
use harness::eventsub::{challenge, offline, online, revocation, signed, signed_with, SECRET};
use hilite::domain::*;
use hilite::pipeline::webhook::{handle_webhook, WebhookSettings};
use hilite::pipeline::CollectMessage;
use hilite::queue::QueueName;
use secrecy::SecretString;

#[path = "webhook/claims.rs"]
mod claims;

harness::on_both_backends!(
    online_then_offline_records_the_stream_and_enqueues_one_collect_after_the_delay,
    a_replayed_message_id_has_no_effect,
    offline_without_online_enqueues_a_collect_that_finds_the_start,
    a_second_offline_soon_after_collects_up_to_itself,
    the_challenge_is_echoed_as_plain_text,
    a_revocation_marks_the_subscription_with_its_reason,
    forged_stale_and_malformed_deliveries_change_nothing,
);

fn settings() -> WebhookSettings {
    WebhookSettings {
        secret: SecretString::from(SECRET.to_string()),
        collect_delay: Duration::from_secs(1),
    }
}

async fn send(
    b: &TestBackend,
    d: harness::eventsub::Delivery,
) -> hilite::pipeline::webhook::WebhookResponse {
    handle_webhook(&b.ports, &settings(), &d.headers, &d.body).await
}

async fn all_collects(b: &TestBackend) -> Vec<CollectMessage> {
    let mut out = Vec::new();
    loop {
        let got = b
            .ports
            .queue
            .receive(QueueName::Collect, 10, Duration::from_secs(60))
            .await
            .unwrap();
        if got.is_empty() {
            return out;
        }
        out.extend(got.iter().map(|d| serde_json::from_str(&d.body).unwrap()));
    }
}

async fn online_then_offline_records_the_stream_and_enqueues_one_collect_after_the_delay(
    b: TestBackend,
) {
    let started = Utc::now() - Span::hours(2);
    assert_eq!(
        send(
            &b,
            signed(
                "notification",
                "msg-online-1",
                Utc::now(),
                &online("1001", "40001", started)
            )
        )
        .await
        .status,
        204
    );
    let bid = BroadcasterId::parse("1001").unwrap();
    let stream = b.ports.store.latest_stream(&bid).await.unwrap().unwrap();
    assert_eq!(
        (stream.stream_id.as_str(), stream.ended_at),
        ("40001", None),
        "[{}]",
        b.kind
    );
    let off_at = Utc::now();
    assert_eq!(
        send(
            &b,
            signed("notification", "msg-offline-1", off_at, &offline("1001"))
        )
        .await
        .status,
        204
    );
    // Not visible before the collect delay.
    assert!(
        b.ports
            .queue
            .receive(QueueName::Collect, 10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "[{}] collect visible before its delay",
        b.kind
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let collects = all_collects(&b).await;
    assert_eq!(collects.len(), 1, "[{}] {collects:?}", b.kind);
    let c = &collects[0];
    assert_eq!(
        c.started_at.map(|t| t.timestamp_millis()),
        Some(started.timestamp_millis())
    );
    assert_eq!(c.stream_id.as_ref().map(|s| s.as_str()), Some("40001"));
    assert!(
        (c.ended_at - off_at).num_milliseconds().abs() < 1,
        "[{}] window end {} vs {}",
        b.kind,
        c.ended_at,
        off_at
    );
    assert!(b
        .ports
        .store
        .latest_stream(&bid)
        .await
        .unwrap()
        .unwrap()
        .ended_at
        .is_some());
}

async fn a_replayed_message_id_has_no_effect(b: TestBackend) {
    let started = Utc::now() - Span::hours(1);
    send(
        &b,
        signed(
            "notification",
            "msg-online-2",
            Utc::now(),
            &online("1001", "40002", started),
        ),
    )
    .await;
    let off = signed(
        "notification",
        "msg-offline-2",
        Utc::now(),
        &offline("1001"),
    );
    let again = signed(
        "notification",
        "msg-offline-2",
        Utc::now(),
        &offline("1001"),
    );
    assert_eq!(send(&b, off).await.status, 204);
    assert_eq!(
        send(&b, again).await.status,
        204,
        "[{}] a replay must still get 2xx",
        b.kind
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        all_collects(&b).await.len(),
        1,
        "[{}] the replay enqueued again",
        b.kind
    );
}

async fn offline_without_online_enqueues_a_collect_that_finds_the_start(b: TestBackend) {
    assert_eq!(
        send(
            &b,
            signed(
                "notification",
                "msg-offline-3",
                Utc::now(),
                &offline("1002")
            )
        )
        .await
        .status,
        204
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let collects = all_collects(&b).await;
    assert_eq!(collects.len(), 1, "[{}]", b.kind);
    assert_eq!(
        (collects[0].started_at, collects[0].stream_id.clone()),
        (None, None)
    );
}

async fn the_challenge_is_echoed_as_plain_text(b: TestBackend) {
    let delivery = || {
        signed(
            "webhook_callback_verification",
            "msg-challenge",
            Utc::now(),
            &challenge("pogchamp-kappa-360noscope-vohiyo"),
        )
    };
    // A second delivery of the same challenge (our first answer lost on its way back) must be
    // answered with the challenge again: a bare 204 would fail the subscription's verification.
    for delivery in [delivery(), delivery()] {
        let r = send(&b, delivery).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "pogchamp-kappa-360noscope-vohiyo"),
            "[{}]",
            b.kind
        );
        assert!(r.content_type.starts_with("text/plain"));
    }
}

async fn a_revocation_marks_the_subscription_with_its_reason(b: TestBackend) {
    let mut bc = harness::records::broadcaster("1001", "streamer_one");
    let sub = ExternalId::parse("f1c2a387-161a-49f9-a165-0f21d7a4e1c5").unwrap();
    bc.subscriptions.push(Subscription {
        id: sub.clone(),
        kind: "stream.offline".into(),
        status: SubscriptionStatus::Enabled,
        reason: None,
        updated_at: Utc::now(),
    });
    b.ports.store.put_broadcaster(&bc).await.unwrap();
    let r = send(
        &b,
        signed(
            "revocation",
            "msg-revoke",
            Utc::now(),
            &revocation("1001", sub.as_str(), "authorization_revoked"),
        ),
    )
    .await;
    assert_eq!(r.status, 204, "[{}]", b.kind);
    let got = b
        .ports
        .store
        .get_broadcaster(&bc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subscriptions[0].status, SubscriptionStatus::Revoked);
    assert_eq!(
        got.subscriptions[0].reason.as_deref(),
        Some("authorization_revoked")
    );
}

async fn forged_stale_and_malformed_deliveries_change_nothing(b: TestBackend) {
    let now = Utc::now();
    let body = offline("1003");
    let mut one_byte_changed = signed("notification", "m-a", now, &body);
    one_byte_changed.body[10] ^= 1;
    let mut missing = signed("notification", "m-b", now, &body);
    missing
        .headers
        .remove(hilite::twitch::eventsub::HEADER_SIGNATURE);
    let mut forged = signed("notification", "m-c", now, &body);
    forged.headers.insert(
        hilite::twitch::eventsub::HEADER_SIGNATURE,
        "sha256=00ff".parse().unwrap(),
    );
    let oversized = signed(
        "notification",
        "m-d",
        now,
        &format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024)),
    );
    let cases = [
        (
            "wrong secret",
            signed_with("another-secret-entirely", "notification", "m-1", now, &body),
            403,
        ),
        ("one byte changed", one_byte_changed, 403),
        ("missing signature", missing, 403),
        ("forged signature", forged, 403),
        (
            "stale timestamp",
            signed("notification", "m-2", now - Span::minutes(11), &body),
            403,
        ),
        (
            "future timestamp",
            signed("notification", "m-3", now + Span::minutes(5), &body),
            403,
        ),
        (
            "malformed JSON",
            signed("notification", "m-4", now, "{\"subscription\":"),
            400,
        ),
        ("oversized body", oversized, 413),
    ];
    for (what, delivery, want) in cases {
        let r = send(&b, delivery).await;
        assert_eq!(r.status, want, "[{}] {what}: {r:?}", b.kind);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        all_collects(&b).await.is_empty(),
        "[{}] a refused delivery enqueued work",
        b.kind
    );
    let seen = ["m-1", "m-2", "m-3", "m-4", "m-a", "m-b", "m-c", "m-d"];
    for id in seen {
        let id = ExternalId::parse(id).unwrap();
        assert!(
            !b.ports.store.message_seen(&id, Utc::now()).await.unwrap(),
            "[{}] refused message {id} was remembered",
            b.kind
        );
    }
    assert_eq!(
        b.ports
            .store
            .latest_stream(&BroadcasterId::parse("1003").unwrap())
            .await
            .unwrap(),
        None
    );
}

/// A `stream.offline` soon after the last stream closed, with no `stream.online` between: the
/// first one's collect may have been lost, or a new stream began whose start was missed. Its
/// window runs from the closed stream's start to this notification, so the clips of both are
/// collected (each once: collect skips what it has).
async fn a_second_offline_soon_after_collects_up_to_itself(b: TestBackend) {
    let started = Utc::now() - Span::hours(2);
    let first_off = Utc::now() - Span::minutes(8);
    for (id, at, body) in [
        ("msg-online-9", Utc::now(), online("1009", "40009", started)),
        ("msg-offline-9a", first_off, offline("1009")),
    ] {
        assert_eq!(
            send(&b, signed("notification", id, at, &body)).await.status,
            204
        );
    }
    let second_off = Utc::now();
    let again = signed(
        "notification",
        "msg-offline-9b",
        second_off,
        &offline("1009"),
    );
    assert_eq!(send(&b, again).await.status, 204);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let collects = all_collects(&b).await;
    assert_eq!(collects.len(), 2, "[{}] {collects:?}", b.kind);
    let last = collects
        .iter()
        .max_by_key(|c| c.ended_at)
        .expect("two collects");
    assert_eq!(
        last.started_at.map(|t| t.timestamp_millis()),
        Some(started.timestamp_millis()),
        "[{}]",
        b.kind
    );
    assert!(
        (last.ended_at - second_off).num_milliseconds().abs() < 1,
        "[{}] the window ends at the second notification: {} vs {}",
        b.kind,
        last.ended_at,
        second_off
    );
}
