//! Copies of one delivery racing each other, on both backends: the webhook claims the message
//! id before applying it, so exactly one copy applies; the others wait for its outcome and
//! answer 2xx once it settled, or 503 (Twitch retries) while it is still unknown; a failed
//! apply releases the claim so that Twitch's retry applies the message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc};
use harness::backends::TestBackend;
use harness::eventsub::{offline, online, signed, Delivery};
use harness::local::FailingSends;
use hilite::domain::ExternalId;
use hilite::pipeline::webhook::handle_webhook;
use hilite::queue::QueueName;
use hilite::store::MessageClaim;

use super::{send, settings};

harness::on_both_backends!(
    concurrent_copies_of_one_offline_apply_once_and_every_copy_gets_2xx,
    a_failed_apply_releases_its_claim_so_that_the_retry_applies_it,
    a_copy_meeting_a_live_claim_waits_for_its_outcome,
);

/// Collects enqueued so far, delayed ones included.
async fn collects(b: &TestBackend) -> u64 {
    let depth = b.ports.queue.depth(QueueName::Collect).await.unwrap();
    depth.visible + depth.in_flight
}

async fn stream_online(b: &TestBackend, broadcaster: &str) {
    let on = signed(
        "notification",
        &format!("on-{broadcaster}"),
        Utc::now(),
        &online(broadcaster, "41", Utc::now() - Span::hours(1)),
    );
    assert_eq!(send(b, on).await.status, 204);
}

async fn concurrent_copies_of_one_offline_apply_once_and_every_copy_gets_2xx(b: TestBackend) {
    const COPIES: usize = 24;
    stream_online(&b, "4242").await;
    let off = Arc::new(signed(
        "notification",
        "race-off",
        Utc::now(),
        &offline("4242"),
    ));
    let start = Arc::new(tokio::sync::Barrier::new(COPIES));
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..COPIES {
        let (ports, off, start) = (b.ports.clone(), off.clone(), start.clone());
        copies.spawn(async move {
            start.wait().await;
            handle_webhook(&ports, &settings(), &off.headers, &off.body)
                .await
                .status
        });
    }
    while let Some(status) = copies.join_next().await {
        assert_eq!(status.unwrap(), 204, "[{}]", b.kind);
    }
    assert_eq!(collects(&b).await, 1, "[{}]", b.kind);
}

async fn a_failed_apply_releases_its_claim_so_that_the_retry_applies_it(b: TestBackend) {
    stream_online(&b, "4343").await;
    let mut ports = b.ports.clone();
    ports.queue = Arc::new(FailingSends::new(b.ports.queue.clone(), 1));
    let off = signed("notification", "fail-off", Utc::now(), &offline("4343"));
    let post = |d: &Delivery| {
        let ports = ports.clone();
        let (headers, body) = (d.headers.clone(), d.body.clone());
        async move {
            handle_webhook(&ports, &settings(), &headers, &body)
                .await
                .status
        }
    };
    assert_eq!(post(&off).await, 503, "[{}] the enqueue failed", b.kind);
    let id = ExternalId::parse("fail-off").unwrap();
    assert!(
        !b.ports.store.message_seen(&id, Utc::now()).await.unwrap(),
        "[{}] a failed delivery kept its claim",
        b.kind
    );
    // Twitch's retry comes well inside the lease, and applies it.
    assert_eq!(post(&off).await, 204, "[{}]", b.kind);
    assert_eq!(post(&off).await, 204, "[{}]", b.kind);
    assert_eq!(collects(&b).await, 1, "[{}]", b.kind);
}

async fn a_copy_meeting_a_live_claim_waits_for_its_outcome(b: TestBackend) {
    stream_online(&b, "4444").await;
    let store = b.ports.store.clone();
    let claim = |id: &'static str| {
        let store = store.clone();
        async move {
            let now = Utc::now();
            let id = ExternalId::parse(id).unwrap();
            assert_eq!(
                store
                    .claim_message(&id, "holder", now + Span::seconds(30), now)
                    .await
                    .unwrap(),
                MessageClaim::Claimed
            );
            id
        }
    };

    // The holder never finishes (it hangs or died): after a bounded wait the copy answers 503,
    // so Twitch retries it, and nothing was applied.
    claim("hung").await;
    let t = Instant::now();
    let hung = signed("notification", "hung", Utc::now(), &offline("4444"));
    assert_eq!(send(&b, hung).await.status, 503, "[{}]", b.kind);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(collects(&b).await, 0, "[{}]", b.kind);

    // The holder fails while the copy waits: the copy claims the id and applies it.
    let id = claim("failing").await;
    let releaser = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            store.release_message(&id, "holder").await.unwrap();
        })
    };
    let failing = signed("notification", "failing", Utc::now(), &offline("4444"));
    assert_eq!(send(&b, failing).await.status, 204, "[{}]", b.kind);
    releaser.await.unwrap();
    assert_eq!(collects(&b).await, 1, "[{}]", b.kind);

    // The holder succeeds while the copy waits: the copy answers 2xx and applies nothing.
    let id = claim("settling").await;
    let settler = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            store
                .settle_message(&id, "holder", Utc::now() + Span::minutes(15))
                .await
                .unwrap();
        })
    };
    let settling = signed("notification", "settling", Utc::now(), &offline("4444"));
    assert_eq!(send(&b, settling).await.status, 204, "[{}]", b.kind);
    settler.await.unwrap();
    assert_eq!(
        collects(&b).await,
        1,
        "[{}] the settled copy enqueued",
        b.kind
    );
}
