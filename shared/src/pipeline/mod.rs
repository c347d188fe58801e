//! The pipeline: one async function per stage, each taking its ports and one message and
//! returning an outcome (DESIGN.md §2). This module holds what every stage shares — the message
//! formats on each queue, the error kinds that decide retries, and how a delivery is settled
//! with its queue — so the Lambda runtime and `hilite serve` treat every outcome the same way.

#[cfg(feature = "analysis")]
pub mod analyze;
pub mod attempts;
pub mod chat;
pub mod chat_window;
pub mod collect;
pub mod download;
pub mod edit;
pub mod function_url;
pub mod lambda;
pub mod messages;
pub mod moderate;
#[cfg(feature = "analysis")]
pub mod moments;
pub mod plan;
pub mod publish;
#[cfg(feature = "aws")]
pub mod render_job;
#[cfg(feature = "aws")]
pub mod render_sweep;
pub mod runner;
pub mod schedule;
pub mod stages;
#[cfg(feature = "analysis")]
pub mod stream_hype;
pub mod webhook;
pub mod worker;

pub use messages::{ClipMessage, CollectMessage, PublishMessage};
pub use runner::{backoff, handle_sqs_event, settle, Settled};
pub use stages::Pipeline;

use chrono::{DateTime, Utc};

/// How a stage failed; the queue adapters act on this and nothing else guesses.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Worth trying again after a backoff (network, 5xx, store unavailable).
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will never succeed; the stage has recorded the failure on the record. The message is
    /// deleted.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Try again no sooner than `until` (429 with a reset, a quota exhausted).
    #[error("rate limited until {until}: {reason}")]
    RateLimited {
        until: DateTime<Utc>,
        reason: String,
    },
    /// The message itself cannot be read; it is left for the dead-letter queue.
    #[error("malformed message: {0}")]
    Poison(String),
}
