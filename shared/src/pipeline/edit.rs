//! The edit stage: one `analyzed` clip in, its short and side files in the media store and the
//! clip `edited` (or `review`) out (seed 000, step [3]). The render job (`render::job`) runs in
//! this process, at most `render.concurrency` at a time. In AWS the `edit` Lambda submits an AWS
//! Batch job instead (`pipeline::render_job`), and that job runs this stage for its one clip
//! (`edit-job CLIP_ID`).
//!
//! Order of effects: the source is fetched to a temporary folder, rendered, every output is
//! put under its deterministic key, the transcript is moderated, then the clip moves
//! `analyzed → edited` (or `review`) with those keys, and only then is the source deleted. A
//! crash at any point leaves the source and the record as they were, and a redelivery renders
//! again over the same keys.
//!
//! Failures count an attempt of the edit stage; a source that is not a video with sound, or
//! is missing, fails the clip at once, and after `pipeline.max_attempts` it is `failed`. A
//! transcriber that cannot be built (configuration) is not the clip's fault: nothing is
//! counted and the message is retried, then dead-lettered.
//!
//! Moderation and generated titles (`pipeline::moderate`, when `[llm]` is on) never fail the
//! stage; the clip goes to `review` instead of `edited` when the verdict or its broadcaster
//! asks for a person's approval.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::attempts::record_failure;
use super::messages::ClipMessage;
use super::moderate::{Decision, Moderator};
use super::StageError;
use crate::backend::Ports;
use crate::config::Config;
use crate::domain::{Clip, ClipPatch, ClipStatus, MediaKey, MediaKeys, Stage, Transition};
use crate::media::MediaError;
use crate::render::{job, render, RenderConfig, RenderError, RenderInput, Transcriber, Transcript};
use crate::store::StoreError;

/// What the edit stage needs beyond the ports, built once per process.
pub struct Editor {
    render: RenderConfig,
    languages: (String, std::collections::BTreeMap<String, String>),
    /// The transcriber, or why it cannot be built.
    transcriber: Result<Arc<dyn Transcriber>, String>,
    slots: Semaphore,
    max_attempts: u32,
    moderator: Moderator,
    /// The AWS Batch job this process runs as (`edit-job`), when it is one.
    batch_job: Option<String>,
}

impl Editor {
    pub fn from_config(config: &Config) -> Self {
        let transcriber =
            crate::render::transcribe::from_config(&config.transcribe).map_err(|e| e.to_string());
        Self::new(config, transcriber)
    }

    /// With a given transcriber (or a reason there is none).
    pub fn new(config: &Config, transcriber: Result<Arc<dyn Transcriber>, String>) -> Self {
        Self {
            render: config.render.clone(),
            languages: (
                config.transcribe.language.clone(),
                config.transcribe.language_by_broadcaster.clone(),
            ),
            transcriber,
            slots: Semaphore::new(config.render.concurrency.max(1)),
            max_attempts: config.pipeline.max_attempts,
            moderator: Moderator::from_config(config),
            batch_job: None,
        }
    }

    /// Run as the AWS Batch job `id` (`edit-job` passes `AWS_BATCH_JOB_ID`, which Batch sets,
    /// <https://docs.aws.amazon.com/batch/latest/userguide/job_env_vars.html>): a clip that
    /// records another job is left to that one.
    pub fn as_batch_job(mut self, id: Option<String>) -> Self {
        self.batch_job = id.filter(|id| !id.is_empty());
        self
    }
}

/// The files the job writes and the content type each is stored with.
const OUTPUTS: [(&str, &str); 5] = [
    (job::SHORT, "video/mp4"),
    (job::SRT, "application/x-subrip"),
    (job::ASS, "text/x-ssa"),
    (job::THUMBNAIL, "image/jpeg"),
    (job::REPORT, "application/json"),
];

/// Edit one clip.
pub async fn edit(ports: &Ports, editor: &Editor, msg: &ClipMessage) -> Result<(), StageError> {
    if waiting_clip(ports, editor, msg).await?.is_none() {
        return Ok(());
    }
    let transcriber = editor.transcriber.as_ref().map_err(|why| {
        tracing::error!(error = %why, "the edit stage cannot transcribe; fix [transcribe] in the configuration");
        StageError::Retryable(why.clone())
    })?;
    let _slot = editor.slots.acquire().await.map_err(retry)?;
    // Read again with the slot held: a second delivery of the message, which waited behind
    // the first one's render, finds the clip edited (and its source deleted) and stops here.
    let Some(clip) = waiting_clip(ports, editor, msg).await? else {
        return Ok(());
    };
    let outcome = async {
        let work = crate::scratch::folder("hilite-edit-").map_err(retry)?;
        let login = broadcaster_login(ports, &clip).await?;
        let (keys, transcript) = render_and_store(
            ports,
            editor,
            transcriber.as_ref(),
            &clip,
            &login,
            work.path(),
        )
        .await?;
        let decision = editor.moderator.decide(&clip, &login, &transcript).await;
        finish(ports, &clip, keys, decision).await
    }
    .await;
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(record_failure(ports, &clip.id, Stage::Edit, editor.max_attempts, e).await),
    }
}

/// The message's clip when it waits for the edit stage (`analyzed`); `None` when it has moved
/// on, a message for an unknown clip being poison. Shared with `render_job::submit`.
pub(super) async fn analyzed_clip(
    ports: &Ports,
    msg: &ClipMessage,
) -> Result<Option<Clip>, StageError> {
    let Some(clip) = ports.store.get_clip(&msg.clip_id).await.map_err(retry)? else {
        return Err(StageError::Poison(format!(
            "no clip {} is recorded",
            msg.clip_id
        )));
    };
    if clip.status != ClipStatus::Analyzed {
        tracing::debug!(clip = %clip.id, status = %clip.status, "edit delivered for a clip not waiting for it; nothing to do");
        return Ok(None);
    }
    Ok(Some(clip))
}

/// The clip, when it waits for this stage and for this job; `None` when there is nothing to do.
async fn waiting_clip(
    ports: &Ports,
    editor: &Editor,
    msg: &ClipMessage,
) -> Result<Option<Clip>, StageError> {
    let Some(clip) = analyzed_clip(ports, msg).await? else {
        return Ok(None);
    };
    // Two deliveries of one edit message can each submit a job before either records it; the
    // clip keeps the last one recorded, and any other job leaves the render to it instead of
    // paying for a second GPU render of the same clip.
    if let (Some(me), Some(recorded)) = (&editor.batch_job, &clip.edit_job) {
        if recorded.id != *me {
            tracing::info!(clip = %clip.id, job = %me, recorded = %recorded.id, "the clip records another render job; this one leaves it to that job");
            return Ok(None);
        }
    }
    Ok(Some(clip))
}

/// The broadcaster's login, which keys the per-broadcaster settings.
async fn broadcaster_login(ports: &Ports, clip: &Clip) -> Result<String, StageError> {
    Ok(
        match ports
            .store
            .get_broadcaster(&clip.broadcaster_id)
            .await
            .map_err(retry)?
        {
            Some(b) => b.login.as_str().to_string(),
            None => clip.broadcaster_name.to_lowercase(),
        },
    )
}

async fn render_and_store(
    ports: &Ports,
    editor: &Editor,
    transcriber: &dyn Transcriber,
    clip: &Clip,
    login: &str,
    work: &Path,
) -> Result<(MediaKeys, Transcript), StageError> {
    let source_key =
        clip.media.source.clone().ok_or_else(|| {
            StageError::Permanent("the clip has no source media to render".into())
        })?;
    let source = work.join("source.mp4");
    ports
        .media
        .get_to_file(&source_key, &source)
        .await
        .map_err(|e| match e {
            MediaError::NotFound(_) => {
                StageError::Permanent(format!("the source media {source_key} is missing"))
            }
            other => retry(other),
        })?;
    let cfg = &editor.render;
    let (default_language, by_broadcaster) = &editor.languages;
    let language = by_broadcaster
        .get(login)
        .or(Some(default_language))
        .filter(|l| !l.is_empty())
        .cloned();
    let input = RenderInput {
        source,
        window: clip.window,
        layout: cfg
            .layout_by_broadcaster
            .get(login)
            .copied()
            .unwrap_or(cfg.layout),
        split: cfg
            .split_by_broadcaster
            .get(login)
            .copied()
            .unwrap_or(cfg.split),
        source_is_portrait: clip.media.source_is_portrait,
        language,
        peak_secs: None,
    };
    let out = render(&input, cfg, transcriber, &work.join("out"))
        .await
        .map_err(render_error)?;
    let mut keys = MediaKeys {
        source: clip.media.source.clone(),
        source_is_portrait: clip.media.source_is_portrait,
        ..MediaKeys::default()
    };
    for (file, content_type) in OUTPUTS {
        let key =
            MediaKey::rendered(&clip.id, file).map_err(|e| StageError::Permanent(e.to_string()))?;
        ports
            .media
            .put_file(&key, &work.join("out").join(file), content_type)
            .await
            .map_err(retry)?;
        let slot = match file {
            job::SHORT => &mut keys.short,
            job::SRT => &mut keys.captions_srt,
            job::ASS => &mut keys.captions_ass,
            job::THUMBNAIL => &mut keys.thumbnail,
            _ => &mut keys.render_report,
        };
        *slot = Some(key);
    }
    tracing::info!(clip = %clip.id, encoder = out.report.encoder.ffmpeg_name(), layout = %out.report.layout, "clip rendered and stored");
    Ok((keys, out.report.transcript))
}

/// Move the clip to `edited` (or `review`) with its media and what moderation gave, then delete
/// the source it no longer needs.
async fn finish(
    ports: &Ports,
    clip: &Clip,
    keys: MediaKeys,
    decision: Decision,
) -> Result<(), StageError> {
    let source = keys.source.clone();
    let media = MediaKeys {
        source: None,
        ..keys
    };
    let patch = ClipPatch {
        media: Some(media),
        generated_title: decision.title,
        generated_description: decision.description,
        generated_hashtags: decision.hashtags,
        moderation: decision.moderation,
        review_reason: decision.review_reason,
        ..ClipPatch::default()
    };
    let to = Transition::new(ClipStatus::Analyzed, decision.to)
        .map_err(|e| StageError::Permanent(e.to_string()))?;
    match ports
        .store
        .transition_clip(&clip.id, to, patch, ports.clock.now())
        .await
    {
        Ok(_) => {}
        // Another worker finished it first, with the same keys; it deletes the source.
        Err(StoreError::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(retry(e)),
    }
    if let Some(key) = source {
        if let Err(e) = ports.media.delete(&key).await {
            // The short is stored and recorded; an orphaned source only costs space.
            tracing::warn!(clip = %clip.id, key = %key, error = %e, "the source could not be deleted after the edit");
        }
    }
    Ok(())
}

fn render_error(e: RenderError) -> StageError {
    if e.is_permanent() {
        StageError::Permanent(e.to_string())
    } else {
        StageError::Retryable(e.to_string())
    }
}

fn retry(e: impl std::fmt::Display) -> StageError {
    StageError::Retryable(e.to_string())
}
