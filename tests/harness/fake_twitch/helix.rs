//! The fake's Helix endpoints for users, videos, clips and clip downloads. Every request
//! passes the gate (`gate.rs`) first, and every answer carries the `Ratelimit-*` headers.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::gate::{Need, Req};
use super::oauth::error;
use super::{first, parse_query, FakeClip, FakeTwitch, BROADCASTER_SCOPE, EDITOR_SCOPE};

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

pub(crate) fn ok(data: Value) -> Response {
    axum::Json(data).into_response()
}

pub(crate) async fn users(
    State(fake): State<FakeTwitch>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = parse_query(raw.as_deref());
    let req = Req {
        method: "GET",
        path: "/helix/users",
        query: &query,
    };
    let admitted = match fake.admit(&headers, &req, Need::AnyToken).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let logins: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "login")
        .map(|(_, v)| v.as_str())
        .collect();
    if logins.is_empty() || logins.len() > 100 {
        return fake.answer(
            &req,
            admitted,
            error(
                400,
                "The id or login query parameter is required (at most 100)",
            ),
        );
    }
    let data: Vec<Value> = {
        let s = fake.lock();
        s.users.iter().filter(|(_, l)| logins.contains(&l.as_str())).map(|(id, l)| json!({"id": id, "login": l, "display_name": l.to_uppercase(), "type": "", "broadcaster_type": "", "created_at": "2020-01-01T00:00:00Z"})).collect()
    };
    fake.answer(&req, admitted, ok(json!({"data": data})))
}

pub(crate) async fn videos(
    State(fake): State<FakeTwitch>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = parse_query(raw.as_deref());
    let req = Req {
        method: "GET",
        path: "/helix/videos",
        query: &query,
    };
    let admitted = match fake.admit(&headers, &req, Need::AnyToken).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(user) = first(&query, "user_id") else {
        return fake.answer(&req, admitted, error(400, "user_id is required"));
    };
    if first(&query, "type")
        .is_some_and(|t| !["all", "archive", "highlight", "upload"].contains(&t))
    {
        return fake.answer(
            &req,
            admitted,
            error(400, "The value in the type query parameter is not valid"),
        );
    }
    let n = first(&query, "first")
        .and_then(|f| f.parse::<usize>().ok())
        .unwrap_or(20);
    let mut videos: Vec<_> = fake
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
    fake.answer(&req, admitted, ok(json!({"data": data, "pagination": {}})))
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

pub(crate) async fn clips(
    State(fake): State<FakeTwitch>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = parse_query(raw.as_deref());
    let req = Req {
        method: "GET",
        path: "/helix/clips",
        query: &query,
    };
    let admitted = match fake.admit(&headers, &req, Need::AnyToken).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(broadcaster) = first(&query, "broadcaster_id") else {
        return fake.answer(
            &req,
            admitted,
            error(
                400,
                "The id or game_id or broadcaster_id query parameter is required",
            ),
        );
    };
    let page = match first(&query, "first").map(|f| f.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return fake.answer(
                &req,
                admitted,
                error(400, "first must be between 1 and 100"),
            )
        }
    };
    let (Ok(start), Ok(end)) = (
        rfc3339(first(&query, "started_at")),
        rfc3339(first(&query, "ended_at")),
    ) else {
        return fake.answer(
            &req,
            admitted,
            error(400, "started_at and ended_at must be RFC3339"),
        );
    };
    let end = end.or(start.map(|s| s + chrono::Duration::weeks(1)));
    let signature = format!("clips|{broadcaster}|{start:?}|{end:?}");
    let mut s = fake.lock();
    let offset = match first(&query, "after") {
        None => 0,
        Some(c) => match s.cursors.get(c) {
            Some((sig, offset)) if *sig == signature => *offset,
            _ => {
                drop(s);
                return fake.answer(
                    &req,
                    admitted,
                    error(
                        400,
                        "The cursor specified in the after query parameter is not valid",
                    ),
                );
            }
        },
    };
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
    let data: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page)
        .map(|c| clip_json(c))
        .collect();
    let next = offset + page;
    let pagination = if next < matching.len() {
        let cursor = uuid::Uuid::new_v4().simple().to_string();
        s.cursors.insert(cursor.clone(), (signature, next));
        json!({"cursor": cursor})
    } else {
        json!({})
    };
    drop(s);
    fake.answer(
        &req,
        admitted,
        ok(json!({"data": data, "pagination": pagination})),
    )
}

pub(crate) async fn clip_downloads(
    State(fake): State<FakeTwitch>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = parse_query(raw.as_deref());
    let req = Req {
        method: "GET",
        path: "/helix/clips/downloads",
        query: &query,
    };
    let admitted = match fake
        .admit(
            &headers,
            &req,
            Need::UserScope(&[BROADCASTER_SCOPE, EDITOR_SCOPE]),
        )
        .await
    {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(broadcaster), Some(editor)) =
        (first(&query, "broadcaster_id"), first(&query, "editor_id"))
    else {
        return fake.answer(
            &req,
            admitted,
            error(400, "broadcaster_id and editor_id are required"),
        );
    };
    let ids: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "clip_id")
        .map(|(_, v)| v.as_str())
        .collect();
    if ids.is_empty() || ids.len() > 10 {
        return fake.answer(
            &req,
            admitted,
            error(400, "Include 1 to 10 clip_id parameters"),
        );
    }
    if admitted.user_id.as_deref() != Some(editor) {
        return fake.answer(
            &req,
            admitted,
            error(
                400,
                "The editor_id must match the user_id in the user access token",
            ),
        );
    }
    let s = fake.lock();
    if editor != broadcaster
        && !s
            .editors
            .contains(&(broadcaster.to_string(), editor.to_string()))
    {
        drop(s);
        return fake.answer(
            &req,
            admitted,
            error(
                403,
                "The user is not an editor for the specified broadcaster",
            ),
        );
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
    fake.answer(&req, admitted, ok(json!({"data": data})))
}
