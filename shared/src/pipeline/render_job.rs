//! The edit stage in AWS: the `edit` Lambda does not render; it submits one AWS Batch job per
//! clip (the job queue and definition from `aws.batch.*`, the clip id as the job's `clip_id`
//! parameter, a retry strategy that retries only lost hosts), records the job on the clip, and
//! the job's container runs `edit-job CLIP_ID` (`pipeline::edit`) on a GPU. The job's end comes
//! back as an EventBridge "Batch Job State Change" event, handled by [`job_state_changed`]; an
//! end that never comes back is caught by the sweep (`render_sweep`).
//!
//! Idempotent: a redelivered edit message for a clip whose recorded job has not failed submits
//! nothing (the SQS visibility timeout keeps two deliveries of one message from overlapping).
//! A failed job counts an edit attempt (unless its own run counted one: `edit-job` records its
//! failures like any stage) and queues the clip for a new job, or leaves it `failed` once
//! `pipeline.max_attempts` is reached. On one machine none of this runs: `hilite serve` renders
//! in-process.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_batch::types::{EvaluateOnExit, RetryAction, RetryStrategy};
use serde::{Deserialize, Serialize};

use super::attempts::record_failure;
use super::messages::{encode, ClipMessage};
use super::StageError;
use crate::backend::Ports;
use crate::config::Config;
use crate::domain::{Clip, ClipId, ClipPatch, ClipStatus, EditJob, Stage};
use crate::queue::QueueName;
use crate::store::StoreError;

/// The job parameter the job definition's command substitutes (`Ref::clip_id`).
pub const CLIP_PARAMETER: &str = "clip_id";
/// Batch tries a job this many times in all when its host goes away (a Spot reclaim).
const HOST_ATTEMPTS: i32 = 3;
/// A failed job's clip waits this long before its next job, so a passing fault can pass.
const REQUEUE_DELAY: Duration = Duration::from_secs(60);

/// Where render jobs go; built once per cold start.
pub struct BatchSubmitter {
    client: aws_sdk_batch::Client,
    job_queue: String,
    job_definition: String,
}

impl BatchSubmitter {
    /// The submitter, or `None` when `aws.batch` is not configured (render in-process).
    pub async fn from_config(config: &Config) -> Option<Self> {
        if !config.aws.batch.enabled() {
            return None;
        }
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Some(Self {
            client: aws_sdk_batch::Client::new(&sdk),
            job_queue: config.aws.batch.job_queue.clone(),
            job_definition: config.aws.batch.job_definition.clone(),
        })
    }

    /// The Batch client, for the sweep's DescribeJobs and TerminateJob (`render_sweep`).
    pub(super) fn client(&self) -> &aws_sdk_batch::Client {
        &self.client
    }
}

/// A job name Batch accepts (letters, digits, `-` and `_`, at most 128), naming the clip.
fn job_name(clip: &ClipId) -> String {
    let safe: String = clip
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("hilite-edit-{safe}")
}

/// Retry only when the host went away; any other failure is the edit stage's to count, so
/// attempts are not multiplied (the same rule as the job definition in `infra/`).
/// <https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html>
fn retry_strategy() -> RetryStrategy {
    RetryStrategy::builder()
        .attempts(HOST_ATTEMPTS)
        .evaluate_on_exit(
            EvaluateOnExit::builder()
                .on_status_reason("Host EC2*")
                .action(RetryAction::Retry)
                .build(),
        )
        .evaluate_on_exit(
            EvaluateOnExit::builder()
                .on_reason("*")
                .action(RetryAction::Exit)
                .build(),
        )
        .build()
}

/// The edit queue's stage in AWS: submit the clip's render job, once.
pub async fn submit(
    ports: &Ports,
    batch: &BatchSubmitter,
    max_attempts: u32,
    msg: &ClipMessage,
) -> Result<(), StageError> {
    let Some(clip) = super::edit::analyzed_clip(ports, msg).await? else {
        return Ok(());
    };
    if let Some(job) = clip.edit_job.as_ref().filter(|j| !j.failed) {
        tracing::info!(clip = %clip.id, job = %job.id, "a render job already works on this clip; nothing submitted");
        return Ok(());
    }
    // Before paying for a GPU: a clip without its source can never render.
    if let Err(e) = check_source(ports, &clip).await {
        return Err(record_failure(ports, &clip.id, Stage::Edit, max_attempts, e).await);
    }
    let submitted = batch
        .client
        .submit_job()
        .job_name(job_name(&clip.id))
        .job_queue(&batch.job_queue)
        .job_definition(&batch.job_definition)
        .parameters(CLIP_PARAMETER, clip.id.as_str())
        .retry_strategy(retry_strategy())
        .send()
        .await
        // Not the clip's fault (a queue or definition missing, throttling): no attempt counted;
        // the message is retried and finally dead-lettered.
        .map_err(|e| {
            StageError::Retryable(format!(
                "AWS Batch refused the render job (check aws.batch.*): {}",
                aws_sdk_batch::error::DisplayErrorContext(&e)
            ))
        })?;
    let Some(job_id) = submitted.job_id() else {
        return Err(StageError::Retryable(
            "AWS Batch accepted the render job but returned no job id".into(),
        ));
    };
    let job = EditJob {
        id: job_id.to_string(),
        submitted_at: ports.clock.now(),
        attempts_before: clip.attempts.edit,
        failed: false,
    };
    let patch = ClipPatch {
        edit_job: Some(Some(job.clone())),
        ..ClipPatch::default()
    };
    match ports
        .store
        .update_clip(&clip.id, ClipStatus::Analyzed, patch, ports.clock.now())
        .await
    {
        Ok(_) => {
            tracing::info!(clip = %clip.id, job = %job.id, "render job submitted");
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => {
            tracing::info!(clip = %clip.id, job = %job.id, "the clip moved on while its job was submitted; the job will find nothing to do");
            Ok(())
        }
        // A redelivery submits again; the second job finds the clip edited and does nothing.
        Err(e) => Err(retry(e)),
    }
}

async fn check_source(ports: &Ports, clip: &Clip) -> Result<(), StageError> {
    let key =
        clip.media.source.as_ref().ok_or_else(|| {
            StageError::Permanent("the clip has no source media to render".into())
        })?;
    match ports.media.size(key).await.map_err(retry)? {
        Some(_) => Ok(()),
        None => Err(StageError::Permanent(format!(
            "the source media {key} is missing"
        ))),
    }
}

/// The fields of a "Batch Job State Change" event's detail this stage reads.
/// <https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html>
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStateChange {
    pub job_id: String,
    pub job_name: String,
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// A render job ended: SUCCEEDED needs nothing (the job moved the clip); FAILED counts an
/// attempt when the job's run did not, and queues the clip for a new job or leaves it failed.
pub async fn job_state_changed(
    ports: &Ports,
    max_attempts: u32,
    change: &JobStateChange,
) -> Result<(), StageError> {
    let Some(id) = change.parameters.get(CLIP_PARAMETER) else {
        return Err(StageError::Poison(format!(
            "job {} ({}) has no {CLIP_PARAMETER} parameter: not a render job",
            change.job_id, change.job_name
        )));
    };
    let id = ClipId::parse(id.clone()).map_err(|e| StageError::Poison(e.to_string()))?;
    let Some(clip) = ports.store.get_clip(&id).await.map_err(retry)? else {
        tracing::warn!(clip = %id, job = %change.job_id, "a render job ended for a clip that is not recorded");
        return Ok(());
    };
    let current = clip.edit_job.as_ref().filter(|j| j.id == change.job_id);
    match change.status.as_str() {
        "SUCCEEDED" => {
            if clip.status == ClipStatus::Analyzed && current.is_some() {
                tracing::warn!(clip = %id, job = %change.job_id, "the render job succeeded but the clip is still analyzed");
            } else {
                tracing::info!(clip = %id, job = %change.job_id, status = %clip.status, "render job succeeded");
            }
            Ok(())
        }
        "FAILED" => {
            let Some(job) = current.filter(|_| clip.status == ClipStatus::Analyzed) else {
                // An older job, or the job's run already failed or finished the clip.
                tracing::info!(clip = %id, job = %change.job_id, status = %clip.status, "a render job failed for a clip that no longer waits for it; nothing to do");
                return Ok(());
            };
            job_failed(ports, max_attempts, &clip, job, change).await
        }
        other => {
            tracing::debug!(clip = %id, job = %change.job_id, status = other, "render job state change ignored");
            Ok(())
        }
    }
}

/// A failed job's clip: the attempt counted (once, and only when the job's run did not count
/// it), then the clip queued for a new job unless that attempt was its last. Also how the
/// sweep (`render_sweep`) settles a job whose end it finds missed.
pub(super) async fn job_failed(
    ports: &Ports,
    max_attempts: u32,
    clip: &Clip,
    job: &EditJob,
    change: &JobStateChange,
) -> Result<(), StageError> {
    let reason = change.status_reason.as_deref().unwrap_or("no reason given");
    if !job.failed {
        // Marked first: a repeated event (EventBridge and Lambda retry) then counts nothing.
        let mut marked = job.clone();
        marked.failed = true;
        let patch = ClipPatch {
            edit_job: Some(Some(marked)),
            ..ClipPatch::default()
        };
        match ports
            .store
            .update_clip(&clip.id, ClipStatus::Analyzed, patch, ports.clock.now())
            .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict { .. }) => return Ok(()),
            Err(e) => return Err(retry(e)),
        }
        // The job's own run counts its failures (`edit-job`); one that never ran (no host, an
        // image that did not start, a timeout) is counted here.
        if clip.attempts.edit == job.attempts_before {
            let error =
                StageError::Retryable(format!("render job {} failed: {reason}", change.job_id));
            if let StageError::Permanent(why) =
                record_failure(ports, &clip.id, Stage::Edit, max_attempts, error).await
            {
                tracing::warn!(clip = %clip.id, job = %change.job_id, error = %why, "render job failed; the clip is failed");
                return Ok(());
            }
        }
    }
    // Still waiting for the stage (attempts remain): a new job, after a pause.
    let still = ports.store.get_clip(&clip.id).await.map_err(retry)?;
    if still.is_some_and(|c| c.status == ClipStatus::Analyzed) {
        let body = encode(&ClipMessage {
            clip_id: clip.id.clone(),
        });
        ports
            .queue
            .send(QueueName::Edit, &body, REQUEUE_DELAY)
            .await
            .map_err(retry)?;
        tracing::warn!(clip = %clip.id, job = %change.job_id, reason, "render job failed; the clip is queued for a new job");
    }
    Ok(())
}

pub(super) fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_keep_to_batchs_characters_and_length() {
        let id = ClipId::parse("Fancy-Clip_123".to_string()).unwrap();
        assert_eq!(job_name(&id), "hilite-edit-Fancy-Clip_123");
        let long = ClipId::parse("a".repeat(120)).unwrap();
        assert!(job_name(&long).len() <= 128);
    }

    #[test]
    fn a_state_change_detail_parses_from_batchs_event_shape() {
        // Trimmed from the documented example event.
        let detail = serde_json::json!({
            "jobName": "hilite-edit-x", "jobId": "4c7599ae-0a82-49aa-ba5a-4727fcce14a8",
            "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q", "status": "FAILED",
            "statusReason": "Essential container in task exited", "attempts": [],
            "parameters": {"clip_id": "x"}, "dependsOn": [], "jobDefinition": "arn:…", "container": {}
        });
        let c: JobStateChange = serde_json::from_value(detail).unwrap();
        assert_eq!(
            (c.status.as_str(), c.parameters["clip_id"].as_str()),
            ("FAILED", "x")
        );
    }
}
