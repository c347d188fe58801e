//! Webhook throughput in-process on the embedded backend (DESIGN.md §6: "webhook handling in
//! microseconds, not milliseconds"): signed EventSub deliveries through `handle_webhook` —
//! verify, remember, store, enqueue — each timed on its own for p50/p99, beside the cost of the
//! HMAC check alone on the same bodies, so the two can be compared as a ratio.
//!
//! Run with `cargo bench -p hilite-shared --bench webhook` (part of `make bench`). Without
//! `--bench` (as `cargo test --benches` runs it) it does a few iterations only, to prove it works.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use hilite::backend::Ports;
use hilite::config::{BackendKind, Config};
use hilite::pipeline::webhook::{handle_webhook, WebhookSettings};
use hilite::twitch::eventsub::{
    self, SignedHeaders, HEADER_MESSAGE_ID, HEADER_MESSAGE_TYPE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use http::{HeaderMap, HeaderValue};
use secrecy::SecretString;

const SECRET: &str = "bench-eventsub-secret-0123456789";

struct Delivery {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A `stream.online` then a `stream.offline` per stream, as Twitch sends them.
fn deliveries(streams: usize) -> Vec<Delivery> {
    let now = Utc::now();
    let ts = now.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let mut out = Vec::with_capacity(streams * 2);
    for i in 0..streams {
        let broadcaster = format!("{}", 100_000 + i % 50);
        let online = serde_json::json!({
            "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4", "type": "stream.online", "version": "1", "status": "enabled", "cost": 0,
                "condition": {"broadcaster_user_id": broadcaster}, "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"},
            "event": {"id": format!("{}", 90_000_000 + i), "broadcaster_user_id": broadcaster, "broadcaster_user_login": "streamer", "broadcaster_user_name": "Streamer", "type": "live",
                "started_at": (now - chrono::Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Millis, true)}
        });
        let offline = serde_json::json!({
            "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c5", "type": "stream.offline", "version": "1", "status": "enabled", "cost": 0,
                "condition": {"broadcaster_user_id": broadcaster}, "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"},
            "event": {"broadcaster_user_id": broadcaster, "broadcaster_user_login": "streamer", "broadcaster_user_name": "Streamer"}
        });
        for (kind, body) in [("on", online), ("off", offline)] {
            let id = format!("bench-{kind}-{i}");
            let body = body.to_string().into_bytes();
            let sig = eventsub::signature(SECRET.as_bytes(), &id, &ts, &body);
            let mut headers = HeaderMap::new();
            let v =
                |s: &str| HeaderValue::from_str(s).unwrap_or_else(|e| panic!("header {s}: {e}"));
            headers.insert(HEADER_MESSAGE_ID, v(&id));
            headers.insert(HEADER_TIMESTAMP, v(&ts));
            headers.insert(HEADER_SIGNATURE, v(&sig));
            headers.insert(HEADER_MESSAGE_TYPE, v("notification"));
            out.push(Delivery { headers, body });
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let streams = if full { 2_000 } else { 5 };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let mut config = Config {
        backend: BackendKind::Local,
        ..Config::default()
    };
    config.local.data_dir = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let ports = runtime
        .block_on(Ports::from_config(&config))
        .unwrap_or_else(|e| panic!("embedded ports: {e}"));
    let settings = WebhookSettings {
        secret: SecretString::from(SECRET.to_string()),
        collect_delay: Duration::from_secs(600),
    };
    let batch = deliveries(streams);

    // The whole handler, one request at a time, as Twitch delivers them.
    let mut handler = Vec::with_capacity(batch.len());
    let started = Instant::now();
    runtime.block_on(async {
        for d in &batch {
            let t = Instant::now();
            let r = handle_webhook(&ports, &settings, &d.headers, &d.body).await;
            handler.push(t.elapsed());
            assert_eq!(r.status, 204, "the bench delivery was refused: {r:?}");
        }
    });
    let wall = started.elapsed();

    // The HMAC check alone on the same deliveries, repeated to be measurable.
    let rounds = if full { 50 } else { 1 };
    let now = Utc::now();
    let mut hmac = Vec::with_capacity(batch.len() * rounds);
    for _ in 0..rounds {
        for d in &batch {
            let lookup = |name: &'static str| d.headers.get(name).and_then(|v| v.to_str().ok());
            let t = Instant::now();
            let ok = SignedHeaders::from_lookup(lookup)
                .and_then(|h| eventsub::verify(SECRET.as_bytes(), &h, &d.body, now));
            hmac.push(t.elapsed());
            assert!(ok.is_ok());
        }
    }

    handler.sort();
    hmac.sort();
    let (h50, h99) = (percentile(&handler, 0.5), percentile(&handler, 0.99));
    let (v50, v99) = (percentile(&hmac, 0.5), percentile(&hmac, 0.99));
    println!("webhook, embedded backend ({} signed deliveries: stream.online + stream.offline, verify + remember + store + enqueue)", batch.len());
    println!(
        "  handle_webhook   {:>9.0} requests/s   p50 {:>8.1} µs   p99 {:>8.1} µs",
        batch.len() as f64 / wall.as_secs_f64(),
        micros(h50),
        micros(h99)
    );
    println!(
        "  HMAC check alone {:>9.0} checks/s     p50 {:>8.1} µs   p99 {:>8.1} µs",
        1.0 / hmac.iter().map(|d| d.as_secs_f64()).sum::<f64>() * hmac.len() as f64,
        micros(v50),
        micros(v99)
    );
    println!(
        "  the HMAC check is {:.1}% of a request at the median",
        100.0 * micros(v50) / micros(h50)
    );
}
