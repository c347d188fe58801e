//! The fake Instagram: `REELS` containers that fetch `video_url` and process for a poll,
//! `media_publish` only of a `FINISHED` container, the publishing limit and the token refresh.

use super::*;

fn ig_err(code: i64, msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error":{"code":code,"message":msg}})),
    )
        .into_response()
}

pub(super) async fn ig_create(State(app): State<App>, raw_form: Bytes) -> Response {
    let f = form(&raw_form);
    let fault = match app.gate("instagram", f.get("access_token").map(String::as_str), true) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if f.get("media_type").map(String::as_str) != Some("REELS") {
        return ig_err(100, "media_type must be REELS");
    }
    // Meta fetches the video from the URL: it must answer with the file.
    let Some(url) = f.get("video_url") else {
        return ig_err(100, "video_url missing");
    };
    match reqwest::get(url).await {
        Ok(r) if r.status().is_success() => {
            // Counted as it streams: a fetched video may be bigger than this fake's memory.
            let mut body = r.bytes_stream();
            let mut fetched = 0u64;
            while let Some(Ok(chunk)) = futures::StreamExt::next(&mut body).await {
                fetched += chunk.len() as u64;
            }
            if fetched == 0 {
                return ig_err(9004, "the video URL answered nothing");
            }
            *app.st().bytes.entry("instagram").or_default() += fetched;
        }
        _ => return ig_err(9004, "the video URL cannot be fetched"),
    }
    let id = app.id("c");
    app.st().ig.insert(
        id.clone(),
        IgContainer {
            caption: f.get("caption").cloned().unwrap_or_default(),
            polls_left: 1,
            published: None,
        },
    );
    if matches!(fault, Some(Fault::Drop | Fault::CrashAfterAccept)) {
        drop_connection();
    }
    Json(json!({ "id": id })).into_response()
}

pub(super) async fn ig_get(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = app.gate(
        "instagram",
        q.get("access_token").map(String::as_str),
        false,
    ) {
        return r;
    }
    let mut st = app.st();
    if let Some(c) = st.ig.get_mut(&id) {
        let code = if c.published.is_some() {
            "PUBLISHED"
        } else if c.polls_left > 0 {
            c.polls_left -= 1;
            "IN_PROGRESS"
        } else {
            "FINISHED"
        };
        return Json(json!({ "id": id, "status_code": code, "status": code })).into_response();
    }
    Json(json!({ "id": id, "permalink": format!("https://www.instagram.com/reel/{id}/") }))
        .into_response()
}

pub(super) async fn ig_publish(State(app): State<App>, raw_form: Bytes) -> Response {
    let f = form(&raw_form);
    let fault = match app.gate("instagram", f.get("access_token").map(String::as_str), true) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let id = f.get("creation_id").cloned().unwrap_or_default();
    let mut st = app.st();
    let posted = st.posts.iter().filter(|p| p.0 == "instagram").count() as u32;
    let limit = st.instagram_limit;
    let Some(c) = st.ig.get_mut(&id) else {
        return ig_err(100, "unknown container");
    };
    if c.published.is_some() || c.polls_left > 0 {
        return ig_err(
            9007,
            "Media ID is not available: the container is not FINISHED",
        );
    }
    if posted >= limit {
        return ig_err(9, "Application request limit reached (publishing limit)");
    }
    let media = format!("m{id}");
    c.published = Some(media.clone());
    let caption = c.caption.clone();
    st.posts.push(("instagram", caption));
    drop(st);
    if matches!(fault, Some(Fault::Drop | Fault::CrashAfterAccept)) {
        drop_connection();
    }
    Json(json!({ "id": media })).into_response()
}

pub(super) async fn ig_limit(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = app.gate(
        "instagram",
        q.get("access_token").map(String::as_str),
        false,
    ) {
        return r;
    }
    let st = app.st();
    let used = st.posts.iter().filter(|p| p.0 == "instagram").count();
    Json(json!({ "data": [{ "quota_usage": used, "config": { "quota_total": st.instagram_limit, "quota_duration": 86400 } }] })).into_response()
}

pub(super) async fn ig_refresh(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut st = app.st();
    if st.instagram_refresh_limited > 0 {
        st.instagram_refresh_limited -= 1;
        return ig_err(4, "Application request limit reached");
    }
    if q.get("grant_type").map(String::as_str) != Some("ig_refresh_token")
        || !q
            .get("access_token")
            .is_some_and(|t| st.access_is_live("instagram", t))
        || st.revoked.contains(&"instagram")
    {
        return ig_err(190, "Invalid OAuth access token");
    }
    st.refreshes += 1;
    let access = format!("instagram-access-{}", st.refreshes);
    st.access.insert("instagram", access.clone());
    st.live_access
        .entry("instagram")
        .or_default()
        .insert(access.clone());
    Json(json!({ "access_token": access, "token_type": "bearer", "expires_in": 5_184_000 }))
        .into_response()
}
