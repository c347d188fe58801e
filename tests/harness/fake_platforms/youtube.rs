//! The fake YouTube: `videos.insert` resumable sessions (init, chunks in multiples of the
//! unit at the offset the session stands at, `bytes */SIZE` status queries) and Google's token
//! endpoint.

use super::*;

pub(super) async fn yt_init(
    State(app): State<App>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let fault = match app.gate("youtube", bearer(&h), true) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if q.get("uploadType").map(String::as_str) != Some("resumable") {
        return err(StatusCode::BAD_REQUEST, "uploadType must be resumable");
    }
    let Some(size) = header(&h, "x-upload-content-length").and_then(|s| s.parse::<u64>().ok())
    else {
        return err(StatusCode::BAD_REQUEST, "X-Upload-Content-Length missing");
    };
    if !header(&h, "x-upload-content-type").is_some_and(|t| t.starts_with("video/")) {
        return err(StatusCode::BAD_REQUEST, "X-Upload-Content-Type missing");
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(title) = v
        .pointer("/snippet/title")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.chars().count() <= 100)
    else {
        return err(StatusCode::BAD_REQUEST, "invalid title");
    };
    let id = app.id("s");
    {
        let mut st = app.st();
        if st.posts.iter().filter(|p| p.0 == "youtube").count() as u32 >= st.youtube_quota {
            return (StatusCode::FORBIDDEN, Json(json!({"error":{"code":403,"message":"quotaExceeded","errors":[{"reason":"quotaExceeded"}]}}))).into_response();
        }
        st.yt_sessions_started += 1;
        st.yt.insert(
            id.clone(),
            YtSession {
                size,
                title: title.to_string(),
                ..Default::default()
            },
        );
    }
    if matches!(fault, Some(Fault::Drop | Fault::CrashAfterAccept)) {
        drop_connection();
    }
    (
        StatusCode::OK,
        [("location", format!("{}/youtube/upload/session/{id}", app.2))],
    )
        .into_response()
}

fn yt_state(s: &YtSession) -> Response {
    match &s.video {
        Some(v) => (
            StatusCode::OK,
            Json(json!({ "id": v, "snippet": { "title": s.title } })),
        )
            .into_response(),
        None if s.received == 0 => StatusCode::PERMANENT_REDIRECT.into_response(),
        None => (
            StatusCode::PERMANENT_REDIRECT,
            [("range", format!("bytes=0-{}", s.received - 1))],
        )
            .into_response(),
    }
}

pub(super) async fn yt_put(
    State(app): State<App>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((range, total)) = content_range(&h) else {
        return err(StatusCode::BAD_REQUEST, "Content-Range missing");
    };
    let fault = match app.gate("youtube", bearer(&h), range.is_some()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let unit = app.1.yt_unit;
    let mut st = app.st();
    *st.bytes.entry("youtube").or_default() += body.len() as u64;
    let Some(s) = st.yt.get_mut(&id) else {
        return err(StatusCode::NOT_FOUND, "upload session not found");
    };
    let Some((a, b)) = range else {
        if s.video.is_none() && s.received == s.size && s.size > 0 {
            if s.finalize_polls > 0 {
                s.finalize_polls -= 1;
            } else {
                s.video = Some(format!("yt{id}"));
                let title = s.title.clone();
                st.posts.push(("youtube", title));
            }
        }
        return yt_state(st.yt.get(&id).expect("session"));
    };
    let len = b + 1 - a;
    if total != s.size
        || a != s.received
        || b < a
        || len != body.len() as u64
        || header(&h, "content-length") != Some(len.to_string().as_str())
    {
        return err(
            StatusCode::BAD_REQUEST,
            "Content-Range does not match the upload",
        );
    }
    if b + 1 < s.size && len % unit != 0 {
        return err(
            StatusCode::BAD_REQUEST,
            "chunk size is not a multiple of the unit",
        );
    }
    if st.youtube_discard_chunks > 0 {
        st.youtube_discard_chunks -= 1;
        return yt_state(st.yt.get(&id).expect("session"));
    }
    let s = st.yt.get_mut(&id).expect("session");
    if fault == Some(Fault::Drop) {
        // Half the chunk (whole units) arrived before the connection dropped.
        s.received += (len / 2) / unit * unit;
        drop(st);
        drop_connection();
    }
    s.received = b + 1;
    let finalize_polls = st.youtube_finalize_polls;
    let s = st.yt.get_mut(&id).expect("session");
    if s.received == s.size {
        if finalize_polls > 0 {
            // Every byte, but the video comes only after some status queries.
            s.finalize_polls = finalize_polls;
        } else {
            s.video = Some(format!("yt{id}"));
            let title = s.title.clone();
            st.posts.push(("youtube", title));
        }
    }
    let answer = yt_state(st.yt.get(&id).expect("session"));
    if fault == Some(Fault::CrashAfterAccept) {
        drop(st);
        drop_connection();
    }
    answer
}

pub(super) async fn yt_token(State(app): State<App>, raw_form: Bytes) -> Response {
    let form = form(&raw_form);
    token_answer(&app, "youtube", &form, false)
}
