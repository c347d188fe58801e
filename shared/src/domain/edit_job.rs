//! The render job submitted to AWS Batch for a clip, as the clip records it: the job id makes a
//! redelivered edit message a no-op while the job lives, and lets the job's state change be
//! matched to the clip it is about. On one machine the job runs in-process and nothing is kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditJob {
    /// AWS Batch's job id.
    pub id: String,
    pub submitted_at: DateTime<Utc>,
    /// The clip's edit attempt count when the job was submitted: a failed job whose run did
    /// not count an attempt itself (the host went away, the image did not start) is counted
    /// by the state-change handler instead, and only then.
    pub attempts_before: u32,
    /// Set when its failure has been handled (counted, and the clip queued for a new job):
    /// the next edit message submits again, and a repeated state change counts nothing.
    #[serde(default)]
    pub failed: bool,
}
