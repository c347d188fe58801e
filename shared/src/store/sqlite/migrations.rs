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
