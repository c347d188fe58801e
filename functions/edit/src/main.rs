//! The edit function: the edit stage behind SQS, and the end of its render jobs. Wiring only:
//! configuration from the environment, the AWS clients built once per cold start, then per
//! invocation an SQS batch (`handle_sqs_event`, each failed record reported in
//! `batchItemFailures`), an EventBridge Batch job state change, or the render-job sweep's
//! schedule (`pipeline::render_sweep`).
//!
//! With `aws.batch.*` set, an edit message submits the clip's AWS Batch render job
//! (`pipeline::render_job`); without, the clip is rendered in this process (`pipeline::edit`).

use std::sync::Arc;

use hilite::backend::Ports;
use hilite::config::Config;
use hilite::pipeline::lambda::EditFunctionEvent;
use hilite::pipeline::messages::parse;
use hilite::pipeline::render_job::{job_state_changed, submit, BatchSubmitter};
use hilite::pipeline::render_sweep::sweep;
use hilite::pipeline::{handle_sqs_event, ClipMessage, Pipeline};
use hilite::queue::QueueName;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Arc::new(Config::from_env()?);
    let pipeline = &Pipeline::new(Ports::from_config(&config).await?, config.clone());
    let batch = &BatchSubmitter::from_config(&config).await;
    // Records of one batch handled at once: the same per-queue parallelism as `hilite serve`.
    let concurrency = config.queues.workers;
    let max_attempts = config.pipeline.max_attempts;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<EditFunctionEvent>| async move {
            match event.payload {
                EditFunctionEvent::Sqs(sqs) => {
                    let handle = |d: hilite::queue::Delivery| async move {
                        match batch {
                            Some(batch) => {
                                let msg: ClipMessage = parse(&d.body)?;
                                submit(&pipeline.ports, batch, max_attempts, &msg).await
                            }
                            None => pipeline.handle(QueueName::Edit, &d).await,
                        }
                    };
                    let response = handle_sqs_event(
                        &*pipeline.ports.queue,
                        QueueName::Edit,
                        sqs,
                        concurrency,
                        handle,
                    )
                    .await;
                    Ok::<_, Error>(serde_json::to_value(response)?)
                }
                // An error here makes Lambda retry the invocation, then its dead-letter queue.
                EditFunctionEvent::JobStateChange(change) => {
                    let change = EditFunctionEvent::job_state_change(*change)?;
                    job_state_changed(&pipeline.ports, max_attempts, &change).await?;
                    Ok(Value::Null)
                }
                EditFunctionEvent::Sweep(event) => {
                    EditFunctionEvent::sweep_requested(&event)?;
                    // Only render jobs are swept: rendering in-process leaves nothing to sweep.
                    if let Some(batch) = batch {
                        sweep(&pipeline.ports, batch, max_attempts).await?;
                    }
                    Ok(Value::Null)
                }
            }
        },
    ))
    .await
}
