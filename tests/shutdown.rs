//! Stopping the one-machine worker pool loses nothing: it stops receiving at once, work in
//! flight finishes within the grace period, and work still running after it is returned to its
//! queue, where a restarted pool takes it up without waiting for a visibility timeout, and
//! without the interruption counting as one of its receives.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use harness::local::{eventually, queue_on_manual_clock, worker_settings, Flaky, WAIT};
use hilite::pipeline::worker::{spawn_workers, StageHandler};
use hilite::pipeline::StageError;
use hilite::queue::{Delivery, Queue, QueueDepth, QueueName};
use tokio_util::sync::CancellationToken;

/// Starts handling and never finishes on its own.
#[derive(Default)]
struct Stuck {
    started: AtomicU32,
}

#[async_trait]
impl StageHandler for Stuck {
    async fn handle(&self, _: QueueName, _: &Delivery) -> Result<(), StageError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test]
async fn work_still_running_after_the_grace_is_returned_to_the_queue_and_done_after_a_restart() {
    let (_site, _clock, probe) = queue_on_manual_clock(3).await;
    probe
        .send(QueueName::Edit, r#"{"clip_id":"Abc"}"#, Duration::ZERO)
        .await
        .unwrap();
    let stuck = Arc::new(Stuck::default());
    let stop = CancellationToken::new();
    let pool = spawn_workers(
        probe.clone(),
        stuck.clone(),
        &[QueueName::Edit],
        worker_settings(2, Duration::from_millis(200)),
        stop.clone(),
    );
    eventually(WAIT, "the handler to start", || async {
        (stuck.started.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;

    stop.cancel();
    let returned = tokio::time::timeout(WAIT, pool.join())
        .await
        .expect("the pool stops after its grace");
    assert_eq!(returned, 1);
    // Sent again as a new message and the old copy deleted: the interruption spends none of
    // the message's receives (after `max_receives` the queue would dead-letter it).
    assert_eq!(probe.settled(), vec!["delete"]);
    assert_eq!(
        probe.depth_of(QueueName::Edit).await,
        QueueDepth {
            visible: 1,
            in_flight: 0,
            dead: 0
        }
    );

    // A new pool (a restarted `hilite serve`) takes it at once, without waiting for a timeout.
    let handler = Arc::new(Flaky::default());
    let stop = CancellationToken::new();
    let pool = spawn_workers(
        probe.clone(),
        handler.clone(),
        &[QueueName::Edit],
        worker_settings(2, Duration::from_secs(5)),
        stop.clone(),
    );
    eventually(
        WAIT,
        "the returned message to be handled and deleted",
        || async { (probe.depth_of(QueueName::Edit).await == QueueDepth::default()).then_some(()) },
    )
    .await;
    assert_eq!(*handler.receive_counts.lock().unwrap(), vec![1]);
    stop.cancel();
    assert_eq!(pool.join().await, 0);
}

/// Takes a while, then succeeds.
struct Slow {
    took: Duration,
    finished: AtomicU32,
}

#[async_trait]
impl StageHandler for Slow {
    async fn handle(&self, _: QueueName, _: &Delivery) -> Result<(), StageError> {
        tokio::time::sleep(self.took).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn work_in_flight_at_shutdown_finishes_within_the_grace_and_nothing_new_is_taken() {
    let (_site, _clock, probe) = queue_on_manual_clock(3).await;
    probe
        .send(QueueName::Publish, "first", Duration::ZERO)
        .await
        .unwrap();
    let slow = Arc::new(Slow {
        took: Duration::from_millis(300),
        finished: AtomicU32::new(0),
    });
    let stop = CancellationToken::new();
    let pool = spawn_workers(
        probe.clone(),
        slow.clone(),
        &[QueueName::Publish],
        worker_settings(1, Duration::from_secs(10)),
        stop.clone(),
    );
    eventually(WAIT, "the first message to be received", || async {
        (probe.depth_of(QueueName::Publish).await.in_flight == 1).then_some(())
    })
    .await;

    stop.cancel();
    probe
        .send(QueueName::Publish, "second", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, pool.join())
            .await
            .expect("pool stops"),
        0
    );
    assert_eq!(slow.finished.load(Ordering::SeqCst), 1);
    assert_eq!(probe.settled(), vec!["delete"]);
    assert_eq!(
        probe.depth_of(QueueName::Publish).await,
        QueueDepth {
            visible: 1,
            in_flight: 0,
            dead: 0
        }
    );
}
