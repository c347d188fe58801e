//! Posting one clip to one platform: once, resumed after cuts, never twice whatever fails,
//! tokens refreshed (rotating, revoked), refused videos and unaudited apps said at once.

use super::*;
use hilite::platforms::PlatformError;

harness::on_both_backends!(
    a_clip_is_posted_once_to_each_platform_and_then_published,
    a_youtube_upload_cut_mid_chunk_resumes_from_the_range_youtube_reports,
    answers_lost_after_the_platform_accepted_never_make_a_second_post,
    a_tiktok_post_processing_after_its_last_chunk_is_waited_for_and_posted_once,
    a_youtube_session_with_every_byte_and_no_video_yet_is_asked_again_not_replaced,
    a_youtube_session_that_takes_no_bytes_ends_the_try_and_keeps_the_session,
    over_many_random_fault_schedules_nothing_is_posted_twice_and_every_post_is_recorded,
    a_rotated_tiktok_refresh_token_is_stored_and_used_for_the_next_refresh,
    two_workers_refreshing_one_tiktok_token_at_once_leave_it_connected,
    a_refresh_that_fails_on_our_side_leaves_the_account_connected,
    instagrams_rate_limit_on_a_refresh_is_a_wait_not_a_disconnection,
    more_failed_tries_than_the_queues_receives_still_post_within_the_publications_limit,
    a_post_processing_for_a_day_stops_being_polled_and_keeps_its_handles,
    a_revoked_token_fails_that_platform_marks_it_unhealthy_and_others_still_post,
);

async fn a_clip_is_posted_once_to_each_platform_and_then_published(b: TestBackend) {
    let w = world(b, &Platform::ALL).await;
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

async fn a_youtube_upload_cut_mid_chunk_resumes_from_the_range_youtube_reports(b: TestBackend) {
    let w = world(b, &[Platform::Youtube]).await;
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

async fn answers_lost_after_the_platform_accepted_never_make_a_second_post(b: TestBackend) {
    let w = world(b, &Platform::ALL).await;
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

async fn over_many_random_fault_schedules_nothing_is_posted_twice_and_every_post_is_recorded(
    b: TestBackend,
) {
    let faults = [
        Fault::Pass,
        Fault::Pass,
        Fault::RateLimit,
        Fault::ServerError,
        Fault::Drop,
        Fault::CrashAfterAccept,
    ];
    // Fewer schedules on moto, where every call is an HTTP round trip; each seed gets a fresh
    // fake and fresh clips on the same backend.
    let seeds = if b.kind == "aws" { 0..5u64 } else { 0..12u64 };
    let mut backend = Some(b);
    for seed in seeds {
        let w = world(backend.take().expect("backend"), &Platform::ALL).await;
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
        backend = Some(w.b);
    }
}

async fn a_rotated_tiktok_refresh_token_is_stored_and_used_for_the_next_refresh(b: TestBackend) {
    let w = world(b, &[Platform::Tiktok]).await;
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

async fn a_revoked_token_fails_that_platform_marks_it_unhealthy_and_others_still_post(
    b: TestBackend,
) {
    let w = world(b, &[Platform::Youtube, Platform::Tiktok]).await;
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
    let w = world(TestBackend::embedded(3).await, &[Platform::Youtube]).await;
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
    let w = world(TestBackend::embedded(3).await, &[Platform::Tiktok]).await;
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

/// TikTok answers `PROCESSING_UPLOAD` for a while after the last chunk, with every byte counted
/// in `uploaded_bytes`: the post is waited for, its chunks are not sent again (a finished
/// upload refuses them, which would read as an expired URL and start a second post).
async fn a_tiktok_post_processing_after_its_last_chunk_is_waited_for_and_posted_once(
    b: TestBackend,
) {
    let w = world(b, &[Platform::Tiktok]).await;
    let clip = w.clip("oscar", true).await;
    w.fake.with(|s| s.tiktok_processing_polls = 3);
    let msg = w.plan_one(&clip, Platform::Tiktok).await;
    let sent = |w: &World| w.fake.with(|s| s.bytes.get("tiktok").copied().unwrap_or(0));

    w.drive(&msg, &mut rng(21), 0.0).await.expect("posted");
    let size = std::fs::metadata(video(true).await).unwrap().len();
    assert_eq!(sent(&w), size, "every byte sent once");
    assert_eq!(w.posts_of("tiktok", &clip), 1);
    assert_eq!(w.status(&msg).await, PostStatus::Success);
}

/// A resumable session that has every byte but answers a status query with 308 (the full
/// range, no video yet) is kept and asked again: a new session would upload the video again
/// and could make a second one.
async fn a_youtube_session_with_every_byte_and_no_video_yet_is_asked_again_not_replaced(
    b: TestBackend,
) {
    let w = world(b, &[Platform::Youtube]).await;
    let clip = w.clip("papa", true).await;
    w.fake.with(|s| s.youtube_finalize_polls = 2);
    let msg = w.plan_one(&clip, Platform::Youtube).await;

    w.drive(&msg, &mut rng(22), 0.0).await.expect("posted");
    let size = std::fs::metadata(video(true).await).unwrap().len();
    let sent = w
        .fake
        .with(|s| s.bytes.get("youtube").copied().unwrap_or(0));
    assert_eq!(sent, size, "every byte sent once");
    assert_eq!(w.fake.with(|s| s.yt_sessions_started), 1);
    assert_eq!(w.posts_of("youtube", &clip), 1);
}

/// A YouTube session that answers every chunk with the range it already had (308, no byte
/// taken) ends the try after a few chunks instead of sending the same one until the lease
/// runs out; the session is kept, and a later try finishes it: one session, one post.
async fn a_youtube_session_that_takes_no_bytes_ends_the_try_and_keeps_the_session(b: TestBackend) {
    const DISCARDS: u32 = 1000;
    let w = world(b, &[Platform::Youtube]).await;
    let clip = w.clip("quebec", true).await;
    w.fake.with(|s| s.youtube_discard_chunks = DISCARDS);
    let msg = w.plan_one(&clip, Platform::Youtube).await;

    let tried = publish(&w.b.ports, &w.platforms, &msg).await;
    let refused = DISCARDS - w.fake.with(|s| s.youtube_discard_chunks);
    assert!(
        (2..=10).contains(&refused),
        "{refused} chunks sent into a session that took none ({tried:?})"
    );
    assert!(
        matches!(
            tried,
            Err(StageError::RateLimited { .. } | StageError::Retryable(_))
        ),
        "{tried:?}"
    );
    assert_ne!(w.status(&msg).await, PostStatus::Success);
    let session = w.publication(&msg).await.resume.upload_session;
    assert!(session.is_some(), "the session is kept");

    w.fake.with(|s| s.youtube_discard_chunks = 0);
    w.clock.advance(LEASE + Duration::minutes(1));
    w.drive(&msg, &mut rng(23), 0.0).await.expect("posted");
    assert_eq!(w.fake.with(|s| s.yt_sessions_started), 1);
    assert_eq!(w.posts_of("youtube", &clip), 1);
}

/// A vault whose first read returns the tokens as they were before another worker refreshed
/// them: the second of two workers that read the tokens at the same moment.
struct ReadBeforeTheOtherRefresh {
    vault: Arc<dyn hilite::store::TokenVault>,
    before: std::sync::Mutex<Option<secrecy::SecretString>>,
}

#[async_trait::async_trait]
impl hilite::store::TokenVault for ReadBeforeTheOtherRefresh {
    async fn put_token(
        &self,
        name: &TokenRef,
        secret: &secrecy::SecretString,
    ) -> Result<(), hilite::store::VaultError> {
        self.vault.put_token(name, secret).await
    }
    async fn get_token(
        &self,
        name: &TokenRef,
    ) -> Result<Option<secrecy::SecretString>, hilite::store::VaultError> {
        let before = self.before.lock().unwrap().take();
        match before {
            Some(old) => Ok(Some(old)),
            None => self.vault.get_token(name).await,
        }
    }
    async fn delete_token(&self, name: &TokenRef) -> Result<(), hilite::store::VaultError> {
        self.vault.delete_token(name).await
    }
}

/// TikTok rotates refresh tokens: of two workers refreshing at once, the second one's refresh
/// token is spent by the first and refused. That refusal is not the account's: the second
/// worker uses the tokens the first one stored, and the account stays connected.
async fn two_workers_refreshing_one_tiktok_token_at_once_leave_it_connected(b: TestBackend) {
    let w = world(b, &[Platform::Tiktok]).await;
    let vault = w.b.ports.vault.clone();
    let name = oauth::token_ref(Platform::Tiktok, &w.account);
    let before = vault
        .get_token(&name)
        .await
        .unwrap()
        .expect("seeded tokens");
    let client = OAuthClient::new(
        Platform::Tiktok,
        reqwest::Client::new(),
        w.fake.config("tiktok"),
    );
    let now = w.clock.now();

    // The first worker refreshes (the seeded refresh token is spent) and stores its tokens.
    let first = oauth::access_token(vault.as_ref(), &client, &w.account, now, true).await;
    assert!(first.is_ok(), "{first:?}");
    // The second had read the tokens before that, and refreshes with the spent one.
    let late = ReadBeforeTheOtherRefresh {
        vault: vault.clone(),
        before: std::sync::Mutex::new(Some(before)),
    };
    let second = oauth::access_token(&late, &client, &w.account, now, true).await;
    assert!(second.is_ok(), "{second:?}");

    let stored = oauth::load(vault.as_ref(), Platform::Tiktok, &w.account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.refresh_error, None, "the account stays connected");
    let later = oauth::access_token(vault.as_ref(), &client, &w.account, now, true).await;
    assert!(
        later.is_ok(),
        "the stored refresh token still works: {later:?}"
    );
}

/// A refresh that fails for a reason of ours, not a refusal by the platform (here TikTok's
/// `client_secret` left out of the configuration), does not mark the account: once the
/// setting is there, the next refresh works without `hilite auth`. A real refusal still does.
async fn a_refresh_that_fails_on_our_side_leaves_the_account_connected(b: TestBackend) {
    let w = world(b, &[Platform::Tiktok]).await;
    let vault = w.b.ports.vault.clone();
    let now = w.clock.now();
    let mut unset = w.fake.config("tiktok");
    unset.client_secret = None;
    let without = OAuthClient::new(Platform::Tiktok, reqwest::Client::new(), unset);

    let got = oauth::access_token(vault.as_ref(), &without, &w.account, now, true).await;
    assert!(
        matches!(got, Err(PlatformError::NotConnected { ref message, .. }) if message.contains("client_secret")),
        "{got:?}"
    );
    let stored = oauth::load(vault.as_ref(), Platform::Tiktok, &w.account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.refresh_error, None, "the account is not marked");

    let with = OAuthClient::new(
        Platform::Tiktok,
        reqwest::Client::new(),
        w.fake.config("tiktok"),
    );
    let fixed = oauth::access_token(vault.as_ref(), &with, &w.account, now, true).await;
    assert!(fixed.is_ok(), "{fixed:?}");

    // The platform refusing the refresh token (revoked) marks it, as before.
    let name = oauth::token_ref(Platform::Tiktok, &w.account);
    let revoked = TokenSet::new(
        "tiktok-access-revoked",
        Some("tiktok-refresh-revoked".into()),
        Some(3600),
        now,
    );
    oauth::store(vault.as_ref(), Platform::Tiktok, &w.account, &revoked)
        .await
        .unwrap();
    assert!(vault.get_token(&name).await.unwrap().is_some());
    let refused = oauth::access_token(vault.as_ref(), &with, &w.account, now, true).await;
    assert!(
        matches!(refused, Err(PlatformError::NotConnected { .. })),
        "{refused:?}"
    );
    let marked = oauth::load(vault.as_ref(), Platform::Tiktok, &w.account)
        .await
        .unwrap()
        .unwrap();
    assert!(
        marked.refresh_error.is_some(),
        "a refused refresh marks the account"
    );
}

/// Meta answers its app rate limit on a token refresh with a 400 and code 4: a wait, not a
/// refused token. The account stays connected, and the next refresh works.
async fn instagrams_rate_limit_on_a_refresh_is_a_wait_not_a_disconnection(b: TestBackend) {
    let w = world(b, &[Platform::Instagram]).await;
    let vault = w.b.ports.vault.clone();
    let now = w.clock.now();
    let client = OAuthClient::new(
        Platform::Instagram,
        reqwest::Client::new(),
        w.fake.config("instagram"),
    );
    w.fake.with(|s| s.instagram_refresh_limited = 1);

    let limited = oauth::access_token(vault.as_ref(), &client, &w.account, now, true).await;
    assert!(
        matches!(limited, Err(PlatformError::RateLimited { .. })),
        "{limited:?}"
    );
    let stored = oauth::load(vault.as_ref(), Platform::Instagram, &w.account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.refresh_error, None, "the account is not marked");
    let later = oauth::access_token(vault.as_ref(), &client, &w.account, now, true).await;
    assert!(later.is_ok(), "{later:?}");
}

/// A publication counts its own attempts (3 × `max_attempts` for network errors and 5xx), more
/// than the queue's receives (3 by default, then the dead-letter queue): so a failed try comes
/// back as a new message after a backoff (`RateLimited`, which the runner sends again without
/// spending a receive), never as a redelivery of the same one.
async fn more_failed_tries_than_the_queues_receives_still_post_within_the_publications_limit(
    b: TestBackend,
) {
    let w = world(b, &[Platform::Instagram]).await;
    let clip = w.clip("quebec", true).await;
    let msg = w.plan_one(&clip, Platform::Instagram).await;
    let max_receives = hilite::config::QueuesConfig::default().max_receives;
    w.fake.with(|s| {
        s.faults
            .extend(vec![Fault::ServerError; max_receives as usize + 2])
    });

    let mut failed = 0;
    for _ in 0..20 {
        match publish(&w.b.ports, &w.platforms, &msg).await {
            Ok(()) if w.status(&msg).await == PostStatus::Success => break,
            Ok(()) => {}
            Err(StageError::RateLimited { reason, .. }) => {
                // Instagram's container processing is a wait too; a failed try says so.
                if reason.contains("failed attempt") {
                    failed += 1;
                }
            }
            Err(e) => panic!("a failed try must come back as a new message: {e}"),
        }
        w.clock.advance(LEASE + Duration::minutes(1));
    }
    assert!(failed > max_receives, "{failed} failed tries");
    assert_eq!(w.status(&msg).await, PostStatus::Success);
    assert_eq!(w.posts_of("instagram", &clip), 1);
}

/// A post that stays processing on the platform is not polled forever: after a day the
/// publication fails with the reason, keeping its handles for the next day's plan to look at.
async fn a_post_processing_for_a_day_stops_being_polled_and_keeps_its_handles(b: TestBackend) {
    let w = world(b, &[Platform::Tiktok]).await;
    let clip = w.clip("romeo", true).await;
    w.fake.with(|s| s.tiktok_processing_polls = u32::MAX);
    let msg = w.plan_one(&clip, Platform::Tiktok).await;

    let mut waits = 0;
    let err = loop {
        match publish(&w.b.ports, &w.platforms, &msg).await {
            Err(StageError::RateLimited { .. }) => waits += 1,
            Err(e) => break e,
            Ok(()) => panic!("nothing to post yet: {:?}", w.publication(&msg).await),
        }
        assert!(waits < 40, "still polling after {waits} waits");
        w.clock.advance(Duration::hours(2));
    };
    assert!(
        matches!(err, StageError::Permanent(ref m) if m.contains("still processing")),
        "{err}"
    );
    assert!(waits >= 12, "it waited a day first: {waits} waits of 2 h");
    let failed = w.publication(&msg).await;
    assert_eq!(failed.status, PostStatus::Failed);
    assert!(failed.resume.publish_id.is_some(), "the handles are kept");
    assert_eq!(w.posts_of("tiktok", &clip), 1, "uploaded once");
}
