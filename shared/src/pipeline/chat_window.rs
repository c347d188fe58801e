//! Reading a broadcaster's captured chat back for a time window (a stream): the day folders
//! the window spans are listed, the objects whose bucket overlaps the window are fetched (a
//! few at a time, in key order), decompressed and read line by line, and each message inside
//! the window is handed to the caller once, however often it was delivered (duplicates share
//! Twitch's message id). Memory: a few objects' lines at a time, plus 8 bytes per distinct message for
//! the de-duplication.
//!
//! Not the analysis: the caller scores what it is given (`moments.rs`).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::BufRead;

use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;

use super::chat::{bucket_of, day_folder, ChatLine};
use crate::backend::Ports;
use crate::domain::BroadcasterId;
use crate::media::MediaError;

/// Objects listed per day at most: a day of a very busy channel, batches of a few seconds.
const MAX_OBJECTS_PER_DAY: usize = 200_000;
/// Objects fetched at once.
const PARALLEL_FETCHES: usize = 16;
/// Longest window read: a stream longer than this is read up to it.
const MAX_WINDOW: Duration = Duration::hours(48);

/// What reading a window found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatRead {
    pub objects: usize,
    /// Messages handed to the caller.
    pub messages: usize,
    /// Messages seen again and skipped.
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatReadError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("chat log {key} is corrupt: {problem}")]
    Corrupt { key: String, problem: String },
}

/// Call `each` with every distinct message of `broadcaster` sent in [`from`, `to`].
pub async fn read_window(
    ports: &Ports,
    broadcaster: &BroadcasterId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_secs: u64,
    mut each: impl FnMut(&ChatLine),
) -> Result<ChatRead, ChatReadError> {
    let to = to.min(from + MAX_WINDOW);
    let bucket = i64::try_from(bucket_secs.max(1)).unwrap_or(60);
    let mut read = ChatRead::default();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut day = (from - Duration::seconds(bucket)).date_naive();
    while day <= to.date_naive() {
        let keys = ports
            .media
            .list(&day_folder(broadcaster, day), MAX_OBJECTS_PER_DAY)
            .await?;
        let wanted = keys.into_iter().filter(|key| {
            bucket_of(key)
                .is_some_and(|start| start + bucket > from.timestamp() && start <= to.timestamp())
        });
        // Fetched a few at a time, in key order: a long stream is thousands of small objects.
        let mut fetched = futures::stream::iter(wanted)
            .map(|key| async move { fetch(ports, &key).await })
            .buffered(PARALLEL_FETCHES);
        while let Some(lines) = fetched.next().await {
            let lines = lines?;
            read.objects += 1;
            for line in lines.iter().filter(|l| l.at >= from && l.at <= to) {
                if seen.insert(id_hash(&line.id)) {
                    read.messages += 1;
                    each(line);
                } else {
                    read.duplicates += 1;
                }
            }
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    Ok(read)
}

/// 64 bits of the id: two distinct ids of one stream collide with negligible probability
/// (about n²/2⁶⁵ for n messages), and the set stays small.
fn id_hash(id: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// One object's lines.
async fn fetch(
    ports: &Ports,
    key: &crate::domain::MediaKey,
) -> Result<Vec<ChatLine>, ChatReadError> {
    let corrupt = |problem: String| ChatReadError::Corrupt {
        key: key.to_string(),
        problem,
    };
    let file = crate::scratch::file("hilite-chat-read-", "")
        .map_err(|e| corrupt(format!("cannot create a temporary file: {e}")))?;
    ports.media.get_to_file(key, file.path()).await?;
    tokio::task::spawn_blocking(move || gunzip_lines(file))
        .await
        .map_err(|e| corrupt(format!("the reading task did not finish: {e}")))?
        .map_err(corrupt)
}

fn gunzip_lines(file: tempfile::NamedTempFile) -> Result<Vec<ChatLine>, String> {
    // Opened by path: the media store replaced the file the temporary handle was opened on.
    let opened = std::fs::File::open(file.path()).map_err(|e| format!("cannot open: {e}"))?;
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(opened));
    let mut lines = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        lines.push(serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(lines)
}
