//! The fake's Create Clip From VOD (`POST /helix/videos/clips`), strict like Twitch: a user
//! token with editor:manage:clips or channel:manage:clips whose user is `editor_id`, an editor
//! of (or the) broadcaster, an archive VOD of that broadcaster, an integer `vod_offset` at
//! least the clip's `duration` (5–60 s, default 30), and a title. The clip it makes is listed
//! by Get Clips and downloadable at once (Twitch takes a while; the pipeline retries).
//! <https://dev.twitch.tv/docs/api/reference/#create-clip-from-vod>

use axum::response::Response;
use chrono::Utc;
use serde_json::json;

use super::call::Incoming;
use super::gate::Need;
use super::{FakeClip, BROADCASTER_SCOPE, EDITOR_SCOPE};

pub(crate) async fn create_clip_from_vod(incoming: Incoming) -> Result<Response, Response> {
    let call = incoming
        .admit(
            "POST",
            "/helix/videos/clips",
            Need::UserScope(&[BROADCASTER_SCOPE, EDITOR_SCOPE]),
        )
        .await?;
    let fake = &call.fake;
    let refuse = |status: u16, message: &str| (status, message.to_string());
    let checked = (|| {
        let (Some(editor), Some(broadcaster), Some(vod), Some(offset), Some(title)) = (
            call.first("editor_id"),
            call.first("broadcaster_id"),
            call.first("vod_id"),
            call.first("vod_offset"),
            call.first("title"),
        ) else {
            return Err(refuse(400, "Validation errors: missing required fields"));
        };
        let offset: u32 = offset
            .parse()
            .map_err(|_| refuse(400, "vod_offset must be an integer"))?;
        let duration: f64 = match call.first("duration") {
            None => 30.0,
            Some(d) => d
                .parse()
                .map_err(|_| refuse(400, "duration must be a number"))?,
        };
        if !(5.0..=60.0).contains(&duration) {
            return Err(refuse(400, "duration must be between 5 and 60 seconds"));
        }
        if f64::from(offset) < duration {
            return Err(refuse(
                400,
                "vod_offset must be greater than or equal to duration",
            ));
        }
        if title.trim().is_empty() {
            return Err(refuse(400, "Validation errors: missing required fields"));
        }
        if call.user_id() != Some(editor) {
            return Err(refuse(
                403,
                "The user defined by the editor_id is not authorized to create Clips.",
            ));
        }
        let s = fake.lock();
        if !s.users.contains_key(broadcaster) || !s.users.contains_key(editor) {
            return Err(refuse(
                404,
                "The broadcaster_id or the editor_id does not exist.",
            ));
        }
        if editor != broadcaster
            && !s
                .editors
                .contains(&(broadcaster.to_string(), editor.to_string()))
        {
            return Err(refuse(
                403,
                "The user defined by the editor_id is not authorized to create Clips.",
            ));
        }
        if !s
            .archives
            .iter()
            .any(|(u, id, _)| u == broadcaster && id == vod)
        {
            return Err(refuse(404, "The VOD is not found.."));
        }
        Ok((
            editor.to_string(),
            broadcaster.to_string(),
            vod.to_string(),
            offset,
            duration,
            title.to_string(),
        ))
    })();
    let (editor, broadcaster, vod, offset, duration, title) = match checked {
        Ok(c) => c,
        Err((status, message)) => return Err(call.fail(status, &message)),
    };
    let id = format!("HiLiteVodClip{}", uuid::Uuid::new_v4().simple());
    let mut clip = FakeClip::new(&id, &broadcaster, &editor, Utc::now());
    clip.video_id = Some(vod);
    clip.vod_offset = Some((f64::from(offset) - duration).floor() as u32);
    clip.duration = duration;
    clip.title = Some(title);
    fake.add_clip(clip);
    Ok(call.accepted(
        json!({"data": [{"id": id, "edit_url": format!("https://www.twitch.tv/fake/clip/{id}")}]}),
    ))
}
