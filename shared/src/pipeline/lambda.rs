//! For a Lambda function fed by more than one queue (the download function reads both
//! `collect` and `download`): each record's queue is learnt from its event source ARN, matched
//! by queue name against the configured queue URLs (`aws.queues.*`), and the records of each
//! queue go through [`handle_sqs_event`] as one batch. Matching the configuration, rather than
//! a naming convention, keeps the function correct whatever the template names its queues.
//! `hilite serve`'s workers do not need this: they know the queue they poll.
//!
//! The edit function also receives AWS Batch job state changes from EventBridge (its render
//! jobs ending): [`EditFunctionEvent`] tells the two shapes apart.

use std::collections::BTreeMap;
use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use super::{handle_sqs_event, StageError};
use crate::config::AwsQueueUrls;
use crate::queue::{Delivery, Queue, QueueName};

/// The queue, among `candidates`, whose configured URL names the queue of `arn`.
///
/// A queue URL (`https://sqs.eu-west-1.amazonaws.com/123456789012/hilite-collect`) ends with
/// the queue's name, as does its ARN (`arn:aws:sqs:eu-west-1:123456789012:hilite-collect`).
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-queue-message-identifiers.html>
pub fn source_queue(urls: &AwsQueueUrls, arn: &str, candidates: &[QueueName]) -> Option<QueueName> {
    let name = arn.rsplit(':').next().filter(|n| !n.is_empty())?;
    candidates.iter().copied().find(|&q| {
        let url = match q {
            QueueName::Collect => &urls.collect,
            QueueName::Download => &urls.download,
            QueueName::Analyze => &urls.analyze,
            QueueName::Edit => &urls.edit,
            QueueName::Publish => &urls.publish,
            QueueName::Chat => &urls.chat,
        };
        url.trim_end_matches('/').rsplit('/').next() == Some(name)
    })
}

/// Run `handler` on each record with the queue it came from. Records from a queue that is not
/// among `candidates` are reported as failed (and logged): they return to their queue and end
/// in its dead-letter queue, never dropped.
pub async fn handle_sqs_event_by_source<F, Fut>(
    queue: &dyn Queue,
    urls: &AwsQueueUrls,
    candidates: &[QueueName],
    event: SqsEvent,
    concurrency: usize,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(QueueName, Delivery) -> Fut,
    Fut: Future<Output = Result<(), StageError>>,
{
    let mut by_queue: BTreeMap<QueueName, Vec<SqsMessage>> = BTreeMap::new();
    let mut failures = Vec::new();
    for record in event.records {
        let arn = record.event_source_arn.as_deref().unwrap_or_default();
        match source_queue(urls, arn, candidates) {
            Some(q) => by_queue.entry(q).or_default().push(record),
            None => {
                let message_id = record.message_id.clone().unwrap_or_default();
                tracing::error!(%message_id, event_source_arn = arn, "record from a queue this function is not configured to read (aws.queues.*); left for its dead-letter queue");
                let mut f = BatchItemFailure::default();
                f.item_identifier = message_id;
                failures.push(f);
            }
        }
    }
    for (name, records) in by_queue {
        let mut part = SqsEvent::default();
        part.records = records;
        let response = handle_sqs_event(queue, name, part, concurrency, |d| handler(name, d)).await;
        failures.extend(response.batch_item_failures);
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// An EventBridge event carrying a Batch job's state change.
#[cfg(feature = "aws")]
pub type BatchJobEvent =
    aws_lambda_events::eventbridge::EventBridgeEvent<super::render_job::JobStateChange>;

/// What invokes the edit function: its SQS queue, an EventBridge "Batch Job State Change"
/// (`infra/template.yaml`'s `RenderJobStateRule`), or the render-job sweep's schedule
/// (`RenderJobSweepRule`, a "Scheduled Event"). An EventBridge event has `detail-type`,
/// `source` and `detail`, which an SQS event lacks, so those are tried first; a schedule's
/// empty `detail` is not a job state change, so it falls through to `Sweep`.
#[cfg(feature = "aws")]
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum EditFunctionEvent {
    JobStateChange(Box<BatchJobEvent>),
    Sweep(Box<aws_lambda_events::eventbridge::EventBridgeEvent>),
    Sqs(SqsEvent),
}

#[cfg(feature = "aws")]
impl EditFunctionEvent {
    /// The job state change, checked to be one (a rule sending anything else is a mistake).
    pub fn job_state_change(
        event: BatchJobEvent,
    ) -> Result<super::render_job::JobStateChange, StageError> {
        if event.source != "aws.batch" || event.detail_type != "Batch Job State Change" {
            return Err(StageError::Poison(format!(
                "an EventBridge event from {} ({}) is not a Batch job state change",
                event.source, event.detail_type
            )));
        }
        Ok(event.detail)
    }

    /// The sweep's schedule, checked to be one: any other EventBridge event that reached the
    /// function (a Batch event whose detail did not parse, say) is refused, not swept on.
    pub fn sweep_requested(
        event: &aws_lambda_events::eventbridge::EventBridgeEvent,
    ) -> Result<(), StageError> {
        if event.source != "aws.events" || event.detail_type != "Scheduled Event" {
            return Err(StageError::Poison(format!(
                "an EventBridge event from {} ({}) is neither a Batch job state change nor the sweep's schedule",
                event.source, event.detail_type
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> AwsQueueUrls {
        AwsQueueUrls {
            collect: "https://sqs.eu-west-1.amazonaws.com/123456789012/hilite-prod-collect".into(),
            download: "http://127.0.0.1:5000/123456789012/hilite-prod-download/".into(),
            ..AwsQueueUrls::default()
        }
    }

    #[test]
    fn a_record_is_routed_by_the_queue_name_in_its_arn() {
        let both = [QueueName::Collect, QueueName::Download];
        let arn = |n: &str| format!("arn:aws:sqs:eu-west-1:123456789012:{n}");
        assert_eq!(
            source_queue(&urls(), &arn("hilite-prod-collect"), &both),
            Some(QueueName::Collect)
        );
        assert_eq!(
            source_queue(&urls(), &arn("hilite-prod-download"), &both),
            Some(QueueName::Download)
        );
        // A suffix match is not a match: another stack's queue is not ours.
        assert_eq!(
            source_queue(&urls(), &arn("other-hilite-prod-collect"), &both),
            None
        );
        assert_eq!(
            source_queue(&urls(), &arn("hilite-prod-collect"), &[QueueName::Download]),
            None
        );
        assert_eq!(source_queue(&urls(), "", &both), None);
        assert_eq!(
            source_queue(&AwsQueueUrls::default(), &arn("x"), &both),
            None
        );
    }
}
