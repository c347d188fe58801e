//! Reading a broadcaster's captured chat back for a time window (a stream): the day folders
//! the window spans are listed from the window's start, a page at a time, the objects whose
//! bucket overlaps the window are fetched (a few at a time, in key order), decompressed and
//! read line by line, and each message inside the window is handed to the caller once, however
//! often it was delivered (duplicates share Twitch's message id). Memory: a page of keys and a
//! few objects' lines at a time, plus 8 bytes per distinct message for the de-duplication.
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

/// Keys listed per call: S3's ListObjectsV2 page (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>).
const LIST_PAGE: usize = 1000;
/// Pages listed per day at most: a million objects, far past the busiest channel's day of
/// batches (one per batch and minute). A day that goes on past it is read up to there, and
/// the read says so.
const MAX_LIST_PAGES: usize = 1000;
/// Objects fetched at once.
const PARALLEL_FETCHES: usize = 16;
/// Longest window read: a stream longer than this is read up to it.
const MAX_WINDOW: Duration = Duration::hours(48);

/// What reading a window found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatRead {
    pub objects: usize,
    /// Days whose objects went on past `MAX_LIST_PAGES` pages: the rest of them was not read.
    pub days_cut: usize,
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
    each: impl FnMut(&ChatLine),
) -> Result<ChatRead, ChatReadError> {
    read_pages(
        ports,
        broadcaster,
        (from, to),
        bucket_secs,
        MAX_LIST_PAGES,
        each,
    )
    .await
}

/// [`read_window`], listing at most `max_pages` pages of a day.
pub(crate) async fn read_pages(
    ports: &Ports,
    broadcaster: &BroadcasterId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    bucket_secs: u64,
    max_pages: usize,
    mut each: impl FnMut(&ChatLine),
) -> Result<ChatRead, ChatReadError> {
    let to = to.min(from + MAX_WINDOW);
    let bucket = i64::try_from(bucket_secs.max(1)).unwrap_or(60);
    let mut read = ChatRead::default();
    let mut seen: HashSet<u64> = HashSet::new();
    let first_bucket = from.timestamp() - bucket;
    let mut day = DateTime::from_timestamp(first_bucket, 0)
        .unwrap_or(from)
        .date_naive();
    while day <= to.date_naive() {
        let folder = day_folder(broadcaster, day);
        // Names start with the bucket's epoch seconds, ten digits until 2286, so key order is
        // time order and the listing can start at the window: a stream's hours, not its day.
        let mut after = (first_bucket >= 1_000_000_000).then(|| format!("{folder}{first_bucket}"));
        let mut pages = 0;
        loop {
            if pages == max_pages {
                tracing::warn!(broadcaster = %broadcaster, day = %day, objects = read.objects, "more chat log objects in a day than are read; the rest of the day is left out");
                read.days_cut += 1;
                break;
            }
            pages += 1;
            let keys = ports
                .media
                .list(&folder, after.as_deref(), LIST_PAGE)
                .await?;
            let more = keys.len() == LIST_PAGE;
            after = keys.last().map(|k| k.to_string());
            let past = keys
                .last()
                .and_then(bucket_of)
                .is_some_and(|start| start > to.timestamp());
            let wanted = keys.into_iter().filter(|key| {
                bucket_of(key).is_some_and(|start| {
                    start + bucket > from.timestamp() && start <= to.timestamp()
                })
            });
            read_objects(ports, wanted, from, to, &mut seen, &mut read, &mut each).await?;
            if !more || past {
                break;
            }
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    Ok(read)
}

/// Read `keys`' lines, a few objects at a time in key order (a long stream is thousands of
/// small objects), handing each new message of [`from`, `to`] to `each`.
async fn read_objects(
    ports: &Ports,
    keys: impl Iterator<Item = crate::domain::MediaKey>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    seen: &mut HashSet<u64>,
    read: &mut ChatRead,
    each: &mut impl FnMut(&ChatLine),
) -> Result<(), ChatReadError> {
    let mut fetched = futures::stream::iter(keys)
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
    Ok(())
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
