//! Clip records in SQLite. Each change reads the record, lets the domain change it
//! (`Clip::apply`, `Clip::record_failure`) and writes it back with `WHERE status = expected`,
//! all inside one immediate transaction: the same guarantee as DynamoDB's conditional update.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{decode, encode, immediate, micros, sql_int};
use crate::domain::{Clip, ClipId, ClipPatch, ClipStatus, IllegalTransition, Stage, Transition};
use crate::store::{StoreError, StoreResult};

pub(super) fn insert_if_absent(conn: &Connection, clip: &Clip) -> StoreResult<bool> {
    let inserted = conn.execute(
        "INSERT INTO clips (id, status, score, created_at_us, record) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO NOTHING",
        params![
            clip.id.as_str(),
            clip.status.as_str(),
            clip.rank(),
            micros(clip.created_at),
            encode("clip", clip)?
        ],
    )?;
    Ok(inserted == 1)
}

pub(super) fn get(conn: &Connection, id: &ClipId) -> StoreResult<Option<Clip>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM clips WHERE id = ?1",
            [id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| decode("clip", &j)).transpose()
}

pub(super) fn transition(
    conn: &mut Connection,
    id: &ClipId,
    t: Transition,
    patch: ClipPatch,
    now: DateTime<Utc>,
) -> StoreResult<Clip> {
    // `Transition`'s fields are public, so one built without `Transition::new` is checked here.
    if !t.from.can_become(t.to) {
        return Err(IllegalTransition {
            from: t.from,
            to: t.to,
        }
        .into());
    }
    update(conn, id, t.from, |clip| clip.apply(t.to, patch, now))
}

pub(super) fn update_fields(
    conn: &mut Connection,
    id: &ClipId,
    expected: ClipStatus,
    patch: ClipPatch,
    now: DateTime<Utc>,
) -> StoreResult<Clip> {
    update(conn, id, expected, |clip| clip.apply(expected, patch, now))
}

pub(super) fn record_failure(
    conn: &mut Connection,
    id: &ClipId,
    expected: ClipStatus,
    stage: Stage,
    message: &str,
    now: DateTime<Utc>,
) -> StoreResult<Clip> {
    update(conn, id, expected, |clip| {
        clip.record_failure(stage, message, now);
    })
}

/// Read the clip, check it is still `expected`, change it in memory, write it back.
fn update(
    conn: &mut Connection,
    id: &ClipId,
    expected: ClipStatus,
    change: impl FnOnce(&mut Clip),
) -> StoreResult<Clip> {
    let tx = immediate(conn)?;
    let mut clip = get(&tx, id)?.ok_or_else(|| StoreError::NotFound(format!("clip {id}")))?;
    if clip.status != expected {
        return Err(conflict(id, expected, clip.status));
    }
    change(&mut clip);
    let updated = tx.execute(
        "UPDATE clips SET status = ?1, score = ?2, record = ?3 WHERE id = ?4 AND status = ?5",
        params![
            clip.status.as_str(),
            clip.rank(),
            encode("clip", &clip)?,
            id.as_str(),
            expected.as_str()
        ],
    )?;
    // Cannot differ under the write lock; the guard is in the SQL so the rule is visible there.
    if updated != 1 {
        return Err(StoreError::Unavailable(format!(
            "clip {id} changed under the write lock"
        )));
    }
    tx.commit()?;
    Ok(clip)
}

fn conflict(id: &ClipId, expected: ClipStatus, actual: ClipStatus) -> StoreError {
    StoreError::Conflict {
        what: format!("clip {id}"),
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

pub(super) fn list(conn: &Connection, status: ClipStatus, limit: usize) -> StoreResult<Vec<Clip>> {
    let mut stmt = conn.prepare_cached(
        "SELECT record FROM clips WHERE status = ?1
         ORDER BY score DESC, created_at_us, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![status.as_str(), sql_int(limit)], |r| {
        r.get::<_, String>(0)
    })?;
    rows.map(|json| decode("clip", &json?)).collect()
}

pub(super) fn count(conn: &Connection) -> StoreResult<BTreeMap<ClipStatus, u64>> {
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM clips GROUP BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut counts = BTreeMap::new();
    for row in rows {
        let (status, n) = row?;
        let status: ClipStatus = status
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("stored clip status is corrupt: {e}")))?;
        counts.insert(status, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::domain::Score;
    use crate::store::sqlite::tests::temp_db;
    use crate::store::sqlite::SqliteStore;
    use crate::store::StateStore;

    pub(crate) fn clip(id: &str, created_min: i64) -> Clip {
        let t = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap()
            + chrono::Duration::minutes(created_min);
        Clip {
            id: ClipId::parse(id).unwrap(),
            broadcaster_id: "1".parse().unwrap(),
            broadcaster_name: "b".into(),
            editor_id: "2".parse().unwrap(),
            editor_name: "e".into(),
            url: format!("https://clips.twitch.tv/{id}"),
            title: "t".into(),
            duration_secs: 30.0,
            view_count: 1,
            created_at: t,
            video_id: None,
            vod_offset_secs: None,
            found_by_hilite: false,
            status: ClipStatus::Pending,
            attempts: Default::default(),
            failed_stage: None,
            skip_reason: None,
            score: None,
            window: None,
            media: Default::default(),
            generated_title: None,
            generated_description: None,
            generated_hashtags: Vec::new(),
            moderation: None,
            edit_job: None,
            review_reason: None,
            errors: vec![],
            fetched_at: t,
            updated_at: t,
        }
    }

    fn down_to_analyzed() -> (Transition, Transition) {
        (
            Transition::new(ClipStatus::Pending, ClipStatus::Downloaded).unwrap(),
            Transition::new(ClipStatus::Downloaded, ClipStatus::Analyzed).unwrap(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_two_concurrent_transitions_from_the_same_status_exactly_one_wins() {
        let (_dir, db) = temp_db();
        let store = Arc::new(SqliteStore::new(db));
        for round in 0..40 {
            let c = clip(&format!("Race{round}"), 0);
            store.insert_clip_if_absent(&c).await.unwrap();
            let t = Transition::new(ClipStatus::Pending, ClipStatus::Downloaded).unwrap();
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let store = Arc::clone(&store);
                    let id = c.id.clone();
                    tokio::spawn(async move {
                        store
                            .transition_clip(&id, t, ClipPatch::default(), Utc::now())
                            .await
                    })
                })
                .collect();
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap());
            }
            let wins = results.iter().filter(|r| r.is_ok()).count();
            let conflicts = results
                .iter()
                .filter(|r| matches!(r, Err(e) if e.is_conflict()))
                .count();
            assert_eq!((wins, conflicts), (1, 1), "round {round}: {results:?}");
        }
    }

    #[tokio::test]
    async fn a_conflict_names_the_expected_and_the_actual_status_and_changes_nothing() {
        let (_dir, db) = temp_db();
        let store = SqliteStore::new(db);
        let c = clip("Moved", 0);
        store.insert_clip_if_absent(&c).await.unwrap();
        let (first, second) = down_to_analyzed();

        let err = store
            .transition_clip(&c.id, second, ClipPatch::default(), Utc::now())
            .await
            .unwrap_err();

        match err {
            StoreError::Conflict {
                expected, actual, ..
            } => {
                assert_eq!(
                    (expected.as_str(), actual.as_str()),
                    ("downloaded", "pending")
                );
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(store.get_clip(&c.id).await.unwrap().unwrap(), c);
        assert!(store
            .transition_clip(&c.id, first, ClipPatch::default(), Utc::now())
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_hand_built_illegal_transition_is_refused_before_the_store_is_read() {
        let (_dir, db) = temp_db();
        let store = SqliteStore::new(db);
        let c = clip("Shortcut", 0);
        store.insert_clip_if_absent(&c).await.unwrap();
        let t = Transition {
            from: ClipStatus::Pending,
            to: ClipStatus::Published,
        };

        let err = store
            .transition_clip(&c.id, t, ClipPatch::default(), Utc::now())
            .await
            .unwrap_err();

        assert!(matches!(err, StoreError::Illegal(_)), "{err:?}");
        assert_eq!(
            store.get_clip(&c.id).await.unwrap().unwrap().status,
            ClipStatus::Pending
        );
    }

    #[tokio::test]
    async fn a_transition_of_an_unknown_clip_is_not_found() {
        let (_dir, db) = temp_db();
        let store = SqliteStore::new(db);
        let (first, _) = down_to_analyzed();
        let err = store
            .transition_clip(
                &ClipId::parse("Nobody").unwrap(),
                first,
                ClipPatch::default(),
                Utc::now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    }

    #[tokio::test]
    async fn the_score_column_follows_the_record_so_lists_order_by_the_new_score() {
        let (_dir, db) = temp_db();
        let store = SqliteStore::new(db);
        let (first, second) = down_to_analyzed();
        for (id, score) in [("Low", 10.0), ("High", 90.0)] {
            let c = clip(id, 0);
            store.insert_clip_if_absent(&c).await.unwrap();
            store
                .transition_clip(&c.id, first, ClipPatch::default(), Utc::now())
                .await
                .unwrap();
            let patch = ClipPatch {
                score: Some(Score {
                    total: score,
                    parts: Default::default(),
                }),
                ..Default::default()
            };
            store
                .transition_clip(&c.id, second, patch, Utc::now())
                .await
                .unwrap();
        }
        let listed = store.list_clips(ClipStatus::Analyzed, 10).await.unwrap();
        let ids: Vec<_> = listed.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["High", "Low"]);
    }
}
