//! Settling a delivery with its queue after a stage ran, and the SQS batch runner the Lambda
//! functions use. The same `settle` serves `hilite serve`'s workers, so a stage's outcome means
//! the same thing on both backends. Each record runs in a `stage` span (stage, clip id,
//! attempt, message id), ends with one "stage finished" log line with its duration and
//! outcome, and one CloudWatch Embedded Metric Format line on stdout (`hilite::metrics::emf`).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::Utc;
use futures::StreamExt;
use rand::Rng;
use tracing::Instrument;

use super::StageError;
use crate::metrics::emf::EmfStdout;
use crate::metrics::{log_run, MessageFacts, Outcome, StageMetrics, StageRun};
use crate::queue::{Delivery, Queue, QueueName, MAX_DELAY, MAX_VISIBILITY};

/// Shortest wait of a rate-limited message before it is tried again.
pub const MIN_WAIT: Duration = Duration::from_secs(5);

/// Longest backoff between two tries of a retryable failure.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Bounded exponential backoff with full jitter: 10 s · 2^(n-1), capped, times a random factor
/// in [0.5, 1.0] so a burst of failures does not come back all at once.
pub fn backoff(receive_count: u32) -> Duration {
    let exp = receive_count.saturating_sub(1).min(16);
    let base = Duration::from_secs(10)
        .saturating_mul(1u32 << exp)
        .min(MAX_BACKOFF);
    let factor = rand::thread_rng().gen_range(0.5..=1.0);
    base.mul_f64(factor)
}

/// What happened to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Done (or permanently failed and recorded): the message is deleted.
    Deleted,
    /// Will come back after a delay (a retryable failure's backoff).
    RetryLater,
    /// Sent again as a new message delayed until a rate-limit reset or a wait ends, and this
    /// copy deleted (in Lambda, by the event source mapping): a wait uses up no receive.
    Requeued,
    /// Left as it is: visible again after its visibility timeout, dead-lettered after the
    /// maximum receives.
    LeftForRedelivery,
}

/// Apply a stage's outcome to its delivery. In Lambda `delete_done` is false: the event
/// source mapping deletes every record not reported as failed.
pub async fn settle(
    queue: &dyn Queue,
    name: QueueName,
    delivery: &Delivery,
    outcome: &Result<(), StageError>,
    delete_done: bool,
) -> Settled {
    let delay = match outcome {
        Ok(()) | Err(StageError::Permanent(_)) => {
            if delete_done {
                if let Err(e) = queue.delete(name, &delivery.receipt).await {
                    // The message will be delivered again; the stage is idempotent.
                    tracing::warn!(queue = %name, message_id = %delivery.message_id, error = %e, "could not delete a handled message");
                }
            }
            return Settled::Deleted;
        }
        Err(StageError::Poison(_)) => return Settled::LeftForRedelivery,
        Err(StageError::Retryable(_)) => backoff(delivery.receive_count),
        Err(StageError::RateLimited { until, .. }) => {
            // A reset already past (`Retry-After: 0`, a clock a second ahead of the platform's)
            // still waits a little: a copy due at once would be received, refused and sent
            // again as fast as the queue turns, spending no receive, for as long as the
            // platform answers so.
            let wait = (*until - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(MIN_WAIT);
            // A wait is not a failure: it must not use up the message's receives (after
            // `maxReceiveCount` of them SQS dead-letters it, and an Instagram container polled
            // three times would be lost). So the message is sent again with the wait as its
            // delay (at most SQS's 15 minutes; a longer wait is sent again as often as needed,
            // each time bounded by `until`) and this copy is deleted. A crash between the two
            // leaves both copies; every stage is idempotent under redelivery.
            match queue.send(name, &delivery.body, wait.min(MAX_DELAY)).await {
                Ok(()) => {
                    if delete_done {
                        if let Err(e) = queue.delete(name, &delivery.receipt).await {
                            tracing::warn!(queue = %name, message_id = %delivery.message_id, error = %e, "could not delete a message sent again for later; it comes back once more");
                        }
                    }
                    return Settled::Requeued;
                }
                Err(e) => {
                    tracing::warn!(queue = %name, message_id = %delivery.message_id, error = %e, "could not send a waiting message again; delaying this copy instead");
                    wait.min(MAX_VISIBILITY)
                }
            }
        }
    };
    match queue.retry_after(name, &delivery.receipt, delay).await {
        Ok(()) => Settled::RetryLater,
        Err(e) => {
            tracing::warn!(queue = %name, message_id = %delivery.message_id, error = %e, "could not delay a retry; it comes back after its visibility timeout");
            Settled::LeftForRedelivery
        }
    }
}

/// Run `handler` on every record of an SQS event, at most `concurrency` at a time, and report
/// the records that must come back (`batchItemFailures`): one bad record never makes its
/// neighbours run again.
pub async fn handle_sqs_event<F, Fut>(
    queue: &dyn Queue,
    name: QueueName,
    event: SqsEvent,
    concurrency: usize,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<(), StageError>>,
{
    let handler = &handler;
    let failures: Vec<BatchItemFailure> = futures::stream::iter(event.records)
        .map(|record| async move {
            let message_id = record.message_id.clone().unwrap_or_default();
            let delivery = Delivery {
                message_id: message_id.clone(),
                receipt: record.receipt_handle.clone().unwrap_or_default(),
                body: record.body.clone().unwrap_or_default(),
                receive_count: record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
            };
            let facts = MessageFacts::read(name, &delivery.body);
            let span = tracing::info_span!(
                "stage",
                stage = %name,
                clip_id = facts.clip_id.as_deref().unwrap_or("-"),
                attempt = delivery.receive_count,
                message_id = %message_id,
            );
            async {
                let started = Instant::now();
                let outcome = handler(delivery.clone()).await;
                if let Err(e) = &outcome {
                    tracing::warn!(error = %e, "record not done");
                }
                let run = StageRun {
                    stage: name,
                    facts,
                    attempt: delivery.receive_count,
                    duration: started.elapsed(),
                    outcome: Outcome::of(&outcome),
                };
                log_run(&run);
                EmfStdout.record(&run).await;
                match settle(queue, name, &delivery, &outcome, false).await {
                    Settled::Deleted | Settled::Requeued => None,
                    Settled::RetryLater | Settled::LeftForRedelivery => Some(message_id),
                }
            }
            .instrument(span)
            .await
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|failed| async move { failed })
        .map(|item_identifier| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = item_identifier;
            f
        })
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        for n in 1..40 {
            let b = backoff(n);
            assert!(b <= MAX_BACKOFF, "{n}: {b:?}");
            let base = Duration::from_secs(10)
                .saturating_mul(1u32 << (n - 1).min(16))
                .min(MAX_BACKOFF);
            assert!(b >= base / 2, "{n}: {b:?} under half of {base:?}");
        }
        assert!(backoff(1) <= Duration::from_secs(10));
    }
}
