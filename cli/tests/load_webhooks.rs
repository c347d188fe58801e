//! A burst on `hilite serve`'s webhook route (tests/README.md): 10,000 signed EventSub
//! deliveries — stream.online/offline for 2,000 broadcasters, notifications of a type HiLite
//! does not use, duplicates of them all, and forgeries (wrong secret, a changed byte, a stale
//! timestamp, no signature) — from 50 concurrent connections on loopback. Every genuine
//! delivery is answered 2xx and takes effect exactly once (one stream per broadcaster, one
//! collect per offline), every forgery is refused with 403 and leaves nothing. Latency
//! percentiles and throughput are printed, not asserted (timings belong in `make bench`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use harness::e2e::serve::post_to;
use harness::eventsub::{offline, online, signed, signed_with, Delivery, SECRET};
use harness::local::{Hilite, LocalSite};
use hilite::domain::BroadcasterId;
use hilite::queue::QueueName;
use rand::seq::SliceRandom;
use secrecy::SecretString;

const BIN: &str = env!("CARGO_BIN_EXE_hilite");
const BROADCASTERS: usize = 2000;
const OTHER_TYPE: usize = 1000;
const DUPLICATES: usize = 2500;
const FORGERIES: usize = 2500;
const CONNECTIONS: usize = 50;
/// The whole burst must be over within this (a hang guard, not a performance target).
const BOUND: Duration = Duration::from_secs(400);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Genuine,
    Duplicate,
    Forged,
}

fn follow(broadcaster: &str, i: usize) -> String {
    serde_json::json!({
        "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c9", "type": "channel.follow", "version": "2", "status": "enabled", "cost": 0,
            "condition": {"broadcaster_user_id": broadcaster, "moderator_user_id": broadcaster},
            "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"},
        "event": {"user_id": format!("{}", 600000 + i), "user_login": "someone", "user_name": "Someone", "broadcaster_user_id": broadcaster,
            "broadcaster_user_login": "b", "broadcaster_user_name": "B", "followed_at": "2026-11-01T10:11:12.634234626Z"}
    })
    .to_string()
}

fn forged(i: usize) -> Delivery {
    let victim = format!("{}", 900_000 + i);
    let body = offline(&victim);
    let id = format!("forged-{i}");
    match i % 4 {
        0 => signed_with(
            "not-the-subscription-secret",
            "notification",
            &id,
            Utc::now(),
            &body,
        ),
        1 => {
            let mut d = signed("notification", &id, Utc::now(), &body);
            let at = d.body.len() / 2;
            d.body[at] ^= 0x01;
            d
        }
        2 => signed(
            "notification",
            &id,
            Utc::now() - chrono::Duration::minutes(11),
            &body,
        ),
        _ => {
            let mut d = signed("notification", &id, Utc::now(), &body);
            d.headers.remove(hilite::twitch::eventsub::HEADER_SIGNATURE);
            d
        }
    }
}

/// One wave: its deliveries, shuffled, with what each is.
fn wave(
    genuine: Vec<Delivery>,
    dup_share: usize,
    forge_from: usize,
    forge_n: usize,
) -> Vec<(Kind, Arc<Delivery>)> {
    let genuine: Vec<Arc<Delivery>> = genuine.into_iter().map(Arc::new).collect();
    let mut out: Vec<(Kind, Arc<Delivery>)> =
        genuine.iter().map(|d| (Kind::Genuine, d.clone())).collect();
    let mut rng = rand::thread_rng();
    for _ in 0..dup_share {
        let d = genuine
            .choose(&mut rng)
            .expect("genuine deliveries")
            .clone();
        out.push((Kind::Duplicate, d));
    }
    for i in forge_from..forge_from + forge_n {
        out.push((Kind::Forged, Arc::new(forged(i))));
    }
    out.shuffle(&mut rng);
    out
}

/// Send `all` from `CONNECTIONS` clients, each keeping one connection; every status and
/// latency.
async fn burst(url: &str, all: Vec<(Kind, Arc<Delivery>)>) -> Vec<(Kind, u16, Duration)> {
    let all = Arc::new(all);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(all.len())));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (all, next, results, url) =
            (all.clone(), next.clone(), results.clone(), url.to_string());
        tasks.spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((kind, d)) = all.get(i) else { return };
                let t = Instant::now();
                let status = post_to(&client, &url, d).await;
                results.lock().unwrap().push((*kind, status, t.elapsed()));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("a client task");
    }
    Arc::try_unwrap(results).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_deliveries_from_fifty_connections_each_genuine_once_each_forgery_refused() {
    let mut site = LocalSite::new();
    site.config.twitch.eventsub_secret = Some(SecretString::from(SECRET.to_string()));
    // Collect messages wait out their delay: this test counts them, nothing runs them.
    site.config.pipeline.collect_delay_secs = 900;
    let server = Hilite::new(BIN, &site).serve(&[]);
    let url = server.url("/webhooks/twitch");
    let started = Utc::now() - chrono::Duration::hours(1);
    let ids: Vec<String> = (0..BROADCASTERS)
        .map(|i| format!("{}", 100_000 + i))
        .collect();

    // Wave 1: every stream goes online (and half the other-type notifications); wave 2:
    // every stream goes offline (and the rest). Within a wave, order is random.
    let mut first: Vec<Delivery> = ids
        .iter()
        .enumerate()
        .map(|(i, b)| {
            signed(
                "notification",
                &format!("on-{b}"),
                Utc::now(),
                &online(b, &format!("{}", 7_000_000 + i), started),
            )
        })
        .collect();
    let mut second: Vec<Delivery> = ids
        .iter()
        .map(|b| signed("notification", &format!("off-{b}"), Utc::now(), &offline(b)))
        .collect();
    for i in 0..OTHER_TYPE {
        let d = signed(
            "notification",
            &format!("follow-{i}"),
            Utc::now(),
            &follow(&ids[i % BROADCASTERS], i),
        );
        if i % 2 == 0 {
            first.push(d)
        } else {
            second.push(d)
        }
    }
    let t0 = Instant::now();
    let mut results = burst(&url, wave(first, DUPLICATES / 2, 0, FORGERIES / 2)).await;
    results.extend(
        burst(
            &url,
            wave(
                second,
                DUPLICATES - DUPLICATES / 2,
                FORGERIES / 2,
                FORGERIES - FORGERIES / 2,
            ),
        )
        .await,
    );
    let elapsed = t0.elapsed();
    assert!(elapsed < BOUND, "the burst took {elapsed:?}");
    assert_eq!(
        results.len(),
        2 * BROADCASTERS + OTHER_TYPE + DUPLICATES + FORGERIES
    );

    for (kind, status, _) in &results {
        match kind {
            Kind::Genuine | Kind::Duplicate => {
                assert!((200..300).contains(status), "{kind:?} answered {status}")
            }
            Kind::Forged => assert_eq!(*status, 403, "a forgery answered {status}"),
        }
    }
    // Each genuine delivery took effect once: one closed stream per broadcaster, one collect
    // per offline (duplicates enqueued nothing more); forgeries left nothing.
    let ports = site.ports().await;
    for b in &ids {
        let s = ports
            .store
            .latest_stream(&BroadcasterId::parse(b.as_str()).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no stream for {b}"));
        assert!(s.ended_at.is_some(), "{b}'s stream was not closed");
    }
    for i in 0..FORGERIES {
        let victim = BroadcasterId::parse(format!("{}", 900_000 + i)).unwrap();
        assert!(ports.store.latest_stream(&victim).await.unwrap().is_none());
    }
    // Exactly one collect per offline: a duplicate racing its original finds the id claimed
    // and waits for the outcome instead of applying it again.
    let depth = ports.queue.depth(QueueName::Collect).await.unwrap();
    let collects = depth.visible + depth.in_flight;
    assert_eq!(collects, BROADCASTERS as u64, "{depth:?}");

    let mut lat: Vec<Duration> = results.iter().map(|r| r.2).collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    eprintln!(
        "webhook burst: {} deliveries from {CONNECTIONS} connections in {:.2} s = {:.0} req/s; \
         latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} collects for {BROADCASTERS} offlines",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
        collects,
    );
    drop(server);
}

/// Fifty copies of one `stream.offline` (one message id) arriving at once: one collect, and
/// every copy answered 2xx (the losers wait for the winner's outcome).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_of_one_offline_enqueue_one_collect() {
    let mut site = LocalSite::new();
    site.config.twitch.eventsub_secret = Some(SecretString::from(SECRET.to_string()));
    site.config.pipeline.collect_delay_secs = 900;
    let server = Hilite::new(BIN, &site).serve(&[]);
    let url = server.url("/webhooks/twitch");
    let on = signed(
        "notification",
        "race-on",
        Utc::now(),
        &online("4242", "99", Utc::now() - chrono::Duration::hours(1)),
    );
    assert_eq!(post_to(&reqwest::Client::new(), &url, &on).await, 204);
    let off = Arc::new(signed(
        "notification",
        "race-off",
        Utc::now(),
        &offline("4242"),
    ));
    let copies: Vec<(Kind, Arc<Delivery>)> = (0..CONNECTIONS)
        .map(|_| (Kind::Genuine, off.clone()))
        .collect();
    let results = burst(&url, copies).await;
    assert_eq!(results.len(), CONNECTIONS);
    for (_, status, _) in &results {
        assert!((200..300).contains(status), "a copy answered {status}");
    }
    let depth = site
        .ports()
        .await
        .queue
        .depth(QueueName::Collect)
        .await
        .unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1, "{depth:?}");
    drop(server);
}
