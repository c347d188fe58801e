//! The SQLite schema as an ordered list of migrations, and the code that brings a database file
//! up to date. The file's schema version is SQLite's own `PRAGMA user_version`: migration `n`
//! (counting from 1) leaves the file at version `n`. A migration is never edited once released;
//! a change is a new entry at the end. This module does not open files or set connection
//! options (see `super::Database::open`).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::store::{StoreError, StoreResult};

/// Each entry is one migration; its index + 1 is the schema version it produces.
///
/// Records are kept whole as JSON (`record`), the one source of truth; the other columns are
/// copies used to find, order and guard rows. Times used for ordering or comparison are
/// integer microseconds since the Unix epoch, the resolution of `DateTime<Utc>`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE clips (
        id            TEXT PRIMARY KEY,
        status        TEXT NOT NULL,
        score         REAL NOT NULL,
        created_at_us INTEGER NOT NULL,
        record        TEXT NOT NULL
    ) STRICT;
    CREATE INDEX clips_by_status_score ON clips (status, score DESC, created_at_us, id);

    CREATE TABLE publications (
        clip_id  TEXT NOT NULL,
        account  TEXT NOT NULL,
        platform TEXT NOT NULL,
        record   TEXT NOT NULL,
        PRIMARY KEY (clip_id, account, platform)
    ) STRICT;
    CREATE INDEX publications_by_account ON publications (account, clip_id, platform);

    CREATE TABLE accounts (
        name   TEXT PRIMARY KEY,
        record TEXT NOT NULL
    ) STRICT;

    CREATE TABLE whitelist (
        scope     TEXT NOT NULL,
        editor_id TEXT NOT NULL,
        record    TEXT NOT NULL,
        PRIMARY KEY (scope, editor_id)
    ) STRICT;

    CREATE TABLE broadcasters (
        id     TEXT PRIMARY KEY,
        record TEXT NOT NULL
    ) STRICT;

    CREATE TABLE streams (
        stream_id      TEXT PRIMARY KEY,
        broadcaster_id TEXT NOT NULL,
        started_at_us  INTEGER NOT NULL,
        open           INTEGER NOT NULL,
        record         TEXT NOT NULL
    ) STRICT;
    CREATE INDEX streams_by_broadcaster ON streams (broadcaster_id, started_at_us DESC);

    CREATE TABLE webhook_messages (
        id            TEXT PRIMARY KEY,
        expires_at_us INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX webhook_messages_by_expiry ON webhook_messages (expires_at_us);

    CREATE TABLE tokens (
        name       TEXT PRIMARY KEY,
        nonce      BLOB NOT NULL,
        ciphertext BLOB NOT NULL
    ) STRICT;

    CREATE TABLE queue_messages (
        id            TEXT PRIMARY KEY,
        queue         TEXT NOT NULL,
        body          TEXT NOT NULL,
        sent_at_us    INTEGER NOT NULL,
        visible_at_us INTEGER NOT NULL,
        receive_count INTEGER NOT NULL,
        receipt       TEXT UNIQUE
    ) STRICT;
    CREATE INDEX queue_messages_by_visibility ON queue_messages (queue, visible_at_us, sent_at_us);

    CREATE TABLE queue_dead_letters (
        id            TEXT PRIMARY KEY,
        queue         TEXT NOT NULL,
        body          TEXT NOT NULL,
        sent_at_us    INTEGER NOT NULL,
        receive_count INTEGER NOT NULL,
        dead_at_us    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX queue_dead_letters_by_queue ON queue_dead_letters (queue, dead_at_us);
    "#,
    // 2: a webhook message id may be claimed before it is handled: `claim` holds the claiming
    // delivery's token while it applies the message (its `expires_at_us` then being the
    // lease's end), and is NULL once the id is remembered as handled.
    r#"
    ALTER TABLE webhook_messages ADD COLUMN claim TEXT;
    "#,
];

/// The schema version this build writes and understands.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub(super) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Refuse a file written by a newer HiLite before anything touches it.
pub(super) fn refuse_newer(path: &Path, found: i64) -> StoreResult<()> {
    if found > LATEST {
        return Err(StoreError::Misconfigured(format!(
            "{} has schema version {found} but this hilite only knows versions up to {LATEST}: \
             it was written by a newer hilite; run that version (or point local.data_dir at \
             another folder)",
            path.display()
        )));
    }
    Ok(())
}

/// Apply every migration the file lacks, all in one transaction: a crash half-way leaves the
/// file as it was. The version is read again under the write lock, so two processes opening
/// the same new file do not both migrate it.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = version(&tx)?;
    refuse_newer(path, current)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tracing::info!(database = %path.display(), version = index + 1, "applied schema migration");
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use rusqlite::params;

    use super::*;
    use crate::domain::ExternalId;
    use crate::store::sqlite::{micros, twitch};
    use crate::store::MessageClaim;

    /// A file at version 1 holding a remembered webhook message id: after migrating, the id
    /// is still handled and new ids can be claimed.
    #[test]
    fn a_version_1_file_keeps_its_message_ids_and_gains_claims() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hilite.db");
        let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO webhook_messages (id, expires_at_us) VALUES ('old', ?1)",
            params![micros(t0 + Duration::minutes(15))],
        )
        .unwrap();

        migrate(&mut conn, &path).unwrap();

        assert_eq!(version(&conn).unwrap(), LATEST);
        let lease = t0 + Duration::seconds(30);
        let old = ExternalId::parse("old").unwrap();
        let new = ExternalId::parse("new").unwrap();
        assert_eq!(
            twitch::claim_message(&mut conn, &old, "a", lease, t0).unwrap(),
            MessageClaim::Handled
        );
        assert_eq!(
            twitch::claim_message(&mut conn, &new, "a", lease, t0).unwrap(),
            MessageClaim::Claimed
        );
        assert_eq!(
            twitch::claim_message(&mut conn, &new, "b", lease, t0).unwrap(),
            MessageClaim::InFlight
        );
    }
}
