//! Twitch's rate limits as the client sees them. Helix meters each token in its own bucket
//! (the app token's, and one per user token) and reports the bucket on every answer in
//! `Ratelimit-Limit`, `Ratelimit-Remaining` and `Ratelimit-Reset` (epoch seconds when the
//! bucket is full again): <https://dev.twitch.tv/docs/api/guide/#twitch-rate-limits>. The
//! client remembers the last report per bucket, counts its own calls down in between, and
//! waits for the reset when a bucket is empty instead of spending a call on a 429.
//!
//! Some endpoints have a limit of their own on top (Get Clips Download: 100 requests per
//! minute, <https://dev.twitch.tv/docs/api/reference/#get-clips-download>); [`SlidingWindow`]
//! keeps the client under such a limit without waiting for Twitch to refuse.
//!
//! Not a scheduler: it only says how long to wait; the caller decides whether to sleep or to
//! hand the wait to the queue.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use http::HeaderMap;

/// Which bucket a call draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BucketKey {
    App,
    /// A user token, named by where it is stored.
    User(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    limit: u32,
    remaining: u32,
    reset: DateTime<Utc>,
}

/// The buckets of every token this process uses.
#[derive(Debug, Default)]
pub struct RateBuckets {
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
}

/// What a bucket report in the headers says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub limit: u32,
    pub remaining: u32,
    pub reset: DateTime<Utc>,
}

impl Report {
    /// Read the three headers; `None` when any is missing or unreadable.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        let limit = u32::try_from(num("ratelimit-limit")?).ok()?;
        let remaining = u32::try_from(num("ratelimit-remaining")?).ok()?;
        let reset = Utc.timestamp_opt(num("ratelimit-reset")?, 0).single()?;
        Some(Self {
            limit,
            remaining,
            reset,
        })
    }
}

impl RateBuckets {
    /// Take one call from `key`'s bucket. `Ok(())` to go ahead now, `Err(until)` when the bucket
    /// is empty until `until` (the caller waits, then asks again).
    pub fn take(&self, key: &BucketKey, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bucket) = buckets.get_mut(key) else {
            return Ok(()); // Nothing known yet: the first answer will say.
        };
        if bucket.reset <= now {
            // Refilled since the last report.
            bucket.remaining = bucket.limit;
            bucket.reset = now + chrono::Duration::seconds(60);
        }
        if bucket.remaining == 0 {
            return Err(bucket.reset);
        }
        bucket.remaining -= 1;
        Ok(())
    }

    /// Record what Twitch reported about `key`'s bucket.
    pub fn report(&self, key: &BucketKey, report: Report) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.insert(
            key.clone(),
            Bucket {
                limit: report.limit,
                remaining: report.remaining,
                reset: report.reset,
            },
        );
    }

    /// Mark `key`'s bucket empty until `until` (a 429 without usable headers).
    pub fn exhaust(&self, key: &BucketKey, until: DateTime<Utc>) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let limit = buckets.get(key).map_or(1, |b| b.limit);
        buckets.insert(
            key.clone(),
            Bucket {
                limit,
                remaining: 0,
                reset: until,
            },
        );
    }
}

/// At most `max` events in any `per`, per key: a client-side guard for endpoints with a
/// documented limit of their own.
#[derive(Debug)]
pub struct SlidingWindow {
    max: usize,
    per: Duration,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SlidingWindow {
    pub fn new(max: usize, per: Duration) -> Self {
        Self {
            max: max.max(1),
            per,
            events: Mutex::default(),
        }
    }

    /// Count one event for `key` now, or say how long to wait before one is allowed.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let times = events.entry(key.to_string()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.per)
        {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(self.per.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: &str, remaining: &str, reset: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("Ratelimit-Limit", limit.parse().unwrap());
        h.insert("Ratelimit-Remaining", remaining.parse().unwrap());
        h.insert("Ratelimit-Reset", reset.to_string().parse().unwrap());
        h
    }

    #[test]
    fn an_unknown_bucket_lets_the_first_call_through() {
        assert_eq!(
            RateBuckets::default().take(&BucketKey::App, Utc::now()),
            Ok(())
        );
    }

    #[test]
    fn an_empty_bucket_waits_until_its_reset_then_refills() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let b = RateBuckets::default();
        let key = BucketKey::User("twitch/user/1".into());
        b.report(
            &key,
            Report::from_headers(&headers("800", "1", 1_800_000_030)).unwrap(),
        );
        assert_eq!(b.take(&key, now), Ok(()), "one call left");
        let reset = Utc.timestamp_opt(1_800_000_030, 0).unwrap();
        assert_eq!(
            b.take(&key, now),
            Err(reset),
            "counted down locally to zero"
        );
        assert_eq!(
            b.take(&BucketKey::App, now),
            Ok(()),
            "other tokens have their own bucket"
        );
        assert_eq!(b.take(&key, reset), Ok(()), "refilled at the reset");
    }

    #[test]
    fn missing_or_garbled_headers_report_nothing() {
        assert_eq!(Report::from_headers(&HeaderMap::new()), None);
        assert_eq!(Report::from_headers(&headers("800", "-1", 1)), None);
        assert_eq!(Report::from_headers(&headers("x", "1", 1)), None);
    }

    #[test]
    fn the_sliding_window_allows_max_per_period_per_key() {
        let w = SlidingWindow::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(w.take("a", t0).is_ok());
        assert!(w.take("a", t0 + Duration::from_secs(1)).is_ok());
        assert_eq!(
            w.take("a", t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(50))
        );
        assert!(w.take("b", t0 + Duration::from_secs(10)).is_ok());
        assert!(w.take("a", t0 + Duration::from_secs(60)).is_ok());
    }
}
