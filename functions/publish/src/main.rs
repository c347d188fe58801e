//! The publish function: the publish stage behind SQS, and each account's daily plan behind its
//! EventBridge Scheduler schedule. Wiring only: configuration from the environment, the AWS
//! clients built once per cold start, then per invocation either one `handle_sqs_event` (which
//! reports each failed record in `batchItemFailures`) or one plan. A plan that fails returns
//! the error, so Lambda retries the asynchronous invocation and then sends it to the
//! template's invocation dead-letter queue.

mod invocation;

use std::sync::Arc;

use hilite::backend::Ports;
use hilite::pipeline::plan::plan;
use hilite::pipeline::{handle_sqs_event, Pipeline};
use hilite::queue::QueueName;
use invocation::Invocation;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The environment, then the platforms' client secrets from Secrets Manager
    // (aws.secrets.platform_client_secrets).
    let config = Arc::new(hilite::secrets::config_from_env().await?);
    let pipeline = &Pipeline::new(Ports::from_config(&config).await?, config.clone());
    // Records of one batch handled at once: the same per-queue parallelism as `hilite serve`.
    let concurrency = config.queues.workers;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Invocation>| async move {
        match event.payload {
            Invocation::Schedule(scheduled) => {
                let now = pipeline.ports.clock.now();
                let report = plan(
                    &pipeline.ports,
                    &pipeline.platforms,
                    &scheduled.account,
                    now,
                )
                .await?;
                Ok::<_, Error>(serde_json::to_value(report)?)
            }
            Invocation::Queue(batch) => {
                let handle = |d| async move { pipeline.handle(QueueName::Publish, &d).await };
                let response = handle_sqs_event(
                    &*pipeline.ports.queue,
                    QueueName::Publish,
                    batch,
                    concurrency,
                    handle,
                )
                .await;
                Ok(serde_json::to_value(response)?)
            }
        }
    }))
    .await
}
