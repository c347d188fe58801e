//! What HiLite records about Twitch: broadcasters and their EventSub subscriptions, streams
//! (the window clips are collected from), the editor whitelist, and webhook message ids.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{BroadcasterId, EditorId, ExternalId, Login, TokenRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Pending,
    Enabled,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: ExternalId,
    /// EventSub type, e.g. `stream.offline`.
    pub kind: String,
    pub status: SubscriptionStatus,
    /// Twitch's reason when revoked (`user_removed`, `authorization_revoked`, …).
    pub reason: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broadcaster {
    pub id: BroadcasterId,
    pub login: Login,
    pub display_name: String,
    /// Where the user token used to download clips is kept in the vault.
    pub token_ref: Option<TokenRef>,
    /// The editor whose token downloads, when it is not the broadcaster's own.
    pub token_user_id: Option<EditorId>,
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Every short goes to `review` before it may be posted.
    #[serde(default)]
    pub require_approval: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub broadcaster_id: BroadcasterId,
    pub stream_id: ExternalId,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Whether a whitelist entry applies to every broadcaster or one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "broadcaster_id")]
pub enum WhitelistScope {
    Global,
    Broadcaster(BroadcasterId),
}

impl WhitelistScope {
    /// A short stable name used in keys: `*` or the broadcaster id (digits only).
    pub fn key(&self) -> String {
        match self {
            WhitelistScope::Global => "*".to_string(),
            WhitelistScope::Broadcaster(id) => id.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhitelistEntry {
    pub editor_id: EditorId,
    pub editor_name: String,
    pub scope: WhitelistScope,
    pub active: bool,
    pub notes: Option<String>,
    pub added_at: DateTime<Utc>,
}

/// The editor whitelist as collect uses it: an empty active list accepts every clip (seed 000).
pub fn editor_allowed(
    entries: &[WhitelistEntry],
    broadcaster: &BroadcasterId,
    editor: &EditorId,
) -> bool {
    let relevant: Vec<_> = entries
        .iter()
        .filter(|e| e.active)
        .filter(|e| match &e.scope {
            WhitelistScope::Global => true,
            WhitelistScope::Broadcaster(b) => b == broadcaster,
        })
        .collect();
    relevant.is_empty() || relevant.iter().any(|e| &e.editor_id == editor)
}

/// Whether a webhook message id was new or had been seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    AlreadySeen,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(editor: &str, scope: WhitelistScope, active: bool) -> WhitelistEntry {
        WhitelistEntry {
            editor_id: editor.parse().unwrap(),
            editor_name: format!("ed{editor}"),
            scope,
            active,
            notes: None,
            added_at: Utc::now(),
        }
    }

    #[test]
    fn an_empty_or_inactive_whitelist_accepts_everyone() {
        let b: BroadcasterId = "1".parse().unwrap();
        assert!(editor_allowed(&[], &b, &"9".parse().unwrap()));
        let inactive = [entry("5", WhitelistScope::Global, false)];
        assert!(editor_allowed(&inactive, &b, &"9".parse().unwrap()));
    }

    #[test]
    fn per_broadcaster_entries_only_filter_their_broadcaster() {
        let b1: BroadcasterId = "1".parse().unwrap();
        let b2: BroadcasterId = "2".parse().unwrap();
        let list = [entry("5", WhitelistScope::Broadcaster(b1.clone()), true)];
        assert!(editor_allowed(&list, &b1, &"5".parse().unwrap()));
        assert!(!editor_allowed(&list, &b1, &"6".parse().unwrap()));
        assert!(editor_allowed(&list, &b2, &"6".parse().unwrap()));
        let with_global = [list[0].clone(), entry("7", WhitelistScope::Global, true)];
        assert!(!editor_allowed(&with_global, &b2, &"6".parse().unwrap()));
        assert!(editor_allowed(&with_global, &b2, &"7".parse().unwrap()));
        assert!(editor_allowed(&with_global, &b1, &"7".parse().unwrap()));
    }
}
