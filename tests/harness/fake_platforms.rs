//! Strict fakes of YouTube's resumable upload, TikTok's Direct Post and Instagram's Reels
//! publishing, with their token endpoints, served by one axum server on loopback. They refuse
//! what the real APIs refuse — a missing or expired token, a chunk that is not a multiple of
//! the unit or not where the upload stands, a chunk plan that breaks TikTok's arithmetic,
//! publishing a container that is not `FINISHED`, more posts than the quota — and inject the
//! faults a test schedules: 429 with a reset, 500, a connection dropped mid-chunk, and a crash
//! after the platform accepted but before it answered. Chunk units are configurable so tests
//! move kilobytes, not megabytes. Every post made is counted, so a test can assert none was
//! made twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hilite::config::PlatformConfig;
use serde_json::{json, Value};

/// A fault injected into the next state-changing call (init, chunk, container, publish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault for this call (a placeholder that lets a schedule aim at a later call).
    Pass,
    /// 429 with `Retry-After: 1`.
    RateLimit,
    /// 500.
    ServerError,
    /// The connection drops; for a chunk, half of it has arrived.
    Drop,
    /// The call takes effect but its answer is lost.
    CrashAfterAccept,
    /// The access token expires before this call (401).
    ExpireToken,
}

#[derive(Default)]
struct YtSession {
    size: u64,
    received: u64,
    title: String,
    video: Option<String>,
}

#[derive(Default)]
struct TtPost {
    size: u64,
    chunk: u64,
    count: u64,
    received: u64,
    title: String,
    done: bool,
}

#[derive(Default)]
struct IgContainer {
    caption: String,
    polls_left: u32,
    published: Option<String>,
}

#[derive(Default)]
pub struct FakeState {
    pub faults: VecDeque<Fault>,
    /// Valid access token per platform; refresh tokens per platform.
    pub access: HashMap<&'static str, String>,
    pub refresh: HashMap<&'static str, String>,
    pub revoked: Vec<&'static str>,
    pub refreshes: u32,
    /// Every post made: (platform, title or caption).
    pub posts: Vec<(&'static str, String)>,
    /// Bytes received by all upload calls, per platform.
    pub bytes: HashMap<&'static str, u64>,
    pub yt_sessions_started: u32,
    pub youtube_quota: u32,
    pub instagram_limit: u32,
    pub tiktok_privacy_options: Vec<String>,
    pub tiktok_inits_per_minute: usize,
    tiktok_inits: Vec<std::time::Instant>,
    yt: HashMap<String, YtSession>,
    tt: HashMap<String, TtPost>,
    ig: HashMap<String, IgContainer>,
    next_id: u64,
}

pub struct Config {
    pub yt_unit: u64,
    pub tt_min: u64,
    pub tt_max: u64,
    pub tt_last_max: u64,
}

#[derive(Clone)]
struct App(Arc<Mutex<FakeState>>, Arc<Config>, String);

pub struct FakePlatforms {
    pub state: Arc<Mutex<FakeState>>,
    pub base: String,
    _task: tokio::task::JoinHandle<()>,
}

impl FakePlatforms {
    pub async fn start(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut st = FakeState {
            youtube_quota: 100,
            instagram_limit: 100,
            tiktok_inits_per_minute: 1000,
            ..FakeState::default()
        };
        st.tiktok_privacy_options = vec![
            "PUBLIC_TO_EVERYONE".into(),
            "MUTUAL_FOLLOW_FRIENDS".into(),
            "SELF_ONLY".into(),
        ];
        for p in ["youtube", "tiktok", "instagram"] {
            st.access.insert(p, format!("{p}-access-0"));
            st.refresh.insert(p, format!("{p}-refresh-0"));
        }
        let state = Arc::new(Mutex::new(st));
        let app = App(state.clone(), Arc::new(config), base.clone());
        let router = Router::new()
            .route("/youtube/upload/videos", post(yt_init))
            .route("/youtube/upload/session/{id}", put(yt_put))
            .route("/youtube/oauth/token", post(yt_token))
            .route("/tiktok/post/publish/creator_info/query/", post(tt_creator))
            .route("/tiktok/post/publish/video/init/", post(tt_init))
            .route("/tiktok/upload/{id}", put(tt_put))
            .route("/tiktok/post/publish/status/fetch/", post(tt_status))
            .route("/tiktok/oauth/token/", post(tt_token))
            .route("/instagram/me/media", post(ig_create))
            .route("/instagram/me/media_publish", post(ig_publish))
            .route("/instagram/me/content_publishing_limit", get(ig_limit))
            .route("/instagram/refresh_access_token", get(ig_refresh))
            .route("/instagram/{id}", get(ig_get))
            .with_state(app);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            state,
            base,
            _task: task,
        }
    }

    /// Client configuration pointing each platform at this fake.
    pub fn config(&self, platform: &str) -> PlatformConfig {
        let u = |s: String| s.parse().expect("url");
        PlatformConfig {
            client_id: format!("{platform}-client"),
            client_secret: Some(format!("{platform}-secret").into()),
            api_base: u(format!("{}/{platform}", self.base)),
            upload_base: u(format!("{}/{platform}/upload", self.base)),
            oauth_base: u(format!("{}/{platform}/oauth", self.base)),
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().expect("fake state"))
    }
}

fn err(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": status.as_u16(), "message": msg } })),
    )
        .into_response()
}

impl App {
    fn st(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().expect("fake state")
    }

    /// Check the bearer token; take the next fault. `Err` is the response to give instead
    /// (returned as is: an axum handler answers with it directly, so boxing would only move it).
    #[allow(clippy::result_large_err)]
    fn gate(
        &self,
        platform: &'static str,
        token: Option<&str>,
        mutating: bool,
    ) -> Result<Option<Fault>, Response> {
        let mut st = self.st();
        let fault = if mutating {
            st.faults.pop_front()
        } else {
            None
        };
        if fault == Some(Fault::ExpireToken) {
            let n = st.next_id;
            st.next_id += 1;
            st.access
                .insert(platform, format!("{platform}-expired-{n}"));
        }
        if token.is_none() || token != st.access.get(platform).map(String::as_str) {
            return Err(match platform {
                "tiktok" => (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error":{"code":"access_token_invalid","message":"expired"}})),
                )
                    .into_response(),
                "instagram" => (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error":{"code":190,"message":"Invalid OAuth access token"}})),
                )
                    .into_response(),
                _ => err(StatusCode::UNAUTHORIZED, "Invalid Credentials"),
            });
        }
        match fault {
            Some(Fault::RateLimit) => Err((
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"error":{"code":"rate_limit_exceeded","message":"slow down"}})),
            )
                .into_response()),
            Some(Fault::ServerError) => {
                Err(err(StatusCode::INTERNAL_SERVER_ERROR, "backend error"))
            }
            other => Ok(other),
        }
    }

    fn id(&self, prefix: &str) -> String {
        let mut st = self.st();
        st.next_id += 1;
        format!("{prefix}{}", st.next_id)
    }
}

fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.strip_prefix("Bearer "))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `bytes A-B/T` → (A, B, T); `bytes */T` → (None, T).
fn content_range(h: &HeaderMap) -> Option<(Option<(u64, u64)>, u64)> {
    let s = header(h, "content-range")?.strip_prefix("bytes ")?;
    let (range, total) = s.split_once('/')?;
    let total = total.parse().ok()?;
    if range == "*" {
        return Some((None, total));
    }
    let (a, b) = range.split_once('-')?;
    Some((Some((a.parse().ok()?, b.parse().ok()?)), total))
}

fn drop_connection() -> ! {
    // Hyper drops the connection of a handler that panics: the client sees it cut.
    std::panic::resume_unwind(Box::new("fake platform: connection dropped"))
}

// --- YouTube -----------------------------------------------------------------------------

async fn yt_init(
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

async fn yt_put(
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
        return yt_state(s);
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
    if fault == Some(Fault::Drop) {
        // Half the chunk (whole units) arrived before the connection dropped.
        s.received += (len / 2) / unit * unit;
        drop(st);
        drop_connection();
    }
    s.received = b + 1;
    if s.received == s.size {
        s.video = Some(format!("yt{id}"));
        let title = s.title.clone();
        st.posts.push(("youtube", title));
    }
    let answer = yt_state(st.yt.get(&id).expect("session"));
    if fault == Some(Fault::CrashAfterAccept) {
        drop(st);
        drop_connection();
    }
    answer
}

fn token_answer(
    app: &App,
    platform: &'static str,
    form: &HashMap<String, String>,
    rotate: bool,
) -> Response {
    let mut st = app.st();
    let refresh = form.get("refresh_token").cloned().unwrap_or_default();
    if st.revoked.contains(&platform)
        || Some(&refresh) != st.refresh.get(platform)
        || form.get("grant_type").map(String::as_str) != Some("refresh_token")
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error":"invalid_grant","error_description":"Token has been expired or revoked."}))).into_response();
    }
    st.refreshes += 1;
    let n = st.refreshes;
    let access = format!("{platform}-access-{n}");
    st.access.insert(platform, access.clone());
    let mut answer = json!({ "access_token": access, "expires_in": 3600, "token_type": "Bearer" });
    if rotate {
        let r = format!("{platform}-refresh-{n}");
        st.refresh.insert(platform, r.clone());
        answer["refresh_token"] = json!(r);
        answer["refresh_expires_in"] = json!(86400 * 180);
    }
    Json(answer).into_response()
}

async fn yt_token(State(app): State<App>, raw_form: Bytes) -> Response {
    let form = form(&raw_form);
    token_answer(&app, "youtube", &form, false)
}

// --- TikTok ------------------------------------------------------------------------------

fn ok(data: Value) -> Response {
    Json(json!({ "data": data, "error": { "code": "ok", "message": "" } })).into_response()
}

async fn tt_creator(State(app): State<App>, h: HeaderMap) -> Response {
    if let Err(r) = app.gate("tiktok", bearer(&h), false) {
        return r;
    }
    let options = app.st().tiktok_privacy_options.clone();
    ok(
        json!({ "privacy_level_options": options, "max_video_post_duration_sec": 600, "creator_username": "creator" }),
    )
}

async fn tt_init(State(app): State<App>, h: HeaderMap, Json(v): Json<Value>) -> Response {
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

async fn tt_put(
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
        st.posts.push(("tiktok", title));
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

async fn tt_status(State(app): State<App>, h: HeaderMap, Json(v): Json<Value>) -> Response {
    if let Err(r) = app.gate("tiktok", bearer(&h), false) {
        return r;
    }
    let id = v
        .get("publish_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let st = app.st();
    match st.tt.get(id) {
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error":{"code":"invalid_publish_id","message":"unknown"}})),
        )
            .into_response(),
        Some(p) if p.done => ok(
            json!({ "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [format!("7{}", &id[1..])] }),
        ),
        Some(_) => ok(json!({ "status": "PROCESSING_UPLOAD" })),
    }
}

async fn tt_token(State(app): State<App>, raw_form: Bytes) -> Response {
    let form = form(&raw_form);
    token_answer(&app, "tiktok", &form, true)
}

// --- Instagram -----------------------------------------------------------------------------

fn ig_err(code: i64, msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error":{"code":code,"message":msg}})),
    )
        .into_response()
}

async fn ig_create(State(app): State<App>, raw_form: Bytes) -> Response {
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
            if r.bytes().await.map(|b| b.is_empty()).unwrap_or(true) {
                return ig_err(9004, "the video URL answered nothing");
            }
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

async fn ig_get(
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

async fn ig_publish(State(app): State<App>, raw_form: Bytes) -> Response {
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

async fn ig_limit(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Response {
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

async fn ig_refresh(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut st = app.st();
    if q.get("grant_type").map(String::as_str) != Some("ig_refresh_token")
        || q.get("access_token") != st.access.get("instagram")
        || st.revoked.contains(&"instagram")
    {
        return ig_err(190, "Invalid OAuth access token");
    }
    st.refreshes += 1;
    let access = format!("instagram-access-{}", st.refreshes);
    st.access.insert("instagram", access.clone());
    Json(json!({ "access_token": access, "token_type": "bearer", "expires_in": 5_184_000 }))
        .into_response()
}
