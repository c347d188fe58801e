//! End to end: signed EventSub deliveries in, the whitelisted clips downloaded into the media
//! store out — with a replayed `stream.offline` and a redelivered collect along the way.

use std::time::Duration;

use chrono::Utc;
use harness::backends::TestBackend;
use harness::eventsub::{offline, online, signed, SECRET};
use harness::fake_twitch::FakeClip;
use harness::records::whitelist_entry;
use hilite::domain::{ClipStatus, MediaKey, WhitelistScope};
use hilite::pipeline::webhook::{handle_webhook, WebhookSettings};
use hilite::pipeline::{settle, Settled};
use hilite::queue::QueueName;
use secrecy::SecretString;

use super::{minutes_ago, Site, BROADCASTER, STRANGER, TRUSTED};

harness::on_both_backends!(
    signed_online_and_offline_bring_each_whitelisted_clip_into_the_media_store_once
);

/// Handle every visible delivery of `queue` through the pipeline and settle it like a worker.
/// The first delivery of each batch is handled twice first, as a redelivery would.
async fn drain(site: &Site, queue: QueueName) -> usize {
    let mut handled = 0;
    loop {
        let batch = site
            .b
            .ports
            .queue
            .receive(queue, 10, Duration::from_secs(60))
            .await
            .unwrap();
        if batch.is_empty() {
            return handled;
        }
        for (i, d) in batch.iter().enumerate() {
            if i == 0 {
                site.pipeline.handle(queue, d).await.unwrap();
            }
            let outcome = site.pipeline.handle(queue, d).await;
            assert!(outcome.is_ok(), "[{}] {queue}: {outcome:?}", site.b.kind);
            assert_eq!(
                settle(&*site.b.ports.queue, queue, d, &outcome, true).await,
                Settled::Deleted
            );
            handled += 1;
        }
    }
}

async fn signed_online_and_offline_bring_each_whitelisted_clip_into_the_media_store_once(
    b: TestBackend,
) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    site.b
        .ports
        .store
        .put_whitelist_entry(&whitelist_entry(
            TRUSTED,
            WhitelistScope::Broadcaster(BROADCASTER.parse().unwrap()),
        ))
        .await
        .unwrap();
    let started = minutes_ago(120);
    let mut tall = FakeClip::new("E2E-Tall", BROADCASTER, TRUSTED, minutes_ago(90));
    tall.portrait = true;
    site.fake.add_clip(tall);
    for (id, editor, at) in [
        ("E2E-Wide", TRUSTED, 60),
        ("E2E-Late", TRUSTED, 5),
        ("E2E-Other1", STRANGER, 70),
        ("E2E-Other2", STRANGER, 20),
        ("E2E-Before", TRUSTED, 150),
    ] {
        site.fake
            .add_clip(FakeClip::new(id, BROADCASTER, editor, minutes_ago(at)));
    }

    let settings = WebhookSettings {
        secret: SecretString::from(SECRET.to_string()),
        collect_delay: Duration::from_secs(1),
    };
    let send = |d: harness::eventsub::Delivery| {
        let ports = site.b.ports.clone();
        let settings = settings.clone();
        async move {
            handle_webhook(&ports, &settings, &d.headers, &d.body)
                .await
                .status
        }
    };
    assert_eq!(
        send(signed(
            "notification",
            "e2e-online",
            Utc::now(),
            &online(BROADCASTER, "40009", started)
        ))
        .await,
        204
    );
    let off_at = Utc::now();
    assert_eq!(
        send(signed(
            "notification",
            "e2e-offline",
            off_at,
            &offline(BROADCASTER)
        ))
        .await,
        204
    );
    assert_eq!(
        send(signed(
            "notification",
            "e2e-offline",
            off_at,
            &offline(BROADCASTER)
        ))
        .await,
        204,
        "a replay still gets 2xx"
    );

    // Nothing to collect before the (test-shortened) delay.
    assert_eq!(
        drain(&site, QueueName::Collect).await,
        0,
        "[{}] collect ran before its delay",
        site.b.kind
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        drain(&site, QueueName::Collect).await,
        1,
        "[{}] the replay enqueued a second collect",
        site.b.kind
    );
    // One download per whitelisted clip, and each once more: the collect was handled twice,
    // and a redelivered collect re-enqueues the clips still pending (download is idempotent).
    assert_eq!(
        drain(&site, QueueName::Download).await,
        6,
        "[{}]",
        site.b.kind
    );

    let kind = site.b.kind;
    for id in ["E2E-Tall", "E2E-Wide", "E2E-Late"] {
        let clip = site
            .clip(id)
            .await
            .unwrap_or_else(|| panic!("[{kind}] {id} missing"));
        assert_eq!(clip.status, ClipStatus::Downloaded, "[{kind}] {id}");
        assert_eq!(clip.media.source_is_portrait, id == "E2E-Tall");
        assert!(
            site.b
                .ports
                .media
                .size(&MediaKey::source(&clip.id))
                .await
                .unwrap()
                .is_some_and(|n| n > 1000),
            "[{kind}] {id} not in the media store"
        );
        let variant = if id == "E2E-Tall" {
            "portrait"
        } else {
            "landscape"
        };
        assert_eq!(
            site.fake.count(&format!("/files/{id}/{variant}.mp4")),
            1,
            "[{kind}] {id} fetched more than once"
        );
    }
    for id in ["E2E-Other1", "E2E-Other2", "E2E-Before"] {
        assert!(
            site.clip(id).await.is_none(),
            "[{kind}] {id} touched the state store"
        );
    }
    let total: u64 = site
        .b
        .ports
        .store
        .count_clips()
        .await
        .unwrap()
        .values()
        .sum();
    assert_eq!(total, 3, "[{kind}]");
    // Each download was handled twice once (a redelivery), so analyze may be told twice about
    // that clip; every clip is on it, and nothing else is.
    let mut on_analyze = site.clip_ids_on(QueueName::Analyze).await;
    on_analyze.dedup();
    assert_eq!(on_analyze, ["E2E-Late", "E2E-Tall", "E2E-Wide"], "[{kind}]");
    assert_eq!(site.fake.bucket_violations(), 0);
}
