//! The smaller records: publishing accounts, the editor whitelist and broadcasters (with their
//! EventSub subscriptions inside the item). Plain puts, reads and deletes, except the
//! subscription status (a read-modify-write). Webhook message ids are `messages.rs`.

use chrono::{DateTime, Utc};

use super::item::{encode, Keys, Outcome};
use super::DynamoStore;
use crate::domain::{
    Account, AccountName, Broadcaster, BroadcasterId, EditorId, ExternalId, Subscription,
    SubscriptionStatus, WhitelistEntry, WhitelistScope,
};
use crate::store::{StoreError, StoreResult};

const ACCOUNT_SK: &str = "ACCOUNT";
const ACCOUNTS: &str = "ACCOUNTS";
const WHITELIST: &str = "WHITELIST";
pub(super) const BROADCASTER_SK: &str = "BROADCASTER";
const BROADCASTERS: &str = "BROADCASTERS";

fn account_pk(name: &AccountName) -> String {
    format!("ACCOUNT#{name}")
}

pub(super) fn broadcaster_pk(id: &BroadcasterId) -> String {
    format!("BROADCASTER#{id}")
}

/// `{scope}#{editor}`: `*` sorts before every broadcaster id and `#` before every digit, so the
/// partition lists entries by scope, then editor, as the SQLite store does.
fn whitelist_sk(scope: &WhitelistScope, editor: &EditorId) -> String {
    format!("{}#{editor}", scope.key())
}

fn broadcaster_keys(b: &Broadcaster) -> Keys {
    Keys::new(broadcaster_pk(&b.id), BROADCASTER_SK).indexed(BROADCASTERS, b.id.as_str())
}

impl DynamoStore {
    pub(super) async fn save_account(&self, account: &Account) -> StoreResult<()> {
        let keys = Keys::new(account_pk(&account.name), ACCOUNT_SK)
            .indexed(ACCOUNTS, account.name.as_str());
        self.put(encode(account, keys)?).await
    }

    pub(super) async fn account(&self, name: &AccountName) -> StoreResult<Option<Account>> {
        self.get_record(account_pk(name), ACCOUNT_SK).await
    }

    /// By name (the index's sort key).
    pub(super) async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.query_records(self.index_partition(ACCOUNTS.into(), None), None)
            .await
    }

    pub(super) async fn delete_account(&self, name: &AccountName) -> StoreResult<bool> {
        self.delete_item(account_pk(name), ACCOUNT_SK).await
    }

    pub(super) async fn save_whitelist_entry(&self, entry: &WhitelistEntry) -> StoreResult<()> {
        let keys = Keys::new(
            WHITELIST.into(),
            whitelist_sk(&entry.scope, &entry.editor_id),
        );
        self.put(encode(entry, keys)?).await
    }

    pub(super) async fn delete_whitelist_entry(
        &self,
        scope: &WhitelistScope,
        editor: &EditorId,
    ) -> StoreResult<bool> {
        self.delete_item(WHITELIST.into(), &whitelist_sk(scope, editor))
            .await
    }

    pub(super) async fn whitelist(&self) -> StoreResult<Vec<WhitelistEntry>> {
        self.query_records(self.partition(WHITELIST.into(), None), None)
            .await
    }

    pub(super) async fn save_broadcaster(&self, b: &Broadcaster) -> StoreResult<()> {
        self.put(encode(b, broadcaster_keys(b))?).await
    }

    pub(super) async fn broadcaster(&self, id: &BroadcasterId) -> StoreResult<Option<Broadcaster>> {
        self.get_record(broadcaster_pk(id), BROADCASTER_SK).await
    }

    /// By id (the index's sort key).
    pub(super) async fn broadcasters(&self) -> StoreResult<Vec<Broadcaster>> {
        self.query_records(self.index_partition(BROADCASTERS.into(), None), None)
            .await
    }

    /// Upsert the subscription entry inside the broadcaster's item.
    pub(super) async fn update_subscription(
        &self,
        broadcaster: &BroadcasterId,
        subscription: &ExternalId,
        kind: &str,
        status: SubscriptionStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let outcome = self
            .update(
                broadcaster_pk(broadcaster),
                BROADCASTER_SK,
                broadcaster_keys,
                |b: &mut Broadcaster| {
                    let entry = Subscription {
                        id: subscription.clone(),
                        kind: kind.to_string(),
                        status,
                        reason: reason.map(str::to_string),
                        updated_at: now,
                    };
                    match b.subscriptions.iter_mut().find(|s| &s.id == subscription) {
                        Some(existing) => *existing = entry,
                        None => b.subscriptions.push(entry),
                    }
                    b.updated_at = now;
                    Ok(true)
                },
            )
            .await?;
        match outcome {
            Outcome::Written(_) | Outcome::Kept(_) => Ok(()),
            Outcome::Missing => Err(StoreError::NotFound(format!("broadcaster {broadcaster}"))),
        }
    }
}
