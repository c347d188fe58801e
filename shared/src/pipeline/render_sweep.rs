//! The render jobs' safety net in AWS: a clip waits `analyzed` for its Batch job's end, which
//! comes back as an EventBridge event ([`super::render_job::job_state_changed`]). When that
//! event never arrives — lost after EventBridge's retries, or a job Batch never starts
//! (`MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE` and the other RUNNABLE states the job
//! queue's own time limits do not cancel) — the clip would wait for ever. An EventBridge
//! schedule (`infra/`'s `RenderJobSweepRule`) runs [`sweep`] in the edit function: it asks
//! Batch about every job its clips still wait for, and
//! - a job that failed, that succeeded without moving its clip, or that Batch no longer knows
//!   is handled as its failure event would have been: an attempt counted (unless the job's run
//!   counted one), the clip queued for a new job or failed at the limit;
//! - a job not ended [`JOB_DEADLINE`] after its submission is terminated, and its FAILED event
//!   (or the next sweep) then does the above.
//!
//! Not here: submitting jobs and their state-change events (`render_job`). On one machine
//! nothing of this runs: `hilite serve` renders in-process.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_batch::types::{JobDetail, JobStatus};

use super::render_job::{job_failed, retry, BatchSubmitter, JobStateChange, CLIP_PARAMETER};
use super::StageError;
use crate::backend::Ports;
use crate::domain::{Clip, ClipStatus, EditJob};

/// A job is first asked about this long after its submission: a job just submitted may not
/// be described yet, and its end usually arrives as an event anyway.
pub const SWEEP_GRACE: Duration = Duration::from_secs(10 * 60);

/// A job not ended this long after its submission is stopped. It must exceed the longest a
/// healthy job takes: the job queue's wait for capacity (3600 s, `JobStateTimeLimitActions`)
/// plus its attempts (3, for lost hosts) of at most `AttemptDurationSeconds` (1800) each
/// (`infra/template.yaml`, held to this by `tests/infra`).
pub const JOB_DEADLINE: Duration = Duration::from_secs(3 * 3600);

/// The most `analyzed` clips one sweep reads (in the store's order, best score first). A clip
/// stays `analyzed` only while its job is queued or running, so there are far fewer: the
/// bound keeps one sweep within the function's time, not a backlog out of reach.
const SWEEP_LIMIT: usize = 1000;

/// DescribeJobs takes at most 100 job ids a call.
/// <https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobs.html>
const DESCRIBE_MAX: usize = 100;

/// What one sweep did, for its log line and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Jobs asked about.
    pub asked: usize,
    /// Jobs found ended (or gone) without their clip moving on: handled as failed.
    pub ended: usize,
    /// Jobs past their deadline, terminated.
    pub stopped: usize,
    /// Jobs a step failed for (logged); the next sweep tries them again.
    pub errors: usize,
}

/// What the sweep makes of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Still queued or running, within its deadline.
    Wait,
    /// Over: handle it as a FAILED event with this reason.
    Ended(String),
    /// Past its deadline: terminate it, with this reason.
    Stop(String),
}

/// The verdict on a job from Batch's description of it (`None`: Batch does not know it) and
/// the time since its submission.
fn verdict(described: Option<&JobDetail>, age: Duration) -> Verdict {
    let Some(job) = described else {
        return Verdict::Ended("AWS Batch no longer knows the render job".into());
    };
    let reason = job.status_reason().unwrap_or("no reason given");
    match job.status() {
        Some(JobStatus::Failed) => Verdict::Ended(format!("{reason} (found by the sweep)")),
        Some(JobStatus::Succeeded) => {
            Verdict::Ended("the render job succeeded without rendering the clip".into())
        }
        _ if age > JOB_DEADLINE => Verdict::Stop(format!(
            "HiLite: not ended {} h after its submission (status {})",
            JOB_DEADLINE.as_secs() / 3600,
            job.status().map_or("unknown", |s| s.as_str())
        )),
        _ => Verdict::Wait,
    }
}

/// Ask Batch about every job an `analyzed` clip has waited on for over [`SWEEP_GRACE`], and
/// settle the ones whose end was missed. An error listing the clips or describing the jobs
/// fails the sweep (the schedule's invocation is retried); an error on one job is logged and
/// left for the next sweep.
pub async fn sweep(
    ports: &Ports,
    batch: &BatchSubmitter,
    max_attempts: u32,
) -> Result<SweepReport, StageError> {
    let now = ports.clock.now();
    let waiting: Vec<(Clip, EditJob)> = ports
        .store
        .list_clips(ClipStatus::Analyzed, SWEEP_LIMIT)
        .await
        .map_err(retry)?
        .into_iter()
        .filter_map(|clip| {
            let job = clip.edit_job.clone().filter(|j| !j.failed)?;
            let age = (now - job.submitted_at).to_std().unwrap_or_default();
            (age > SWEEP_GRACE).then_some((clip, job))
        })
        .collect();
    let mut report = SweepReport {
        asked: waiting.len(),
        ..SweepReport::default()
    };
    for chunk in waiting.chunks(DESCRIBE_MAX) {
        let ids: Vec<String> = chunk.iter().map(|(_, job)| job.id.clone()).collect();
        let described = batch
            .client()
            .describe_jobs()
            .set_jobs(Some(ids))
            .send()
            .await
            .map_err(|e| {
                StageError::Retryable(format!(
                    "AWS Batch could not describe the render jobs: {}",
                    aws_sdk_batch::error::DisplayErrorContext(&e)
                ))
            })?;
        let by_id: BTreeMap<&str, &JobDetail> = described
            .jobs()
            .iter()
            .filter_map(|j| Some((j.job_id()?, j)))
            .collect();
        for (clip, job) in chunk {
            let age = (now - job.submitted_at).to_std().unwrap_or_default();
            let outcome = match verdict(by_id.get(job.id.as_str()).copied(), age) {
                Verdict::Wait => continue,
                Verdict::Ended(reason) => {
                    report.ended += 1;
                    settle(ports, max_attempts, clip, job, reason).await
                }
                Verdict::Stop(reason) => {
                    report.stopped += 1;
                    stop(batch, job, &reason).await
                }
            };
            if let Err(e) = outcome {
                report.errors += 1;
                tracing::warn!(clip = %clip.id, job = %job.id, error = %e, "the sweep could not settle a render job; the next sweep tries again");
            }
        }
    }
    tracing::info!(
        asked = report.asked,
        ended = report.ended,
        stopped = report.stopped,
        errors = report.errors,
        "render jobs swept"
    );
    Ok(report)
}

/// Handle a job found over as its FAILED event would have been.
async fn settle(
    ports: &Ports,
    max_attempts: u32,
    listed: &Clip,
    job: &EditJob,
    reason: String,
) -> Result<(), StageError> {
    // Read again: the job's own run may have counted its failure since the list was read.
    let Some(clip) = ports.store.get_clip(&listed.id).await.map_err(retry)? else {
        return Ok(());
    };
    let still =
        clip.status == ClipStatus::Analyzed && clip.edit_job.as_ref().is_some_and(|j| j == job);
    if !still {
        return Ok(());
    }
    tracing::warn!(clip = %clip.id, job = %job.id, reason, "a render job's end was missed; the sweep handles it");
    let change = JobStateChange {
        job_id: job.id.clone(),
        job_name: String::new(),
        status: "FAILED".into(),
        status_reason: Some(reason),
        parameters: BTreeMap::from([(CLIP_PARAMETER.to_string(), clip.id.to_string())]),
    };
    job_failed(ports, max_attempts, &clip, job, &change).await
}

/// Terminate a job past its deadline; Batch then sends its FAILED event.
async fn stop(batch: &BatchSubmitter, job: &EditJob, reason: &str) -> Result<(), StageError> {
    tracing::warn!(job = %job.id, reason, "a render job is past its deadline; terminating it");
    batch
        .client()
        .terminate_job()
        .job_id(&job.id)
        .reason(reason)
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            StageError::Retryable(format!(
                "AWS Batch could not terminate render job {}: {}",
                job.id,
                aws_sdk_batch::error::DisplayErrorContext(&e)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: JobStatus, reason: Option<&str>) -> JobDetail {
        JobDetail::builder()
            .job_id("j")
            .job_name("hilite-edit-x")
            .job_queue("q")
            .job_definition("d")
            .status(status)
            .set_status_reason(reason.map(str::to_string))
            .build()
    }

    const FRESH: Duration = Duration::from_secs(20 * 60);
    const LATE: Duration = Duration::from_secs(3 * 3600 + 1);

    #[test]
    fn a_job_batch_ended_or_forgot_is_handled_as_failed_whatever_its_age() {
        for age in [FRESH, LATE] {
            assert_eq!(
                verdict(Some(&job(JobStatus::Failed, Some("OutOfMemory"))), age),
                Verdict::Ended("OutOfMemory (found by the sweep)".into())
            );
            assert!(matches!(
                verdict(Some(&job(JobStatus::Succeeded, None)), age),
                Verdict::Ended(m) if m.contains("without rendering")
            ));
            assert!(
                matches!(verdict(None, age), Verdict::Ended(m) if m.contains("no longer knows"))
            );
        }
    }

    #[test]
    fn a_job_not_ended_is_waited_for_until_its_deadline_then_stopped() {
        for status in [
            JobStatus::Submitted,
            JobStatus::Pending,
            JobStatus::Runnable,
            JobStatus::Starting,
            JobStatus::Running,
        ] {
            assert_eq!(
                verdict(Some(&job(status.clone(), None)), FRESH),
                Verdict::Wait
            );
            assert_eq!(
                verdict(Some(&job(status.clone(), None)), JOB_DEADLINE),
                Verdict::Wait
            );
            assert!(
                matches!(verdict(Some(&job(status.clone(), None)), LATE), Verdict::Stop(ref m) if m.contains(status.as_str())),
                "{status:?}"
            );
        }
    }
}
