//! Publishing accounts and the editor whitelist in SQLite: plain upserts, reads and deletes of
//! whole records, listed in key order.

use rusqlite::{params, Connection, OptionalExtension};

use super::{decode, encode};
use crate::domain::{Account, AccountName, EditorId, WhitelistEntry, WhitelistScope};
use crate::store::StoreResult;

pub(super) fn put_account(conn: &Connection, account: &Account) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO accounts (name, record) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET record = excluded.record",
        params![account.name.as_str(), encode("account", account)?],
    )?;
    Ok(())
}

pub(super) fn get_account(conn: &Connection, name: &AccountName) -> StoreResult<Option<Account>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM accounts WHERE name = ?1",
            [name.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| decode("account", &j)).transpose()
}

pub(super) fn list_accounts(conn: &Connection) -> StoreResult<Vec<Account>> {
    let mut stmt = conn.prepare_cached("SELECT record FROM accounts ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|json| decode("account", &json?)).collect()
}

pub(super) fn remove_account(conn: &Connection, name: &AccountName) -> StoreResult<bool> {
    Ok(conn.execute("DELETE FROM accounts WHERE name = ?1", [name.as_str()])? == 1)
}

pub(super) fn put_whitelist_entry(conn: &Connection, entry: &WhitelistEntry) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO whitelist (scope, editor_id, record) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, editor_id) DO UPDATE SET record = excluded.record",
        params![
            entry.scope.key(),
            entry.editor_id.as_str(),
            encode("whitelist entry", entry)?
        ],
    )?;
    Ok(())
}

pub(super) fn remove_whitelist_entry(
    conn: &Connection,
    scope: &WhitelistScope,
    editor: &EditorId,
) -> StoreResult<bool> {
    let removed = conn.execute(
        "DELETE FROM whitelist WHERE scope = ?1 AND editor_id = ?2",
        params![scope.key(), editor.as_str()],
    )?;
    Ok(removed == 1)
}

pub(super) fn list_whitelist(conn: &Connection) -> StoreResult<Vec<WhitelistEntry>> {
    let mut stmt = conn.prepare_cached("SELECT record FROM whitelist ORDER BY scope, editor_id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|json| decode("whitelist entry", &json?)).collect()
}
