//! Load through the ingest stages (tests/README.md): a stream with 500 clips flows through
//! collect and download on each backend while the strict fake Twitch enforces a small
//! rate-limit bucket — every clip downloaded exactly once, no call made while the bucket was
//! empty. The webhook burst through `hilite serve` (10,000 deliveries, 50 connections) is
//! `cli/tests/load_webhooks.rs`. Figures are printed, never asserted (timings belong in `make bench`).

use std::time::{Duration, Instant};

use chrono::Utc;
use harness::backends::TestBackend;
use harness::e2e::pump::Pump;
use harness::e2e::run::deliver;
use harness::e2e::world::World;
use harness::eventsub::{offline, online, signed};
use harness::fake_twitch::{FakeClip, BROADCASTER_SCOPE};
use hilite::domain::ClipStatus;
use hilite::queue::QueueName;

harness::on_both_backends!(
    five_hundred_clips_flow_through_collect_and_download_within_twitchs_bucket
);

const CLIPS: usize = 500;
/// Calls per token per period: 500 downloads need several periods.
const BUCKET: u32 = 150;
const PERIOD_SECS: i64 = 2;

async fn five_hundred_clips_flow_through_collect_and_download_within_twitchs_bucket(
    b: TestBackend,
) {
    let world = World::new(b).await;
    let kind = world.kind();
    let twitch = &world.fakes.twitch;
    twitch.add_user("1001", "streamer_one");
    twitch.set_bucket(BUCKET, PERIOD_SECS);
    let started = Utc::now() - chrono::Duration::hours(3);
    for i in 0..CLIPS {
        let at = started + chrono::Duration::seconds(10 + i as i64 * 20);
        twitch.add_clip(FakeClip::new(&format!("Load-{i:04}"), "1001", "501", at));
    }
    let token = twitch
        .authorize(&world.pipeline.twitch, "1001", &[BROADCASTER_SCOPE])
        .await;
    let mut broadcaster = harness::records::broadcaster("1001", "streamer_one");
    broadcaster.token_ref = Some(token);
    world
        .b
        .ports
        .store
        .put_broadcaster(&broadcaster)
        .await
        .unwrap();
    for (id, body) in [
        ("load-online", online("1001", "50001", started)),
        ("load-offline", offline("1001")),
    ] {
        let status = deliver(&world, &signed("notification", id, Utc::now(), &body)).await;
        assert!((200..300).contains(&status), "[{kind}] {id}: {status}");
    }

    let t0 = Instant::now();
    let mut pump = Pump::new(&world.pipeline);
    pump.queues = vec![QueueName::Collect, QueueName::Download];
    let store = world.b.ports.store.clone();
    pump.until(Duration::from_secs(300), "500 clips downloaded", || {
        let store = store.clone();
        async move {
            let counts = store.count_clips().await.unwrap();
            counts.get(&ClipStatus::Downloaded).copied().unwrap_or(0) == CLIPS as u64
        }
    })
    .await;
    pump.until_idle(Duration::from_secs(60)).await;
    let elapsed = t0.elapsed();

    assert_eq!(
        twitch.bucket_violations(),
        0,
        "[{kind}] calls made while the bucket was empty"
    );
    let downloads = twitch.count("/helix/clips/downloads");
    let throttled = twitch.requests().iter().filter(|r| r.status == 429).count();
    for i in 0..CLIPS {
        assert_eq!(
            twitch.count(&format!("/files/Load-{i:04}/landscape.mp4")),
            1,
            "[{kind}] Load-{i:04} fetched more or less than once"
        );
    }
    let total: u64 = world
        .b
        .ports
        .store
        .count_clips()
        .await
        .unwrap()
        .values()
        .sum();
    assert_eq!(total, CLIPS as u64, "[{kind}]");
    // At least the periods the bucket forces: the client waited for its resets.
    let forced = (downloads as u32).div_ceil(BUCKET).saturating_sub(1) as u64 * PERIOD_SECS as u64;
    eprintln!(
        "[{kind}] {CLIPS} clips collected and downloaded in {:.1} s ({:.0} clips/s); \
         {downloads} Get Clips Download calls, {throttled} answered 429, bucket {BUCKET}/{PERIOD_SECS} s \
         (at least {forced} s of waiting)",
        elapsed.as_secs_f64(),
        CLIPS as f64 / elapsed.as_secs_f64()
    );
}
