//! The queue port: SQS semantics, one queue per pipeline stage. Messages are delivered at
//! least once; a received message is invisible for its visibility timeout and comes back if it
//! is not deleted; after a queue's maximum number of receives it moves to the dead-letter queue.
//! The SQS adapter is used in AWS (where the Lambda event source mapping receives and deletes);
//! the SQLite adapter gives one machine exactly the same behaviour.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[cfg(feature = "embedded")]
pub mod sqlite;
#[cfg(feature = "aws")]
pub mod sqs;

/// SQS's longest delivery delay (`DelaySeconds` ≤ 900).
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// SQS's longest visibility timeout (12 hours).
/// <https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html>
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);
/// SQS's largest batch for one receive.
pub const MAX_RECEIVE_BATCH: u32 = 10;
/// SQS's largest message body (256 KiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueName {
    Collect,
    Download,
    Analyze,
    Edit,
    Publish,
    /// Chat messages from `channel.chat.message`, appended to the stream's chat log in batches
    /// (`pipeline::chat`).
    Chat,
}

impl QueueName {
    pub const ALL: [QueueName; 6] = [
        QueueName::Collect,
        QueueName::Download,
        QueueName::Analyze,
        QueueName::Edit,
        QueueName::Publish,
        QueueName::Chat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Collect => "collect",
            QueueName::Download => "download",
            QueueName::Analyze => "analyze",
            QueueName::Edit => "edit",
            QueueName::Publish => "publish",
            QueueName::Chat => "chat",
        }
    }
}

impl std::str::FromStr for QueueName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        QueueName::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
                format!("unknown queue {s:?} (one of: {})", names.join(", "))
            })
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    /// Names this receive; needed to delete the message or change its visibility.
    pub receipt: String,
    pub body: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Ready to be received now.
    pub visible: u64,
    /// Received and not yet deleted, or delayed.
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue {queue}: {message}")]
    Invalid { queue: QueueName, message: String },
    /// The receipt is unknown or outdated (the message was received again since).
    #[error("queue {0}: the receipt is no longer valid")]
    StaleReceipt(QueueName),
    #[error("queue {queue} unavailable: {message}")]
    Unavailable { queue: QueueName, message: String },
    #[error("queue {queue} misconfigured: {message}")]
    Misconfigured { queue: QueueName, message: String },
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Send one message, delivered no sooner than `delay` (at most [`MAX_DELAY`]).
    async fn send(&self, queue: QueueName, body: &str, delay: Duration) -> Result<(), QueueError>;
    /// Receive up to `max` (≤ [`MAX_RECEIVE_BATCH`]) messages, each hidden for `visibility`.
    /// Messages received more than the queue's maximum times go to its dead-letter queue
    /// instead of being delivered.
    async fn receive(
        &self,
        queue: QueueName,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError>;
    async fn delete(&self, queue: QueueName, receipt: &str) -> Result<(), QueueError>;
    /// Make a received message visible again after `delay` (backoff, rate-limit reset).
    async fn retry_after(
        &self,
        queue: QueueName,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), QueueError>;
    async fn depth(&self, queue: QueueName) -> Result<QueueDepth, QueueError>;
    /// Move up to `max` messages of the queue's dead-letter queue back to it, each as a new
    /// message (its receives start again), once what failed them is fixed. Returns how many
    /// moved. A crash midway leaves a message in both queues at worst, never in neither;
    /// every stage is idempotent under redelivery.
    async fn redrive(&self, queue: QueueName, max: u64) -> Result<u64, QueueError>;
}

/// Refuse what SQS would refuse, in both adapters alike.
pub fn check_send(queue: QueueName, body: &str, delay: Duration) -> Result<(), QueueError> {
    if delay > MAX_DELAY {
        return Err(QueueError::Invalid {
            queue,
            message: format!("a delay of {}s is over the 900 s maximum", delay.as_secs()),
        });
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(QueueError::Invalid {
            queue,
            message: format!("a body of {} bytes is over the 256 KiB maximum", body.len()),
        });
    }
    Ok(())
}

pub fn check_receive(queue: QueueName, max: u32, visibility: Duration) -> Result<(), QueueError> {
    if max == 0 || max > MAX_RECEIVE_BATCH {
        return Err(QueueError::Invalid {
            queue,
            message: format!("a batch of {max} is outside 1..=10"),
        });
    }
    if visibility > MAX_VISIBILITY {
        return Err(QueueError::Invalid {
            queue,
            message: "a visibility timeout over 12 hours".into(),
        });
    }
    Ok(())
}
