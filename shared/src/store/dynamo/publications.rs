//! Publication items, under their clip's partition so a clip's posts are one query, and indexed
//! by account in `gsi1`. A claim, and every change made under it, is a read-modify-write
//! conditional on the status and `rev` read, so of two workers exactly one holds a publication
//! and only the holder of the current claim token records progress or a result. The changes
//! themselves are the same as the SQLite store's.

use chrono::{DateTime, Duration, Utc};

use super::item::{encode, Keys, Outcome};
use super::DynamoStore;
use crate::domain::{
    AccountName, Claim, ClipId, PostResult, PostStatus, Publication, PublicationKey, ResumeHandles,
};
use crate::store::{StoreError, StoreResult};

fn pk(clip: &ClipId) -> String {
    format!("CLIP#{clip}")
}

fn sk(key: &PublicationKey) -> String {
    format!("PUB#{}#{}", key.account, key.platform)
}

fn account_pk(account: &AccountName) -> String {
    format!("ACCOUNT#{account}")
}

fn order(p: &Publication) -> (&str, &str, &str) {
    (
        p.key.clip_id.as_str(),
        p.key.account.as_str(),
        p.key.platform.as_str(),
    )
}

fn keys(p: &Publication) -> Keys {
    Keys::new(pk(&p.key.clip_id), sk(&p.key)).indexed(
        account_pk(&p.key.account),
        format!("PUB#{}#{}", p.key.clip_id, p.key.platform),
    )
}

impl DynamoStore {
    pub(super) async fn insert_publication(&self, p: &Publication) -> StoreResult<bool> {
        self.put_if_absent(encode(p, keys(p))?).await
    }

    pub(super) async fn publication(
        &self,
        key: &PublicationKey,
    ) -> StoreResult<Option<Publication>> {
        self.get_record(pk(&key.clip_id), &sk(key)).await
    }

    pub(super) async fn claim(
        &self,
        key: &PublicationKey,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Claim> {
        let outcome = self
            .update(pk(&key.clip_id), &sk(key), keys, |p: &mut Publication| {
                if !p.claimable(now) {
                    return Ok(false);
                }
                p.status = PostStatus::Uploading;
                p.attempts += 1;
                p.claim_token = Some(uuid::Uuid::new_v4().to_string());
                p.lease_until = Some(now + lease);
                p.updated_at = now;
                Ok(true)
            })
            .await?;
        Ok(match outcome {
            Outcome::Written(p) => Claim::Claimed(p),
            Outcome::Kept(p) => Claim::NotClaimable(p),
            Outcome::Missing => Claim::Missing,
        })
    }

    pub(super) async fn save_progress(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.under_claim(key, claim_token, |p| {
            p.resume = resume.clone();
            p.updated_at = now;
        })
        .await
        .map(drop)
    }

    pub(super) async fn complete(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        result: &PostResult,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        self.under_claim(key, claim_token, |p| {
            p.status = PostStatus::Success;
            p.platform_video_id = Some(result.video_id.clone());
            p.platform_url = Some(result.url.clone());
            p.published_at = Some(now);
            p.claim_token = None;
            p.lease_until = None;
            p.updated_at = now;
        })
        .await
    }

    pub(super) async fn release(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        error: &str,
        retry: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        self.under_claim(key, claim_token, |p| {
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
        .await
    }

    pub(super) async fn reopen(
        &self,
        key: &PublicationKey,
        resume: &ResumeHandles,
        now: DateTime<Utc>,
    ) -> StoreResult<Publication> {
        let outcome = self
            .update(pk(&key.clip_id), &sk(key), keys, |p: &mut Publication| {
                let status = p.status;
                if p.reopen(resume, now) {
                    Ok(true)
                } else {
                    Err(StoreError::Conflict {
                        what: format!("publication {key}"),
                        expected: PostStatus::Failed.as_str().into(),
                        actual: status.as_str().into(),
                    })
                }
            })
            .await?;
        match outcome {
            Outcome::Written(p) | Outcome::Kept(p) => Ok(p),
            Outcome::Missing => Err(StoreError::NotFound(format!("publication {key}"))),
        }
    }

    /// Change the publication only while it is uploading under `claim_token`. A holder whose
    /// lease ran out may still finish as long as nobody claimed it since (the token matches).
    async fn under_claim(
        &self,
        key: &PublicationKey,
        claim_token: &str,
        change: impl Fn(&mut Publication),
    ) -> StoreResult<Publication> {
        let outcome = self
            .update(pk(&key.clip_id), &sk(key), keys, |p: &mut Publication| {
                let ours = p.status == PostStatus::Uploading
                    && p.claim_token.as_deref() == Some(claim_token);
                if !ours {
                    // Another claim's token is not shown: it is that worker's proof of ownership.
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
                change(p);
                Ok(true)
            })
            .await?;
        match outcome {
            Outcome::Written(p) | Outcome::Kept(p) => Ok(p),
            Outcome::Missing => Err(StoreError::NotFound(format!("publication {key}"))),
        }
    }

    /// Ordered by clip, account, platform, as the SQLite store lists them.
    pub(super) async fn publications(
        &self,
        clip: Option<&ClipId>,
        account: Option<&AccountName>,
    ) -> StoreResult<Vec<Publication>> {
        let mut found: Vec<Publication> = match (clip, account) {
            (Some(clip), account) => {
                let prefix = match account {
                    Some(a) => format!("PUB#{a}#"),
                    None => "PUB#".to_string(),
                };
                self.query_records(self.partition(pk(clip), Some(&prefix)), None)
                    .await?
            }
            (None, Some(account)) => {
                self.query_records(
                    self.index_partition(account_pk(account), Some("PUB#")),
                    None,
                )
                .await?
            }
            (None, None) => self.scan_publications().await?,
        };
        found.sort_by(|a, b| order(a).cmp(&order(b)));
        Ok(found)
    }

    /// Every publication: a filtered scan of the table, paginated. Only the operator's
    /// unfiltered listing uses it; the pipeline always knows the clip or the account.
    async fn scan_publications(&self) -> StoreResult<Vec<Publication>> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .filter_expression("begins_with(#sk, :pub)")
            .expression_attribute_names("#sk", super::SK)
            .expression_attribute_values(":pub", super::item::s("PUB#"))
            .into_paginator()
            .items()
            .send();
        let mut found = Vec::new();
        while let Some(item) = pages.next().await {
            found.push(super::item::decode(
                item.map_err(|e| self.fail("Scan", e))?,
            )?);
        }
        Ok(found)
    }
}
