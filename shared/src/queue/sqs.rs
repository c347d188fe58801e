//! The SQS queue: one standard queue per [`QueueName`], each with its dead-letter queue
//! attached by a redrive policy (`infra/template.yaml`), so SQS itself counts receives and moves
//! poison messages. This adapter only translates the port's calls; in Lambda the event source
//! mapping receives and deletes, and the `hilite` binary (or a test) polls through it. It does
//! not create queues or redrive policies.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;

use super::{
    check_receive, check_send, Delivery, Queue, QueueDepth, QueueError, QueueName, MAX_VISIBILITY,
};
use crate::config::AwsQueueUrls;

/// SQS error codes that mean the receipt no longer names a received message.
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>
const STALE_RECEIPT: [&str; 4] = [
    "ReceiptHandleIsInvalid",
    "InvalidParameterValue",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
];
/// SQS error codes no retry will fix.
const MISCONFIGURED: [&str; 6] = [
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidAddress",
    "InvalidSecurity",
];

/// The [`Queue`] on SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    urls: AwsQueueUrls,
}

/// Whole seconds for SQS, rounded up so a wait is never shortened.
fn secs(d: Duration) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(s).unwrap_or(i32::MAX)
}

impl SqsQueue {
    pub fn new(client: Client, urls: AwsQueueUrls) -> Self {
        Self { client, urls }
    }

    /// The queue's URL and, for messages, its dead-letter queue's.
    fn url(&self, queue: QueueName, dead: bool) -> Result<&str, QueueError> {
        let u = &self.urls;
        let (url, key) = match (queue, dead) {
            (QueueName::Collect, false) => (&u.collect, "collect"),
            (QueueName::Download, false) => (&u.download, "download"),
            (QueueName::Analyze, false) => (&u.analyze, "analyze"),
            (QueueName::Edit, false) => (&u.edit, "edit"),
            (QueueName::Publish, false) => (&u.publish, "publish"),
            (QueueName::Chat, false) => (&u.chat, "chat"),
            (QueueName::Collect, true) => (&u.collect_dlq, "collect_dlq"),
            (QueueName::Download, true) => (&u.download_dlq, "download_dlq"),
            (QueueName::Analyze, true) => (&u.analyze_dlq, "analyze_dlq"),
            (QueueName::Edit, true) => (&u.edit_dlq, "edit_dlq"),
            (QueueName::Publish, true) => (&u.publish_dlq, "publish_dlq"),
            (QueueName::Chat, true) => (&u.chat_dlq, "chat_dlq"),
        };
        if url.is_empty() {
            let env = format!("HILITE_AWS__QUEUES__{}", key.to_uppercase());
            return Err(QueueError::Misconfigured {
                queue,
                message: format!("aws.queues.{key} is not set ({env}); it holds the queue's URL"),
            });
        }
        Ok(url)
    }

    fn fail<E>(queue: QueueName, operation: &str, err: SdkError<E, HttpResponse>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.as_service_error().and_then(ProvideErrorMetadata::code);
        let message = format!("SQS {operation} failed: {}", DisplayErrorContext(&err));
        match code {
            Some(c) if MISCONFIGURED.contains(&c) => QueueError::Misconfigured { queue, message },
            _ => QueueError::Unavailable { queue, message },
        }
    }

    /// Like [`Self::fail`], but a receipt SQS no longer knows is [`QueueError::StaleReceipt`].
    fn fail_with_receipt<E>(
        queue: QueueName,
        operation: &str,
        err: SdkError<E, HttpResponse>,
    ) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match err.as_service_error().and_then(ProvideErrorMetadata::code) {
            Some(c) if STALE_RECEIPT.contains(&c) => QueueError::StaleReceipt(queue),
            _ => Self::fail(queue, operation, err),
        }
    }

    async fn counts(&self, queue: QueueName, url: &str) -> Result<[u64; 3], QueueError> {
        let names = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ];
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| Self::fail(queue, "GetQueueAttributes", e))?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(names.map(|n| attributes.get(&n).and_then(|v| v.parse().ok()).unwrap_or(0)))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: QueueName, body: &str, delay: Duration) -> Result<(), QueueError> {
        check_send(queue, body, delay)?;
        self.client
            .send_message()
            .queue_url(self.url(queue, false)?)
            .message_body(body)
            .delay_seconds(secs(delay))
            .send()
            .await
            .map_err(|e| Self::fail(queue, "SendMessage", e))?;
        Ok(())
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        check_receive(queue, max, visibility)?;
        let out = self
            .client
            .receive_message()
            .queue_url(self.url(queue, false)?)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .visibility_timeout(secs(visibility))
            // Short polling: answers at once, and an empty answer only means "poll again"
            // (the `hilite` workers poll every `queues.poll_interval_ms`; Lambda's event
            // source mapping does its own long polling).
            // <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html>
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| Self::fail(queue, "ReceiveMessage", e))?;
        let mut deliveries = Vec::new();
        for m in out.messages.unwrap_or_default() {
            let receive_count = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let (Some(message_id), Some(receipt)) = (m.message_id, m.receipt_handle) else {
                tracing::warn!(%queue, "SQS returned a message without an id or receipt; skipping it");
                continue;
            };
            deliveries.push(Delivery {
                message_id,
                receipt,
                body: m.body.unwrap_or_default(),
                receive_count,
            });
        }
        Ok(deliveries)
    }

    async fn delete(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(self.url(queue, false)?)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| Self::fail_with_receipt(queue, "DeleteMessage", e))?;
        Ok(())
    }

    async fn retry_after(
        &self,
        queue: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        if delay > MAX_VISIBILITY {
            return Err(QueueError::Invalid {
                queue,
                message: format!(
                    "a retry delay of {}s is over SQS's 12 hour visibility limit",
                    delay.as_secs()
                ),
            });
        }
        self.client
            .change_message_visibility()
            .queue_url(self.url(queue, false)?)
            .receipt_handle(receipt)
            .visibility_timeout(secs(delay))
            .send()
            .await
            .map_err(|e| Self::fail_with_receipt(queue, "ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// Receive from the dead-letter queue, send each body to the queue, then delete it from
    /// the dead-letter queue. (SQS's own StartMessageMoveTask needs both queues' ARNs, which
    /// the configuration does not hold, and runs asynchronously; this is synchronous and says
    /// how many moved.) Each pass long-polls for 1 s, which asks every SQS server, so an empty
    /// answer means the dead-letter queue is empty.
    async fn redrive(&self, queue: QueueName, max: u64) -> Result<u64, QueueError> {
        let (dead, live) = (self.url(queue, true)?, self.url(queue, false)?);
        let mut moved = 0u64;
        while moved < max {
            let out = self
                .client
                .receive_message()
                .queue_url(dead)
                .max_number_of_messages(i32::try_from((max - moved).min(10)).unwrap_or(10))
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| Self::fail(queue, "ReceiveMessage", e))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let (Some(body), Some(receipt)) = (m.body, m.receipt_handle) else {
                    continue;
                };
                self.client
                    .send_message()
                    .queue_url(live)
                    .message_body(body)
                    .send()
                    .await
                    .map_err(|e| Self::fail(queue, "SendMessage", e))?;
                self.client
                    .delete_message()
                    .queue_url(dead)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| Self::fail_with_receipt(queue, "DeleteMessage", e))?;
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn depth(&self, queue: QueueName) -> Result<QueueDepth, QueueError> {
        let [visible, not_visible, delayed] = self.counts(queue, self.url(queue, false)?).await?;
        let dead = self
            .counts(queue, self.url(queue, true)?)
            .await?
            .iter()
            .sum();
        Ok(QueueDepth {
            visible,
            in_flight: not_visible + delayed,
            dead,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_seconds() {
        assert_eq!(secs(Duration::ZERO), 0);
        assert_eq!(secs(Duration::from_millis(1)), 1);
        assert_eq!(secs(Duration::from_secs(900)), 900);
        assert_eq!(secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn an_unset_queue_url_names_its_configuration_key() {
        let sdk = aws_sdk_sqs::Config::builder()
            .behavior_version_latest()
            .build();
        let q = SqsQueue::new(Client::from_conf(sdk), AwsQueueUrls::default());
        let err = q.url(QueueName::Download, false).unwrap_err().to_string();
        assert!(
            err.contains("aws.queues.download") && err.contains("HILITE_AWS__QUEUES__DOWNLOAD"),
            "{err}"
        );
        let err = q.url(QueueName::Edit, true).unwrap_err().to_string();
        assert!(err.contains("aws.queues.edit_dlq"), "{err}");
    }
}
