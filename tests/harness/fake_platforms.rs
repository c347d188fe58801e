//! Strict fakes of YouTube's resumable upload, TikTok's Direct Post and Instagram's Reels
//! publishing, with their token endpoints, served by one axum server on loopback. They refuse
//! what the real APIs refuse — a missing or expired token, a chunk that is not a multiple of
//! the unit or not where the upload stands, a chunk plan that breaks TikTok's arithmetic,
//! publishing a container that is not `FINISHED`, more posts than the quota — and inject the
//! faults a test schedules: 429 with a reset, 500, a connection dropped mid-chunk, and a crash
//! after the platform accepted but before it answered. Chunk units are configurable so tests
//! move kilobytes, not megabytes. Every post made is counted, so a test can assert none was
//! made twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hilite::config::PlatformConfig;
use serde_json::{json, Value};

mod instagram;
mod tiktok;
mod youtube;

use instagram::{ig_create, ig_get, ig_limit, ig_publish, ig_refresh};
use tiktok::{tt_creator, tt_init, tt_put, tt_status, tt_token};
use youtube::{yt_init, yt_put, yt_token};

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
    /// The access token expires before this call (401), to be refreshed. Taken only by a
    /// YouTube or TikTok call: Instagram cannot refresh an expired token (`App::gate`).
    ExpireToken,
}

#[derive(Default)]
struct YtSession {
    size: u64,
    received: u64,
    title: String,
    video: Option<String>,
    /// Status queries left before a session with every byte returns its video.
    finalize_polls: u32,
}

#[derive(Default)]
struct TtPost {
    size: u64,
    chunk: u64,
    count: u64,
    received: u64,
    title: String,
    done: bool,
    /// Status polls left before a completed upload reads `PUBLISH_COMPLETE`.
    processing_polls: u32,
    /// TikTok's `fail_reason` when it failed this post (it never appears).
    failed: Option<String>,
}

#[derive(Default)]
struct IgContainer {
    caption: String,
    polls_left: u32,
    published: Option<String>,
}

impl FakeState {
    /// Whether `token` is an access token of `platform` that has not expired.
    pub fn access_is_live(&self, platform: &str, token: &str) -> bool {
        self.live_access
            .get(platform)
            .is_some_and(|l| l.contains(token))
    }
}

#[derive(Default)]
pub struct FakeState {
    pub faults: VecDeque<Fault>,
    /// The latest access and refresh token issued per platform.
    pub access: HashMap<&'static str, String>,
    pub refresh: HashMap<&'static str, String>,
    /// Every access token still valid, per platform: each account holds its own, and one
    /// account's refresh must not expire another's. `ExpireToken` expires them all.
    pub live_access: HashMap<&'static str, HashSet<String>>,
    /// Every rotated refresh token still valid, per platform: a rotating platform (TikTok)
    /// retires a refresh token when it is used. Seeded tokens (`{platform}-refresh-0…`, one
    /// per account) are valid until used on a rotating platform (`spent_seeds`).
    pub live_refresh: HashMap<&'static str, HashSet<String>>,
    pub spent_seeds: HashSet<String>,
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
    /// Set: TikTok fails the next completed upload with this `fail_reason` (no post appears).
    pub tiktok_fail_next: Option<String>,
    /// Status polls a completed upload still answers `PROCESSING_UPLOAD` to (with all its
    /// `uploaded_bytes`), as TikTok does while it processes the video.
    pub tiktok_processing_polls: u32,
    /// Status queries a YouTube session with every byte answers 308 (the full range, no
    /// video yet) to before it returns the video.
    pub youtube_finalize_polls: u32,
    /// Chunks YouTube takes none of: each is answered 308 with the range the session already
    /// had, as an upload server that dropped the bytes does.
    pub youtube_discard_chunks: u32,
    /// Instagram token refreshes still to answer with Meta's app rate limit (400, code 4).
    pub instagram_refresh_limited: u32,
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

/// Client configuration pointing `platform` at the fakes served from `base`.
pub fn config_for(base: &str, platform: &str) -> PlatformConfig {
    let u = |s: String| s.parse().expect("url");
    PlatformConfig {
        client_id: format!("{platform}-client"),
        client_secret: Some(format!("{platform}-secret").into()),
        api_base: u(format!("{base}/{platform}")),
        upload_base: u(format!("{base}/{platform}/upload")),
        oauth_base: u(format!("{base}/{platform}/oauth")),
    }
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
            st.live_access
                .entry(p)
                .or_default()
                .insert(format!("{p}-access-0"));
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
            // The largest body a platform takes: TikTok's last chunk, up to 128 MB.
            .layer(axum::extract::DefaultBodyLimit::max(130 * 1024 * 1024))
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
        config_for(&self.base, platform)
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
        let fault = match st.faults.front() {
            _ if !mutating => None,
            // Instagram refreshes a long-lived token only while it is still valid
            // (https://developers.facebook.com/documentation/instagram-platform/reference/refresh_access_token):
            // an expired one means reconnecting, not a refresh. The fault stands for a token
            // that expires and is refreshed, so it waits for a platform whose refresh token
            // outlives its access token, whichever platform happens to call next.
            Some(Fault::ExpireToken) if platform == "instagram" => None,
            _ => st.faults.pop_front(),
        };
        if fault == Some(Fault::ExpireToken) {
            let n = st.next_id;
            st.next_id += 1;
            st.access
                .insert(platform, format!("{platform}-expired-{n}"));
            st.live_access.entry(platform).or_default().clear();
        }
        if !token.is_some_and(|t| st.access_is_live(platform, t)) {
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

fn token_answer(
    app: &App,
    platform: &'static str,
    form: &HashMap<String, String>,
    rotate: bool,
) -> Response {
    let mut st = app.st();
    let refresh = form.get("refresh_token").cloned().unwrap_or_default();
    let seeded =
        refresh.starts_with(&format!("{platform}-refresh-0")) && !st.spent_seeds.contains(&refresh);
    let live = seeded
        || st
            .live_refresh
            .get(platform)
            .is_some_and(|l| l.contains(&refresh));
    if st.revoked.contains(&platform)
        || !live
        || form.get("grant_type").map(String::as_str) != Some("refresh_token")
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error":"invalid_grant","error_description":"Token has been expired or revoked."}))).into_response();
    }
    st.refreshes += 1;
    let n = st.refreshes;
    let access = format!("{platform}-access-{n}");
    st.access.insert(platform, access.clone());
    st.live_access
        .entry(platform)
        .or_default()
        .insert(access.clone());
    let mut answer = json!({ "access_token": access, "expires_in": 3600, "token_type": "Bearer" });
    if rotate {
        let r = format!("{platform}-refresh-{n}");
        st.refresh.insert(platform, r.clone());
        let live = st.live_refresh.entry(platform).or_default();
        live.remove(&refresh);
        live.insert(r.clone());
        if seeded {
            st.spent_seeds.insert(refresh);
        }
        answer["refresh_token"] = json!(r);
        answer["refresh_expires_in"] = json!(86400 * 180);
    }
    Json(answer).into_response()
}
