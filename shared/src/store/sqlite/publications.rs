//! Publication records in SQLite, keyed by (clip, account, platform). A claim, and every change
//! made under it, is a read-check-write inside one immediate transaction, so of two workers
//! only one holds a publication, and only the holder of the current claim token may record
//! progress or a result.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{decode, encode, immediate};
use crate::domain::{
    AccountName, Claim, ClipId, PostResult, PostStatus, Publication, PublicationKey, ResumeHandles,
};
use crate::store::{StoreError, StoreResult};

pub(super) fn insert_if_absent(conn: &Connection, p: &Publication) -> StoreResult<bool> {
    let inserted = conn.execute(
        "INSERT INTO publications (clip_id, account, platform, record) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (clip_id, account, platform) DO NOTHING",
        params![
            p.key.clip_id.as_str(),
            p.key.account.as_str(),
            p.key.platform.as_str(),
            encode("publication", p)?
        ],
    )?;
    Ok(inserted == 1)
}

pub(super) fn get(conn: &Connection, key: &PublicationKey) -> StoreResult<Option<Publication>> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM publications WHERE clip_id = ?1 AND account = ?2 AND platform = ?3",
            params![
                key.clip_id.as_str(),
                key.account.as_str(),
                key.platform.as_str()
            ],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| decode("publication", &j)).transpose()
}

fn put(conn: &Connection, p: &Publication) -> StoreResult<()> {
    conn.execute(
        "UPDATE publications SET record = ?4 WHERE clip_id = ?1 AND account = ?2 AND platform = ?3",
        params![
            p.key.clip_id.as_str(),
            p.key.account.as_str(),
            p.key.platform.as_str(),
            encode("publication", p)?
        ],
    )?;
    Ok(())
}

pub(super) fn claim(
    conn: &mut Connection,
    key: &PublicationKey,
    lease: Duration,
    now: DateTime<Utc>,
) -> StoreResult<Claim> {
    let tx = immediate(conn)?;
    let Some(mut p) = get(&tx, key)? else {
        return Ok(Claim::Missing);
    };
    if !p.claimable(now) {
        return Ok(Claim::NotClaimable(p));
    }
    p.status = PostStatus::Uploading;
    p.attempts += 1;
    p.claim_token = Some(uuid::Uuid::new_v4().to_string());
    p.lease_until = Some(now + lease);
    p.updated_at = now;
    put(&tx, &p)?;
    tx.commit()?;
    Ok(Claim::Claimed(p))
}

pub(super) fn save_progress(
    conn: &mut Connection,
    key: &PublicationKey,
    claim_token: &str,
    resume: &ResumeHandles,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    under_claim(conn, key, claim_token, |p| {
        p.resume = resume.clone();
        p.updated_at = now;
    })
    .map(drop)
}

pub(super) fn complete(
    conn: &mut Connection,
    key: &PublicationKey,
    claim_token: &str,
    result: &PostResult,
    now: DateTime<Utc>,
) -> StoreResult<Publication> {
    under_claim(conn, key, claim_token, |p| {
        p.status = PostStatus::Success;
        p.platform_video_id = Some(result.video_id.clone());
        p.platform_url = Some(result.url.clone());
        p.published_at = Some(now);
        p.claim_token = None;
        p.lease_until = None;
        p.updated_at = now;
    })
}

pub(super) fn release(
    conn: &mut Connection,
    key: &PublicationKey,
    claim_token: &str,
    error: &str,
    retry: bool,
    now: DateTime<Utc>,
) -> StoreResult<Publication> {
    under_claim(conn, key, claim_token, |p| {
        p.status = if retry {
            PostStatus::Pending
        } else {
            PostStatus::Failed
        };
        p.last_error = Some(error.to_string());
        p.claim_token = None;
        p.lease_until = None;
        p.updated_at = now;
    })
}

pub(super) fn reopen(
    conn: &mut Connection,
    key: &PublicationKey,
    resume: &ResumeHandles,
    now: DateTime<Utc>,
) -> StoreResult<Publication> {
    let tx = immediate(conn)?;
    let mut p = get(&tx, key)?.ok_or_else(|| StoreError::NotFound(format!("publication {key}")))?;
    if !p.reopen(resume, now) {
        return Err(StoreError::Conflict {
            what: format!("publication {key}"),
            expected: PostStatus::Failed.as_str().into(),
            actual: p.status.as_str().into(),
        });
    }
    put(&tx, &p)?;
    tx.commit()?;
    Ok(p)
}

/// Change the publication only while it is uploading under `claim_token`. A holder whose
/// lease ran out may still finish as long as nobody claimed it since (the token still matches).
fn under_claim(
    conn: &mut Connection,
    key: &PublicationKey,
    claim_token: &str,
    change: impl FnOnce(&mut Publication),
) -> StoreResult<Publication> {
    let tx = immediate(conn)?;
    let mut p = get(&tx, key)?.ok_or_else(|| StoreError::NotFound(format!("publication {key}")))?;
    let ours = p.status == PostStatus::Uploading && p.claim_token.as_deref() == Some(claim_token);
    if !ours {
        let actual = match p.status {
            PostStatus::Uploading => "uploading under another claim".to_string(),
            other => other.as_str().to_string(),
        };
        return Err(StoreError::Conflict {
            what: format!("publication {key}"),
            expected: "uploading under this claim".into(),
            actual,
        });
    }
    change(&mut p);
    put(&tx, &p)?;
    tx.commit()?;
    Ok(p)
}

pub(super) fn list(
    conn: &Connection,
    clip: Option<&ClipId>,
    account: Option<&AccountName>,
) -> StoreResult<Vec<Publication>> {
    let mut stmt = conn.prepare_cached(
        "SELECT record FROM publications
         WHERE (?1 IS NULL OR clip_id = ?1) AND (?2 IS NULL OR account = ?2)
         ORDER BY clip_id, account, platform",
    )?;
    let rows = stmt.query_map(
        params![clip.map(ClipId::as_str), account.map(AccountName::as_str)],
        |r| r.get::<_, String>(0),
    )?;
    rows.map(|json| decode("publication", &json?)).collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::Platform;
    use crate::store::sqlite::tests::temp_db;
    use crate::store::sqlite::SqliteStore;
    use crate::store::StateStore;

    fn key() -> PublicationKey {
        PublicationKey {
            clip_id: ClipId::parse("Clip1").unwrap(),
            account: AccountName::parse("main").unwrap(),
            platform: Platform::Youtube,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 17, 0, 0).unwrap()
    }

    async fn planned_store() -> (tempfile::TempDir, SqliteStore) {
        let (dir, db) = temp_db();
        let store = SqliteStore::new(db);
        assert!(store
            .create_publication_if_absent(&Publication::planned(key(), t0()))
            .await
            .unwrap());
        (dir, store)
    }

    #[tokio::test]
    async fn a_second_claim_loses_while_the_lease_is_live_and_wins_once_it_ended() {
        let (_dir, store) = planned_store().await;
        let lease = Duration::minutes(10);
        let Claim::Claimed(first) = store.claim_publication(&key(), lease, t0()).await.unwrap()
        else {
            panic!("the first claim should win");
        };
        assert_eq!(first.lease_until, Some(t0() + lease));

        let before_end = t0() + lease - Duration::seconds(1);
        let second = store
            .claim_publication(&key(), lease, before_end)
            .await
            .unwrap();
        assert_eq!(second, Claim::NotClaimable(first.clone()));

        let after_end = t0() + lease;
        let Claim::Claimed(third) = store
            .claim_publication(&key(), lease, after_end)
            .await
            .unwrap()
        else {
            panic!("a claim after the lease ended should win");
        };
        assert_eq!(third.attempts, 2);
        assert_ne!(third.claim_token, first.claim_token);
        assert_eq!(third.lease_until, Some(after_end + lease));
    }

    #[tokio::test]
    async fn the_holder_of_an_overtaken_claim_can_no_longer_record_anything() {
        let (_dir, store) = planned_store().await;
        let lease = Duration::minutes(10);
        let Claim::Claimed(old) = store.claim_publication(&key(), lease, t0()).await.unwrap()
        else {
            panic!()
        };
        let later = t0() + lease * 2;
        let Claim::Claimed(new) = store.claim_publication(&key(), lease, later).await.unwrap()
        else {
            panic!()
        };
        let old_token = old.claim_token.unwrap();
        let result = PostResult {
            video_id: "v1".into(),
            url: "https://youtu.be/v1".into(),
        };

        let resume = ResumeHandles {
            upload_session: Some("s".into()),
            ..Default::default()
        };
        let err = store
            .save_publication_progress(&key(), &old_token, &resume, later)
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err:?}");
        assert!(store
            .complete_publication(&key(), &old_token, &result, later)
            .await
            .unwrap_err()
            .is_conflict());
        assert!(store
            .release_publication(&key(), &old_token, "x", true, later)
            .await
            .unwrap_err()
            .is_conflict());

        let done = store
            .complete_publication(&key(), new.claim_token.as_deref().unwrap(), &result, later)
            .await
            .unwrap();
        assert_eq!(done.status, PostStatus::Success);
        assert_eq!(done.published_at, Some(later));
        assert_eq!(
            (done.lease_until, done.claim_token.as_deref()),
            (None, None)
        );
        assert_eq!(store.get_publication(&key()).await.unwrap().unwrap(), done);
    }

    #[tokio::test]
    async fn claiming_what_was_never_planned_is_missing_and_changing_it_is_not_found() {
        let (_dir, db) = temp_db();
        let store = SqliteStore::new(db);
        assert_eq!(
            store
                .claim_publication(&key(), Duration::minutes(1), t0())
                .await
                .unwrap(),
            Claim::Missing
        );
        let err = store
            .release_publication(&key(), "token", "x", true, t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    }
}
