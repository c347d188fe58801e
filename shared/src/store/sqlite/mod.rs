//! The embedded state store: one SQLite file (WAL mode) that holds HiLite's records, the local
//! queue's tables and the encrypted tokens. [`Database`] opens and migrates the file and runs
//! every call off the async runtime; [`SqliteStore`] implements the [`StateStore`] port on it.
//!
//! This module only translates between the domain types and SQL: how a clip or a publication
//! changes is decided by the domain (`Clip::apply`, `Publication::claimable`), exactly as in
//! the DynamoDB adapter. The queue (`crate::queue::sqlite`) and the vault
//! (`crate::store::local_vault`) share the [`Database`] but own their tables' SQL.
//!
//! [`StateStore`]: crate::store::StateStore

mod accounts;
mod clips;
mod migrations;
mod port;
mod publications;
mod twitch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::{StoreError, StoreResult};

pub use migrations::LATEST as SCHEMA_VERSION;
pub use port::SqliteStore;

/// How long a statement waits for another process's write lock (e.g. `hilite clips retry`
/// while `hilite serve` runs) before failing as busy. Within one process all calls share one
/// connection and queue on its mutex instead.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The open database file, cheap to clone and share between the ports.
///
/// `rusqlite::Connection` is `Send` but not `Sync`, so one connection sits behind a mutex and
/// every call runs on tokio's blocking pool: a slow disk never stalls the async workers.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Database {
    /// Open (or create) the database file at `path` and bring its schema up to date.
    ///
    /// Refuses, changing nothing, a file that is not SQLite or whose schema is newer than this
    /// build knows.
    pub fn open(path: &Path) -> StoreResult<Database> {
        // A file that is not SQLite is refused by SQLite itself (SQLITE_NOTADB on the first
        // read below, before anything writes). It must not be opened here with a plain file
        // handle: closing any descriptor of the file drops every POSIX lock this process holds
        // on it, including those of a connection already open (`hilite serve` opens the file
        // more than once), which can corrupt the database.
        // <https://www.sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_>
        let mut conn = Connection::open(path).map_err(|e| open_error(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(path, e))?;
        // Before anything writes (switching to WAL rewrites the header), check the version.
        let found = migrations::version(&conn).map_err(|e| open_error(path, e))?;
        migrations::refuse_newer(path, found)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| open_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Misconfigured(format!(
                "{} cannot use write-ahead logging (journal mode stays {mode}); put the data \
                 folder on a local disk",
                path.display()
            )));
        }
        // NORMAL is durable across application crashes in WAL mode and avoids an fsync per
        // commit. <https://www.sqlite.org/pragma.html#pragma_synchronous>
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| open_error(path, e))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| open_error(path, e))?;
        migrations::migrate(&mut conn, path)?;
        Ok(Database {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path: path.to_path_buf(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Run `f` with the connection on the blocking pool. The outer error only says the call
    /// could not run at all (the runtime is shutting down, or `f` panicked).
    pub(crate) async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection is still sound (an
            // unfinished transaction rolled back when it was dropped), so keep using it.
            let mut conn = inner.conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database call did not complete: {e}")))
    }

    /// [`Database::call`] for operations that already speak [`StoreError`].
    pub(crate) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        self.call(f).await?
    }
}

fn not_a_database(path: &Path) -> StoreError {
    StoreError::Misconfigured(format!(
        "{} is not a SQLite database; move it away or set local.data_dir to another folder",
        path.display()
    ))
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_a_database(path),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::Misconfigured(format!("cannot open {}: {e}", path.display()))
        }
        _ => StoreError::Unavailable(format!("{}: {e}", path.display())),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(
                "the database is locked by another process; try again".into(),
            ),
            _ => StoreError::Unavailable(format!("SQLite: {e}")),
        }
    }
}

/// A write transaction that takes the write lock at once, so a read-modify-write inside it
/// cannot interleave with another process's.
fn immediate(conn: &mut Connection) -> StoreResult<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

fn encode<T: Serialize>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode {what}: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, json: &str) -> StoreResult<T> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unavailable(format!("stored {what} is corrupt: {e}")))
}

/// Microseconds since the epoch: the resolution of `DateTime<Utc>`, as an orderable integer.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A count or limit as SQLite's integer.
fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn temp_db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("hilite.db")).unwrap();
        (dir, db)
    }

    fn user_version(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        migrations::version(&conn).unwrap()
    }

    #[test]
    fn a_new_file_is_created_in_wal_mode_at_the_latest_schema() {
        let (_dir, db) = temp_db();
        assert_eq!(user_version(db.path()), SCHEMA_VERSION);
        let conn = Connection::open(db.path()).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn reopening_keeps_the_data_and_applies_no_migration_twice() {
        let (dir, db) = temp_db();
        let path = db.path().to_path_buf();
        db.run(|c| {
            c.execute(
                "INSERT INTO accounts (name, record) VALUES ('main', '{}')",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
        drop(db);
        let again = Database::open(&path).unwrap();
        let again = Database::open(again.path()).unwrap();
        let n: i64 = again
            .run(|c| Ok(c.query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(user_version(&path), SCHEMA_VERSION);
        drop(dir);
    }

    #[test]
    fn a_file_from_a_newer_hilite_is_refused_and_left_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hilite.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;")
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();

        let err = Database::open(&path).unwrap_err();

        let message = err.to_string();
        assert!(matches!(err, StoreError::Misconfigured(_)), "{err:?}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("99") && message.contains(&SCHEMA_VERSION.to_string()),
            "{message}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!dir.path().join("hilite.db-wal").exists());
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hilite.db");
        let content = b"this is a text file, not a database, and it is long enough".repeat(4);
        std::fs::write(&path, &content).unwrap();

        let err = Database::open(&path).unwrap_err();

        assert!(matches!(err, StoreError::Misconfigured(_)), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("not a SQLite database"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }

    #[test]
    fn a_missing_folder_is_reported_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/folder/hilite.db");
        let err = Database::open(&path).unwrap_err();
        assert!(err.to_string().contains("no/such/folder"), "{err}");
    }
}
