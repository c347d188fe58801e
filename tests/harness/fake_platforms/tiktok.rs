//! The fake TikTok: creator info, Direct Post init with TikTok's chunk arithmetic, chunk
//! `PUT`s in order with `Content-Range`, status fetch, and the rotating-refresh token endpoint.

use super::*;

fn ok(data: Value) -> Response {
    Json(json!({ "data": data, "error": { "code": "ok", "message": "" } })).into_response()
}

pub(super) async fn tt_creator(State(app): State<App>, h: HeaderMap) -> Response {
    if let Err(r) = app.gate("tiktok", bearer(&h), false) {
        return r;
    }
    let options = app.st().tiktok_privacy_options.clone();
    ok(
        json!({ "privacy_level_options": options, "max_video_post_duration_sec": 600, "creator_username": "creator" }),
    )
}

pub(super) async fn tt_init(
    State(app): State<App>,
    h: HeaderMap,
    Json(v): Json<Value>,
) -> Response {
    let fault = match app.gate("tiktok", bearer(&h), true) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let c = &app.1;
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let (size, chunk, count) = (
        n("/source_info/video_size"),
        n("/source_info/chunk_size"),
        n("/source_info/total_chunk_count"),
    );
    let bad = |m: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error":{"code":"invalid_params","message":m}})),
        )
            .into_response()
    };
    if v.pointer("/source_info/source").and_then(Value::as_str) != Some("FILE_UPLOAD")
        || size == 0
        || chunk == 0
    {
        return bad("source_info");
    }
    let chunk_ok = if size < c.tt_min {
        chunk == size
    } else {
        (c.tt_min..=c.tt_max).contains(&chunk)
    };
    if !chunk_ok
        || count != size / chunk
        || !(1..=1000).contains(&count)
        || size - (count - 1) * chunk > c.tt_last_max
    {
        return bad("chunk plan breaks the media transfer rules");
    }
    let privacy = v
        .pointer("/post_info/privacy_level")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut st = app.st();
    if !st.tiktok_privacy_options.contains(&privacy) {
        return bad("privacy_level_option_mismatch");
    }
    let now = std::time::Instant::now();
    st.tiktok_inits
        .retain(|t| now.duration_since(*t).as_secs() < 60);
    if st.tiktok_inits.len() >= st.tiktok_inits_per_minute {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error":{"code":"rate_limit_exceeded","message":"6 per minute"}})),
        )
            .into_response();
    }
    st.tiktok_inits.push(now);
    st.next_id += 1;
    let id = format!("p{}", st.next_id);
    let title = v
        .pointer("/post_info/title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    st.tt.insert(
        id.clone(),
        TtPost {
            size,
            chunk,
            count,
            title,
            ..Default::default()
        },
    );
    drop(st);
    if matches!(fault, Some(Fault::Drop | Fault::CrashAfterAccept)) {
        drop_connection();
    }
    ok(json!({ "publish_id": id, "upload_url": format!("{}/tiktok/upload/{id}", app.2) }))
}

pub(super) async fn tt_put(
    State(app): State<App>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = app.st().faults.pop_front();
    let mut st = app.st();
    *st.bytes.entry("tiktok").or_default() += body.len() as u64;
    let Some(p) = st.tt.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some((Some((a, b)), total)) = content_range(&h) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let last = p.count - 1;
    let index = a / p.chunk;
    let expected_end = if index == last {
        p.size - 1
    } else {
        a + p.chunk - 1
    };
    // Chunks go in order; starting again from the first is allowed.
    let in_order = a == p.received || a == 0;
    if p.done
        || total != p.size
        || !in_order
        || a % p.chunk != 0
        || index > last
        || b != expected_end
        || body.len() as u64 != b + 1 - a
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match fault {
        Some(Fault::ServerError) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Some(Fault::Drop) => {
            drop(st);
            drop_connection();
        }
        _ => {}
    }
    p.received = b + 1;
    let complete = p.received == p.size;
    if complete {
        p.done = true;
        let title = p.title.clone();
        let polls = st.tiktok_processing_polls;
        if let Some(p) = st.tt.get_mut(&id) {
            p.processing_polls = polls;
        }
        match st.tiktok_fail_next.take() {
            Some(reason) => {
                if let Some(p) = st.tt.get_mut(&id) {
                    p.failed = Some(reason);
                }
            }
            None => st.posts.push(("tiktok", title)),
        }
    }
    drop(st);
    if fault == Some(Fault::CrashAfterAccept) {
        drop_connection();
    }
    if complete {
        StatusCode::CREATED
    } else {
        StatusCode::PARTIAL_CONTENT
    }
    .into_response()
}

pub(super) async fn tt_status(
    State(app): State<App>,
    h: HeaderMap,
    Json(v): Json<Value>,
) -> Response {
    if let Err(r) = app.gate("tiktok", bearer(&h), false) {
        return r;
    }
    let id = v
        .get("publish_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut st = app.st();
    match st.tt.get_mut(id) {
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error":{"code":"invalid_publish_id","message":"unknown"}})),
        )
            .into_response(),
        Some(TtPost {
            failed: Some(reason),
            ..
        }) => ok(json!({ "status": "FAILED", "fail_reason": reason })),
        Some(p) if p.done && p.processing_polls == 0 => ok(
            json!({ "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [format!("7{}", &id[1..])] }),
        ),
        Some(p) => {
            p.processing_polls = p.processing_polls.saturating_sub(1);
            ok(json!({ "status": "PROCESSING_UPLOAD", "uploaded_bytes": p.received }))
        }
    }
}

pub(super) async fn tt_token(State(app): State<App>, raw_form: Bytes) -> Response {
    let form = form(&raw_form);
    token_answer(&app, "tiktok", &form, true)
}
