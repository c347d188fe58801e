//! The publish function: the publish stage behind SQS. Wiring only: configuration from the
//! environment, the AWS clients built once per cold start, then one `handle_sqs_event` per
//! invocation, which reports each failed record in `batchItemFailures`.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use hilite::backend::Ports;
use hilite::config::Config;
use hilite::pipeline::{handle_sqs_event, Pipeline};
use hilite::queue::QueueName;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Arc::new(Config::from_env()?);
    let pipeline = &Pipeline::new(Ports::from_config(&config).await?, config.clone());
    // Records of one batch handled at once: the same per-queue parallelism as `hilite serve`.
    let concurrency = config.queues.workers;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let handle = |d| async move { pipeline.handle(QueueName::Publish, &d).await };
        Ok::<_, Error>(
            handle_sqs_event(
                &*pipeline.ports.queue,
                QueueName::Publish,
                event.payload,
                concurrency,
                handle,
            )
            .await,
        )
    }))
    .await
}
