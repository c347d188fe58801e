//! A Twitch clip's record and its life cycle (DESIGN.md §2). The allowed transitions are listed
//! once, in [`ClipStatus::can_become`]; the stores refuse anything else and apply every
//! transition as a conditional update from the expected status.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::edit_job::EditJob;
use super::ids::{BroadcasterId, ClipId, EditorId, ExternalId, MediaKey};
use super::moderation::Moderation;

/// How many error entries a clip keeps; older ones are dropped so a record never grows
/// without bound however often a stage fails.
pub const ERROR_LOG_LIMIT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipStatus {
    Pending,
    Downloaded,
    Analyzed,
    Skipped,
    Edited,
    Review,
    Published,
    Failed,
}

impl ClipStatus {
    pub const ALL: [ClipStatus; 8] = [
        ClipStatus::Pending,
        ClipStatus::Downloaded,
        ClipStatus::Analyzed,
        ClipStatus::Skipped,
        ClipStatus::Edited,
        ClipStatus::Review,
        ClipStatus::Published,
        ClipStatus::Failed,
    ];

    /// The one place that says which moves a clip may make.
    pub fn can_become(self, next: ClipStatus) -> bool {
        use ClipStatus::*;
        matches!(
            (self, next),
            (Pending, Downloaded)
                | (Downloaded, Analyzed)
                | (Downloaded, Skipped)
                | (Analyzed, Edited)
                | (Analyzed, Review)
                | (Review, Edited)
                | (Review, Skipped)
                | (Edited, Published)
                // A stage that ran out of attempts.
                | (Pending, Failed)
                | (Downloaded, Failed)
                | (Analyzed, Failed)
                // `hilite clips retry`: back to the input of the stage that failed.
                | (Failed, Pending)
                | (Failed, Downloaded)
                | (Failed, Analyzed)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClipStatus::Pending => "pending",
            ClipStatus::Downloaded => "downloaded",
            ClipStatus::Analyzed => "analyzed",
            ClipStatus::Skipped => "skipped",
            ClipStatus::Edited => "edited",
            ClipStatus::Review => "review",
            ClipStatus::Published => "published",
            ClipStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for ClipStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClipStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ClipStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ClipStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown clip status {s:?} (one of: {})", names.join(", "))
            })
    }
}

/// A pipeline stage that works on a clip; each keeps its own attempt count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Download,
    Analyze,
    Edit,
}

impl Stage {
    /// The status a clip has while it waits for this stage; a failed clip returns there.
    pub fn input_status(self) -> ClipStatus {
        match self {
            Stage::Download => ClipStatus::Pending,
            Stage::Analyze => ClipStatus::Downloaded,
            Stage::Edit => ClipStatus::Analyzed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Download => "download",
            Stage::Analyze => "analyze",
            Stage::Edit => "edit",
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Stage::Download, Stage::Analyze, Stage::Edit]
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| format!("unknown stage {s:?} (one of: download, analyze, edit)"))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An illegal move, refused before any store is touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a clip cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: ClipStatus,
    pub to: ClipStatus,
}

/// A checked move from one status to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: ClipStatus,
    pub to: ClipStatus,
}

impl Transition {
    pub fn new(from: ClipStatus, to: ClipStatus) -> Result<Self, IllegalTransition> {
        if from.can_become(to) {
            Ok(Self { from, to })
        } else {
            Err(IllegalTransition { from, to })
        }
    }
}

/// Attempts per stage (seed 000's `download_attempts`, `edit_attempts`, and analyze's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempts {
    pub download: u32,
    pub analyze: u32,
    pub edit: u32,
}

impl Attempts {
    pub fn get(&self, stage: Stage) -> u32 {
        match stage {
            Stage::Download => self.download,
            Stage::Analyze => self.analyze,
            Stage::Edit => self.edit,
        }
    }

    pub fn bump(&mut self, stage: Stage) -> u32 {
        let slot = match stage {
            Stage::Download => &mut self.download,
            Stage::Analyze => &mut self.analyze,
            Stage::Edit => &mut self.edit,
        };
        *slot += 1;
        *slot
    }
}

/// One recorded failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEntry {
    pub at: DateTime<Utc>,
    pub stage: Stage,
    pub message: String,
}

/// The clip's score (0–100) with the part each feature contributed, so a score can be explained.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub total: f64,
    #[serde(default)]
    pub parts: BTreeMap<String, f64>,
}

/// The part of the source the short is cut from, in seconds from the clip's start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start_secs: f64,
    pub end_secs: f64,
}

impl Window {
    pub fn duration_secs(&self) -> f64 {
        self.end_secs - self.start_secs
    }
}

/// Where a clip's media lives in the media store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaKeys {
    pub source: Option<MediaKey>,
    /// True when Twitch delivered the editor's portrait version: rendering only scales it.
    #[serde(default)]
    pub source_is_portrait: bool,
    pub short: Option<MediaKey>,
    pub captions_srt: Option<MediaKey>,
    pub captions_ass: Option<MediaKey>,
    pub thumbnail: Option<MediaKey>,
    pub render_report: Option<MediaKey>,
}

/// A clip as the pipeline knows it: Twitch's metadata plus everything the stages added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    pub id: ClipId,
    pub broadcaster_id: BroadcasterId,
    pub broadcaster_name: String,
    pub editor_id: EditorId,
    pub editor_name: String,
    pub url: String,
    pub title: String,
    pub duration_secs: f64,
    pub view_count: u64,
    pub created_at: DateTime<Utc>,
    pub video_id: Option<ExternalId>,
    pub vod_offset_secs: Option<u32>,
    /// Made by HiLite from chat moments rather than by an editor.
    #[serde(default)]
    pub found_by_hilite: bool,
    pub status: ClipStatus,
    #[serde(default)]
    pub attempts: Attempts,
    /// The stage whose attempts ran out, when `status` is `failed`.
    pub failed_stage: Option<Stage>,
    pub skip_reason: Option<String>,
    pub score: Option<Score>,
    pub window: Option<Window>,
    #[serde(default)]
    pub media: MediaKeys,
    /// Title generated by the edit stage, used instead of Twitch's when present.
    pub generated_title: Option<String>,
    /// Description generated with the title (`[llm]`), for the publish stage.
    #[serde(default)]
    pub generated_description: Option<String>,
    /// Hashtags generated with the title, each starting with `#`.
    #[serde(default)]
    pub generated_hashtags: Vec<String>,
    /// The transcript's moderation verdict and risk score, when an LLM judged it.
    #[serde(default)]
    pub moderation: Option<Moderation>,
    /// Why the clip waits in `review`: the risk score over the threshold, a hateful verdict,
    /// or a broadcaster who approves every clip.
    #[serde(default)]
    pub review_reason: Option<String>,
    /// The AWS Batch render job working on the clip, while one does.
    #[serde(default)]
    pub edit_job: Option<EditJob>,
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
    pub fetched_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Clip {
    /// The score used to order clips; clips not yet scored sort last.
    pub fn rank(&self) -> f64 {
        self.score.as_ref().map_or(0.0, |s| s.total)
    }

    /// Apply a patch and a new status in memory: the adapters call this on the stored record
    /// so both backends change a clip in exactly the same way.
    pub fn apply(&mut self, to: ClipStatus, patch: ClipPatch, now: DateTime<Utc>) {
        self.status = to;
        self.updated_at = now;
        if let Some(v) = patch.score {
            self.score = Some(v);
        }
        if let Some(v) = patch.window {
            self.window = Some(v);
        }
        if let Some(v) = patch.media {
            self.media = v;
        }
        if let Some(v) = patch.skip_reason {
            self.skip_reason = Some(v);
        }
        if let Some(v) = patch.generated_title {
            self.generated_title = Some(v);
        }
        if let Some(v) = patch.generated_description {
            self.generated_description = Some(v);
        }
        if let Some(v) = patch.generated_hashtags {
            self.generated_hashtags = v;
        }
        if let Some(v) = patch.moderation {
            self.moderation = Some(v);
        }
        if let Some(v) = patch.review_reason {
            self.review_reason = Some(v);
        }
        if let Some(v) = patch.edit_job {
            self.edit_job = v;
        }
        if let Some(v) = patch.failed_stage {
            self.failed_stage = Some(v);
        }
        if to != ClipStatus::Failed && patch.failed_stage.is_none() {
            self.failed_stage = None;
        }
        if let Some(stage) = patch.reset_attempts {
            match stage {
                Stage::Download => self.attempts.download = 0,
                Stage::Analyze => self.attempts.analyze = 0,
                Stage::Edit => self.attempts.edit = 0,
            }
        }
    }

    /// Record a failed attempt of `stage` in memory (count and bounded error log).
    pub fn record_failure(&mut self, stage: Stage, message: &str, now: DateTime<Utc>) -> u32 {
        let n = self.attempts.bump(stage);
        self.errors.push(ErrorEntry {
            at: now,
            stage,
            message: message.chars().take(2000).collect(),
        });
        if self.errors.len() > ERROR_LOG_LIMIT {
            let drop = self.errors.len() - ERROR_LOG_LIMIT;
            self.errors.drain(..drop);
        }
        self.updated_at = now;
        n
    }
}

/// What a transition changes besides the status. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClipPatch {
    pub score: Option<Score>,
    pub window: Option<Window>,
    pub media: Option<MediaKeys>,
    pub skip_reason: Option<String>,
    pub generated_title: Option<String>,
    pub generated_description: Option<String>,
    pub generated_hashtags: Option<Vec<String>>,
    pub moderation: Option<Moderation>,
    pub review_reason: Option<String>,
    /// `Some(None)` forgets the render job.
    pub edit_job: Option<Option<EditJob>>,
    pub failed_stage: Option<Stage>,
    /// Zero this stage's attempt count (used by `hilite clips retry`).
    pub reset_attempts: Option<Stage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        use ClipStatus::*;
        for (a, b) in [
            (Pending, Downloaded),
            (Downloaded, Analyzed),
            (Analyzed, Edited),
            (Edited, Published),
        ] {
            assert!(Transition::new(a, b).is_ok(), "{a} -> {b}");
        }
    }

    #[test]
    fn skipping_stages_or_going_back_is_illegal() {
        use ClipStatus::*;
        for (a, b) in [
            (Pending, Edited),
            (Published, Pending),
            (Edited, Analyzed),
            (Skipped, Edited),
            (Published, Failed),
            (Pending, Pending),
        ] {
            let err = Transition::new(a, b).unwrap_err();
            assert_eq!(err, IllegalTransition { from: a, to: b });
        }
    }

    #[test]
    fn a_failed_clip_returns_to_its_stage_input() {
        for stage in [Stage::Download, Stage::Analyze, Stage::Edit] {
            assert!(stage.input_status().can_become(ClipStatus::Failed));
            assert!(ClipStatus::Failed.can_become(stage.input_status()));
        }
    }

    #[test]
    fn status_names_round_trip() {
        for st in ClipStatus::ALL {
            assert_eq!(st.as_str().parse::<ClipStatus>().unwrap(), st);
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
        }
        assert!("bogus"
            .parse::<ClipStatus>()
            .unwrap_err()
            .contains("pending"));
    }
}
