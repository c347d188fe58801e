//! Clip items: created once, changed only by read-modify-write from the expected status, listed
//! per status through `gsi1` in the same order as the SQLite store (best score first, then
//! oldest, then by id).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::Select;
use chrono::{DateTime, Utc};

use super::item::{encode, Keys, Outcome};
use super::DynamoStore;
use crate::domain::{Clip, ClipId, ClipPatch, ClipStatus, Stage, Transition};
use crate::store::{StoreError, StoreResult};

const CLIP_SK: &str = "CLIP";
/// Scores are stored to a millionth of a point, 12 digits: room for any score up to 999 999.
const SCORE_SCALE: f64 = 1_000_000.0;
const SCORE_MAX: u64 = 999_999_999_999;
/// Items a listing query reads per page when the caller wants few clips.
const PAGE: usize = 100;

fn clip_pk(id: &ClipId) -> String {
    format!("CLIP#{id}")
}

fn status_pk(status: ClipStatus) -> String {
    format!("STATUS#{status}")
}

/// `{inverted score}#{created_at µs}#{id}`, fixed width, so an ascending query on a status
/// lists the best score first, then the oldest clip, then by id (the SQLite store's order).
fn rank_key(clip: &Clip) -> String {
    let scaled = (clip.rank() * SCORE_SCALE).round();
    // NaN and negative scores rank as 0; the clamp makes the cast exact.
    let scaled = if scaled.is_finite() {
        scaled.clamp(0.0, SCORE_MAX as f64) as u64
    } else {
        0
    };
    let created = u64::try_from(clip.created_at.timestamp_micros()).unwrap_or(0);
    format!("{:012}#{created:020}#{}", SCORE_MAX - scaled, clip.id)
}

fn keys(clip: &Clip) -> Keys {
    Keys::new(clip_pk(&clip.id), CLIP_SK).indexed(status_pk(clip.status), rank_key(clip))
}

fn conflict(id: &ClipId, expected: ClipStatus, actual: ClipStatus) -> StoreError {
    StoreError::Conflict {
        what: format!("clip {id}"),
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

impl DynamoStore {
    pub(super) async fn insert_clip(&self, clip: &Clip) -> StoreResult<bool> {
        self.put_if_absent(encode(clip, keys(clip))?).await
    }

    pub(super) async fn clip(&self, id: &ClipId) -> StoreResult<Option<Clip>> {
        self.get_record(clip_pk(id), CLIP_SK).await
    }

    pub(super) async fn transition(
        &self,
        id: &ClipId,
        t: Transition,
        patch: ClipPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip> {
        // `Transition`'s fields are public, so one built without `Transition::new` is checked here.
        let t = Transition::new(t.from, t.to)?;
        self.change_clip(id, t.from, |clip| clip.apply(t.to, patch.clone(), now))
            .await
    }

    pub(super) async fn record_failure(
        &self,
        id: &ClipId,
        expected: ClipStatus,
        stage: Stage,
        message: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Clip> {
        self.change_clip(id, expected, |clip| {
            clip.record_failure(stage, message, now);
        })
        .await
    }

    /// Change the clip in memory while it is `expected`, and write it back conditionally.
    pub(super) async fn change_clip(
        &self,
        id: &ClipId,
        expected: ClipStatus,
        mut change: impl FnMut(&mut Clip),
    ) -> StoreResult<Clip> {
        let outcome = self
            .update(clip_pk(id), CLIP_SK, keys, |clip: &mut Clip| {
                if clip.status != expected {
                    return Err(conflict(id, expected, clip.status));
                }
                change(clip);
                Ok(true)
            })
            .await?;
        match outcome {
            Outcome::Written(clip) | Outcome::Kept(clip) => Ok(clip),
            Outcome::Missing => Err(StoreError::NotFound(format!("clip {id}"))),
        }
    }

    pub(super) async fn clips_by_status(
        &self,
        status: ClipStatus,
        limit: usize,
    ) -> StoreResult<Vec<Clip>> {
        let page = limit.clamp(1, PAGE) as i32;
        let query = self
            .index_partition(status_pk(status), None)
            .scan_index_forward(true)
            .limit(page);
        self.query_records(query, Some(limit)).await
    }

    /// Counts per status, listing only the statuses that have clips (as the SQLite store).
    pub(super) async fn clip_counts(&self) -> StoreResult<BTreeMap<ClipStatus, u64>> {
        let mut counts = BTreeMap::new();
        for status in ClipStatus::ALL {
            let query = self
                .index_partition(status_pk(status), None)
                .select(Select::Count);
            let mut pages = query.table_name(&self.table).into_paginator().send();
            let mut n = 0u64;
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.fail("Query", e))?;
                n += u64::try_from(page.count()).unwrap_or(0);
            }
            if n > 0 {
                counts.insert(status, n);
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Score;
    use chrono::TimeZone;

    fn clip(id: &str, score: Option<f64>, created_secs: i64) -> Clip {
        let at = Utc.timestamp_opt(1_700_000_000 + created_secs, 0).unwrap();
        Clip {
            id: ClipId::parse(id).unwrap(),
            broadcaster_id: "1".parse().unwrap(),
            broadcaster_name: "b".into(),
            editor_id: "2".parse().unwrap(),
            editor_name: "e".into(),
            url: "https://clips.twitch.tv/x".into(),
            title: "t".into(),
            duration_secs: 30.0,
            view_count: 1,
            created_at: at,
            video_id: None,
            vod_offset_secs: None,
            found_by_hilite: false,
            status: ClipStatus::Analyzed,
            attempts: Default::default(),
            failed_stage: None,
            skip_reason: None,
            score: score.map(|total| Score {
                total,
                parts: Default::default(),
            }),
            window: None,
            media: Default::default(),
            generated_title: None,
            generated_description: None,
            generated_hashtags: Vec::new(),
            moderation: None,
            edit_job: None,
            review_reason: None,
            errors: vec![],
            fetched_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn rank_keys_sort_best_score_first_then_oldest_then_by_id() {
        let mut clips = [
            clip("Low", Some(10.0), 0),
            clip("Unscored", None, 0),
            clip("HighNew", Some(87.5), 50),
            clip("HighOldB", Some(87.5), 5),
            clip("HighOldA", Some(87.5), 5),
            clip("Top", Some(99.999999), 100),
            clip("Silly", Some(f64::NAN), 0),
        ];
        clips.sort_by_key(rank_key);
        let order: Vec<_> = clips.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            order,
            ["Top", "HighOldA", "HighOldB", "HighNew", "Low", "Silly", "Unscored"]
        );
    }

    #[test]
    fn rank_keys_have_a_fixed_width_prefix() {
        let a = rank_key(&clip("A", Some(0.0), 0));
        let b = rank_key(&clip("A", Some(100.0), 0));
        assert_eq!(a.len(), b.len());
        assert!(b < a);
    }
}
