//! HiLite's library: the domain, the pipeline stages, the ports they run against, and the
//! adapters for both backends (SQLite + a folder on one machine; DynamoDB, SQS, S3 and KMS in
//! AWS). The Lambda functions and the `hilite` binary are thin wiring around this crate.

pub mod analysis;
pub mod backend;
pub mod clock;
pub mod config;
pub mod domain;
pub mod llm;
pub mod media;
pub mod metrics;
pub mod pipeline;
pub mod platforms;
pub mod queue;
pub mod render;
#[cfg(feature = "aws")]
pub mod schedules;
pub mod scratch;
#[cfg(feature = "aws")]
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod twitch;
