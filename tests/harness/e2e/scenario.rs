//! The end-to-end scenario's cast and its verdict, shared by `tests/e2e.rs` and the fault
//! tests: two broadcasters (one with an editor whitelist), their clips in one stream window
//! each (whitelisted and other editors; one deleted between collect and download; one with a
//! portrait version), three accounts posting to the three platforms, and [`verdict`], which
//! checks the final state whatever route the run took.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use hilite::backend::Ports;
use hilite::domain::*;
use hilite::platforms::oauth::{self, TokenSet};
use hilite::twitch::TwitchClient;

use super::media::{speech_clip, Shape};
use super::world::Fakes;
use crate::eventsub::{self, Delivery};
use crate::fake_twitch::{FakeClip, BROADCASTER_SCOPE};
use crate::records;

/// Has an editor whitelist (only [`TRUSTED`]).
pub const A: &str = "1001";
pub const A_LOGIN: &str = "streamer_one";
/// Has none: every editor's clips are taken.
pub const B: &str = "2002";
pub const B_LOGIN: &str = "streamer_two";
pub const TRUSTED: &str = "501";
pub const STRANGER: &str = "777";
pub const FAN: &str = "888";

/// How a scenario clip must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Posted by every account that takes its broadcaster, on every platform.
    Published,
    /// Deleted on Twitch after collect: failed at download, with the reason.
    FailedGone,
    /// Never in the state store (another editor, or outside the stream window).
    Absent,
    /// Downloaded, then skipped by analysis with a reason (a one-second clip: too short).
    SkippedShort,
}

#[derive(Debug, Clone)]
pub struct CastClip {
    pub id: &'static str,
    pub broadcaster: &'static str,
    pub editor: &'static str,
    pub minutes_ago: i64,
    pub shape: Shape,
    pub fate: Fate,
}

/// The clips of both windows. The streams ran from 60 minutes ago until now.
pub fn cast() -> Vec<CastClip> {
    use Fate::*;
    let c = |id, broadcaster, editor, minutes_ago, shape, fate| CastClip {
        id,
        broadcaster,
        editor,
        minutes_ago,
        shape,
        fate,
    };
    vec![
        c("E2E-A-Wide", A, TRUSTED, 40, Shape::Landscape, Published),
        c("E2E-A-Tall", A, TRUSTED, 30, Shape::Portrait, Published),
        c("E2E-A-Gone", A, TRUSTED, 20, Shape::Landscape, FailedGone),
        c("E2E-A-Stranger", A, STRANGER, 25, Shape::Landscape, Absent),
        c("E2E-A-Early", A, TRUSTED, 90, Shape::Landscape, Absent),
        c("E2E-B-Fan", B, FAN, 15, Shape::Landscape, Published),
        c(
            "E2E-B-Blip",
            B,
            STRANGER,
            10,
            Shape::Landscape,
            SkippedShort,
        ),
    ]
}

pub const STREAM_MINUTES: i64 = 60;

/// Accounts: (name, broadcasters it posts; empty = all).
pub fn accounts() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("alpha", vec![]),
        ("beta", vec![A_LOGIN]),
        ("gamma", vec![B_LOGIN]),
    ]
}

/// Put the cast in the fakes (Twitch users and clips; the CDN's files).
pub fn stage_fakes(fakes: &Fakes) {
    let t = &fakes.twitch;
    t.add_user(A, A_LOGIN);
    t.add_user(B, B_LOGIN);
    t.add_user(TRUSTED, "trusted_editor");
    t.add_user(STRANGER, "stranger");
    t.add_user(FAN, "fan_editor");
    for c in cast() {
        let mut clip = FakeClip::new(
            c.id,
            c.broadcaster,
            c.editor,
            Utc::now() - Duration::minutes(c.minutes_ago),
        );
        clip.portrait = c.shape == Shape::Portrait;
        clip.view_count = 100 + c.minutes_ago as u64;
        // A skipped clip is the fake CDN's own one-second file; the others are ours.
        if c.fate != Fate::SkippedShort {
            let marker = format!("{}{}", fakes.tag, c.id);
            clip.download_url = Some(fakes.host.put(c.id, speech_clip(c.shape, &marker)));
        }
        t.add_clip(clip);
    }
}

/// The broadcasters authorize HiLite (device code flow on the fake, tokens in the vault), the
/// whitelist and the accounts are set up, and each account's platform tokens are stored.
pub async fn seed_store(ports: &Ports, fakes: &Fakes, twitch: &TwitchClient) {
    for (id, login) in [(A, A_LOGIN), (B, B_LOGIN)] {
        let token = fakes
            .twitch
            .authorize(twitch, id, &[BROADCASTER_SCOPE])
            .await;
        let mut b = records::broadcaster(id, login);
        b.token_ref = Some(token);
        ports.store.put_broadcaster(&b).await.expect("broadcaster");
    }
    ports
        .store
        .put_whitelist_entry(&records::whitelist_entry(
            TRUSTED,
            WhitelistScope::Broadcaster(A.parse().expect("id")),
        ))
        .await
        .expect("whitelist");
    for (name, logins) in accounts() {
        let mut account = records::account(name, "Europe/Paris");
        account.max_per_day = 10;
        account.broadcasters = logins
            .iter()
            .map(|l| Login::parse(*l).expect("login"))
            .collect();
        ports.store.put_account(&account).await.expect("account");
        for p in Platform::ALL {
            // Each account holds its own refresh token (the fake retires a TikTok refresh
            // token when it is used, as rotation does).
            let set = TokenSet::new(
                format!("{p}-access-0"),
                Some(format!("{p}-refresh-0-{name}")),
                Some(3600),
                Utc::now(),
            );
            oauth::store(ports.vault.as_ref(), p, &account.name, &set)
                .await
                .expect("platform token");
        }
    }
}

/// The signed deliveries of the run: online A, online B, offline A, offline B.
pub fn webhooks() -> Vec<(String, Delivery)> {
    let started = Utc::now() - Duration::minutes(STREAM_MINUTES);
    let mut out = Vec::new();
    for (i, b) in [A, B].iter().enumerate() {
        out.push((
            format!("online-{b}"),
            eventsub::signed(
                "notification",
                &format!("e2e-online-{b}"),
                Utc::now(),
                &eventsub::online(b, &format!("4000{i}"), started),
            ),
        ));
    }
    for b in [A, B] {
        out.push((
            format!("offline-{b}"),
            eventsub::signed(
                "notification",
                &format!("e2e-offline-{b}"),
                Utc::now(),
                &eventsub::offline(b),
            ),
        ));
    }
    out
}

/// Whether every clip that reached the store is done with its stages (published, failed,
/// skipped) and every publication is settled.
pub async fn settled(ports: &Ports) -> bool {
    let counts = ports.store.count_clips().await.expect("count clips");
    let done = [
        ClipStatus::Published,
        ClipStatus::Failed,
        ClipStatus::Skipped,
    ];
    let open: u64 = counts
        .iter()
        .filter(|(s, _)| !done.contains(s))
        .map(|(_, n)| n)
        .sum();
    open == 0 && counts.values().sum::<u64>() > 0
}

/// Whether every clip that reached the store is out of the ingest and render stages.
pub async fn ready_to_plan(ports: &Ports) -> bool {
    let counts = ports.store.count_clips().await.expect("count clips");
    let waiting = [
        ClipStatus::Pending,
        ClipStatus::Downloaded,
        ClipStatus::Analyzed,
    ];
    let n: u64 = counts.values().sum();
    n > 0
        && counts
            .iter()
            .filter(|(s, _)| waiting.contains(s))
            .all(|(_, n)| *n == 0)
}

/// Every key of the media store, whatever the backend.
pub type MediaListing = BTreeSet<String>;

/// Check the final state: the clips' fates, one post per (clip, account, platform) with the
/// expected text, and the media the retention rules keep (no source after a render; the short
/// of every published clip; the source of a clip failed after its download).
pub async fn verdict(ports: &Ports, fakes: &Fakes, media: &MediaListing, kind: &str) {
    let mut titles: BTreeMap<&str, String> = BTreeMap::new();
    for c in cast() {
        let id = ClipId::parse(c.id).expect("id");
        let clip = ports.store.get_clip(&id).await.expect("read clip");
        match c.fate {
            Fate::Absent => assert!(clip.is_none(), "[{kind}] {} reached the state store", c.id),
            Fate::FailedGone => {
                let clip = clip.unwrap_or_else(|| panic!("[{kind}] {} missing", c.id));
                assert_eq!(clip.status, ClipStatus::Failed, "[{kind}] {}", c.id);
                assert!(
                    !clip.errors.is_empty(),
                    "[{kind}] {} failed without a reason",
                    c.id
                );
                assert!(
                    !media.iter().any(|k| k.contains(c.id)),
                    "[{kind}] {} has media though it was never downloaded: {media:?}",
                    c.id
                );
            }
            Fate::SkippedShort => {
                let clip = clip.unwrap_or_else(|| panic!("[{kind}] {} missing", c.id));
                assert_eq!(clip.status, ClipStatus::Skipped, "[{kind}] {}", c.id);
                assert!(
                    clip.skip_reason.as_deref().is_some_and(|r| !r.is_empty()),
                    "[{kind}] {} skipped without a reason",
                    c.id
                );
            }
            Fate::Published => {
                let clip = clip.unwrap_or_else(|| panic!("[{kind}] {} missing", c.id));
                assert_eq!(
                    clip.status,
                    ClipStatus::Published,
                    "[{kind}] {}: {:?} {:?}",
                    c.id,
                    clip.errors,
                    clip.skip_reason
                );
                assert_eq!(
                    clip.media.source_is_portrait,
                    c.shape == Shape::Portrait,
                    "[{kind}] {}",
                    c.id
                );
                let short = clip
                    .media
                    .short
                    .clone()
                    .expect("a published clip has a short");
                assert!(
                    media.contains(short.as_str()),
                    "[{kind}] {short} not kept: {media:?}"
                );
                assert!(
                    !media.contains(MediaKey::source(&clip.id).as_str()),
                    "[{kind}] the source of {} outlived its render",
                    c.id
                );
                titles.insert(
                    c.id,
                    clip.generated_title
                        .clone()
                        .filter(|t| !t.trim().is_empty())
                        .unwrap_or(clip.title.clone()),
                );
            }
        }
    }
    // Nothing in the store but the cast's whitelisted clips.
    let expected_in_store = cast().iter().filter(|c| c.fate != Fate::Absent).count() as u64;
    let total: u64 = ports
        .store
        .count_clips()
        .await
        .expect("count")
        .values()
        .sum();
    assert_eq!(total, expected_in_store, "[{kind}] clips in the store");

    // Publications: exactly the expected keys, each a success with its own video.
    let mut expected: BTreeSet<(String, String, Platform)> = BTreeSet::new();
    for c in cast().iter().filter(|c| c.fate == Fate::Published) {
        let login = if c.broadcaster == A { A_LOGIN } else { B_LOGIN };
        for (account, logins) in accounts() {
            if logins.is_empty() || logins.contains(&login) {
                for p in Platform::ALL {
                    expected.insert((c.id.to_string(), account.to_string(), p));
                }
            }
        }
    }
    let pubs = ports
        .store
        .list_publications(None, None)
        .await
        .expect("publications");
    let got: BTreeSet<(String, String, Platform)> = pubs
        .iter()
        .map(|p| {
            (
                p.key.clip_id.to_string(),
                p.key.account.to_string(),
                p.key.platform,
            )
        })
        .collect();
    assert_eq!(got, expected, "[{kind}] publications");
    let mut videos = BTreeSet::new();
    for p in &pubs {
        assert_eq!(
            p.status,
            PostStatus::Success,
            "[{kind}] {:?}: {:?}",
            p.key,
            p.last_error
        );
        let video = p.platform_video_id.clone().expect("a video id");
        assert!(
            videos.insert((p.key.platform, video.clone())),
            "[{kind}] two publications share {video}"
        );
    }

    // The platforms saw exactly one post per publication, each with the clip's title and the
    // broadcaster's credit.
    let posts = fakes.platforms.with(|s| s.posts.clone());
    assert_eq!(
        posts.len(),
        expected.len(),
        "[{kind}] posts made: {posts:#?}"
    );
    for p in Platform::ALL {
        let name = p.to_string();
        for (clip, title) in &titles {
            let want = expected
                .iter()
                .filter(|(c, _, q)| c == clip && *q == p)
                .count();
            let made = posts
                .iter()
                .filter(|(q, text)| *q == name && text.contains(title.as_str()))
                .count();
            assert_eq!(
                made, want,
                "[{kind}] posts of {clip} ({title}) on {p}: {posts:#?}"
            );
        }
    }
    for (platform, text) in &posts {
        if *platform != "youtube" {
            assert!(
                text.contains("StreamerOne"),
                "[{kind}] a {platform} post does not credit the broadcaster: {text}"
            );
        }
    }
}

/// The stream window's start, for tests that need it.
pub fn stream_start() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(STREAM_MINUTES)
}
