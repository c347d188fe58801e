//! The harness playing AWS's part for an in-process pipeline: the SQS event source (receive a
//! batch, hand it to the Lambda runner `handle_sqs_event`, delete what it did not report as
//! failed) and the clock (a retryable failure's backoff is skipped, so a test does not sleep
//! through minutes of backoff; a rate limit's reset is kept, so the fakes' buckets see real
//! waits). The same loop drives the embedded queue, so one test body runs on both backends.
//! Optionally every delivery is handed to the stage twice at once, as an at-least-once queue
//! may do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use hilite::pipeline::{handle_sqs_event, Pipeline, StageError};
use hilite::queue::{Delivery, QueueName};

/// The longest wait the pump keeps of a stage's "come back at" answer.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// How a stage's outcome is kept, to settle the record after the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Retryable,
    RateLimited(chrono::DateTime<chrono::Utc>),
    Poison,
}

pub struct Pump<'a> {
    pub pipeline: &'a Pipeline,
    /// Hand every delivery to its stage twice, concurrently.
    pub duplicate: bool,
    /// Deliveries handed to a stage so far (each duplicate counted once).
    pub handled: Mutex<usize>,
    /// Called after each batch of the collect queue (e.g. to delete a clip on Twitch between
    /// its collect and its download).
    pub after_collect: Option<Box<dyn Fn() + Send + Sync + 'a>>,
    /// The queues this pump plays the event source of (all by default).
    pub queues: Vec<QueueName>,
}

impl<'a> Pump<'a> {
    pub fn new(pipeline: &'a Pipeline) -> Self {
        Self {
            pipeline,
            duplicate: false,
            handled: Mutex::new(0),
            after_collect: None,
            queues: QueueName::ALL.to_vec(),
        }
    }

    pub fn duplicating(pipeline: &'a Pipeline) -> Self {
        Self {
            duplicate: true,
            ..Self::new(pipeline)
        }
    }

    /// One pass over every queue: at most one batch of ten from each. Returns how many
    /// deliveries were handled.
    pub async fn round(&self) -> usize {
        let mut handled = 0;
        for &q in &self.queues {
            handled += self.batch(q).await;
        }
        handled
    }

    async fn batch(&self, q: QueueName) -> usize {
        let queue = &*self.pipeline.ports.queue;
        let got = queue
            .receive(q, 10, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("receive from {q}: {e}"));
        if got.is_empty() {
            return 0;
        }
        let receipts: HashMap<String, String> = got
            .iter()
            .map(|d| (d.message_id.clone(), d.receipt.clone()))
            .collect();
        let event = sqs_event(&got);
        let outcomes: Mutex<HashMap<String, Outcome>> = Mutex::default();
        let outcomes_ref = &outcomes;
        let pipeline = self.pipeline;
        let duplicate = self.duplicate;
        let response = handle_sqs_event(queue, q, event, 4, |d: Delivery| async move {
            let outcome = if duplicate {
                let ghost = d.clone();
                let (_, real) = tokio::join!(pipeline.handle(q, &ghost), pipeline.handle(q, &d));
                real
            } else {
                pipeline.handle(q, &d).await
            };
            let kept = match &outcome {
                Err(StageError::Retryable(_)) => Some(Outcome::Retryable),
                Err(StageError::RateLimited { until, .. }) => Some(Outcome::RateLimited(*until)),
                Err(StageError::Poison(_)) => Some(Outcome::Poison),
                _ => None,
            };
            if let Some(k) = kept {
                outcomes_ref
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(d.message_id.clone(), k);
            }
            outcome
        })
        .await;
        let failed: Vec<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
        for (id, receipt) in &receipts {
            if !failed.contains(id) {
                // What the event source mapping does with a record not reported as failed.
                queue
                    .delete(q, receipt)
                    .await
                    .unwrap_or_else(|e| panic!("delete from {q}: {e}"));
                continue;
            }
            match outcomes.get(id) {
                // The backoff passes at once: the harness plays the clock.
                Some(Outcome::Retryable) => queue
                    .retry_after(q, receipt, Duration::ZERO)
                    .await
                    .unwrap_or_else(|e| panic!("retry on {q}: {e}")),
                Some(Outcome::RateLimited(until)) => {
                    let wait = (*until - chrono::Utc::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .min(MAX_WAIT);
                    queue
                        .retry_after(q, receipt, wait)
                        .await
                        .unwrap_or_else(|e| panic!("retry on {q}: {e}"));
                }
                other => panic!("a {q} delivery ended {other:?}: a message the stage cannot read"),
            }
        }
        if q == QueueName::Collect {
            if let Some(hook) = &self.after_collect {
                hook();
            }
        }
        *self.handled.lock().unwrap_or_else(|e| e.into_inner()) += got.len();
        got.len()
    }

    /// Run rounds until `check` holds, or panic with `what` after `limit`.
    pub async fn until<F, Fut>(&self, limit: Duration, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        loop {
            let n = self.round().await;
            if check().await {
                return;
            }
            if start.elapsed() >= limit {
                panic!(
                    "timed out after {limit:?} waiting for: {what}\n{}",
                    describe(&self.pipeline.ports).await
                );
            }
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Run rounds until no queue holds anything (visible, in flight or delayed).
    pub async fn until_idle(&self, limit: Duration) {
        let queue = self.pipeline.ports.queue.clone();
        let queues = self.queues.clone();
        self.until(limit, "every queue to be empty", || {
            let queue = queue.clone();
            let queues = queues.clone();
            async move {
                for q in queues {
                    let d = queue
                        .depth(q)
                        .await
                        .unwrap_or_else(|e| panic!("depth: {e}"));
                    if d.visible + d.in_flight > 0 {
                        return false;
                    }
                }
                true
            }
        })
        .await;
    }
}

/// The SQS event Lambda would receive for these deliveries.
fn sqs_event(batch: &[Delivery]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = batch
        .iter()
        .map(|d| {
            let mut m = SqsMessage::default();
            m.message_id = Some(d.message_id.clone());
            m.receipt_handle = Some(d.receipt.clone());
            m.body = Some(d.body.clone());
            m.event_source = Some("aws:sqs".into());
            m.attributes.insert(
                "ApproximateReceiveCount".into(),
                d.receive_count.to_string(),
            );
            m
        })
        .collect();
    event
}

/// The clips, publications and queues, for a test that timed out.
pub async fn describe(ports: &hilite::backend::Ports) -> String {
    use hilite::domain::ClipStatus;
    let mut out = String::new();
    for status in ClipStatus::ALL {
        for c in ports
            .store
            .list_clips(status, 1000)
            .await
            .unwrap_or_default()
        {
            out.push_str(&format!(
                "clip {} {:?} attempts={:?} skip={:?} errors={:?}\n",
                c.id, c.status, c.attempts, c.skip_reason, c.errors
            ));
        }
    }
    for p in ports
        .store
        .list_publications(None, None)
        .await
        .unwrap_or_default()
    {
        out.push_str(&format!(
            "publication {:?} {:?} attempts={} error={:?}\n",
            p.key, p.status, p.attempts, p.last_error
        ));
    }
    for q in QueueName::ALL {
        out.push_str(&format!("queue {q}: {:?}\n", ports.queue.depth(q).await));
    }
    out
}
