//! One post of one clip to one platform for one account (seed 000's `publications`). The key
//! (clip, account, platform) is unique in both stores: that uniqueness, plus a claim with a
//! lease before any upload, is what makes a second post of the same clip impossible.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccountName, ClipId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Youtube,
    Tiktok,
    Instagram,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Youtube, Platform::Tiktok, Platform::Instagram];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Youtube => "youtube",
            Platform::Tiktok => "tiktok",
            Platform::Instagram => "instagram",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Platform {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown platform {s:?} (one of: youtube, tiktok, instagram)"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicationKey {
    pub clip_id: ClipId,
    pub account: AccountName,
    pub platform: Platform,
}

impl fmt::Display for PublicationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.clip_id, self.account, self.platform)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Planned, not yet claimed (or released for a later retry).
    Pending,
    /// Claimed by one worker until `lease_until`.
    Uploading,
    Success,
    /// Gave up, with the platform's message; tomorrow's plan may set it pending again.
    Failed,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Pending => "pending",
            PostStatus::Uploading => "uploading",
            PostStatus::Success => "success",
            PostStatus::Failed => "failed",
        }
    }
}

/// What a platform returned that lets a retry resume or check instead of posting again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeHandles {
    /// YouTube resumable upload session URI.
    pub upload_session: Option<String>,
    /// TikTok `publish_id`.
    pub publish_id: Option<String>,
    /// Instagram media container id.
    pub container_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    pub key: PublicationKey,
    pub status: PostStatus,
    pub attempts: u32,
    /// Identifies the current claim; progress and results are accepted only with it.
    pub claim_token: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resume: ResumeHandles,
    pub platform_video_id: Option<String>,
    pub platform_url: Option<String>,
    pub last_error: Option<String>,
    /// How often a later day's plan set it pending again after it failed.
    #[serde(default)]
    pub reopened: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

impl Publication {
    pub fn planned(key: PublicationKey, now: DateTime<Utc>) -> Self {
        Self {
            key,
            status: PostStatus::Pending,
            attempts: 0,
            claim_token: None,
            lease_until: None,
            resume: ResumeHandles::default(),
            platform_video_id: None,
            platform_url: None,
            last_error: None,
            reopened: 0,
            created_at: now,
            updated_at: now,
            published_at: None,
        }
    }

    /// Set a failed publication pending again for a later plan (seed 000: tomorrow's plan
    /// retries), with fresh attempts and the resume handles the planner decided to keep (a
    /// handle to a post the platform itself failed is dropped; one that may still lead to the
    /// post is kept, so a retry checks it instead of posting again). The last error stays
    /// until the next attempt replaces it. `false` (and no change) unless it is `failed`.
    pub fn reopen(&mut self, resume: &ResumeHandles, now: DateTime<Utc>) -> bool {
        if self.status != PostStatus::Failed {
            return false;
        }
        self.status = PostStatus::Pending;
        self.attempts = 0;
        self.reopened += 1;
        self.claim_token = None;
        self.lease_until = None;
        self.resume = resume.clone();
        self.updated_at = now;
        true
    }

    /// Whether a worker may claim this publication now: pending, or uploading under a lease
    /// that has run out (its worker died). Success and failed are never claimed.
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            PostStatus::Pending => true,
            PostStatus::Uploading => self.lease_until.is_none_or(|t| t <= now),
            PostStatus::Success | PostStatus::Failed => false,
        }
    }
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This worker holds the publication until the lease ends; `claim_token` in it is ours.
    Claimed(Publication),
    /// Someone else holds a live lease, or it already succeeded or failed: do nothing.
    NotClaimable(Publication),
    /// No such publication was planned.
    Missing,
}

/// The result of a successful post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostResult {
    pub video_id: String,
    pub url: String,
}
