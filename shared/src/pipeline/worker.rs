//! The one-machine worker pool: what the Lambda event source mapping does for SQS, done in
//! process for `hilite serve`. Per queue, one poller receives as many messages as it has free
//! workers (at most 10, SQS's batch limit), runs the stage on each in its own task, and settles
//! the outcome with the same [`settle`] the Lambda runner uses, so a stage's result means the
//! same thing on both backends. It is not a scheduler and knows nothing about clips.
//!
//! Shutdown loses nothing: the pollers stop receiving, deliveries in flight get
//! `server.shutdown_grace_secs` to finish, and any still running after that are abandoned and
//! given back at once, as new messages that spend none of the queue's receives, so the next
//! start (or another process) picks them up. A handler that panics leaves its message in
//! flight; it comes back after its visibility timeout and is dead-lettered after the queue's
//! maximum receives, as in SQS.
//!
//! Each delivery runs in a `stage` span (stage, clip id, attempt, message id) and ends with one
//! "stage finished" line (duration, outcome), counted by the handler's [`StageHandler::record`]
//! (the SQLite counters `hilite status` shows, for [`Pipeline`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{settle, Pipeline, Settled, StageError};
use crate::config::Config;
use crate::metrics::{log_run, MessageFacts, Outcome, StageRun};
use crate::queue::{Delivery, Queue, QueueName, MAX_RECEIVE_BATCH};

/// Longest pause after repeated queue errors, so a broken database is retried calmly.
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(30);
/// How long returning abandoned deliveries to their queue may take at shutdown.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// What runs one delivery from one queue. [`Pipeline`] is the real one; tests inject their own.
#[async_trait]
pub trait StageHandler: Send + Sync {
    async fn handle(&self, queue: QueueName, delivery: &Delivery) -> Result<(), StageError>;

    /// Where each finished run is counted; nowhere unless the handler says.
    async fn record(&self, _run: &StageRun) {}
}

#[async_trait]
impl StageHandler for Pipeline {
    async fn handle(&self, queue: QueueName, delivery: &Delivery) -> Result<(), StageError> {
        Pipeline::handle(self, queue, delivery).await
    }

    async fn record(&self, run: &StageRun) {
        self.metrics.record(run).await;
    }
}

/// How the pool polls and shuts down; from `[queues]` and `[server]` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Deliveries handled at once, per queue.
    pub workers: usize,
    /// How long a received message stays hidden while it is handled.
    pub visibility: Duration,
    /// Pause of an idle poller before it looks again.
    pub poll_interval: Duration,
    /// How long in-flight deliveries may finish after shutdown is asked.
    pub shutdown_grace: Duration,
}

impl WorkerSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            workers: config.queues.workers.max(1),
            visibility: Duration::from_secs(config.queues.visibility_timeout_secs),
            poll_interval: Duration::from_millis(config.queues.poll_interval_ms),
            shutdown_grace: Duration::from_secs(config.server.shutdown_grace_secs),
        }
    }
}

/// The running pollers. Cancel the token given to [`spawn_workers`], then [`WorkerPool::join`].
pub struct WorkerPool {
    pollers: Vec<JoinHandle<usize>>,
}

impl WorkerPool {
    /// Wait until every poller has stopped; returns how many deliveries were abandoned after
    /// the grace period and given back to their queue.
    pub async fn join(self) -> usize {
        let mut returned = 0;
        for poller in self.pollers {
            match poller.await {
                Ok(n) => returned += n,
                Err(e) => tracing::error!(error = %e, "a queue poller stopped abnormally"),
            }
        }
        returned
    }
}

/// Start one poller per queue in `queues`, each running up to `settings.workers` deliveries
/// at once through `handler`, until `shutdown` is cancelled.
pub fn spawn_workers(
    queue: Arc<dyn Queue>,
    handler: Arc<dyn StageHandler>,
    queues: &[QueueName],
    settings: WorkerSettings,
    shutdown: CancellationToken,
) -> WorkerPool {
    let pollers = queues
        .iter()
        .map(|&name| {
            let poller = Poller {
                name,
                queue: queue.clone(),
                handler: handler.clone(),
                settings,
                shutdown: shutdown.clone(),
            };
            tokio::spawn(poller.run())
        })
        .collect();
    WorkerPool { pollers }
}

struct Poller {
    name: QueueName,
    queue: Arc<dyn Queue>,
    handler: Arc<dyn StageHandler>,
    settings: WorkerSettings,
    shutdown: CancellationToken,
}

impl Poller {
    /// Receive and dispatch until shutdown, then drain. Returns the number of abandoned
    /// deliveries given back to the queue.
    async fn run(self) -> usize {
        let free = Arc::new(Semaphore::new(self.settings.workers.max(1)));
        // Cancelled after the grace period: running handlers stop and return their message.
        let abandon = CancellationToken::new();
        let mut running: JoinSet<()> = JoinSet::new();
        let mut errors: u32 = 0;
        tracing::debug!(queue = %self.name, workers = self.settings.workers, "queue worker started");

        loop {
            reap(&mut running, self.name);
            let first = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                permit = free.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break, // never closed; nothing left to wait for
                },
            };
            let mut permits = vec![first];
            while permits.len() < MAX_RECEIVE_BATCH as usize {
                match free.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            // A receive is not interrupted by shutdown: a receive cut short could leave
            // messages hidden for their whole visibility timeout with no one working on them.
            let batch = self
                .queue
                .receive(self.name, permits.len() as u32, self.settings.visibility)
                .await;
            match batch {
                Ok(batch) if batch.is_empty() => {
                    errors = 0;
                    drop(permits);
                    self.pause(self.settings.poll_interval).await;
                }
                Ok(batch) => {
                    errors = 0;
                    if self.shutdown.is_cancelled() {
                        // Received as shutdown began: give them straight back.
                        for d in &batch {
                            release(self.queue.as_ref(), self.name, d).await;
                        }
                        break;
                    }
                    let mut permits = permits.into_iter();
                    for delivery in batch {
                        match permits.next() {
                            Some(permit) => {
                                running.spawn(self.run_one(delivery, permit, abandon.clone()));
                            }
                            // More than asked for: not ours to hold hidden.
                            None => release(self.queue.as_ref(), self.name, &delivery).await,
                        }
                    }
                }
                Err(e) => {
                    errors = errors.saturating_add(1);
                    let pause = error_pause(errors, self.settings.poll_interval);
                    tracing::warn!(queue = %self.name, error = %e, retry_in_ms = pause.as_millis() as u64, "cannot receive from the queue");
                    drop(permits);
                    self.pause(pause).await;
                }
            }
        }

        self.drain(running, abandon).await
    }

    /// Wait for in-flight deliveries up to the grace period, then abandon the rest.
    async fn drain(&self, mut running: JoinSet<()>, abandon: CancellationToken) -> usize {
        let in_flight = running.len();
        if in_flight > 0 {
            tracing::info!(queue = %self.name, in_flight, grace_secs = self.settings.shutdown_grace.as_secs(), "waiting for in-flight work");
        }
        let finished = tokio::time::timeout(self.settings.shutdown_grace, async {
            while let Some(r) = running.join_next().await {
                log_join(r, self.name);
            }
        })
        .await;
        if finished.is_ok() {
            return 0;
        }
        let abandoned = running.len();
        tracing::warn!(queue = %self.name, abandoned, "grace period over; returning unfinished work to the queue");
        abandon.cancel();
        let released = tokio::time::timeout(RELEASE_TIMEOUT, async {
            while let Some(r) = running.join_next().await {
                log_join(r, self.name);
            }
        })
        .await;
        if released.is_err() {
            // Whatever is still unreleased comes back after its visibility timeout.
            tracing::error!(queue = %self.name, "could not return every message in time; they reappear after their visibility timeout");
            running.abort_all();
        }
        abandoned
    }

    /// Handle one delivery and settle it, unless abandoned first (then give it back).
    fn run_one(
        &self,
        delivery: Delivery,
        permit: OwnedSemaphorePermit,
        abandon: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let name = self.name;
        let queue = self.queue.clone();
        let handler = self.handler.clone();
        let facts = MessageFacts::read(name, &delivery.body);
        let span = tracing::info_span!(
            "stage",
            stage = %name,
            clip_id = facts.clip_id.as_deref().unwrap_or("-"),
            attempt = delivery.receive_count,
            message_id = %delivery.message_id,
        );
        async move {
            let _permit = permit;
            let started = Instant::now();
            let outcome = tokio::select! {
                outcome = handler.handle(name, &delivery) => outcome,
                () = abandon.cancelled() => {
                    release(queue.as_ref(), name, &delivery).await;
                    return;
                }
            };
            if let Err(e) = &outcome {
                tracing::warn!(error = %e, "delivery not done");
            }
            let run = StageRun {
                stage: name,
                facts,
                attempt: delivery.receive_count,
                duration: started.elapsed(),
                outcome: Outcome::of(&outcome),
            };
            log_run(&run);
            handler.record(&run).await;
            match settle(queue.as_ref(), name, &delivery, &outcome, true).await {
                Settled::Deleted => tracing::debug!("delivery done"),
                Settled::RetryLater => tracing::debug!("delivery will be retried after a pause"),
                Settled::Requeued => tracing::debug!("delivery sent again for later"),
                Settled::LeftForRedelivery => {
                    tracing::debug!("delivery left for redelivery after its visibility timeout")
                }
            }
        }
        .instrument(span)
    }

    /// Sleep, cut short by shutdown.
    async fn pause(&self, how_long: Duration) {
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            () = tokio::time::sleep(how_long) => {}
        }
    }
}

/// Give a delivery back now, for whoever receives next, without spending one of its receives:
/// an interruption (shutdown, more messages than asked for) is not a failure, and the queue
/// dead-letters a message after `max_receives` receives whatever its clip recorded — a render
/// interrupted by three restarts would end there with its clip still waiting. So the body is
/// sent again as a new message and this copy deleted, as a rate-limit wait is (`settle`). If
/// the send fails, this copy is made visible at once instead, its receive spent.
async fn release(queue: &dyn Queue, name: QueueName, delivery: &Delivery) {
    match queue.send(name, &delivery.body, Duration::ZERO).await {
        Ok(()) => match queue.delete(name, &delivery.receipt).await {
            Ok(()) => {
                tracing::info!(queue = %name, message_id = %delivery.message_id, "returned to the queue")
            }
            Err(e) => {
                tracing::warn!(queue = %name, message_id = %delivery.message_id, error = %e, "returned to the queue, but the old copy could not be deleted; it comes back once more")
            }
        },
        Err(e) => {
            tracing::warn!(queue = %name, message_id = %delivery.message_id, error = %e, "could not send a message again; making this copy visible instead");
            if let Err(e) = queue
                .retry_after(name, &delivery.receipt, Duration::ZERO)
                .await
            {
                tracing::warn!(queue = %name, message_id = %delivery.message_id, error = %e, "could not return a message; it reappears after its visibility timeout")
            }
        }
    }
}

/// Collect finished handler tasks so the set does not grow.
fn reap(running: &mut JoinSet<()>, name: QueueName) {
    while let Some(r) = running.try_join_next() {
        log_join(r, name);
    }
}

fn log_join(r: Result<(), tokio::task::JoinError>, name: QueueName) {
    if let Err(e) = r {
        if e.is_panic() {
            tracing::error!(queue = %name, "a stage handler panicked; its message reappears after its visibility timeout");
        }
    }
}

/// Bounded exponential pause after `errors` failed receives in a row: the poll interval
/// (at least 100 ms) doubled per error, at most [`MAX_ERROR_PAUSE`].
fn error_pause(errors: u32, poll_interval: Duration) -> Duration {
    let base = poll_interval.max(Duration::from_millis(100));
    base.saturating_mul(1u32 << errors.saturating_sub(1).min(16))
        .min(MAX_ERROR_PAUSE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pauses_grow_and_are_bounded() {
        let poll = Duration::from_millis(500);
        assert_eq!(error_pause(1, poll), poll);
        assert_eq!(error_pause(2, poll), poll * 2);
        assert_eq!(error_pause(40, poll), MAX_ERROR_PAUSE);
        assert_eq!(error_pause(1, Duration::ZERO), Duration::from_millis(100));
    }
}
