//! Stage metrics: one [`StageRun`] per delivery a stage handled (which stage, which clip, which
//! attempt, how long, and how it ended), recorded where the runtime can show it. In Lambda the
//! SQS runner prints it as a CloudWatch Embedded Metric Format line ([`emf`]); under
//! `hilite serve` the worker pool adds it to counters in the SQLite file ([`local`]) that
//! `hilite status` prints. Both count the same things, from the same [`Outcome`] mapping.
//!
//! It is not a tracing layer and holds no global state: a runtime passes its sink explicitly.

pub mod emf;
#[cfg(feature = "embedded")]
pub mod local;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::Platform;
use crate::pipeline::messages::{ClipMessage, PublishMessage};
use crate::pipeline::StageError;
use crate::queue::QueueName;

/// How a delivery ended, as its queue will treat it (see `pipeline::settle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done: the message is deleted.
    Succeeded,
    /// Comes back later (a retryable error, or a rate limit until its reset).
    Retried,
    /// Will not succeed: recorded as failed on the clip, or a malformed message left for the
    /// dead-letter queue.
    Failed,
}

impl Outcome {
    pub fn of(result: &Result<(), StageError>) -> Self {
        match result {
            Ok(()) => Outcome::Succeeded,
            Err(StageError::Retryable(_) | StageError::RateLimited { .. }) => Outcome::Retried,
            Err(StageError::Permanent(_) | StageError::Poison(_)) => Outcome::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
        }
    }
}

/// What a message says about itself, read with the queue's own strict message types, so a
/// malformed body yields nothing rather than an arbitrary label (metric dimensions must stay few).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFacts {
    pub clip_id: Option<String>,
    pub platform: Option<Platform>,
}

impl MessageFacts {
    pub fn read(queue: QueueName, body: &str) -> Self {
        match queue {
            QueueName::Download | QueueName::Analyze | QueueName::Edit => {
                serde_json::from_str::<ClipMessage>(body)
                    .map(|m| Self {
                        clip_id: Some(m.clip_id.to_string()),
                        platform: None,
                    })
                    .unwrap_or_default()
            }
            QueueName::Publish => serde_json::from_str::<PublishMessage>(body)
                .map(|m| Self {
                    clip_id: Some(m.clip_id.to_string()),
                    platform: Some(m.platform),
                })
                .unwrap_or_default(),
            // Collect (a stream window) and any queue without a clip.
            _ => Self::default(),
        }
    }
}

/// One delivery handled by one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRun {
    pub stage: QueueName,
    pub facts: MessageFacts,
    /// The delivery's receive count: 1 on the first try.
    pub attempt: u32,
    pub duration: Duration,
    pub outcome: Outcome,
}

/// Where a runtime records its stage runs.
#[async_trait]
pub trait StageMetrics: Send + Sync {
    async fn record(&self, run: &StageRun);
}

/// Records nothing (a runtime with nowhere to show metrics; the stage log line still has them).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

#[async_trait]
impl StageMetrics for NoMetrics {
    async fn record(&self, _run: &StageRun) {}
}

/// The sink for `hilite serve`'s workers: the SQLite counters on the embedded backend. On AWS
/// the Lambda runner prints EMF itself; a `hilite serve --backend aws` has no log group for
/// EMF lines, so it records nothing beyond its log lines.
pub fn for_config(config: &crate::config::Config) -> std::sync::Arc<dyn StageMetrics> {
    #[cfg(feature = "embedded")]
    if config.backend == crate::config::BackendKind::Local {
        match local::LocalCounters::open(&config.local.database_path()) {
            Ok(counters) => return std::sync::Arc::new(counters),
            Err(e) => {
                tracing::warn!(error = %e, "stage counters unavailable; `hilite status` will not show them")
            }
        }
    }
    let _ = config;
    std::sync::Arc::new(NoMetrics)
}

/// Log the end of a stage run: one structured line with clip, stage, attempt, duration and
/// outcome, inside the caller's span. Warn level when the delivery did not succeed.
pub fn log_run(run: &StageRun) {
    let clip_id = run.facts.clip_id.as_deref().unwrap_or("-");
    let duration_ms = run.duration.as_millis() as u64;
    match run.outcome {
        Outcome::Succeeded => tracing::info!(
            stage = %run.stage, clip_id, attempt = run.attempt, duration_ms,
            outcome = run.outcome.as_str(), "stage finished"
        ),
        Outcome::Retried | Outcome::Failed => tracing::warn!(
            stage = %run.stage, clip_id, attempt = run.attempt, duration_ms,
            outcome = run.outcome.as_str(), "stage finished"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_what_the_queue_does_with_the_message() {
        assert_eq!(Outcome::of(&Ok(())), Outcome::Succeeded);
        assert_eq!(
            Outcome::of(&Err(StageError::Retryable("x".into()))),
            Outcome::Retried
        );
        assert_eq!(
            Outcome::of(&Err(StageError::RateLimited {
                until: chrono::Utc::now(),
                reason: "x".into()
            })),
            Outcome::Retried
        );
        assert_eq!(
            Outcome::of(&Err(StageError::Permanent("x".into()))),
            Outcome::Failed
        );
        assert_eq!(
            Outcome::of(&Err(StageError::Poison("x".into()))),
            Outcome::Failed
        );
    }

    #[test]
    fn facts_come_only_from_well_formed_messages() {
        let f = MessageFacts::read(
            QueueName::Publish,
            r#"{"clip_id":"Abc","account":"main","platform":"tiktok"}"#,
        );
        assert_eq!(f.clip_id.as_deref(), Some("Abc"));
        assert_eq!(f.platform, Some(Platform::Tiktok));
        let f = MessageFacts::read(QueueName::Edit, r#"{"clip_id":"Abc"}"#);
        assert_eq!((f.clip_id.as_deref(), f.platform), (Some("Abc"), None));
        // A made-up platform never becomes a metric dimension.
        let f = MessageFacts::read(
            QueueName::Publish,
            r#"{"clip_id":"Abc","account":"main","platform":"myspace"}"#,
        );
        assert_eq!(f, MessageFacts::default());
        assert_eq!(
            MessageFacts::read(QueueName::Download, "not json"),
            MessageFacts::default()
        );
    }
}
