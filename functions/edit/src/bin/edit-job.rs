//! `edit-job CLIP_ID`: the render job for one clip, against the backend the configuration
//! names (`HILITE_*` environment and the Secrets Manager keys it names, loaded as the Lambda
//! functions load theirs: the LLM's API key arrives as `aws.secrets.llm_api_key`). It runs the
//! edit stage — fetch the source, render, store the outputs, moderate the transcript when
//! `[llm]` is set, move the clip to `edited` or `review` — and exits non-zero when the clip
//! could not be edited (its failure counted on the clip). A job the clip does not record (see
//! `Editor::as_batch_job`) exits at once, leaving the clip to the one it does. The AWS Batch job definition
//! (`infra/template.yaml`) runs this binary with the clip id as its argument (`Ref::clip_id`),
//! submitted by the `edit` function.

use std::process::ExitCode;
use std::sync::Arc;

use hilite::backend::Ports;
use hilite::domain::ClipId;
use hilite::pipeline::edit::{edit, Editor};
use hilite::pipeline::ClipMessage;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(id) = std::env::args().nth(1) else {
        eprintln!("usage: edit-job CLIP_ID");
        return ExitCode::from(2);
    };
    let clip_id = match ClipId::parse(id) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match hilite::secrets::config_from_env().await {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    hilite::telemetry::init(&config.log);
    let ports = match Ports::from_config(&config).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the backend");
            return ExitCode::FAILURE;
        }
    };
    let editor = Editor::from_config(&config).as_batch_job(std::env::var("AWS_BATCH_JOB_ID").ok());
    let outcome = edit(
        &ports,
        &editor,
        &ClipMessage {
            clip_id: clip_id.clone(),
        },
    )
    .await;
    // The job's work files went with its step; this removes the folder they were in.
    hilite::scratch::remove();
    match outcome {
        Ok(()) => {
            tracing::info!(clip = %clip_id, "edit job done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(clip = %clip_id, error = %e, "edit job failed");
            ExitCode::FAILURE
        }
    }
}
