//! [`SqliteStore`]: the [`StateStore`] port on a [`Database`]. Each method copies its
//! arguments and runs one function of the sibling modules on the blocking pool; nothing here
//! decides anything.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::{accounts, clips, migrations, publications, twitch, Database};
use crate::domain::{
    Account, AccountName, Broadcaster, BroadcasterId, Claim, Clip, ClipId, ClipPatch, ClipStatus,
    EditorId, ExternalId, PostResult, Publication, PublicationKey, ResumeHandles, Seen, Stage,
    Stream, SubscriptionStatus, Transition, WhitelistEntry, WhitelistScope,
};
use crate::store::{MessageClaim, StateStore, StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: Database,
}

impl SqliteStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn ready(&self) -> StoreResult<()> {
        let path = self.db.path().display().to_string();
        self.db
            .run(move |c| {
                let found = migrations::version(c)?;
                if found != migrations::LATEST {
                    return Err(StoreError::Misconfigured(format!(
                        "{path} is at schema version {found}, this hilite expects {}",
                        migrations::LATEST
                    )));
                }
                Ok(())
            })
            .await
    }

    // --- clips ---------------------------------------------------------------------------

    async fn insert_clip_if_absent(&self, clip: &Clip) -> StoreResult<bool> {
        let clip = clip.clone();
        self.db
            .run(move |c| clips::insert_if_absent(c, &clip))
            .await
    }

    async fn get_clip(&self, id: &ClipId) -> StoreResult<Option<Clip>> {
        let id = id.clone();
        self.db.run(move |c| clips::get(c, &id)).await
    }

    async fn transition_clip(
        &self,
        id: &ClipId,
        t: Transition,
        patch: ClipPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip> {
        let id = id.clone();
        self.db
            .run(move |c| clips::transition(c, &id, t, patch, now))
            .await
    }

    async fn update_clip(
        &self,
        id: &ClipId,
        expected: ClipStatus,
        patch: ClipPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip> {
        let id = id.clone();
        self.db
            .run(move |c| clips::update_fields(c, &id, expected, patch, now))
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
        let (id, message) = (id.clone(), message.to_string());
        self.db
            .run(move |c| clips::record_failure(c, &id, expected, stage, &message, now))
            .await
    }

    async fn list_clips(&self, status: ClipStatus, limit: usize) -> StoreResult<Vec<Clip>> {
        self.db.run(move |c| clips::list(c, status, limit)).await
    }

    async fn count_clips(&self) -> StoreResult<BTreeMap<ClipStatus, u64>> {
        self.db.run(|c| clips::count(c)).await
    }

    // --- publications ----------------------------------------------------------------------

    async fn create_publication_if_absent(&self, p: &Publication) -> StoreResult<bool> {
        let p = p.clone();
        self.db
            .run(move |c| publications::insert_if_absent(c, &p))
            .await
    }

    async fn get_publication(&self, key: &PublicationKey) -> StoreResult<Option<Publication>> {
        let key = key.clone();
        self.db.run(move |c| publications::get(c, &key)).await
    }

    async fn claim_publication(
        &self,
        key: &PublicationKey,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Claim> {
        let key = key.clone();
        self.db
            .run(move |c| publications::claim(c, &key, lease, now))
            .await
    }

    async fn save_publication_progress(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (key, token, resume) = (key.clone(), claim_token.to_string(), resume.clone());
        self.db
            .run(move |c| publications::save_progress(c, &key, &token, &resume, now))
            .await
    }

    async fn complete_publication(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        result: &PostResult,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        let (key, token, result) = (key.clone(), claim_token.to_string(), result.clone());
        self.db
            .run(move |c| publications::complete(c, &key, &token, &result, now))
            .await
    }

    async fn release_publication(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        error: &str,
        retry: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        let (key, token, error) = (key.clone(), claim_token.to_string(), error.to_string());
        self.db
            .run(move |c| publications::release(c, &key, &token, &error, retry, now))
            .await
    }

    async fn list_publications(
        &self,
        clip: Option<&ClipId>,
        account: Option<&AccountName>,
    ) -> StoreResult<Vec<Publication>> {
        let (clip, account) = (clip.cloned(), account.cloned());
        self.db
            .run(move |c| publications::list(c, clip.as_ref(), account.as_ref()))
            .await
    }

    async fn reopen_publication(
        &self,
        key: &PublicationKey,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        let (key, resume) = (key.clone(), resume.clone());
        self.db
            .run(move |c| publications::reopen(c, &key, &resume, now))
            .await
    }

    // --- accounts ---------------------------------------------------------------------------

    async fn put_account(&self, account: &Account) -> StoreResult<()> {
        let account = account.clone();
        self.db
            .run(move |c| accounts::put_account(c, &account))
            .await
    }

    async fn get_account(&self, name: &AccountName) -> StoreResult<Option<Account>> {
        let name = name.clone();
        self.db.run(move |c| accounts::get_account(c, &name)).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        self.db.run(|c| accounts::list_accounts(c)).await
    }

    async fn remove_account(&self, name: &AccountName) -> StoreResult<bool> {
        let name = name.clone();
        self.db
            .run(move |c| accounts::remove_account(c, &name))
            .await
    }

    // --- editor whitelist ---------------------------------------------------------------------

    async fn put_whitelist_entry(&self, entry: &WhitelistEntry) -> StoreResult<()> {
        let entry = entry.clone();
        self.db
            .run(move |c| accounts::put_whitelist_entry(c, &entry))
            .await
    }

    async fn remove_whitelist_entry(
        &self,
        scope: &WhitelistScope,
        editor: &EditorId,
    ) -> StoreResult<bool> {
        let (scope, editor) = (scope.clone(), editor.clone());
        self.db
            .run(move |c| accounts::remove_whitelist_entry(c, &scope, &editor))
            .await
    }

    async fn list_whitelist(&self) -> StoreResult<Vec<WhitelistEntry>> {
        self.db.run(|c| accounts::list_whitelist(c)).await
    }

    // --- broadcasters and streams ---------------------------------------------------------------

    async fn put_broadcaster(&self, b: &Broadcaster) -> StoreResult<()> {
        let b = b.clone();
        self.db.run(move |c| twitch::put_broadcaster(c, &b)).await
    }

    async fn get_broadcaster(&self, id: &BroadcasterId) -> StoreResult<Option<Broadcaster>> {
        let id = id.clone();
        self.db.run(move |c| twitch::get_broadcaster(c, &id)).await
    }

    async fn list_broadcasters(&self) -> StoreResult<Vec<Broadcaster>> {
        self.db.run(|c| twitch::list_broadcasters(c)).await
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
        let (broadcaster, subscription) = (broadcaster.clone(), subscription.clone());
        let (kind, reason) = (kind.to_string(), reason.map(str::to_string));
        self.db
            .run(move |c| {
                twitch::set_subscription_status(
                    c,
                    &broadcaster,
                    &subscription,
                    &kind,
                    status,
                    reason.as_deref(),
                    now,
                )
            })
            .await
    }

    async fn open_stream(&self, stream: &Stream) -> StoreResult<bool> {
        let stream = stream.clone();
        self.db.run(move |c| twitch::open_stream(c, &stream)).await
    }

    async fn latest_stream(&self, broadcaster: &BroadcasterId) -> StoreResult<Option<Stream>> {
        let broadcaster = broadcaster.clone();
        self.db
            .run(move |c| twitch::latest_stream(c, &broadcaster))
            .await
    }

    async fn close_stream(
        &self,
        broadcaster: &BroadcasterId,
        ended_at: DateTime<Utc>,
    ) -> StoreResult<Option<Stream>> {
        let broadcaster = broadcaster.clone();
        self.db
            .run(move |c| twitch::close_stream(c, &broadcaster, ended_at))
            .await
    }

    // --- webhook message ids -------------------------------------------------------------------

    async fn message_seen(&self, id: &ExternalId, now: DateTime<Utc>) -> StoreResult<bool> {
        let id = id.clone();
        self.db
            .run(move |c| twitch::message_seen(c, &id, now))
            .await
    }

    async fn remember_message(
        &self,
        id: &ExternalId,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Seen> {
        let id = id.clone();
        self.db
            .run(move |c| twitch::remember_message(c, &id, expires_at, now))
            .await
    }

    async fn claim_message(
        &self,
        id: &ExternalId,
        token: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<MessageClaim> {
        let (id, token) = (id.clone(), token.to_string());
        self.db
            .run(move |c| twitch::claim_message(c, &id, &token, lease_until, now))
            .await
    }

    async fn settle_message(
        &self,
        id: &ExternalId,
        token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, token) = (id.clone(), token.to_string());
        self.db
            .run(move |c| twitch::settle_message(c, &id, &token, expires_at))
            .await
    }

    async fn release_message(&self, id: &ExternalId, token: &str) -> StoreResult<()> {
        let (id, token) = (id.clone(), token.to_string());
        self.db
            .run(move |c| twitch::release_message(c, &id, &token))
            .await
    }
}
