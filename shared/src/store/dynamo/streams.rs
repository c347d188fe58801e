//! Stream items, under their broadcaster's partition and sorted by start time, so the latest
//! stream is the first item of a descending query. Each stream is written with a guard item
//! named by the stream id alone, in one transaction, so a stream id is recorded once even if
//! Twitch repeats `stream.online` with another start time.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, SecondsFormat, Utc};

use super::item::{decode, encode, s, Keys, Outcome};
use super::records::broadcaster_pk;
use super::{DynamoStore, Item, PK, SK};
use crate::domain::{BroadcasterId, Stream};
use crate::store::{StoreError, StoreResult};

const STREAM_PREFIX: &str = "STREAM#";
const GUARD_SK: &str = "STREAM";
/// Streams read per page while looking for the latest open one (usually the first).
const PAGE: i32 = 10;
/// How often `close_stream` looks again when another writer closed the stream it found.
const MAX_RACES: usize = 10;

/// `STREAM#{started_at}#{stream id}`; the time has a fixed width (nanoseconds, `Z`), so the
/// sort key orders streams by start time, then by id, as the SQLite store does.
fn stream_keys(stream: &Stream) -> Keys {
    let started = stream
        .started_at
        .to_rfc3339_opts(SecondsFormat::Nanos, true);
    Keys::new(
        broadcaster_pk(&stream.broadcaster_id),
        format!("{STREAM_PREFIX}{started}#{}", stream.stream_id),
    )
}

impl DynamoStore {
    pub(super) async fn insert_stream(&self, stream: &Stream) -> StoreResult<bool> {
        let guard: Item = [
            (
                PK.to_string(),
                s(format!("{STREAM_PREFIX}{}", stream.stream_id)),
            ),
            (SK.to_string(), s(GUARD_SK)),
            (
                "broadcaster_id".to_string(),
                s(stream.broadcaster_id.as_str()),
            ),
        ]
        .into_iter()
        .collect();
        let record = encode(stream, stream_keys(stream))?;
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|e| {
                    StoreError::Misconfigured(format!("cannot build the stream write: {e}"))
                })
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(guard)?)
            .transact_items(put(record)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let repeated = matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(c))
                        if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                );
                if repeated {
                    Ok(false)
                } else {
                    Err(self.fail("TransactWriteItems", e))
                }
            }
        }
    }

    pub(super) async fn newest_stream(
        &self,
        broadcaster: &BroadcasterId,
    ) -> StoreResult<Option<Stream>> {
        let query = self
            .partition(broadcaster_pk(broadcaster), Some(STREAM_PREFIX))
            .scan_index_forward(false)
            .limit(1);
        Ok(self.query_records(query, Some(1)).await?.pop())
    }

    /// Close the latest stream that is still open.
    pub(super) async fn end_stream(
        &self,
        broadcaster: &BroadcasterId,
        ended_at: DateTime<Utc>,
    ) -> StoreResult<Option<Stream>> {
        for _ in 0..MAX_RACES {
            let Some(open) = self.latest_open(broadcaster).await? else {
                return Ok(None);
            };
            let sk = stream_keys(&open).sk;
            let outcome = self
                .update(
                    broadcaster_pk(broadcaster),
                    &sk,
                    stream_keys,
                    |stream: &mut Stream| {
                        if stream.ended_at.is_some() {
                            return Ok(false);
                        }
                        stream.ended_at = Some(ended_at);
                        Ok(true)
                    },
                )
                .await?;
            match outcome {
                Outcome::Written(stream) => return Ok(Some(stream)),
                // Closed (or removed) by someone else since it was listed: look again.
                Outcome::Kept(_) | Outcome::Missing => continue,
            }
        }
        Err(StoreError::Unavailable(format!(
            "the streams of broadcaster {broadcaster} kept changing under concurrent writes; try again"
        )))
    }

    /// Newest first until the first open stream; usually that is the first one read.
    async fn latest_open(&self, broadcaster: &BroadcasterId) -> StoreResult<Option<Stream>> {
        let mut pages = self
            .partition(broadcaster_pk(broadcaster), Some(STREAM_PREFIX))
            .scan_index_forward(false)
            .limit(PAGE)
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let stream: Stream = decode(item.map_err(|e| self.fail("Query", e))?)?;
            if stream.ended_at.is_none() {
                return Ok(Some(stream));
            }
        }
        Ok(None)
    }
}
