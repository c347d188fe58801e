//! The DynamoDB state store: HiLite's records in ONE table (single-table design), for the AWS
//! backend. It translates the [`StateStore`] operations into conditional writes and queries and
//! holds no rules about clips: status changes are computed by the domain (`Clip::apply`,
//! `Clip::record_failure`, `Publication::claimable`) exactly as the SQLite adapter does. It is
//! not the token vault, although the vault's items live in the same table (`kms_vault`).
//!
//! # Table
//! Keys `pk` (S, HASH) and `sk` (S, RANGE); one global secondary index `gsi1` on `gsi1pk` (S,
//! HASH) and `gsi1sk` (S, RANGE), projection ALL; TTL on `expires_at` (N, epoch seconds);
//! billing PAY_PER_REQUEST. `infra/template.yaml` creates it; the names are the constants below.
//!
//! # Items
//! Each record is stored with serde_dynamo as its own top-level attributes (so conditions can
//! name `status`, `claim_token`, …), plus the key attributes and `rev`:
//!
//! | record | pk | sk | gsi1pk | gsi1sk |
//! |---|---|---|---|---|
//! | clip | `CLIP#{id}` | `CLIP` | `STATUS#{status}` | `{rank}#{created_at µs}#{id}` |
//! | publication | `CLIP#{clip}` | `PUB#{account}#{platform}` | `ACCOUNT#{account}` | `PUB#{clip}#{platform}` |
//! | account | `ACCOUNT#{name}` | `ACCOUNT` | `ACCOUNTS` | `{name}` |
//! | whitelist entry | `WHITELIST` | `{scope key}#{editor}` | | |
//! | broadcaster | `BROADCASTER#{id}` | `BROADCASTER` | `BROADCASTERS` | `{id}` |
//! | stream | `BROADCASTER#{id}` | `STREAM#{started_at, RFC 3339 ns}#{stream}` | | |
//! | stream guard | `STREAM#{stream}` | `STREAM` | | |
//! | webhook message | `MSG#{id}` | `MSG` | | |
//! | token (vault) | `TOKEN#{name}` | `TOKEN` | | |
//!
//! Ids are parsed types that cannot contain `#` (see `domain::ids`), so a key can never run
//! into the next segment. A clip's `rank` is its score in millionths subtracted from 10¹² − 1,
//! zero-padded to 12 digits (and `created_at` is padded to 20), so an ascending query on
//! `STATUS#{status}` returns the best clips first, then the oldest, then by id (the SQLite
//! store's order). A stream is written together with its guard item in one transaction, so a
//! stream id is recorded once however often Twitch repeats it. A webhook message item holds
//! only `expires_at` (whole seconds, for TTL), `expires_us` (compared exactly) and, while a
//! delivery applies it, that delivery's `claim` token (`messages.rs`); a token item
//! holds the vault's sealed data key, nonce and ciphertext.
//!
//! # Concurrency
//! Creations are puts conditional on `attribute_not_exists(pk)`. Every change is a
//! read-modify-write: a consistent read, the change computed in memory, then a put conditional
//! on the status read and on `rev`, a random token every write replaces. An unchanged `rev`
//! means nothing (status, claim, lease, attempts) moved since the read; `updated_at` cannot
//! serve, as two writes may carry the same timestamp. A lost race reads again and re-decides.
//!
//! Queries on `gsi1` (listing clips by status, accounts, broadcasters, an account's
//! publications) are eventually consistent in DynamoDB: a record changed a moment ago may still
//! be listed under its old status.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};

use super::{MessageClaim, StateStore, StoreError, StoreResult};
use crate::domain::{
    Account, AccountName, Broadcaster, BroadcasterId, Claim, Clip, ClipId, ClipPatch, ClipStatus,
    EditorId, ExternalId, PostResult, Publication, PublicationKey, ResumeHandles, Seen, Stage,
    Stream, SubscriptionStatus, Transition, WhitelistEntry, WhitelistScope,
};

mod clips;
mod error;
mod item;
mod messages;
mod publications;
mod records;
mod streams;

/// The table's partition key attribute.
pub const PK: &str = "pk";
/// The table's sort key attribute.
pub const SK: &str = "sk";
/// The one global secondary index.
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// The attribute DynamoDB's time to live reads (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

/// The [`StateStore`] on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Whether the table's key schema and index are the ones this adapter writes.
    async fn check_table(&self) -> StoreResult<()> {
        let out = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.fail("DescribeTable", e))?;
        let misconfigured = |what: String| {
            StoreError::Misconfigured(format!(
                "table {} {what} (deploy infra/template.yaml, or point aws.table at HiLite's table)",
                self.table
            ))
        };
        let table = out
            .table()
            .ok_or_else(|| misconfigured("was not described".into()))?;
        let has_keys =
            |schema: &[aws_sdk_dynamodb::types::KeySchemaElement], hash: &str, range: &str| {
                let find = |kind: KeyType| {
                    schema
                        .iter()
                        .find(|k| k.key_type() == &kind)
                        .map(|k| k.attribute_name())
                };
                find(KeyType::Hash) == Some(hash) && find(KeyType::Range) == Some(range)
            };
        if !has_keys(table.key_schema(), PK, SK) {
            return Err(misconfigured(format!(
                "does not have the key schema {PK} (HASH), {SK} (RANGE)"
            )));
        }
        let gsi_ok = table
            .global_secondary_indexes()
            .iter()
            .any(|g| g.index_name() == Some(GSI1) && has_keys(g.key_schema(), GSI1_PK, GSI1_SK));
        if !gsi_ok {
            return Err(misconfigured(format!(
                "has no index {GSI1} on {GSI1_PK} (HASH), {GSI1_SK} (RANGE)"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn ready(&self) -> StoreResult<()> {
        self.check_table().await
    }

    async fn insert_clip_if_absent(&self, clip: &Clip) -> StoreResult<bool> {
        self.insert_clip(clip).await
    }

    async fn get_clip(&self, id: &ClipId) -> StoreResult<Option<Clip>> {
        self.clip(id).await
    }

    async fn transition_clip(
        &self,
        id: &ClipId,
        t: Transition,
        patch: ClipPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip> {
        self.transition(id, t, patch, now).await
    }

    async fn update_clip(
        &self,
        id: &ClipId,
        expected: ClipStatus,
        patch: ClipPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip> {
        self.change_clip(id, expected, |clip| {
            clip.apply(expected, patch.clone(), now)
        })
        .await
    }

    async fn record_clip_failure(
        &self,
        id: &ClipId,
        expected: ClipStatus,
        stage: Stage,
        message: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip> {
        self.record_failure(id, expected, stage, message, now).await
    }

    async fn list_clips(&self, status: ClipStatus, limit: usize) -> StoreResult<Vec<Clip>> {
        self.clips_by_status(status, limit).await
    }

    async fn count_clips(&self) -> StoreResult<BTreeMap<ClipStatus, u64>> {
        self.clip_counts().await
    }

    async fn create_publication_if_absent(&self, p: &Publication) -> StoreResult<bool> {
        self.insert_publication(p).await
    }

    async fn get_publication(&self, key: &PublicationKey) -> StoreResult<Option<Publication>> {
        self.publication(key).await
    }

    async fn claim_publication(
        &self,
        key: &PublicationKey,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Claim> {
        self.claim(key, lease, now).await
    }

    async fn save_publication_progress(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.save_progress(key, claim_token, resume, now).await
    }

    async fn complete_publication(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        result: &PostResult,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        self.complete(key, claim_token, result, now).await
    }

    async fn release_publication(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        error: &str,
        retry: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        self.release(key, claim_token, error, retry, now).await
    }

    async fn list_publications(
        &self,
        clip: Option<&ClipId>,
        account: Option<&AccountName>,
    ) -> StoreResult<Vec<Publication>> {
        self.publications(clip, account).await
    }

    async fn reopen_publication(
        &self,
        key: &PublicationKey,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        self.reopen(key, resume, now).await
    }

    async fn put_account(&self, account: &Account) -> StoreResult<()> {
        self.save_account(account).await
    }

    async fn get_account(&self, name: &AccountName) -> StoreResult<Option<Account>> {
        self.account(name).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        self.accounts().await
    }

    async fn remove_account(&self, name: &AccountName) -> StoreResult<bool> {
        self.delete_account(name).await
    }

    async fn put_whitelist_entry(&self, entry: &WhitelistEntry) -> StoreResult<()> {
        self.save_whitelist_entry(entry).await
    }

    async fn remove_whitelist_entry(
        &self,
        scope: &WhitelistScope,
        editor: &EditorId,
    ) -> StoreResult<bool> {
        self.delete_whitelist_entry(scope, editor).await
    }

    async fn list_whitelist(&self) -> StoreResult<Vec<WhitelistEntry>> {
        self.whitelist().await
    }

    async fn put_broadcaster(&self, b: &Broadcaster) -> StoreResult<()> {
        self.save_broadcaster(b).await
    }

    async fn get_broadcaster(&self, id: &BroadcasterId) -> StoreResult<Option<Broadcaster>> {
        self.broadcaster(id).await
    }

    async fn list_broadcasters(&self) -> StoreResult<Vec<Broadcaster>> {
        self.broadcasters().await
    }

    async fn set_subscription_status(
        &self,
        broadcaster: &BroadcasterId,
        subscription: &ExternalId,
        kind: &str,
        status: SubscriptionStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.update_subscription(broadcaster, subscription, kind, status, reason, now)
            .await
    }

    async fn open_stream(&self, stream: &Stream) -> StoreResult<bool> {
        self.insert_stream(stream).await
    }

    async fn latest_stream(&self, broadcaster: &BroadcasterId) -> StoreResult<Option<Stream>> {
        self.newest_stream(broadcaster).await
    }

    async fn close_stream(
        &self,
        broadcaster: &BroadcasterId,
        ended_at: DateTime<Utc>,
    ) -> StoreResult<Option<Stream>> {
        self.end_stream(broadcaster, ended_at).await
    }

    async fn message_seen(&self, id: &ExternalId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.seen(id, now).await
    }

    async fn remember_message(
        &self,
        id: &ExternalId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Seen> {
        self.remember(id, expires_at, now).await
    }

    async fn claim_message(
        &self,
        id: &ExternalId,
        token: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<MessageClaim> {
        self.claim_id(id, token, lease_until, now).await
    }

    async fn settle_message(
        &self,
        id: &ExternalId,
        token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.settle_id(id, token, expires_at).await
    }

    async fn release_message(&self, id: &ExternalId, token: &str) -> StoreResult<()> {
        self.release_id(id, token).await
    }
}
