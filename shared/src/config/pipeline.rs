//! The `[queues]` and `[pipeline]` sections: how messages are received and retried, and the
//! limits of the stages (attempts, collection delay and lookback, download size and time). Their
//! ranges are checked in `validate`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueuesConfig {
    /// Receives before a message moves to the dead-letter queue (SQS `maxReceiveCount`).
    pub max_receives: u32,
    /// How long a received message stays hidden while a worker handles it.
    pub visibility_timeout_secs: u64,
    /// Workers per queue in `hilite serve`.
    pub workers: usize,
    /// How often an idle worker looks for messages, in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        Self {
            max_receives: 3,
            visibility_timeout_secs: 300,
            workers: 2,
            poll_interval_ms: 500,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Attempts of a stage before a clip is `failed`.
    pub max_attempts: u32,
    /// Wait between a stream's end and collecting its clips (Twitch needs minutes to finish
    /// clips and fill `vod_offset`). At most 900 s, the SQS delay limit.
    pub collect_delay_secs: u64,
    /// When a stream's start is unknown and Twitch has no archive video for it, collect clips
    /// from this many hours before the stream's end.
    pub lookback_hours: u64,
    /// Largest clip file the download stage accepts, in bytes.
    pub max_download_bytes: u64,
    /// Longest one clip file download may take, in seconds.
    pub download_timeout_secs: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            collect_delay_secs: 600,
            lookback_hours: 12,
            max_download_bytes: 1024 * 1024 * 1024,
            download_timeout_secs: 300,
        }
    }
}
