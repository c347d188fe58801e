//! The publish stage against strict fakes of YouTube, TikTok and Instagram (embedded backend):
//! uploads that resume, faults that never make a second post, token refreshes (a rotating
//! refresh token and a revoked one), videos and apps a platform would refuse, and the plan.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use harness::backends::TestBackend;
use harness::fake_platforms::{Config, FakePlatforms, Fault};
use harness::records;
use hilite::clock::{Clock, ManualClock};
use hilite::domain::*;
use hilite::pipeline::plan::plan;
use hilite::pipeline::publish::{publish, Platforms, LEASE};
use hilite::pipeline::{PublishMessage, StageError};
use hilite::platforms::instagram::Instagram;
use hilite::platforms::oauth::{self, OAuthClient, TokenSet};
use hilite::platforms::tiktok::{ChunkPlan, ChunkRules, TikTok};
use hilite::platforms::youtube::YouTube;
use hilite::platforms::Publisher;
use rand::{Rng, SeedableRng};
use tokio::sync::OnceCell;

const UNIT: u64 = 16 * 1024;
const TT_SCALE: u64 = 64;

/// A vertical 4 s H.264/AAC MP4 of a few hundred KB, made once per run.
async fn video(portrait: bool) -> std::path::PathBuf {
    static DIR: OnceCell<tempfile::TempDir> = OnceCell::const_new();
    let dir = DIR
        .get_or_init(|| async { tempfile::tempdir().expect("dir") })
        .await;
    static MAKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = MAKING.lock().await;
    let path = dir
        .path()
        .join(if portrait { "short.mp4" } else { "wide.mp4" });
    if !path.exists() {
        let size = if portrait { "720x1280" } else { "1280x720" };
        let out = tokio::process::Command::new("ffmpeg")
            .args([
                "-y",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc=size={size}:rate=30"),
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
            ])
            .args([
                "-t",
                "4",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-b:v",
                "600k",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-ac",
                "2",
                "-movflags",
                "+faststart",
            ])
            .arg(&path)
            .output()
            .await
            .expect("run ffmpeg");
        assert!(
            out.status.success(),
            "ffmpeg: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    path
}

struct World {
    b: TestBackend,
    fake: FakePlatforms,
    platforms: Platforms,
    clock: Arc<ManualClock>,
    account: AccountName,
}

async fn world(platforms_on: &[Platform]) -> World {
    let mut b = TestBackend::embedded(3).await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    b.ports.clock = clock.clone();
    let rules = ChunkRules::scaled_down(TT_SCALE);
    let fake = FakePlatforms::start(Config {
        yt_unit: UNIT,
        tt_min: rules.min,
        tt_max: rules.max,
        tt_last_max: rules.last_max,
    })
    .await;
    let http = reqwest::Client::new();
    let oauth = |p: Platform, name: &str| OAuthClient::new(p, http.clone(), fake.config(name));
    let platforms = Platforms::new(
        vec![
            (
                Arc::new(YouTube::new(
                    http.clone(),
                    fake.config("youtube"),
                    2 * UNIT,
                    UNIT,
                )) as Arc<dyn Publisher>,
                oauth(Platform::Youtube, "youtube"),
            ),
            (
                Arc::new(TikTok::new(
                    http.clone(),
                    fake.config("tiktok"),
                    rules.min + 1000,
                    rules,
                )),
                oauth(Platform::Tiktok, "tiktok"),
            ),
            (
                Arc::new(Instagram::new(http.clone(), fake.config("instagram"))),
                oauth(Platform::Instagram, "instagram"),
            ),
        ],
        3,
    );
    let mut account = records::account("main", "Europe/Paris");
    account.platforms = platforms_on.to_vec();
    b.ports.store.put_account(&account).await.expect("account");
    b.ports
        .store
        .put_broadcaster(&records::broadcaster("1001", "streamer_one"))
        .await
        .expect("broadcaster");
    for p in Platform::ALL {
        let set = TokenSet::new(
            format!("{p}-access-0"),
            Some(format!("{p}-refresh-0")),
            Some(3600),
            clock.now(),
        );
        oauth::store(b.ports.vault.as_ref(), p, &account.name, &set)
            .await
            .expect("token");
    }
    World {
        b,
        fake,
        platforms,
        clock,
        account: account.name,
    }
}

impl World {
    /// An edited clip with its short in the media store.
    async fn clip(&self, id: &str, portrait: bool) -> ClipId {
        self.clip_scored(id, portrait, 50.0).await
    }

    async fn clip_scored(&self, id: &str, portrait: bool, score: f64) -> ClipId {
        let mut c = records::clip(id, &format!("title-{id}"), Utc::now());
        c.status = ClipStatus::Edited;
        c.score = Some(Score {
            total: score,
            parts: Default::default(),
        });
        let key = MediaKey::rendered(&c.id, "short.mp4").expect("key");
        self.b
            .ports
            .media
            .put_file(&key, &video(portrait).await, "video/mp4")
            .await
            .expect("put");
        c.media.short = Some(key);
        self.b
            .ports
            .store
            .insert_clip_if_absent(&c)
            .await
            .expect("insert");
        c.id
    }

    async fn plan_one(&self, clip: &ClipId, platform: Platform) -> PublishMessage {
        let key = PublicationKey {
            clip_id: clip.clone(),
            account: self.account.clone(),
            platform,
        };
        self.b
            .ports
            .store
            .create_publication_if_absent(&Publication::planned(key, self.clock.now()))
            .await
            .expect("plan");
        PublishMessage {
            clip_id: clip.clone(),
            account: self.account.clone(),
            platform,
        }
    }

    /// Run the stage until it is done with `msg` (delays skipped; after each try the clock
    /// passes the lease, as if a crashed worker's claim ran out). `cut`: chance of aborting a
    /// try mid-flight (our own crash).
    async fn drive(
        &self,
        msg: &PublishMessage,
        rng: &mut impl Rng,
        cut: f64,
    ) -> Result<(), StageError> {
        for _ in 0..40 {
            let run = publish(&self.b.ports, &self.platforms, msg);
            let outcome = if rng.gen_bool(cut) {
                match tokio::time::timeout(StdDuration::from_millis(rng.gen_range(1..40)), run)
                    .await
                {
                    Ok(o) => o,
                    Err(_) => Err(StageError::Retryable("aborted mid-flight".into())),
                }
            } else {
                run.await
            };
            self.clock.advance(LEASE + Duration::minutes(1));
            match outcome {
                Ok(()) => {
                    if self.status(msg).await == PostStatus::Success {
                        return Ok(());
                    }
                }
                Err(e @ StageError::Permanent(_)) => return Err(e),
                Err(StageError::Poison(m)) => panic!("poison: {m}"),
                Err(_) => {}
            }
        }
        panic!("{msg:?} never settled");
    }

    async fn publication(&self, msg: &PublishMessage) -> Publication {
        let key = PublicationKey {
            clip_id: msg.clip_id.clone(),
            account: msg.account.clone(),
            platform: msg.platform,
        };
        self.b
            .ports
            .store
            .get_publication(&key)
            .await
            .expect("get")
            .expect("planned")
    }

    async fn status(&self, msg: &PublishMessage) -> PostStatus {
        self.publication(msg).await.status
    }

    fn posts_of(&self, platform: &str, clip: &ClipId) -> usize {
        let needle = format!("title-{clip}");
        self.fake.with(|s| {
            s.posts
                .iter()
                .filter(|(p, t)| *p == platform && t.contains(&needle))
                .count()
        })
    }
}

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

#[tokio::test]
async fn a_clip_is_posted_once_to_each_platform_and_then_published() {
    let w = world(&Platform::ALL).await;
    let clip = w.clip("alpha", true).await;
    for p in Platform::ALL {
        let msg = w.plan_one(&clip, p).await;
        w.drive(&msg, &mut rng(1), 0.0).await.expect("posted");
        let done = w.publication(&msg).await;
        assert!(done.platform_video_id.is_some(), "{p}: {done:?}");
        assert_eq!(w.posts_of(p.as_str(), &clip), 1, "{p}");
        // A duplicate delivery changes nothing.
        publish(&w.b.ports, &w.platforms, &msg)
            .await
            .expect("duplicate");
        assert_eq!(w.posts_of(p.as_str(), &clip), 1, "{p}");
    }
    let c = w.b.ports.store.get_clip(&clip).await.unwrap().unwrap();
    assert_eq!(c.status, ClipStatus::Published);
}

#[tokio::test]
async fn a_youtube_upload_cut_mid_chunk_resumes_from_the_range_youtube_reports() {
    let w = world(&[Platform::Youtube]).await;
    let clip = w.clip("bravo", true).await;
    let size = std::fs::metadata(video(true).await).unwrap().len();
    w.fake.with(|s| {
        s.faults.extend([
            Fault::Pass,
            Fault::Pass,
            Fault::Drop,
            Fault::Pass,
            Fault::ServerError,
        ])
    });
    let msg = w.plan_one(&clip, Platform::Youtube).await;
    w.drive(&msg, &mut rng(2), 0.0).await.expect("posted");
    let (sessions, bytes) = w.fake.with(|s| (s.yt_sessions_started, s.bytes["youtube"]));
    assert_eq!(sessions, 1, "the upload restarted instead of resuming");
    assert!(
        bytes < size + 4 * UNIT,
        "{bytes} bytes sent for a {size}-byte file"
    );
    assert_eq!(w.posts_of("youtube", &clip), 1);
    assert_eq!(
        w.b.ports
            .store
            .get_clip(&clip)
            .await
            .unwrap()
            .unwrap()
            .status,
        ClipStatus::Published
    );
}

#[tokio::test]
async fn answers_lost_after_the_platform_accepted_never_make_a_second_post() {
    let w = world(&Platform::ALL).await;
    let clip = w.clip("charlie", true).await;
    let size = std::fs::metadata(video(true).await).unwrap().len();
    let rules = ChunkRules::scaled_down(TT_SCALE);
    let tt_chunks = ChunkPlan::new(size, rules.min + 1000, rules)
        .unwrap()
        .total_chunk_count as usize;
    let schedules = [
        // YouTube: every chunk (the last included) lands but its answer is lost.
        (
            Platform::Youtube,
            [vec![Fault::Pass], vec![Fault::CrashAfterAccept; 30]].concat(),
        ),
        // TikTok: the last chunk completes the post but its answer is lost.
        (
            Platform::Tiktok,
            [vec![Fault::Pass; tt_chunks], vec![Fault::CrashAfterAccept]].concat(),
        ),
        // Instagram: media_publish publishes but its answer is lost.
        (
            Platform::Instagram,
            vec![Fault::Pass, Fault::CrashAfterAccept],
        ),
    ];
    for (p, schedule) in schedules {
        w.fake.with(|s| s.faults.extend(schedule));
        let msg = w.plan_one(&clip, p).await;
        w.drive(&msg, &mut rng(3), 0.0).await.expect("posted");
        w.fake.with(|s| s.faults.clear());
        assert_eq!(w.posts_of(p.as_str(), &clip), 1, "{p}");
    }
}

#[tokio::test]
async fn over_many_random_fault_schedules_nothing_is_posted_twice_and_every_post_is_recorded() {
    let faults = [
        Fault::Pass,
        Fault::Pass,
        Fault::RateLimit,
        Fault::ServerError,
        Fault::Drop,
        Fault::CrashAfterAccept,
    ];
    for seed in 0..12u64 {
        let w = world(&Platform::ALL).await;
        let mut r = rng(seed);
        let clips = [
            w.clip(&format!("s{seed}x1"), true).await,
            w.clip(&format!("s{seed}x2"), true).await,
        ];
        let schedule: Vec<Fault> = (0..r.gen_range(5..40))
            .map(|_| faults[r.gen_range(0..faults.len())])
            .collect();
        w.fake.with(|s| s.faults.extend(schedule.iter().copied()));
        for clip in &clips {
            for p in Platform::ALL {
                let msg = w.plan_one(clip, p).await;
                let outcome = w.drive(&msg, &mut r, 0.2).await;
                let publication = w.publication(&msg).await;
                let posts = w.posts_of(p.as_str(), clip);
                assert!(
                    posts <= 1,
                    "seed {seed}: {p} {clip} posted {posts} times ({schedule:?})"
                );
                match publication.status {
                    PostStatus::Success => {
                        assert_eq!(posts, 1, "seed {seed}: recorded but never posted")
                    }
                    PostStatus::Failed => {
                        assert_eq!(
                            posts, 0,
                            "seed {seed}: posted but recorded failed: {publication:?}"
                        );
                        assert!(
                            publication.last_error.is_some() && outcome.is_err(),
                            "seed {seed}: failed without a reason"
                        );
                    }
                    other => panic!("seed {seed}: {p} {clip} left {other:?}"),
                }
            }
        }
    }
}

#[tokio::test]
async fn a_rotated_tiktok_refresh_token_is_stored_and_used_for_the_next_refresh() {
    let w = world(&[Platform::Tiktok]).await;
    let clip = w.clip("delta", true).await;
    // The first call that changes anything finds its token expired.
    w.fake.with(|s| s.faults.push_back(Fault::ExpireToken));
    let msg = w.plan_one(&clip, Platform::Tiktok).await;
    w.drive(&msg, &mut rng(4), 0.0)
        .await
        .expect("posted after a refresh");
    let stored = oauth::load(w.b.ports.vault.as_ref(), Platform::Tiktok, &w.account)
        .await
        .unwrap()
        .unwrap();
    let current = w.fake.with(|s| s.refresh["tiktok"].clone());
    assert_eq!(stored.expose_refresh_token(), Some(current.as_str()));
    assert_ne!(current, "tiktok-refresh-0", "the fake rotated nothing");
    // The next refresh must use the rotated token (the old one is dead).
    let again = w.clip("echo", true).await;
    w.fake.with(|s| s.faults.push_back(Fault::ExpireToken));
    let msg = w.plan_one(&again, Platform::Tiktok).await;
    w.drive(&msg, &mut rng(5), 0.0)
        .await
        .expect("posted after a second refresh");
    assert_eq!(w.fake.with(|s| s.refreshes), 2);
}

#[tokio::test]
async fn a_revoked_token_fails_that_platform_marks_it_unhealthy_and_others_still_post() {
    let w = world(&[Platform::Youtube, Platform::Tiktok]).await;
    let clip = w.clip("foxtrot", true).await;
    w.fake.with(|s| {
        s.revoked.push("youtube");
        s.faults.push_back(Fault::ExpireToken);
    });
    let yt = w.plan_one(&clip, Platform::Youtube).await;
    let err = w
        .drive(&yt, &mut rng(6), 0.0)
        .await
        .expect_err("youtube cannot post");
    assert!(err.to_string().contains("invalid_grant"), "{err}");
    let health = oauth::health(w.b.ports.vault.as_ref(), Platform::Youtube, &w.account)
        .await
        .unwrap();
    assert!(
        !health.connected && health.refresh_error.is_some(),
        "{health:?}"
    );
    let tt = w.plan_one(&clip, Platform::Tiktok).await;
    w.drive(&tt, &mut rng(7), 0.0)
        .await
        .expect("tiktok still posts");
    assert_eq!(w.posts_of("youtube", &clip), 0);
    assert_eq!(
        w.b.ports
            .store
            .get_clip(&clip)
            .await
            .unwrap()
            .unwrap()
            .status,
        ClipStatus::Edited,
        "not everywhere yet"
    );
}

#[tokio::test]
async fn a_video_a_platform_would_reject_fails_at_once_with_the_reason_and_sends_nothing() {
    let w = world(&[Platform::Youtube]).await;
    let clip = w.clip("golf", false).await;
    let msg = w.plan_one(&clip, Platform::Youtube).await;
    let err = publish(&w.b.ports, &w.platforms, &msg)
        .await
        .expect_err("landscape is not a Short");
    assert!(
        matches!(err, StageError::Permanent(ref m) if m.contains("not vertical")),
        "{err}"
    );
    let p = w.publication(&msg).await;
    assert_eq!(p.status, PostStatus::Failed);
    assert!(p.last_error.unwrap().contains("not vertical"));
    assert_eq!(w.fake.with(|s| s.yt_sessions_started), 0);
}

#[tokio::test]
async fn an_unaudited_tiktok_app_is_detected_and_said() {
    let w = world(&[Platform::Tiktok]).await;
    let clip = w.clip("hotel", true).await;
    w.fake
        .with(|s| s.tiktok_privacy_options = vec!["SELF_ONLY".into()]);
    let msg = w.plan_one(&clip, Platform::Tiktok).await;
    let err = w
        .drive(&msg, &mut rng(8), 0.0)
        .await
        .expect_err("cannot post publicly");
    assert!(err.to_string().contains("unaudited"), "{err}");
    assert_eq!(w.posts_of("tiktok", &clip), 0);
}

#[tokio::test]
async fn the_plan_takes_the_best_clips_up_to_the_daily_maximum_once() {
    let w = world(&Platform::ALL).await;
    for (id, score) in [("india", 10.0), ("juliet", 90.0), ("kilo", 50.0)] {
        w.clip_scored(id, true, score).await;
    }
    let mut account =
        w.b.ports
            .store
            .get_account(&w.account)
            .await
            .unwrap()
            .unwrap();
    account.max_per_day = 2;
    w.b.ports.store.put_account(&account).await.unwrap();
    let first = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(
        first.clips,
        ["juliet", "kilo"],
        "best score first: {first:?}"
    );
    assert_eq!(first.enqueued, 6);
    let again = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan again");
    let pubs =
        w.b.ports
            .store
            .list_publications(None, Some(&w.account))
            .await
            .unwrap();
    assert_eq!(
        pubs.len(),
        6,
        "a second plan the same day adds no clip: {again:?}"
    );
}
