//! The message on each queue, parsed strictly: an unknown field or a bad id is a poison
//! message, not a guess.

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::StageError;
use crate::domain::{AccountName, BroadcasterId, ClipId, ExternalId, Platform};

/// On the *collect* queue: fetch the clips of one stream window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectMessage {
    pub broadcaster_id: BroadcasterId,
    pub stream_id: Option<ExternalId>,
    /// `None` when HiLite never saw the stream start (it was started mid-stream): collect finds
    /// the start from the latest archive video, else a configured look-back.
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
}

/// On the *download*, *analyze* and *edit* queues: one clip to work on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipMessage {
    pub clip_id: ClipId,
}

/// On the *publish* queue: one clip to one platform for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishMessage {
    pub clip_id: ClipId,
    pub account: AccountName,
    pub platform: Platform,
}

/// Parse a queue body into its message type; failure is [`StageError::Poison`].
pub fn parse<T: DeserializeOwned>(body: &str) -> Result<T, StageError> {
    serde_json::from_str(body).map_err(|e| StageError::Poison(e.to_string()))
}

/// Serialise a message for sending. These types always serialise; a failure is a bug.
pub fn encode<T: Serialize>(msg: &T) -> String {
    serde_json::to_string(msg)
        .unwrap_or_else(|e| unreachable!("message types always serialise: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_bad_ids_are_poison() {
        assert!(matches!(
            parse::<ClipMessage>(r#"{"clip_id":"A","x":1}"#),
            Err(StageError::Poison(_))
        ));
        assert!(matches!(
            parse::<ClipMessage>(r#"{"clip_id":"../etc"}"#),
            Err(StageError::Poison(_))
        ));
        assert!(matches!(
            parse::<ClipMessage>("not json"),
            Err(StageError::Poison(_))
        ));
        let m: ClipMessage = parse(r#"{"clip_id":"Abc_1"}"#).unwrap();
        assert_eq!(parse::<ClipMessage>(&encode(&m)).unwrap(), m);
    }
}
