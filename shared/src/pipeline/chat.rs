//! Chat capture: `channel.chat.message` notifications, queued by the webhook one per message,
//! appended in batches to the broadcaster's chat log in the media store (issue 4).
//!
//! The log is many small gzip-compressed JSON-lines objects, one per batch and minute bucket:
//! `chat/<broadcaster>/<YYYY-MM-DD>/<bucket start, epoch seconds>-<batch id>.jsonl.gz`. A busy
//! channel therefore never rewrites one growing object, and a stream's chat is found by listing
//! the days its window spans (`chat_window.rs`). Each line is a [`ChatLine`] with its absolute
//! time; offsets into the stream are computed when it is read, against the stream's VOD.
//!
//! Batching is a group commit: each delivery's handler hands its message to the [`ChatSink`]
//! and waits until the batch holding it is stored, so a message is only deleted from its queue
//! once it is durable, and a crash loses nothing (the queue redelivers). A batch closes when it
//! holds `chat.batch_max_messages` or `chat.batch_linger_ms` after its first message, so memory
//! is bounded by the batch size whatever the chat's rate. A message delivered twice (Twitch
//! retrying a webhook call, the queue redelivering) is dropped within its batch and otherwise
//! when the log is read: every line carries Twitch's message id.
//!
//! Not here: the hype analysis (`analysis::chat`) and the clips made from it (`moments.rs`).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use super::StageError;
use crate::backend::Ports;
use crate::domain::{BroadcasterId, MediaKey};

/// How long a handler waits for its batch to be stored before giving up (its message then
/// comes back from the queue; the log is de-duplicated on read).
const STORE_TIMEOUT: Duration = Duration::from_secs(120);

/// The `[chat]` section of `hilite.toml`: chat capture and the moments nobody clipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Most messages stored in one object. Default 1000.
    pub batch_max_messages: usize,
    /// A batch is stored this long after its first message, full or not. Default 2000 ms.
    pub batch_linger_ms: u64,
    /// Width of the time buckets the log objects are split by. Default 60 s.
    pub bucket_secs: u64,
    /// `hilite serve`: chat deliveries handled at once; they share batches. Default 200.
    pub consumers: usize,
    pub moments: MomentsConfig,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            batch_max_messages: 1000,
            batch_linger_ms: 2000,
            bucket_secs: 60,
            consumers: 200,
            moments: MomentsConfig::default(),
        }
    }
}

/// `[chat.moments]`: after a stream ends, the chat's best moments that no clip covers become
/// clips (Create Clip From VOD). Off unless the broadcaster is listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MomentsConfig {
    /// Broadcasters (logins or user ids) whose streams get moment clips. Default none.
    pub broadcasters: Vec<String>,
    /// Most clips made per stream, best moments first. Default 5.
    pub top: usize,
    /// Shortest clip made, in seconds (Twitch allows 5 to 60). Default 15.
    pub min_secs: f64,
    /// Longest clip made, in seconds (at most 60). Default 45.
    pub max_secs: f64,
    /// Title of the clips, before the moment's time (`… 1:02:03`). Default "HiLite moment".
    pub title: String,
}

impl Default for MomentsConfig {
    fn default() -> Self {
        Self {
            broadcasters: Vec::new(),
            top: 5,
            min_secs: 15.0,
            max_secs: 45.0,
            title: "HiLite moment".into(),
        }
    }
}

impl ChatConfig {
    /// Check the values; the error names the key and the problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let m = &self.moments;
        let checks: [(&'static str, bool, &str); 6] = [
            (
                "chat.batch_max_messages",
                (1..=100_000).contains(&self.batch_max_messages),
                "must be between 1 and 100000",
            ),
            (
                "chat.bucket_secs",
                (1..=3600).contains(&self.bucket_secs),
                "must be between 1 and 3600",
            ),
            (
                "chat.consumers",
                (1..=1000).contains(&self.consumers),
                "must be between 1 and 1000",
            ),
            (
                "chat.moments.min_secs",
                (5.0..=60.0).contains(&m.min_secs),
                "must be between 5 and 60 (Create Clip From VOD's range)",
            ),
            (
                "chat.moments.max_secs",
                m.max_secs >= m.min_secs && m.max_secs <= 60.0,
                "must be between chat.moments.min_secs and 60",
            ),
            (
                "chat.moments.title",
                !m.title.trim().is_empty() && m.title.chars().count() <= 80,
                "must be 1 to 80 characters",
            ),
        ];
        match checks.into_iter().find(|(_, ok, _)| !ok) {
            Some((key, _, problem)) => Err((key, problem.to_string())),
            None => Ok(()),
        }
    }
}

/// On the *chat* queue: one chat message, as the webhook received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatNote {
    pub broadcaster_id: BroadcasterId,
    pub line: ChatLine,
}

/// One line of a captured chat log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatLine {
    /// Twitch's message id: the same message delivered twice has the same id.
    pub id: String,
    /// When Twitch sent it (the notification's signed timestamp).
    pub at: DateTime<Utc>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emote_ids: Vec<String>,
}

/// The folder of one broadcaster's chat log objects of one UTC day.
pub fn day_folder(broadcaster: &BroadcasterId, day: chrono::NaiveDate) -> String {
    format!("chat/{broadcaster}/{}/", day.format("%Y-%m-%d"))
}

/// The bucket start (epoch seconds) encoded in a chat log object's name, if it is one.
pub fn bucket_of(key: &MediaKey) -> Option<i64> {
    let name = key.as_str().rsplit('/').next()?;
    name.strip_suffix(".jsonl.gz")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// The batch being filled, shared by every chat handler of a process.
#[derive(Default)]
pub struct ChatSink {
    open: Arc<Mutex<Option<Arc<Batch>>>>,
}

struct Batch {
    notes: Mutex<Vec<ChatNote>>,
    full: Notify,
    stored: watch::Sender<Option<Result<usize, String>>>,
}

impl ChatSink {
    /// Add one message to the current batch and wait until that batch is stored.
    pub async fn append(
        &self,
        ports: &Ports,
        config: &ChatConfig,
        note: ChatNote,
    ) -> Result<(), StageError> {
        let max = config.batch_max_messages.max(1);
        let (batch, first) = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let (batch, first) = match open.as_ref() {
                Some(b) => (b.clone(), false),
                None => {
                    let b = Arc::new(Batch {
                        notes: Mutex::new(Vec::with_capacity(max.min(1024))),
                        full: Notify::new(),
                        stored: watch::channel(None).0,
                    });
                    *open = Some(b.clone());
                    (b, true)
                }
            };
            let mut notes = batch.notes.lock().unwrap_or_else(|e| e.into_inner());
            notes.push(note);
            if notes.len() >= max {
                // Sealed: the next message starts a new batch.
                *open = None;
                batch.full.notify_one();
            }
            drop(notes);
            (batch, first)
        };
        let mut stored = batch.stored.subscribe();
        if first {
            // The write runs on its own task, so a handler cancelled while it waits (shutdown)
            // never strands the others of its batch.
            tokio::spawn(flush_later(
                self.open.clone(),
                batch.clone(),
                ports.clone(),
                config.clone(),
            ));
        }
        let waited = tokio::time::timeout(STORE_TIMEOUT, stored.wait_for(Option::is_some)).await;
        let failed = |m: String| Err(StageError::Retryable(m));
        match waited {
            Ok(Ok(result)) => match result.as_ref() {
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => failed(e.clone()),
                None => failed("the chat batch was not stored".into()),
            },
            Ok(Err(_)) => failed("the chat batch writer stopped".into()),
            Err(_) => failed(format!(
                "the chat batch was not stored within {}s",
                STORE_TIMEOUT.as_secs()
            )),
        }
    }
}

/// Wait for the batch to fill or linger out, seal it, store it, and tell its handlers.
async fn flush_later(
    open: Arc<Mutex<Option<Arc<Batch>>>>,
    batch: Arc<Batch>,
    ports: Ports,
    config: ChatConfig,
) {
    let linger = Duration::from_millis(config.batch_linger_ms);
    tokio::select! {
        () = tokio::time::sleep(linger) => {}
        () = batch.full.notified() => {}
    }
    let notes = {
        let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
        if open.as_ref().is_some_and(|b| Arc::ptr_eq(b, &batch)) {
            *open = None;
        }
        let mut notes = batch.notes.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *notes)
    };
    let result = store_batch(&ports, &config, notes).await;
    if let Err(e) = &result {
        tracing::warn!(error = %e, "a chat batch was not stored; its messages come back from the queue");
    }
    batch.stored.send_replace(Some(result));
}

/// Store one batch: duplicates dropped, one object per broadcaster, day and bucket. Returns
/// the number of lines stored.
async fn store_batch(
    ports: &Ports,
    config: &ChatConfig,
    notes: Vec<ChatNote>,
) -> Result<usize, String> {
    let bucket = i64::try_from(config.bucket_secs.max(1)).unwrap_or(60);
    let mut seen = HashSet::new();
    let mut groups: BTreeMap<(BroadcasterId, i64), Vec<ChatLine>> = BTreeMap::new();
    for note in notes {
        if !seen.insert((note.broadcaster_id.clone(), note.line.id.clone())) {
            continue;
        }
        let start = note.line.at.timestamp().div_euclid(bucket) * bucket;
        groups
            .entry((note.broadcaster_id, start))
            .or_default()
            .push(note.line);
    }
    let batch_id = uuid::Uuid::new_v4().simple().to_string();
    let mut stored = 0;
    for ((broadcaster, start), lines) in groups {
        let day = DateTime::from_timestamp(start, 0)
            .map(|t| t.date_naive())
            .ok_or_else(|| format!("a chat message time ({start}) is out of range"))?;
        let key = MediaKey::parse(format!(
            "{}{start}-{batch_id}.jsonl.gz",
            day_folder(&broadcaster, day)
        ))
        .map_err(|e| e.to_string())?;
        let n = lines.len();
        let file = tokio::task::spawn_blocking(move || gzip_lines(&lines))
            .await
            .map_err(|e| format!("the chat compression task did not finish: {e}"))??;
        ports
            .media
            .put_file(&key, file.path(), "application/gzip")
            .await
            .map_err(|e| e.to_string())?;
        tracing::debug!(broadcaster = %broadcaster, key = %key, lines = n, "chat batch stored");
        stored += n;
    }
    Ok(stored)
}

/// The lines as gzip-compressed JSON lines in a temporary file.
fn gzip_lines(lines: &[ChatLine]) -> Result<tempfile::NamedTempFile, String> {
    let fail = |e: std::io::Error| format!("cannot write a chat log file: {e}");
    let file = crate::scratch::file("hilite-chat-", ".jsonl.gz").map_err(fail)?;
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file.as_file()),
        flate2::Compression::default(),
    );
    for line in lines {
        serde_json::to_writer(&mut gz, line).map_err(|e| format!("a chat line: {e}"))?;
        gz.write_all(b"\n").map_err(fail)?;
    }
    gz.finish().map_err(fail)?.flush().map_err(fail)?;
    Ok(file)
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
