//! The entry point every runtime calls with one delivery from one queue: the Lambda functions
//! (through `handle_sqs_event`) and `hilite serve`'s workers alike. It parses the queue's
//! message type strictly and runs that queue's stage. A stage that this build does not have
//! yet (they arrive one issue at a time) leaves the message in its queue: it is redelivered
//! and finally dead-lettered, never dropped.

use std::sync::Arc;

use super::messages::{parse, ClipMessage, CollectMessage, PublishMessage};
use super::StageError;
use crate::backend::Ports;
use crate::config::Config;
use crate::queue::{Delivery, QueueName};

/// Everything a stage needs: the ports and the configuration, built once per process.
#[derive(Clone)]
pub struct Pipeline {
    pub ports: Ports,
    pub config: Arc<Config>,
}

impl Pipeline {
    pub fn new(ports: Ports, config: Arc<Config>) -> Self {
        Self { ports, config }
    }

    /// Run the stage of `queue` on one delivery.
    pub async fn handle(&self, queue: QueueName, delivery: &Delivery) -> Result<(), StageError> {
        match queue {
            QueueName::Collect => {
                let _msg: CollectMessage = parse(&delivery.body)?;
                Err(not_built(queue))
            }
            QueueName::Download | QueueName::Analyze | QueueName::Edit => {
                let _msg: ClipMessage = parse(&delivery.body)?;
                Err(not_built(queue))
            }
            QueueName::Publish => {
                let _msg: PublishMessage = parse(&delivery.body)?;
                Err(not_built(queue))
            }
        }
    }
}

fn not_built(queue: QueueName) -> StageError {
    StageError::Poison(format!("this build has no {queue} stage yet; the message stays queued"))
}
