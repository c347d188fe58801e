//! The analyze function: two stages behind two SQS queues — *analyze* (one downloaded clip →
//! its score and window) and *chat* (chat messages → the chat log, in batches). Each record's
//! queue comes from its event source ARN matched against the configured queue URLs
//! (`aws.queues.analyze` and `aws.queues.chat`); see `hilite::pipeline::lambda`. Wiring only:
//! configuration from the environment, the AWS clients built once per cold start, then one
//! batch per invocation, each failed record reported in `batchItemFailures`.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use hilite::backend::Ports;
use hilite::config::Config;
use hilite::pipeline::lambda::handle_sqs_event_by_source;
use hilite::pipeline::Pipeline;
use hilite::queue::QueueName;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Arc::new(Config::from_env()?);
    let pipeline = &Pipeline::new(Ports::from_config(&config).await?, config.clone());
    // The analyze mapping sends one clip per invocation; a chat batch is handled all at once,
    // so its records share one chat log object per minute (`pipeline::chat`).
    let concurrency = config.queues.workers.max(config.chat.batch_max_messages);
    let sources = &[QueueName::Analyze, QueueName::Chat];
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
