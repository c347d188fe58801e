//! The download function: two stages behind two SQS queues — *collect* (a stream window →
//! the new clips) and *download* (one clip → its source video). Each record's queue comes from
//! its event source ARN matched against the configured queue URLs (`aws.queues.collect` and
//! `aws.queues.download`); see `hilite::pipeline::lambda`. Wiring only.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use hilite::backend::Ports;
use hilite::pipeline::lambda::handle_sqs_event_by_source;
use hilite::pipeline::Pipeline;
use hilite::queue::QueueName;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The environment, then the Secrets Manager secrets it names (aws.secrets.*).
    let config = Arc::new(hilite::secrets::config_from_env().await?);
    let pipeline = &Pipeline::new(Ports::from_config(&config).await?, config.clone());
    // Records of one batch handled at once: the same per-queue parallelism as `hilite serve`.
    let concurrency = config.queues.workers;
    let sources = &[QueueName::Collect, QueueName::Download];
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let handle = |queue, d| async move { pipeline.handle(queue, &d).await };
        let queue = &*pipeline.ports.queue;
        let urls = &pipeline.config.aws.queues;
        Ok::<_, Error>(
            handle_sqs_event_by_source(queue, urls, sources, event.payload, concurrency, handle)
                .await,
        )
    }))
    .await
}
