//! What HiLite records about Twitch, in SQLite: broadcasters (with their EventSub
//! subscriptions inside the record), streams, and the webhook message ids that guard against
//! replays and concurrent copies (a row is a claim while `claim` holds its holder's token, a
//! handled id once `claim` is NULL; either way it counts only until `expires_at_us`).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{decode, encode, immediate, micros};
use crate::domain::{
    Broadcaster, BroadcasterId, ExternalId, Seen, Stream, Subscription, SubscriptionStatus,
};
use crate::store::{MessageClaim, StoreError, StoreResult};

/// How many expired message ids one `remember_message` call deletes: enough to keep up with
/// Twitch's delivery rate, small enough that no single webhook call pays for a big backlog.
const EXPIRED_MESSAGES_PER_CALL: i64 = 1000;

pub(super) fn put_broadcaster(conn: &Connection, b: &Broadcaster) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO broadcasters (id, record) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record",
        params![b.id.as_str(), encode("broadcaster", b)?],
    )?;
    Ok(())
}

pub(super) fn get_broadcaster(
    conn: &Connection,
    id: &BroadcasterId,
) -> StoreResult<Option<Broadcaster>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM broadcasters WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| decode("broadcaster", &j)).transpose()
}

pub(super) fn list_broadcasters(conn: &Connection) -> StoreResult<Vec<Broadcaster>> {
    let mut stmt = conn.prepare_cached("SELECT record FROM broadcasters ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|json| decode("broadcaster", &json?)).collect()
}

/// Upsert the subscription entry inside the broadcaster's record.
pub(super) fn set_subscription_status(
    conn: &mut Connection,
    broadcaster: &BroadcasterId,
    subscription: &ExternalId,
    kind: &str,
    status: SubscriptionStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let tx = immediate(conn)?;
    let mut b = get_broadcaster(&tx, broadcaster)?
        .ok_or_else(|| StoreError::NotFound(format!("broadcaster {broadcaster}")))?;
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
    put_broadcaster(&tx, &b)?;
    tx.commit()?;
    Ok(())
}

pub(super) fn open_stream(conn: &Connection, stream: &Stream) -> StoreResult<bool> {
    let inserted = conn.execute(
        "INSERT INTO streams (stream_id, broadcaster_id, started_at_us, open, record)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (stream_id) DO NOTHING",
        params![
            stream.stream_id.as_str(),
            stream.broadcaster_id.as_str(),
            micros(stream.started_at),
            stream.ended_at.is_none(),
            encode("stream", stream)?
        ],
    )?;
    Ok(inserted == 1)
}

pub(super) fn latest_stream(
    conn: &Connection,
    broadcaster: &BroadcasterId,
) -> StoreResult<Option<Stream>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM streams WHERE broadcaster_id = ?1
             ORDER BY started_at_us DESC, stream_id DESC LIMIT 1",
            [broadcaster.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| decode("stream", &j)).transpose()
}

pub(super) fn close_stream(
    conn: &mut Connection,
    broadcaster: &BroadcasterId,
    ended_at: DateTime<Utc>,
) -> StoreResult<Option<Stream>> {
    let tx = immediate(conn)?;
    let json: Option<String> = tx
        .query_row(
            "SELECT record FROM streams WHERE broadcaster_id = ?1 AND open = 1
             ORDER BY started_at_us DESC, stream_id DESC LIMIT 1",
            [broadcaster.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(json) = json else {
        return Ok(None);
    };
    let mut stream: Stream = decode("stream", &json)?;
    stream.ended_at = Some(ended_at);
    tx.execute(
        "UPDATE streams SET open = 0, record = ?2 WHERE stream_id = ?1",
        params![stream.stream_id.as_str(), encode("stream", &stream)?],
    )?;
    tx.commit()?;
    Ok(Some(stream))
}

pub(super) fn message_seen(
    conn: &Connection,
    id: &ExternalId,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let live: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM webhook_messages WHERE id = ?1 AND expires_at_us > ?2",
            params![id.as_str(), micros(now)],
            |r| r.get(0),
        )
        .optional()?;
    Ok(live.is_some())
}

pub(super) fn remember_message(
    conn: &mut Connection,
    id: &ExternalId,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Seen> {
    let tx = immediate(conn)?;
    let new = take_message(&tx, id, None, expires_at, now)?;
    tx.commit()?;
    Ok(if new { Seen::New } else { Seen::AlreadySeen })
}

pub(super) fn claim_message(
    conn: &mut Connection,
    id: &ExternalId,
    token: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<MessageClaim> {
    let tx = immediate(conn)?;
    let claim = if take_message(&tx, id, Some(token), lease_until, now)? {
        MessageClaim::Claimed
    } else {
        // Taken and unexpired (the write lock is held, so it cannot have changed since).
        let holder: Option<String> = tx.query_row(
            "SELECT claim FROM webhook_messages WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )?;
        match holder {
            Some(_) => MessageClaim::InFlight,
            None => MessageClaim::Handled,
        }
    };
    tx.commit()?;
    Ok(claim)
}

/// Insert the id (claimed by `token`, or handled when `None`) unless it is there and
/// unexpired; `true` when written. Runs inside the caller's write transaction.
fn take_message(
    tx: &Connection,
    id: &ExternalId,
    token: Option<&str>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    // Forget a bounded batch of expired ids so the table stays the size of the replay window.
    tx.execute(
        "DELETE FROM webhook_messages WHERE id IN
           (SELECT id FROM webhook_messages WHERE expires_at_us <= ?1 LIMIT ?2)",
        params![micros(now), EXPIRED_MESSAGES_PER_CALL],
    )?;
    // Written when absent, or when present but expired (the batch above may not have reached
    // it): one statement under the write lock, so of concurrent callers exactly one writes.
    let changed = tx.execute(
        "INSERT INTO webhook_messages (id, expires_at_us, claim) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE
           SET expires_at_us = excluded.expires_at_us, claim = excluded.claim
         WHERE webhook_messages.expires_at_us <= ?4",
        params![id.as_str(), micros(expires_at), token, micros(now)],
    )?;
    Ok(changed == 1)
}

pub(super) fn settle_message(
    conn: &Connection,
    id: &ExternalId,
    token: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    let changed = conn.execute(
        "UPDATE webhook_messages SET expires_at_us = ?3, claim = NULL
         WHERE id = ?1 AND claim = ?2",
        params![id.as_str(), token, micros(expires_at)],
    )?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            what: format!("webhook message {id}"),
            expected: "claimed by this delivery".into(),
            actual: "claimed by another delivery or gone".into(),
        })
    }
}

pub(super) fn release_message(conn: &Connection, id: &ExternalId, token: &str) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM webhook_messages WHERE id = ?1 AND claim = ?2",
        params![id.as_str(), token],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::store::sqlite::tests::temp_db;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 17, 0, 0).unwrap()
    }

    fn count_messages(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM webhook_messages", [], |r| r.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn expired_message_ids_are_forgotten_as_new_ones_arrive() {
        let (_dir, db) = temp_db();
        db.run(|c| {
            for i in 0..5 {
                let id = ExternalId::parse(format!("old-{i}")).unwrap();
                remember_message(c, &id, t0() + Duration::minutes(10), t0())?;
            }
            assert_eq!(count_messages(c), 5);
            let later = t0() + Duration::minutes(10);
            let fresh = ExternalId::parse("fresh").unwrap();
            assert_eq!(
                remember_message(c, &fresh, later + Duration::minutes(10), later)?,
                Seen::New
            );
            assert_eq!(count_messages(c), 1);
            assert!(message_seen(c, &fresh, later)?);
            assert!(!message_seen(c, &fresh, later + Duration::minutes(10))?);
            Ok(())
        })
        .await
        .unwrap();
    }
}
