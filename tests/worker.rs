//! The one-machine worker pool keeps SQS's promises on the embedded queue: retries after a
//! backoff, dead letters after the maximum receives, a bounded number of deliveries at once,
//! and calm back-off when the queue itself fails. Time is a manual clock, so backoffs and
//! visibility timeouts pass when the test says so. Shutdown is in `shutdown.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use harness::local::{eventually, queue_on_manual_clock, worker_settings, Flaky, WAIT};
use hilite::pipeline::worker::{spawn_workers, StageHandler};
use hilite::pipeline::StageError;
use hilite::queue::{Delivery, Queue, QueueDepth, QueueError, QueueName};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_retryable_failure_is_retried_after_a_backoff_until_it_succeeds_then_deleted() {
    let (_site, clock, probe) = queue_on_manual_clock(5).await;
    probe
        .send(QueueName::Download, r#"{"clip_id":"Abc"}"#, Duration::ZERO)
        .await
        .unwrap();
    let handler = Arc::new(Flaky {
        failures: 2,
        ..Flaky::default()
    });
    let stop = CancellationToken::new();
    let pool = spawn_workers(
        probe.clone(),
        handler.clone(),
        &[QueueName::Download],
        worker_settings(2, Duration::from_secs(5)),
        stop.clone(),
    );

    for attempt in 1..=2 {
        eventually(WAIT, "the failure to be settled with a backoff", || async {
            (probe.settled().len() == attempt).then_some(())
        })
        .await;
        assert_eq!(
            handler.calls(),
            attempt,
            "no second delivery while the backoff runs"
        );
        // Past the longest backoff (15 minutes): the message is due again.
        clock.advance(chrono::Duration::minutes(16));
    }
    eventually(
        WAIT,
        "the third delivery to succeed and be deleted",
        || async { (probe.settled().len() == 3).then_some(()) },
    )
    .await;

    let settled = probe.settled();
    assert!(
        settled[0].starts_with("retry_after") && settled[0] != "retry_after 0s",
        "{settled:?}"
    );
    assert!(
        settled[1].starts_with("retry_after") && settled[1] != "retry_after 0s",
        "{settled:?}"
    );
    assert_eq!(settled[2], "delete");
    assert_eq!(*handler.receive_counts.lock().unwrap(), vec![1, 2, 3]);
    assert_eq!(
        probe.depth_of(QueueName::Download).await,
        QueueDepth::default()
    );
    stop.cancel();
    assert_eq!(pool.join().await, 0);
}

/// Always fails as a malformed message.
#[derive(Default)]
struct Poisoned {
    receive_counts: Mutex<Vec<u32>>,
}

#[async_trait]
impl StageHandler for Poisoned {
    async fn handle(&self, _: QueueName, d: &Delivery) -> Result<(), StageError> {
        self.receive_counts.lock().unwrap().push(d.receive_count);
        Err(StageError::Poison(
            "expected value at line 1 column 1".into(),
        ))
    }
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_after_the_maximum_receives_and_never_handled_again() {
    let (_site, clock, probe) = queue_on_manual_clock(3).await;
    probe
        .send(QueueName::Analyze, "not json", Duration::ZERO)
        .await
        .unwrap();
    let handler = Arc::new(Poisoned::default());
    let stop = CancellationToken::new();
    let pool = spawn_workers(
        probe.clone(),
        handler.clone(),
        &[QueueName::Analyze],
        worker_settings(2, Duration::from_secs(5)),
        stop.clone(),
    );

    for receive in 1..=3 {
        eventually(WAIT, "the next receive", || async {
            (handler.receive_counts.lock().unwrap().len() == receive).then_some(())
        })
        .await;
        // Poison is left alone: it comes back only after its visibility timeout.
        clock.advance(chrono::Duration::seconds(31));
    }
    let depth = eventually(
        WAIT,
        "the message to reach the dead-letter queue",
        || async {
            let d = probe.depth_of(QueueName::Analyze).await;
            (d.dead == 1).then_some(d)
        },
    )
    .await;
    assert_eq!(
        depth,
        QueueDepth {
            visible: 0,
            in_flight: 0,
            dead: 1
        }
    );
    tokio::time::sleep(Duration::from_millis(200)).await; // many poll intervals
    assert_eq!(*handler.receive_counts.lock().unwrap(), vec![1, 2, 3]);
    assert!(
        probe.settled().is_empty(),
        "poison is neither deleted nor delayed: {:?}",
        probe.settled()
    );
    stop.cancel();
    pool.join().await;
}

/// Counts deliveries running at once, per queue.
#[derive(Default)]
struct Gauge {
    running: Mutex<BTreeMap<QueueName, usize>>,
    peak: Mutex<BTreeMap<QueueName, usize>>,
    done: AtomicUsize,
}

#[async_trait]
impl StageHandler for Gauge {
    async fn handle(&self, q: QueueName, _: &Delivery) -> Result<(), StageError> {
        {
            let mut running = self.running.lock().unwrap();
            let n = running.entry(q).or_default();
            *n += 1;
            let mut peak = self.peak.lock().unwrap();
            let p = peak.entry(q).or_default();
            *p = (*p).max(*n);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        *self.running.lock().unwrap().entry(q).or_default() -= 1;
        self.done.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn each_queue_runs_at_most_its_number_of_workers_at_once() {
    let (_site, _clock, probe) = queue_on_manual_clock(3).await;
    let queues = [QueueName::Download, QueueName::Analyze];
    for q in queues {
        for i in 0..8 {
            probe
                .send(q, &format!("message {i}"), Duration::ZERO)
                .await
                .unwrap();
        }
    }
    let gauge = Arc::new(Gauge::default());
    let stop = CancellationToken::new();
    let pool = spawn_workers(
        probe.clone(),
        gauge.clone(),
        &queues,
        worker_settings(2, Duration::from_secs(5)),
        stop.clone(),
    );
    eventually(WAIT, "all 16 messages to be handled", || async {
        (gauge.done.load(Ordering::SeqCst) == 16).then_some(())
    })
    .await;
    stop.cancel();
    pool.join().await;

    let peak = gauge.peak.lock().unwrap().clone();
    assert_eq!(
        peak,
        BTreeMap::from([(QueueName::Download, 2), (QueueName::Analyze, 2)])
    );
    for q in queues {
        assert_eq!(probe.depth_of(q).await, QueueDepth::default());
    }
}

/// A queue whose every receive fails, counting the attempts.
#[derive(Default)]
struct Broken {
    receives: AtomicU32,
}

#[async_trait]
impl Queue for Broken {
    async fn send(&self, _: QueueName, _: &str, _: Duration) -> Result<(), QueueError> {
        unreachable!("the pool never sends")
    }
    async fn receive(
        &self,
        queue: QueueName,
        _: u32,
        _: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        self.receives.fetch_add(1, Ordering::SeqCst);
        Err(QueueError::Unavailable {
            queue,
            message: "database is locked".into(),
        })
    }
    async fn delete(&self, _: QueueName, _: &str) -> Result<(), QueueError> {
        unreachable!("nothing was received")
    }
    async fn retry_after(&self, _: QueueName, _: &str, _: Duration) -> Result<(), QueueError> {
        unreachable!("nothing was received")
    }
    async fn depth(&self, _: QueueName) -> Result<QueueDepth, QueueError> {
        Ok(QueueDepth::default())
    }
    async fn redrive(&self, _: QueueName, _: u64) -> Result<u64, QueueError> {
        unreachable!("the worker pool never redrives")
    }
}

#[tokio::test]
async fn a_failing_queue_is_retried_with_growing_pauses_not_in_a_tight_loop() {
    let broken = Arc::new(Broken::default());
    let stop = CancellationToken::new();
    let pool = spawn_workers(
        broken.clone(),
        Arc::new(Flaky::default()),
        &[QueueName::Collect],
        worker_settings(2, Duration::from_secs(5)),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    // Pauses of 100, 200, 400 and 800 ms: five receives in 1.6 s; a tight loop makes thousands.
    let receives = broken.receives.load(Ordering::SeqCst);
    assert!((2..=6).contains(&receives), "{receives} receives in 1.6 s");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(1), pool.join())
        .await
        .expect("a pause is cut short by shutdown");
}

#[tokio::test]
async fn the_daily_schedule_plans_each_active_account_once_when_its_time_passes() {
    use chrono::TimeZone;
    use hilite::clock::ManualClock;
    use std::sync::Mutex;

    let site = harness::local::LocalSite::new();
    // 16:59:00 UTC is 17:59 in Paris (CET): one minute before "main" posts at 18:00.
    let clock = Arc::new(ManualClock::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 16, 59, 0)
            .unwrap(),
    ));
    let ports = site.ports_with_clock(clock.clone()).await;
    let mut main = harness::records::account("main", "Europe/Paris");
    main.post_at = chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap();
    let mut paused = main.clone();
    paused.name = hilite::domain::AccountName::parse("paused").unwrap();
    paused.paused = true;
    ports.store.put_account(&main).await.unwrap();
    ports.store.put_account(&paused).await.unwrap();

    let planned = Arc::new(Mutex::new(Vec::new()));
    let shutdown = CancellationToken::new();
    let seen = planned.clone();
    let loop_ports = ports.clone();
    let stop = shutdown.clone();
    let schedule = tokio::spawn(async move {
        hilite::pipeline::schedule::run_schedule(
            &loop_ports,
            Duration::from_millis(20),
            stop,
            |account, now| {
                let seen = seen.clone();
                async move { seen.lock().unwrap().push((account.name.to_string(), now)) }
            },
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        planned.lock().unwrap().is_empty(),
        "planned before its time"
    );
    clock.advance(chrono::Duration::minutes(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    clock.advance(chrono::Duration::hours(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    schedule.await.unwrap();
    let planned = planned.lock().unwrap().clone();
    let names: Vec<_> = planned.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["main"], "{planned:?}");
}

/// A rate limit whose reset is already past (a `Retry-After: 0`, a clock a second ahead of the
/// platform's) is still a wait: the copy sent again is not due at once, or a platform that
/// keeps answering so would be called as fast as the queue turns, without limit.
#[tokio::test]
async fn a_rate_limit_whose_reset_is_past_still_waits_before_the_next_try() {
    use hilite::pipeline::runner::{settle, Settled, MIN_WAIT};
    let (_site, clock, probe) = queue_on_manual_clock(3).await;
    let q = QueueName::Publish;
    probe.send(q, r#"{"x":1}"#, Duration::ZERO).await.unwrap();
    let got = probe.receive(q, 1, Duration::from_secs(60)).await.unwrap();
    let outcome = Err(StageError::RateLimited {
        until: chrono::Utc::now() - chrono::Duration::seconds(1),
        reason: "429 with Retry-After: 0".into(),
    });

    assert_eq!(
        settle(&*probe, q, &got[0], &outcome, true).await,
        Settled::Requeued
    );
    assert!(
        probe
            .receive(q, 1, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty(),
        "the copy sent again is due at once"
    );
    clock.advance(chrono::Duration::from_std(MIN_WAIT).unwrap() + chrono::Duration::seconds(1));
    let again = probe.receive(q, 1, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.len(), 1, "the copy comes back after the wait");
    assert_eq!(again[0].receive_count, 1, "the wait spent no receive");
}
