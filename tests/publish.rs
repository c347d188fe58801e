//! The publish stage against strict fakes of YouTube, TikTok and Instagram, the key paths on
//! both backends (`harness::on_both_backends!`): uploads that resume, faults that never make a
//! second post, token refreshes (a rotating refresh token and a revoked one), videos and apps a
//! platform would refuse (`posting`); the daily plan, its retry of failed posts and the
//! accounts' post text (`plan`); and the accounts' EventBridge Scheduler schedules on moto
//! (`schedules`). This file holds the world they share.

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

#[path = "publish/plan.rs"]
mod plan;
#[path = "publish/posting.rs"]
mod posting;
#[path = "publish/schedules.rs"]
mod schedules;

const UNIT: u64 = 16 * 1024;
const TT_SCALE: u64 = 64;

/// A vertical 4 s H.264/AAC MP4 of a few hundred KB, made once per run.
async fn video(portrait: bool) -> std::path::PathBuf {
    static DIR: OnceCell<tempfile::TempDir> = OnceCell::const_new();
    let dir = DIR
        .get_or_init(|| async { hilite::scratch::folder("test-videos-").expect("dir") })
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

async fn world(mut b: TestBackend, platforms_on: &[Platform]) -> World {
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
        self.clip_with(id, portrait, |c| {
            c.score = Some(Score {
                total: score,
                parts: Default::default(),
            })
        })
        .await
    }

    /// An edited clip with its short, changed by `edit` before it is stored.
    async fn clip_with(&self, id: &str, portrait: bool, edit: impl FnOnce(&mut Clip)) -> ClipId {
        let mut c = records::clip(id, &format!("title-{id}"), Utc::now());
        c.status = ClipStatus::Edited;
        c.score = Some(Score {
            total: 50.0,
            parts: Default::default(),
        });
        edit(&mut c);
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
