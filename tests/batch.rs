//! The edit stage in AWS, against moto: an edit message submits one AWS Batch render job per
//! clip (queue, definition, the clip id as its parameter) and records it; a redelivery submits
//! nothing more; the job's end arrives as an EventBridge "Batch Job State Change" event, and a
//! failure counts an attempt (once), queues the clip for a new job, or fails it at the limit.
//!
//! moto accepts Batch resources and jobs, but running a job needs Docker, so the jobs' state
//! changes are synthesized in the shape EventBridge delivers
//! (<https://docs.aws.amazon.com/batch/latest/userguide/batch_job_events.html>).

use std::path::Path;

use harness::backends::TestBackend;
use hilite::config::{AwsBatchConfig, Config};
use hilite::domain::{Clip, ClipId, ClipStatus, MediaKey, Stage};
use hilite::pipeline::attempts::{record_failure, retry_failed};
use hilite::pipeline::edit::{edit, Editor};
use hilite::pipeline::lambda::EditFunctionEvent;
use hilite::pipeline::render_job::{job_state_changed, submit, BatchSubmitter, JobStateChange};
use hilite::pipeline::render_sweep::{sweep, SweepReport, SWEEP_GRACE};
use hilite::pipeline::{ClipMessage, StageError};
use hilite::queue::QueueName;
use serde_json::json;

const MAX_ATTEMPTS: u32 = 3;

/// A Batch job queue and job definition on moto, named uniquely, in `config.aws.batch`.
async fn with_batch(mut config: Config) -> Config {
    let sdk = harness::aws::sdk_config().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let role = aws_sdk_iam::Client::new(&sdk)
        .create_role()
        .role_name(format!("hilite-batch-{id}"))
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("create the Batch service role on moto")
        .role
        .expect("role")
        .arn;
    let batch = aws_sdk_batch::Client::new(&sdk);
    let environment = batch
        .create_compute_environment()
        .compute_environment_name(format!("hilite-render-{id}"))
        .r#type(aws_sdk_batch::types::CeType::Unmanaged)
        .state(aws_sdk_batch::types::CeState::Enabled)
        .service_role(role)
        .send()
        .await
        .expect("create a compute environment on moto")
        .compute_environment_arn
        .expect("its ARN");
    let queue = batch
        .create_job_queue()
        .job_queue_name(format!("hilite-render-{id}"))
        .state(aws_sdk_batch::types::JqState::Enabled)
        .priority(1)
        .compute_environment_order(
            aws_sdk_batch::types::ComputeEnvironmentOrder::builder()
                .order(1)
                .compute_environment(environment)
                .build(),
        )
        .send()
        .await
        .expect("create a job queue on moto")
        .job_queue_arn;
    let definition = batch
        .register_job_definition()
        .job_definition_name(format!("hilite-render-{id}"))
        .r#type(aws_sdk_batch::types::JobDefinitionType::Container)
        .container_properties(
            aws_sdk_batch::types::ContainerProperties::builder()
                .image("hilite-edit-job:test")
                .command("edit-job")
                .command("Ref::clip_id")
                .resource_requirements(
                    aws_sdk_batch::types::ResourceRequirement::builder()
                        .r#type(aws_sdk_batch::types::ResourceType::Vcpu)
                        .value("1")
                        .build(),
                )
                .resource_requirements(
                    aws_sdk_batch::types::ResourceRequirement::builder()
                        .r#type(aws_sdk_batch::types::ResourceType::Memory)
                        .value("512")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("register a job definition on moto")
        .job_definition_arn;
    config.aws.batch = AwsBatchConfig {
        job_queue: queue.expect("the queue's ARN"),
        job_definition: definition.expect("the definition's ARN"),
    };
    config
}

struct Site {
    backend: TestBackend,
    config: Config,
    batch: BatchSubmitter,
    client: aws_sdk_batch::Client,
}

async fn site() -> Site {
    let backend = TestBackend::aws(3).await;
    let config = with_batch(backend.config.clone()).await;
    let batch = BatchSubmitter::from_config(&config)
        .await
        .expect("aws.batch is configured");
    let client = aws_sdk_batch::Client::new(&harness::aws::sdk_config().await);
    Site {
        backend,
        config,
        batch,
        client,
    }
}

impl Site {
    /// An `analyzed` clip, with its source stored unless `source` is false.
    async fn analyzed_clip(&self, id: &str, edit_attempts: u32, source: bool) -> ClipId {
        let mut clip = harness::records::clip(id, "a clip", chrono::Utc::now());
        clip.status = ClipStatus::Analyzed;
        clip.attempts.edit = edit_attempts;
        clip.media.source = Some(MediaKey::source(&clip.id));
        let ports = &self.backend.ports;
        ports.store.insert_clip_if_absent(&clip).await.unwrap();
        if source {
            let file = self.backend.scratch().join(format!("{id}.mp4"));
            std::fs::write(&file, b"source bytes").unwrap();
            ports
                .media
                .put_file(&MediaKey::source(&clip.id), Path::new(&file), "video/mp4")
                .await
                .unwrap();
        }
        clip.id
    }

    async fn submit(&self, id: &ClipId) -> Result<(), StageError> {
        submit(
            &self.backend.ports,
            &self.batch,
            MAX_ATTEMPTS,
            &ClipMessage {
                clip_id: id.clone(),
            },
        )
        .await
    }

    async fn clip(&self, id: &ClipId) -> Clip {
        self.backend
            .ports
            .store
            .get_clip(id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Every job on the queue, whatever its status (moto fails them at once: no Docker).
    async fn jobs(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for status in aws_sdk_batch::types::JobStatus::values() {
            let page = self
                .client
                .list_jobs()
                .job_queue(&self.config.aws.batch.job_queue)
                .job_status(aws_sdk_batch::types::JobStatus::from(*status))
                .send()
                .await
                .expect("list jobs");
            ids.extend(
                page.job_summary_list()
                    .iter()
                    .filter_map(|j| j.job_id.clone()),
            );
        }
        ids
    }

    /// Record the clip's job as submitted `ago` (the sweep looks only at jobs past its grace).
    async fn submitted_ago(&self, id: &ClipId, ago: std::time::Duration) {
        let mut job = self.clip(id).await.edit_job.expect("a recorded job");
        job.submitted_at -= chrono::Duration::from_std(ago).unwrap();
        self.record_job(id, job).await;
    }

    /// Record `job` as the clip's render job.
    async fn record_job(&self, id: &ClipId, job: hilite::domain::EditJob) {
        let patch = hilite::domain::ClipPatch {
            edit_job: Some(Some(job)),
            ..Default::default()
        };
        self.backend
            .ports
            .store
            .update_clip(id, ClipStatus::Analyzed, patch, chrono::Utc::now())
            .await
            .unwrap();
    }

    /// Wait until Batch (moto) describes the job with `status`.
    async fn job_reaches(&self, job_id: &str, status: aws_sdk_batch::types::JobStatus) {
        harness::local::eventually(
            std::time::Duration::from_secs(20),
            &format!("job {job_id} to be {status:?}"),
            || async {
                let out = self.client.describe_jobs().jobs(job_id).send().await.ok()?;
                (out.jobs().first()?.status() == Some(&status)).then_some(())
            },
        )
        .await
    }

    /// Submit the clip's job, let moto fail it (it has no Docker to run it) and date it past
    /// the sweep's grace: a job whose FAILED event never came.
    async fn job_failed_unheard(&self, id: &ClipId) -> hilite::domain::EditJob {
        self.submit(id).await.unwrap();
        let job = self.clip(id).await.edit_job.unwrap();
        self.job_reaches(&job.id, aws_sdk_batch::types::JobStatus::Failed)
            .await;
        self.submitted_ago(id, SWEEP_GRACE * 2).await;
        job
    }

    async fn sweep(&self) -> SweepReport {
        sweep(&self.backend.ports, &self.batch, MAX_ATTEMPTS)
            .await
            .expect("the sweep runs")
    }

    async fn queued_edits(&self) -> u64 {
        let d = self
            .backend
            .ports
            .queue
            .depth(QueueName::Edit)
            .await
            .unwrap();
        d.visible + d.in_flight
    }

    /// Deliver a job state change as the edit function receives it from EventBridge.
    async fn job_ended(&self, job_id: &str, clip: &ClipId, status: &str) {
        let event = json!({
            "version": "0", "id": "c8f9c4b5-76e5-d76a-f980-7011e206042b",
            "detail-type": "Batch Job State Change", "source": "aws.batch",
            "account": "123456789012", "time": "2026-11-21T10:00:00Z", "region": "us-east-1",
            "resources": [format!("arn:aws:batch:us-east-1:123456789012:job/{job_id}")],
            "detail": {
                "jobName": format!("hilite-edit-{clip}"), "jobId": job_id,
                "jobQueue": self.config.aws.batch.job_queue, "status": status,
                "statusReason": "Essential container in task exited",
                "attempts": [], "createdAt": 1795250890263_i64, "retryStrategy": {"attempts": 3},
                "dependsOn": [], "jobDefinition": self.config.aws.batch.job_definition,
                "parameters": {"clip_id": clip.as_str()}, "container": {}
            }
        });
        let change = match serde_json::from_value::<EditFunctionEvent>(event).unwrap() {
            EditFunctionEvent::JobStateChange(e) => {
                EditFunctionEvent::job_state_change(*e).unwrap()
            }
            other => panic!("a Batch event read as another event: {other:?}"),
        };
        job_state_changed(&self.backend.ports, MAX_ATTEMPTS, &change)
            .await
            .expect("the state change is handled");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_message_submits_one_job_for_the_clip_and_a_redelivery_submits_nothing() {
    let s = site().await;
    let id = s.analyzed_clip("BatchOne", 0, true).await;

    s.submit(&id).await.expect("submitted");
    let job = s.clip(&id).await.edit_job.expect("the job is recorded");
    assert_eq!((job.attempts_before, job.failed), (0, false));
    let described = s.client.describe_jobs().jobs(&job.id).send().await.unwrap();
    let detail = &described.jobs()[0];
    assert_eq!(
        detail.job_queue(),
        Some(s.config.aws.batch.job_queue.as_str())
    );
    assert_eq!(
        detail.job_definition(),
        Some(s.config.aws.batch.job_definition.as_str())
    );
    assert_eq!(detail.job_name(), Some("hilite-edit-BatchOne"));
    assert_eq!(
        detail
            .parameters()
            .and_then(|p| p.get("clip_id"))
            .map(String::as_str),
        Some("BatchOne")
    );

    s.submit(&id).await.expect("a redelivery is a no-op");
    assert_eq!(
        s.jobs().await,
        std::slice::from_ref(&job.id),
        "exactly one job"
    );
    assert_eq!(s.clip(&id).await.edit_job.unwrap().id, job.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_whose_source_is_missing_fails_before_any_gpu_is_paid_for() {
    let s = site().await;
    let id = s.analyzed_clip("NoSource", 0, false).await;

    let err = s.submit(&id).await.unwrap_err();
    assert!(
        matches!(err, StageError::Permanent(ref m) if m.contains("missing")),
        "{err}"
    );
    let clip = s.clip(&id).await;
    assert_eq!(
        (clip.status, clip.failed_stage),
        (ClipStatus::Failed, Some(Stage::Edit))
    );
    assert!(s.jobs().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_that_never_ran_counts_one_attempt_and_queues_the_clip_for_a_new_job() {
    let s = site().await;
    let id = s.analyzed_clip("FailsOnce", 0, true).await;
    s.submit(&id).await.unwrap();
    let first = s.clip(&id).await.edit_job.unwrap();

    s.job_ended(&first.id, &id, "FAILED").await;
    let clip = s.clip(&id).await;
    assert_eq!((clip.status, clip.attempts.edit), (ClipStatus::Analyzed, 1));
    assert!(clip.edit_job.as_ref().unwrap().failed);
    assert!(clip.errors.last().unwrap().message.contains(&first.id));
    assert_eq!(s.queued_edits().await, 1, "the clip is queued again");

    // EventBridge and Lambda retry: the same event again counts nothing.
    s.job_ended(&first.id, &id, "FAILED").await;
    assert_eq!(s.clip(&id).await.attempts.edit, 1);

    // The queued message submits a new job.
    s.submit(&id).await.unwrap();
    let second = s.clip(&id).await.edit_job.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!((second.attempts_before, second.failed), (1, false));
    assert_eq!(s.jobs().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_run_counted_its_own_failure_is_not_counted_again() {
    let s = site().await;
    let id = s.analyzed_clip("CountedItself", 0, true).await;
    s.submit(&id).await.unwrap();
    let job = s.clip(&id).await.edit_job.unwrap();
    // What `edit-job` does when its render fails.
    s.backend
        .ports
        .store
        .record_clip_failure(
            &id,
            ClipStatus::Analyzed,
            Stage::Edit,
            "ffmpeg failed",
            chrono::Utc::now(),
        )
        .await
        .unwrap();

    s.job_ended(&job.id, &id, "FAILED").await;
    let clip = s.clip(&id).await;
    assert_eq!((clip.status, clip.attempts.edit), (ClipStatus::Analyzed, 1));
    assert_eq!(s.queued_edits().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_failed_job_leaves_the_clip_failed_and_queues_nothing() {
    let s = site().await;
    let id = s.analyzed_clip("FailsLast", MAX_ATTEMPTS - 1, true).await;
    s.submit(&id).await.unwrap();
    let job = s.clip(&id).await.edit_job.unwrap();

    s.job_ended(&job.id, &id, "FAILED").await;
    let clip = s.clip(&id).await;
    assert_eq!(
        (clip.status, clip.failed_stage, clip.attempts.edit),
        (ClipStatus::Failed, Some(Stage::Edit), MAX_ATTEMPTS)
    );
    assert_eq!(s.queued_edits().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_its_job_failed_for_good_gets_a_new_job_when_retried() {
    let s = site().await;
    let id = s.analyzed_clip("RetriedJob", 0, true).await;
    s.submit(&id).await.unwrap();
    let first = s.clip(&id).await.edit_job.unwrap();
    // What `edit-job` does when the render fails for good (a corrupt source, a refused key):
    // the clip is failed by the job's own run, and its job is left as it was recorded.
    let ports = &s.backend.ports;
    let err = record_failure(
        ports,
        &id,
        Stage::Edit,
        MAX_ATTEMPTS,
        StageError::Permanent("the source has no audio".into()),
    )
    .await;
    assert!(matches!(err, StageError::Permanent(_)), "{err}");
    s.job_ended(&first.id, &id, "FAILED").await;
    assert_eq!(s.clip(&id).await.status, ClipStatus::Failed);
    assert_eq!(s.queued_edits().await, 0);

    // `hilite clips retry`: the clip waits for the edit stage again, and its queued message
    // submits a new job instead of waiting on the old one.
    assert_eq!(retry_failed(ports, &id).await.unwrap(), Stage::Edit);
    let retried = s.clip(&id).await;
    assert_eq!(
        (retried.status, retried.attempts.edit, retried.edit_job),
        (ClipStatus::Analyzed, 0, None)
    );
    assert_eq!(s.queued_edits().await, 1);
    s.submit(&id).await.unwrap();
    let second = s.clip(&id).await.edit_job.expect("a new job is recorded");
    assert_ne!(second.id, first.id);
    assert_eq!(s.jobs().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_the_clip_does_not_record_leaves_the_render_to_the_one_it_does() {
    let s = site().await;
    let id = s.analyzed_clip("TwoJobs", 0, true).await;
    s.submit(&id).await.unwrap();
    let before = s.clip(&id).await;
    let recorded = before.edit_job.clone().unwrap();
    let msg = ClipMessage {
        clip_id: id.clone(),
    };

    // A second job for the clip, submitted by a second delivery of its edit message whose
    // record the first one's overwrote: it renders nothing and counts nothing.
    let other = Editor::from_config(&s.config)
        .as_batch_job(Some("5b1d4a8e-0000-4000-8000-00000000beef".into()));
    edit(&s.backend.ports, &other, &msg)
        .await
        .expect("the other job leaves quietly");
    assert_eq!(s.clip(&id).await, before);

    // The recorded job goes on (and fails here: the stored source is not a video).
    let mine = Editor::from_config(&s.config).as_batch_job(Some(recorded.id));
    let got = edit(&s.backend.ports, &mine, &msg).await;
    assert!(got.is_err(), "the recorded job got past the check: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_and_the_end_of_an_older_job_change_nothing() {
    let s = site().await;
    let id = s.analyzed_clip("Unmoved", 0, true).await;
    s.submit(&id).await.unwrap();
    let before = s.clip(&id).await;

    s.job_ended("00000000-0000-0000-0000-000000000000", &id, "FAILED")
        .await;
    s.job_ended(&before.edit_job.as_ref().unwrap().id, &id, "SUCCEEDED")
        .await;
    assert_eq!(s.clip(&id).await, before);
    assert_eq!(s.queued_edits().await, 0);
}

#[test]
fn the_edit_function_tells_sqs_records_from_job_state_changes_and_refuses_other_events() {
    let sqs = json!({"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:hilite-edit"}]});
    assert!(matches!(
        serde_json::from_value::<EditFunctionEvent>(sqs).unwrap(),
        EditFunctionEvent::Sqs(e) if e.records.len() == 1
    ));
    let other = json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "detail": {"jobId": "j", "jobName": "n", "status": "FAILED"}});
    let EditFunctionEvent::JobStateChange(e) = serde_json::from_value(other).unwrap() else {
        panic!("an EventBridge event read as SQS");
    };
    let err = EditFunctionEvent::job_state_change(*e).unwrap_err();
    assert!(
        matches!(err, StageError::Poison(ref m) if m.contains("aws.ec2")),
        "{err}"
    );
    let _: JobStateChange =
        serde_json::from_value(json!({"jobId": "j", "jobName": "n", "status": "RUNNING"}))
            .expect("parameters and reason are optional");
}

/// `events/batch-job-failed.json` (for `make invoke-batch-job-failed`) is an event the edit
/// function handles: a lost host, after Batch's own retries, counts one attempt and requeues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_failed_job_event_counts_an_attempt_and_queues_its_clip() {
    let b = TestBackend::embedded(3).await;
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events/batch-job-failed.json");
    let event: EditFunctionEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let EditFunctionEvent::JobStateChange(event) = event else {
        panic!("the sample reads as an SQS event");
    };
    let change = EditFunctionEvent::job_state_change(*event).unwrap();
    let mut clip =
        harness::records::clip(&change.parameters["clip_id"], "a clip", chrono::Utc::now());
    clip.status = ClipStatus::Analyzed;
    clip.edit_job = Some(hilite::domain::EditJob {
        id: change.job_id.clone(),
        submitted_at: chrono::Utc::now(),
        attempts_before: 0,
        failed: false,
    });
    b.ports.store.insert_clip_if_absent(&clip).await.unwrap();

    job_state_changed(&b.ports, MAX_ATTEMPTS, &change)
        .await
        .unwrap();
    let stored = b.ports.store.get_clip(&clip.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempts.edit),
        (ClipStatus::Analyzed, 1)
    );
    assert!(stored.errors[0].message.contains("Host EC2"));
    let depth = b.ports.queue.depth(QueueName::Edit).await.unwrap();
    assert_eq!(depth.visible + depth.in_flight, 1);
}

/// A job that failed on Batch while its FAILED event was lost (EventBridge gave up, or the edit
/// function's invocation ended in its dead-letter queue): the sweep finds it, counts the
/// attempt once and queues the clip for a new job, as the event would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_whose_event_was_lost_is_found_by_the_sweep_and_counted_once() {
    let s = site().await;
    let id = s.analyzed_clip("LostEvent", 0, true).await;
    let job = s.job_failed_unheard(&id).await;

    let report = s.sweep().await;
    assert_eq!((report.asked, report.ended, report.errors), (1, 1, 0));
    let clip = s.clip(&id).await;
    assert_eq!((clip.status, clip.attempts.edit), (ClipStatus::Analyzed, 1));
    assert!(clip.edit_job.as_ref().unwrap().failed);
    assert!(
        clip.errors.last().unwrap().message.contains(&job.id),
        "{:?}",
        clip.errors
    );
    assert_eq!(
        s.queued_edits().await,
        1,
        "the clip is queued for a new job"
    );

    // The next sweep, and the event arriving late after all, count nothing more.
    assert_eq!(s.sweep().await, SweepReport::default());
    s.job_ended(&job.id, &id, "FAILED").await;
    assert_eq!(s.clip(&id).await.attempts.edit, 1);
}

/// A job Batch does not know (its record gone, or the id never real) leaves nothing to wait
/// for: the clip is settled as if the job failed, and its last attempt fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_batch_no_longer_knows_is_settled_and_the_last_one_fails_the_clip() {
    let s = site().await;
    let id = s
        .analyzed_clip("ForgottenJob", MAX_ATTEMPTS - 1, true)
        .await;
    s.submit(&id).await.unwrap();
    let mut job = s.clip(&id).await.edit_job.unwrap();
    job.id = "6f1d0c2e-0000-4000-8000-00000000dead".into();
    s.record_job(&id, job).await;
    s.submitted_ago(&id, SWEEP_GRACE * 2).await;

    let report = s.sweep().await;
    assert_eq!((report.asked, report.ended), (1, 1));
    let clip = s.clip(&id).await;
    assert_eq!(
        (clip.status, clip.failed_stage, clip.attempts.edit),
        (ClipStatus::Failed, Some(Stage::Edit), MAX_ATTEMPTS)
    );
    assert!(
        clip.errors
            .last()
            .unwrap()
            .message
            .contains("no longer knows"),
        "{:?}",
        clip.errors
    );
    assert_eq!(s.queued_edits().await, 0);
}

/// A job submitted moments ago is left to its own event, whatever Batch says of it yet; a
/// clip waiting on no job is not asked about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_leaves_fresh_jobs_to_their_events() {
    let s = site().await;
    let fresh = s.analyzed_clip("FreshJob", 0, true).await;
    s.submit(&fresh).await.unwrap();
    let job = s.clip(&fresh).await.edit_job.unwrap();
    s.job_reaches(&job.id, aws_sdk_batch::types::JobStatus::Failed)
        .await;
    let _unsubmitted = s.analyzed_clip("NoJobYet", 0, true).await;
    let before = s.clip(&fresh).await;

    assert_eq!(s.sweep().await, SweepReport::default());
    assert_eq!(s.clip(&fresh).await, before);
    assert_eq!(s.queued_edits().await, 0);
}

/// `events/batch-sweep.json` (for `make invoke-batch-sweep`) is the sweep's schedule as the
/// edit function receives it; an EventBridge event that is neither it nor a Batch job state
/// change is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_schedule_event_runs_the_sweep_and_other_events_are_refused() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/batch-sweep.json");
    let event: EditFunctionEvent =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let EditFunctionEvent::Sweep(event) = event else {
        panic!("the sample is not read as the sweep's schedule: {event:?}");
    };
    EditFunctionEvent::sweep_requested(&event).expect("the schedule is accepted");

    let s = site().await;
    let id = s.analyzed_clip("SampleSweep", 0, true).await;
    s.job_failed_unheard(&id).await;
    assert_eq!(s.sweep().await.ended, 1);
    assert_eq!(s.clip(&id).await.attempts.edit, 1);

    // A Batch event whose detail is not a job state change reads as an EventBridge event, and
    // is refused rather than taken for the schedule.
    let broken = json!({"detail-type": "Batch Job State Change", "source": "aws.batch",
        "detail": {"status": "FAILED"}});
    let EditFunctionEvent::Sweep(e) = serde_json::from_value(broken).unwrap() else {
        panic!("a broken Batch event read as a job state change or SQS");
    };
    let err = EditFunctionEvent::sweep_requested(&e).unwrap_err();
    assert!(
        matches!(err, StageError::Poison(ref m) if m.contains("aws.batch")),
        "{err}"
    );
}
