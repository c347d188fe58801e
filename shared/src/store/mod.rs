//! The state store port: typed operations on HiLite's records, each stating its guarantee in
//! its name and signature (`insert_clip_if_absent`, `claim_publication`). Two adapters
//! implement it — SQLite for one machine, DynamoDB for AWS — and one contract suite
//! (`tests/contract.rs`) holds both to the same behaviour.
//!
//! The token vault is a port of its own: secrets are encrypted before they reach either store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

use crate::domain::{
    Account, AccountName, Broadcaster, BroadcasterId, Claim, Clip, ClipId, ClipPatch, ClipStatus,
    EditorId, ExternalId, IllegalTransition, PostResult, Publication, PublicationKey,
    ResumeHandles, Seen, Stage, Stream, SubscriptionStatus, TokenRef, Transition, WhitelistEntry,
    WhitelistScope,
};

#[cfg(feature = "aws")]
pub mod dynamo;
#[cfg(feature = "aws")]
pub mod kms_vault;
#[cfg(feature = "embedded")]
pub mod local_vault;
#[cfg(feature = "aws")]
pub mod secret_vault;
#[cfg(feature = "embedded")]
pub mod sqlite;
pub(crate) mod token_cipher;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record was not in the expected state: someone else moved it first.
    #[error("{what} was not {expected} (it is {actual})")]
    Conflict {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// The store itself failed (unreachable, throttled, corrupt); worth retrying later.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// The store is not usable as configured (missing table, newer schema); retrying won't help.
    #[error("state store misconfigured: {0}")]
    Misconfigured(String),
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What [`StateStore::claim_message`] found for a webhook message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageClaim {
    /// The caller holds the id until its lease ends: apply the message, then settle or release.
    Claimed,
    /// Another delivery holds an unexpired claim; whether it will succeed is not known yet.
    InFlight,
    /// Already handled (settled or remembered) and unexpired.
    Handled,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Check the store is reachable and has the expected schema/table.
    async fn ready(&self) -> StoreResult<()>;

    // --- clips ---------------------------------------------------------------------------
    /// Insert a new clip; `false` (and no change) when a clip with this id exists already.
    async fn insert_clip_if_absent(&self, clip: &Clip) -> StoreResult<bool>;
    async fn get_clip(&self, id: &ClipId) -> StoreResult<Option<Clip>>;
    /// Move a clip from `t.from` to `t.to` with `patch`, only if it is still in `t.from`.
    /// Returns the updated clip; `Conflict` when another worker moved it first.
    async fn transition_clip(
        &self,
        id: &ClipId,
        t: Transition,
        patch: ClipPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip>;
    /// Change a clip's fields by `patch` while it stays in `expected` (the render job id the
    /// edit stage records). Returns the updated clip; `Conflict` when it has moved.
    async fn update_clip(
        &self,
        id: &ClipId,
        expected: ClipStatus,
        patch: ClipPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip>;
    /// Count a failed attempt of `stage` (and log the message) while the clip is still in
    /// `expected`. Returns the clip with its new attempt count; `Conflict` if it moved.
    async fn record_clip_failure(
        &self,
        id: &ClipId,
        expected: ClipStatus,
        stage: Stage,
        message: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip>;
    /// Clips in `status`, best score first, at most `limit`.
    async fn list_clips(&self, status: ClipStatus, limit: usize) -> StoreResult<Vec<Clip>>;
    async fn count_clips(&self) -> StoreResult<BTreeMap<ClipStatus, u64>>;

    // --- publications ----------------------------------------------------------------------
    /// Plan a publication; `false` when this (clip, account, platform) exists already.
    async fn create_publication_if_absent(&self, p: &Publication) -> StoreResult<bool>;
    async fn get_publication(&self, key: &PublicationKey) -> StoreResult<Option<Publication>>;
    /// Take the publication for `lease` if it is claimable (see `Publication::claimable`).
    /// Of two concurrent claims exactly one gets `Claimed`.
    async fn claim_publication(
        &self,
        key: &PublicationKey,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Claim>;
    /// Save resume handles the moment the platform returns them; only the claim holder may.
    async fn save_publication_progress(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn complete_publication(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        result: &PostResult,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication>;
    /// Give up the claim: back to `pending` when `retry`, else `failed`, with the error.
    async fn release_publication(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        error: &str,
        retry: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication>;
    async fn list_publications(
        &self,
        clip: Option<&ClipId>,
        account: Option<&AccountName>,
    ) -> StoreResult<Vec<Publication>>;
    /// Set a `failed` publication `pending` again (see `Publication::reopen`), keeping only
    /// `resume`. `Conflict` (and no change) when it is not failed; `NotFound` when missing.
    async fn reopen_publication(
        &self,
        key: &PublicationKey,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication>;

    // --- accounts ---------------------------------------------------------------------------
    async fn put_account(&self, account: &Account) -> StoreResult<()>;
    async fn get_account(&self, name: &AccountName) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
    /// `false` when there was no such account.
    async fn remove_account(&self, name: &AccountName) -> StoreResult<bool>;

    // --- editor whitelist ---------------------------------------------------------------------
    async fn put_whitelist_entry(&self, entry: &WhitelistEntry) -> StoreResult<()>;
    async fn remove_whitelist_entry(
        &self,
        scope: &WhitelistScope,
        editor: &EditorId,
    ) -> StoreResult<bool>;
    async fn list_whitelist(&self) -> StoreResult<Vec<WhitelistEntry>>;

    // --- broadcasters and streams ---------------------------------------------------------------
    async fn put_broadcaster(&self, b: &Broadcaster) -> StoreResult<()>;
    async fn get_broadcaster(&self, id: &BroadcasterId) -> StoreResult<Option<Broadcaster>>;
    async fn list_broadcasters(&self) -> StoreResult<Vec<Broadcaster>>;
    /// Record a subscription's new status (and Twitch's reason when revoked). `NotFound` when
    /// the broadcaster is unknown.
    async fn set_subscription_status(
        &self,
        broadcaster: &BroadcasterId,
        subscription: &ExternalId,
        kind: &str,
        status: SubscriptionStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Record a stream start; `false` when this stream id was recorded already.
    async fn open_stream(&self, stream: &Stream) -> StoreResult<bool>;
    /// The broadcaster's most recently started stream, open or closed.
    async fn latest_stream(&self, broadcaster: &BroadcasterId) -> StoreResult<Option<Stream>>;
    /// Close the latest open stream; `None` when none is open.
    async fn close_stream(
        &self,
        broadcaster: &BroadcasterId,
        ended_at: DateTime<Utc>,
    ) -> StoreResult<Option<Stream>>;

    // --- webhook message ids -------------------------------------------------------------------
    /// Whether `id` is remembered or claimed, and unexpired at `now` (a read; changes nothing).
    async fn message_seen(&self, id: &ExternalId, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Remember `id` until `expires_at`; `AlreadySeen` when it is remembered (or claimed) and
    /// unexpired. Of two concurrent calls with the same id exactly one gets `New`.
    async fn remember_message(
        &self,
        id: &ExternalId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Seen>;
    /// Claim webhook message `id` under `token` until `lease_until`, before applying it:
    /// `Claimed` when the id is absent or expired (including a claim whose holder died and
    /// whose lease ran out), `InFlight` while another token's lease runs, `Handled` when it is
    /// settled or remembered and unexpired. Of concurrent claims of one id exactly one gets
    /// `Claimed`. The holder then calls `settle_message` (applied) or `release_message` (failed).
    async fn claim_message(
        &self,
        id: &ExternalId,
        token: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<MessageClaim>;
    /// Turn `token`'s claim into a handled id remembered until `expires_at`. `Conflict` (and no
    /// change) when `token` no longer holds it: its lease ran out and another delivery claimed it.
    async fn settle_message(
        &self,
        id: &ExternalId,
        token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Give up `token`'s claim (applying failed), so that the next delivery of the id can claim
    /// it at once; no change when `token` does not hold it.
    async fn release_message(&self, id: &ExternalId, token: &str) -> StoreResult<()>;
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("token vault unavailable: {0}")]
    Unavailable(String),
    /// Ciphertext that does not decrypt: wrong key, or tampered with.
    #[error("token {0} cannot be decrypted (wrong key or tampered record)")]
    Corrupt(String),
    #[error("token vault misconfigured: {0}")]
    Misconfigured(String),
}

/// Encrypted storage for OAuth tokens and other per-user secrets. Values are opaque strings
/// (usually a token set as JSON); they are encrypted before they are written anywhere.
#[async_trait]
pub trait TokenVault: Send + Sync {
    async fn put_token(&self, name: &TokenRef, secret: &SecretString) -> Result<(), VaultError>;
    async fn get_token(&self, name: &TokenRef) -> Result<Option<SecretString>, VaultError>;
    async fn delete_token(&self, name: &TokenRef) -> Result<(), VaultError>;
}
