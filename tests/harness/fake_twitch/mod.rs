//! A strict fake of Twitch — Helix, OAuth and the clip CDN — as a real HTTP server on loopback.
//! Strict means it refuses what Twitch refuses: a missing or wrong `Client-Id`, a missing,
//! unknown, expired or wrong-kind token, a missing scope, `editor_id` not the token's user, more
//! than 10 clip ids, `first` over 100, dates that are not RFC 3339, a cursor from another query,
//! a webhook callback that is not HTTPS on 443, a secret outside 10–100 ASCII characters. It
//! pages with opaque cursors and stops at 1000 results per query like Twitch, sends the
//! `Ratelimit-*` headers and enforces a bucket per token, rotates refresh tokens, and can inject
//! faults (429 with a reset, 503, other statuses, delays, expired tokens, deleted clips, foreign
//! download hosts, redirects, truncated or non-MP4 files).
//!
//! Clip files are small MP4s generated with ffmpeg when first needed (`media.rs`).

mod call;
mod eventsub;
mod files;
mod gate;
mod helix;
pub mod media;
mod oauth;
mod vod_clips;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use hilite::config::Config;

pub const CLIENT_ID: &str = "fakeclientid0123456789";
pub const CLIENT_SECRET: &str = "fake-client-secret-not-for-logs";
pub const BROADCASTER_SCOPE: &str = "channel:manage:clips";
pub const EDITOR_SCOPE: &str = "editor:manage:clips";

/// A fault the next matching Helix request(s) get instead of (or before) their answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with the token's bucket emptied until `reset_in` from now.
    RateLimited { reset_in: Duration },
    /// 503 Service Unavailable.
    Unavailable,
    /// Any other status, with a Twitch-style error body.
    Status(u16, &'static str),
    /// Answer normally, but only after this long (beyond the client's timeout: a timeout).
    Delay(Duration),
    /// Act on the call, then answer 504 Gateway Timeout, as an edge whose backend answered too
    /// late does: the caller cannot tell that it was acted on.
    LoseAnswer,
}

/// What the CDN does when a clip file is fetched.
#[derive(Debug, Clone)]
pub enum FileFault {
    RedirectTo(String),
    /// Announce the full length, send half, and close.
    Truncate,
    /// Serve an HTML page with status 200.
    NotMp4,
    Status(u16),
}

#[derive(Debug, Clone)]
pub struct FakeClip {
    pub id: String,
    pub broadcaster_id: String,
    pub creator_id: String,
    pub created_at: DateTime<Utc>,
    pub view_count: u64,
    /// Whether the editor made a portrait version.
    pub portrait: bool,
    /// Serve this as the download URL (both orientations) instead of the fake's own files.
    pub download_url: Option<String>,
    pub file_fault: Option<FileFault>,
    pub deleted: bool,
    /// The VOD the clip was cut from (Create Clip From VOD), and where in it the clip starts.
    pub video_id: Option<String>,
    pub vod_offset: Option<u32>,
    pub duration: f64,
    pub title: Option<String>,
}

impl FakeClip {
    pub fn new(
        id: &str,
        broadcaster_id: &str,
        creator_id: &str,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            broadcaster_id: broadcaster_id.into(),
            creator_id: creator_id.into(),
            created_at,
            view_count: 10,
            portrait: false,
            download_url: None,
            file_fault: None,
            deleted: false,
            video_id: None,
            vod_offset: None,
            duration: 28.5,
            title: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum TokenKind {
    App,
    User {
        user_id: String,
        login: String,
        scopes: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct DeviceGrant {
    pub scopes: Vec<String>,
    pub user_code: String,
    pub approved_by: Option<String>,
    pub last_poll: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    pub remaining: u32,
    /// Epoch seconds.
    pub reset: i64,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub kind: String,
    pub condition: serde_json::Value,
    pub callback: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
pub(crate) struct State {
    pub base: String,
    pub users: HashMap<String, String>,
    pub editors: HashSet<(String, String)>,
    /// (broadcaster, user): the user moderates the broadcaster's chat.
    pub moderators: HashSet<(String, String)>,
    pub clips: Vec<FakeClip>,
    pub archives: Vec<(String, String, DateTime<Utc>)>,
    pub tokens: HashMap<String, Token>,
    /// Refresh token → the user token it refreshes. Used once: refreshing rotates it.
    pub refresh_tokens: HashMap<String, (String, String, Vec<String>)>,
    pub devices: HashMap<String, DeviceGrant>,
    pub cursors: HashMap<String, (String, usize)>,
    pub subscriptions: Vec<Subscription>,
    pub faults: VecDeque<(String, Fault)>,
    pub buckets: HashMap<String, Bucket>,
    pub bucket_limit: u32,
    pub bucket_period_secs: i64,
    pub user_token_lifetime: chrono::Duration,
    pub device_interval_secs: u64,
    pub log: Vec<Logged>,
    /// Requests that arrived while their token's bucket was empty: a polite client makes none.
    pub bucket_violations: u32,
    /// Token endpoint calls still to answer 429 (its own rate limit).
    pub token_rate_limits: usize,
}

#[derive(Clone)]
pub struct FakeTwitch {
    pub addr: SocketAddr,
    pub(crate) state: Arc<Mutex<State>>,
}

impl FakeTwitch {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Twitch");
        let addr = listener.local_addr().expect("fake Twitch address");
        let state = State {
            base: format!("http://{addr}"),
            bucket_limit: 800,
            bucket_period_secs: 60,
            user_token_lifetime: chrono::Duration::hours(4),
            device_interval_secs: 1,
            ..State::default()
        };
        let fake = Self {
            addr,
            state: Arc::new(Mutex::new(state)),
        };
        let app = Router::new()
            .route("/oauth2/token", post(oauth::token))
            .route("/oauth2/device", post(oauth::device))
            .route("/oauth2/validate", get(oauth::validate))
            .route("/helix/users", get(helix::users))
            .route("/helix/videos", get(helix::videos))
            .route("/helix/clips", get(helix::clips))
            .route("/helix/clips/downloads", get(helix::clip_downloads))
            .route("/helix/videos/clips", post(vod_clips::create_clip_from_vod))
            .route(
                "/helix/eventsub/subscriptions",
                get(eventsub::list_subscriptions)
                    .post(eventsub::create_subscription)
                    .delete(eventsub::delete_subscription),
            )
            .route("/files/{clip}/{variant}", get(files::file))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Point `config`'s `[twitch]` at this fake, with a short timeout for the fault tests.
    pub fn configure(&self, config: &mut Config) {
        let t = &mut config.twitch;
        t.client_id = CLIENT_ID.into();
        t.client_secret = Some(secrecy::SecretString::from(CLIENT_SECRET.to_string()));
        t.api_base = format!("http://{}/helix", self.addr).parse().expect("url");
        t.auth_base = format!("http://{}/oauth2", self.addr).parse().expect("url");
        t.request_timeout_secs = 1;
        t.allow_insecure_download_hosts = true;
    }

    pub fn add_user(&self, id: &str, login: &str) {
        self.lock().users.insert(id.into(), login.into());
    }

    /// Make `editor` an editor of `broadcaster`'s channel.
    pub fn add_editor(&self, broadcaster: &str, editor: &str) {
        self.lock()
            .editors
            .insert((broadcaster.into(), editor.into()));
    }

    /// Make `user` a moderator of `broadcaster`'s chat.
    pub fn add_moderator(&self, broadcaster: &str, user: &str) {
        self.lock()
            .moderators
            .insert((broadcaster.into(), user.into()));
    }

    /// Every clip, as the fake holds them (those made by Create Clip From VOD included).
    pub fn clips(&self) -> Vec<FakeClip> {
        self.lock().clips.clone()
    }

    pub fn add_clip(&self, clip: FakeClip) {
        self.lock().clips.push(clip);
    }

    pub fn add_archive(&self, user_id: &str, video_id: &str, created_at: DateTime<Utc>) {
        self.lock()
            .archives
            .push((user_id.into(), video_id.into(), created_at));
    }

    /// Change a clip already added (delete it, give it a foreign URL, a file fault…).
    pub fn edit_clip(&self, id: &str, f: impl FnOnce(&mut FakeClip)) {
        let mut s = self.lock();
        let clip = s
            .clips
            .iter_mut()
            .find(|c| c.id == id)
            .expect("no such fake clip");
        f(clip);
    }

    /// The next `times` Helix requests whose path starts with `route` (e.g. `clips/downloads`)
    /// get `fault`.
    pub fn fault(&self, route: &str, fault: Fault, times: usize) {
        let mut s = self.lock();
        for _ in 0..times {
            s.faults.push_back((route.into(), fault.clone()));
        }
    }

    /// The next `times` calls to the OAuth token endpoint answer 429.
    pub fn limit_token_endpoint(&self, times: usize) {
        self.lock().token_rate_limits = times;
    }

    /// A bucket of `limit` calls per `period_secs` per token.
    pub fn set_bucket(&self, limit: u32, period_secs: i64) {
        let mut s = self.lock();
        s.bucket_limit = limit;
        s.bucket_period_secs = period_secs;
        s.buckets.clear();
    }

    pub fn set_user_token_lifetime(&self, lifetime: chrono::Duration) {
        self.lock().user_token_lifetime = lifetime;
    }

    /// Every access token of `user_id` stops working now (as if it had expired).
    pub fn expire_user_tokens(&self, user_id: &str) {
        let now = Utc::now();
        for t in self.lock().tokens.values_mut() {
            if matches!(&t.kind, TokenKind::User { user_id: u, .. } if u == user_id) {
                t.expires_at = now - chrono::Duration::seconds(1);
            }
        }
    }

    /// Every app access token stops working now.
    pub fn expire_app_tokens(&self) {
        let now = Utc::now();
        for t in self.lock().tokens.values_mut() {
            if matches!(t.kind, TokenKind::App) {
                t.expires_at = now - chrono::Duration::seconds(1);
            }
        }
    }

    /// The user disconnects HiLite: their tokens and refresh tokens stop working.
    pub fn revoke_authorization(&self, user_id: &str) {
        let mut s = self.lock();
        s.refresh_tokens.retain(|_, (u, _, _)| u != user_id);
        s.tokens
            .retain(|_, t| !matches!(&t.kind, TokenKind::User { user_id: u, .. } if u == user_id));
    }

    /// The user approves the device code shown as `user_code`, as `user_id`.
    pub fn approve_device(&self, user_code: &str, user_id: &str) {
        let mut s = self.lock();
        let grant = s
            .devices
            .values_mut()
            .find(|d| d.user_code == user_code)
            .expect("no such user code");
        grant.approved_by = Some(user_id.into());
    }

    /// The refresh token currently valid for `user_id` (after rotations), if any.
    pub fn current_refresh_token(&self, user_id: &str) -> Option<String> {
        self.lock()
            .refresh_tokens
            .iter()
            .find(|(_, (u, _, _))| u == user_id)
            .map(|(r, _)| r.clone())
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// Requests to a path ending with `suffix` (e.g. `/helix/clips`).
    pub fn count(&self, suffix: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|l| l.path.ends_with(suffix))
            .count()
    }

    pub fn bucket_violations(&self) -> u32 {
        self.lock().bucket_violations
    }

    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.lock().subscriptions.clone()
    }

    /// `n` `stream.online` subscriptions made by another tool with the same app, as if created
    /// earlier.
    pub fn add_subscriptions(&self, n: usize) {
        let mut s = self.lock();
        for k in 0..n {
            s.subscriptions.push(Subscription {
                id: uuid::Uuid::new_v4().to_string(),
                kind: "stream.online".into(),
                condition: serde_json::json!({"broadcaster_user_id": format!("{}", 900_000 + k)}),
                callback: "https://other.example.com/hook".into(),
                created_at: Utc::now(),
            });
        }
    }
}

pub(crate) fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub(crate) fn first<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl FakeTwitch {
    /// Go through the device code flow with `client` as the user `user_id` would (start it,
    /// approve the code here, poll once) and store the token in `client`'s vault.
    pub async fn authorize(
        &self,
        client: &hilite::twitch::TwitchClient,
        user_id: &str,
        scopes: &[&str],
    ) -> hilite::domain::TokenRef {
        use hilite::twitch::auth::DevicePoll;
        let device = client
            .start_device_flow(scopes)
            .await
            .expect("start the device flow");
        self.approve_device(&device.user_code, user_id);
        match client
            .poll_device_flow(&device, scopes)
            .await
            .expect("poll the device flow")
        {
            DevicePoll::Done(set) => client.save_user_token(&set).await.expect("store the token"),
            other => panic!("an approved device code answered {other:?}"),
        }
    }
}
