//! Create Clip From VOD (`POST /helix/videos/clips`): a clip cut from a broadcaster's VOD on
//! behalf of the broadcaster or one of their editors, which is how HiLite clips the chat
//! moments nobody clipped (`pipeline::moments`). What Twitch would refuse is refused here,
//! before any call. <https://dev.twitch.tv/docs/api/reference/#create-clip-from-vod>

use reqwest::Method;
use serde::Deserialize;

use super::client::{parse, Auth, TwitchClient};
use super::error::TwitchError;
use super::helix::Page;
use crate::domain::{BroadcasterId, TokenRef, UserId};

/// A clip to cut from a VOD with Create Clip From VOD: it ends at `vod_offset` and lasts
/// `duration_secs` (5 to 60, to 0.1 s).
/// <https://dev.twitch.tv/docs/api/reference/#create-clip-from-vod>
#[derive(Debug, Clone, PartialEq)]
pub struct VodClip {
    pub broadcaster: BroadcasterId,
    /// The token's user: the broadcaster or one of their editors.
    pub editor: UserId,
    pub vod_id: String,
    /// Seconds from the VOD's start to the clip's end.
    pub vod_offset: u32,
    pub duration_secs: f64,
    pub title: String,
}

/// Create Clip From VOD's shortest and longest clip.
pub const VOD_CLIP_SECS: std::ops::RangeInclusive<f64> = 5.0..=60.0;

impl VodClip {
    /// Refuse what Twitch would refuse, before calling it.
    fn check(&self) -> Result<(), TwitchError> {
        let problem = if !VOD_CLIP_SECS.contains(&self.duration_secs) {
            Some(format!(
                "a clip from a VOD lasts 5 to 60 s, not {}",
                self.duration_secs
            ))
        } else if f64::from(self.vod_offset) < self.duration_secs {
            Some("vod_offset (the clip's end) must be at least its duration".into())
        } else if self.title.trim().is_empty() || self.vod_id.is_empty() {
            Some("a clip from a VOD needs a title and a VOD id".into())
        } else {
            None
        };
        match problem {
            Some(message) => Err(TwitchError::Rejected {
                status: 400,
                message,
            }),
            None => Ok(()),
        }
    }
}

/// What Create Clip From VOD answers: the clip is being made.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedClip {
    pub id: String,
    #[serde(default)]
    pub edit_url: String,
}

impl TwitchClient {
    /// Create Clip From VOD with the user token stored as `token` (scope editor:manage:clips or
    /// channel:manage:clips; `clip.editor` must be its user). Twitch answers 202 and makes the
    /// clip in the background, so Get Clips Download may not list it for a while.
    pub async fn create_clip_from_vod(
        &self,
        token: &TokenRef,
        clip: &VodClip,
    ) -> Result<CreatedClip, TwitchError> {
        clip.check()?;
        let query = [
            ("editor_id", clip.editor.to_string()),
            ("broadcaster_id", clip.broadcaster.to_string()),
            ("vod_id", clip.vod_id.clone()),
            ("vod_offset", clip.vod_offset.to_string()),
            // "Precision is 0.1."
            ("duration", format!("{:.1}", clip.duration_secs)),
            ("title", clip.title.clone()),
        ];
        let answer = self
            .helix(
                Auth::User(token),
                Method::POST,
                "videos/clips",
                &query,
                None,
            )
            .await?;
        let page: Page<CreatedClip> = parse("Create Clip From VOD", &answer.body)?;
        page.data
            .into_iter()
            .next()
            .ok_or_else(|| TwitchError::Malformed("no clip in the answer".into()))
    }
}
