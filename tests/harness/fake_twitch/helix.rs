//! The fake's Helix endpoints for users, videos, clips and clip downloads. Every request
//! passes the gate (`gate.rs`, through `call.rs`) first, and every answer carries the
//! `Ratelimit-*` headers.

use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::call::Incoming;
use super::gate::Need;
use super::{FakeClip, BROADCASTER_SCOPE, EDITOR_SCOPE};

/// Get Clips stops paging after about this many results per query.
const CAP: usize = 1000;

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn rfc3339(v: Option<&str>) -> Result<Option<DateTime<Utc>>, ()> {
    v.map(|v| {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(drop)
    })
    .transpose()
}

pub(crate) async fn users(incoming: Incoming) -> Result<Response, Response> {
    let call = incoming
        .admit("GET", "/helix/users", Need::AnyToken)
        .await?;
    let logins = call.all("login");
    if logins.is_empty() || logins.len() > 100 {
        return Err(call.fail(
            400,
            "The id or login query parameter is required (at most 100)",
        ));
    }
    let data: Vec<Value> = {
        let s = call.fake.lock();
        s.users.iter().filter(|(_, l)| logins.contains(&l.as_str())).map(|(id, l)| json!({"id": id, "login": l, "display_name": l.to_uppercase(), "type": "", "broadcaster_type": "", "created_at": "2020-01-01T00:00:00Z"})).collect()
    };
    Ok(call.ok(json!({"data": data})))
}

pub(crate) async fn videos(incoming: Incoming) -> Result<Response, Response> {
    let call = incoming
        .admit("GET", "/helix/videos", Need::AnyToken)
        .await?;
    let Some(user) = call.first("user_id") else {
        return Err(call.fail(400, "user_id is required"));
    };
    if call
        .first("type")
        .is_some_and(|t| !["all", "archive", "highlight", "upload"].contains(&t))
    {
        return Err(call.fail(400, "The value in the type query parameter is not valid"));
    }
    let n = call
        .first("first")
        .and_then(|f| f.parse::<usize>().ok())
        .unwrap_or(20);
    let mut videos: Vec<_> = call
        .fake
        .lock()
        .archives
        .iter()
        .filter(|(u, _, _)| u == user)
        .cloned()
        .collect();
    videos.sort_by_key(|v| std::cmp::Reverse(v.2));
    let data: Vec<Value> = videos
        .into_iter()
        .take(n)
        .map(|(u, id, at)| json!({"id": id, "stream_id": "1", "user_id": u, "user_login": "x", "user_name": "X", "title": "", "description": "", "created_at": time(at), "published_at": time(at), "url": "", "thumbnail_url": "", "viewable": "public", "view_count": 1, "language": "en", "type": "archive", "duration": "1h0m0s", "muted_segments": null}))
        .collect();
    Ok(call.ok(json!({"data": data, "pagination": {}})))
}

fn clip_json(c: &FakeClip) -> Value {
    json!({
        "id": c.id, "url": format!("https://clips.twitch.tv/{}", c.id), "embed_url": format!("https://clips.twitch.tv/embed?clip={}", c.id),
        "broadcaster_id": c.broadcaster_id, "broadcaster_name": "StreamerOne", "creator_id": c.creator_id, "creator_name": format!("editor{}", c.creator_id),
        "video_id": c.video_id.clone().unwrap_or_default(), "game_id": "33103", "language": "en",
        "title": c.title.clone().unwrap_or_else(|| format!("clip {}", c.id)), "view_count": c.view_count,
        "created_at": time(c.created_at), "thumbnail_url": "https://clips-media-assets2.twitch.tv/x-preview-480x272.jpg",
        "duration": c.duration, "vod_offset": c.vod_offset, "is_featured": false,
    })
}

pub(crate) async fn clips(incoming: Incoming) -> Result<Response, Response> {
    let call = incoming
        .admit("GET", "/helix/clips", Need::AnyToken)
        .await?;
    let Some(broadcaster) = call.first("broadcaster_id") else {
        return Err(call.fail(
            400,
            "The id or game_id or broadcaster_id query parameter is required",
        ));
    };
    let size = match call.first("first").map(|f| f.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return Err(call.fail(400, "first must be between 1 and 100")),
    };
    let (Ok(start), Ok(end)) = (
        rfc3339(call.first("started_at")),
        rfc3339(call.first("ended_at")),
    ) else {
        return Err(call.fail(400, "started_at and ended_at must be RFC3339"));
    };
    let end = end.or(start.map(|s| s + chrono::Duration::weeks(1)));
    let signature = format!("clips|{broadcaster}|{start:?}|{end:?}");
    let offset = call.offset(&signature)?;
    let matching: Vec<Value> = {
        let s = call.fake.lock();
        let mut matching: Vec<&FakeClip> = s
            .clips
            .iter()
            .filter(|c| c.broadcaster_id == broadcaster && !c.deleted)
            .filter(|c| {
                start.is_none_or(|t| c.created_at >= t) && end.is_none_or(|t| c.created_at <= t)
            })
            .collect();
        matching.sort_by(|a, b| b.view_count.cmp(&a.view_count).then(a.id.cmp(&b.id)));
        matching.truncate(CAP);
        matching.into_iter().map(clip_json).collect()
    };
    let (data, pagination) = call.page(signature, matching, offset, size);
    Ok(call.ok(json!({"data": data, "pagination": pagination})))
}

pub(crate) async fn clip_downloads(incoming: Incoming) -> Result<Response, Response> {
    let call = incoming
        .admit(
            "GET",
            "/helix/clips/downloads",
            Need::UserScope(&[BROADCASTER_SCOPE, EDITOR_SCOPE]),
        )
        .await?;
    let (Some(broadcaster), Some(editor)) = (call.first("broadcaster_id"), call.first("editor_id"))
    else {
        return Err(call.fail(400, "broadcaster_id and editor_id are required"));
    };
    let ids = call.all("clip_id");
    if ids.is_empty() || ids.len() > 10 {
        return Err(call.fail(400, "Include 1 to 10 clip_id parameters"));
    }
    if call.user_id() != Some(editor) {
        return Err(call.fail(
            400,
            "The editor_id must match the user_id in the user access token",
        ));
    }
    let s = call.fake.lock();
    if editor != broadcaster
        && !s
            .editors
            .contains(&(broadcaster.to_string(), editor.to_string()))
    {
        drop(s);
        return Err(call.fail(
            403,
            "The user is not an editor for the specified broadcaster",
        ));
    }
    let base = s.base.clone();
    let data: Vec<Value> = s
        .clips
        .iter()
        .filter(|c| ids.contains(&c.id.as_str()) && c.broadcaster_id == broadcaster && !c.deleted)
        .map(|c| {
            let own = |variant: &str| format!("{base}/files/{}/{variant}.mp4", c.id);
            let landscape = c.download_url.clone().unwrap_or_else(|| own("landscape"));
            let portrait = c.portrait.then(|| c.download_url.clone().unwrap_or_else(|| own("portrait")));
            json!({"clip_id": c.id, "landscape_download_url": landscape, "portrait_download_url": portrait})
        })
        .collect();
    drop(s);
    Ok(call.ok(json!({"data": data})))
}
