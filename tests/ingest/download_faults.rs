//! The download stage when Twitch misbehaves: rate limits, unavailability, slow answers, an
//! expired or revoked user token, a CDN that keeps failing until the attempts run out, and a
//! file the CDN says is gone.

use std::time::Duration;

use harness::backends::TestBackend;
use harness::fake_twitch::{Fault, FileFault};
use hilite::domain::{ClipStatus, Stage};
use hilite::pipeline::StageError;
use hilite::queue::QueueName;
use hilite::twitch::tokens::load_user_token;

use super::download::{last_error, pending, stored_size};
use super::{Site, BROADCASTER};

harness::on_both_backends!(
    a_429_waits_for_its_reset_and_a_503_is_tried_once_more,
    an_expired_user_token_is_refreshed_and_the_rotated_refresh_token_stored,
    retries_running_out_fail_the_clip_with_the_reason,
    a_file_gone_from_the_cdn_fails_the_clip_on_the_first_attempt,
    two_processes_refreshing_a_token_near_its_end_at_once_both_get_a_working_token,
    a_retry_whose_message_cannot_be_sent_leaves_the_clip_failed_to_retry_again,
);

async fn a_429_waits_for_its_reset_and_a_503_is_tried_once_more(b: TestBackend) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    pending(&site, "Limited-1", false, |_| {}).await;
    site.fake.fault(
        "clips/downloads",
        Fault::RateLimited {
            reset_in: Duration::from_secs(1),
        },
        1,
    );
    site.download("Limited-1").await.unwrap();
    let calls: Vec<_> = site
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/helix/clips/downloads")
        .collect();
    assert_eq!(
        calls.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200],
        "[{}]",
        site.b.kind
    );
    assert_eq!(
        site.fake.bucket_violations(),
        0,
        "the retry came before the reset"
    );

    pending(&site, "Flaky-1", false, |_| {}).await;
    site.fake.fault("clips/downloads", Fault::Unavailable, 1);
    site.download("Flaky-1").await.unwrap();
    pending(&site, "Down-1", false, |_| {}).await;
    site.fake.fault("clips/downloads", Fault::Unavailable, 2);
    assert!(matches!(
        site.download("Down-1").await,
        Err(StageError::Retryable(_))
    ));
    assert_eq!(site.clip("Down-1").await.unwrap().attempts.download, 1);
    let statuses: Vec<u16> = site
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/helix/clips/downloads")
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [429, 200, 503, 200, 503, 503],
        "[{}] a 503 is tried exactly once more",
        site.b.kind
    );

    // A bucket of two calls a second: a polite client waits for each reset, never hitting 429.
    site.fake.set_bucket(2, 1);
    for i in 0..5 {
        let id = format!("Bucket-{i}");
        pending(&site, &id, false, |_| {}).await;
        site.download(&id).await.unwrap();
    }
    assert_eq!(site.fake.bucket_violations(), 0, "[{}]", site.b.kind);

    // A call that times out is tried again.
    pending(&site, "Slow-1", false, |_| {}).await;
    site.fake.fault(
        "clips/downloads",
        Fault::Delay(Duration::from_millis(1500)),
        1,
    );
    site.download("Slow-1").await.unwrap();
}

async fn an_expired_user_token_is_refreshed_and_the_rotated_refresh_token_stored(b: TestBackend) {
    let site = Site::new(b).await;
    let token = site.authorize_broadcaster().await;
    let before = load_user_token(&*site.b.ports.vault, &token)
        .await
        .unwrap()
        .unwrap();
    site.fake.expire_user_tokens(BROADCASTER);
    pending(&site, "Fresh-1", false, |_| {}).await;

    site.download("Fresh-1").await.unwrap();

    let after = load_user_token(&*site.b.ports.vault, &token)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(after.expose_access_token(), before.expose_access_token());
    assert_ne!(
        after.expose_refresh_token(),
        before.expose_refresh_token(),
        "[{}] the refresh token did not rotate",
        site.b.kind
    );
    assert_eq!(
        after.expose_refresh_token().map(str::to_string),
        site.fake.current_refresh_token(BROADCASTER),
        "the rotated refresh token was not stored"
    );
    let statuses: Vec<u16> = site
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/helix/clips/downloads")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [401, 200]);
    for secret in [
        after.expose_access_token(),
        after.expose_refresh_token().unwrap(),
    ] {
        assert!(
            !harness::raw::store_contains(&site.b, secret).await,
            "[{}] a token is stored in clear",
            site.b.kind
        );
    }

    // A token Twitch no longer refreshes (authorization revoked): the clip fails at once.
    site.fake.expire_user_tokens(BROADCASTER);
    site.fake.revoke_authorization(BROADCASTER);
    pending(&site, "Revoked-1", false, |_| {}).await;
    assert!(
        matches!(
            site.download("Revoked-1").await,
            Err(StageError::Permanent(_))
        ),
        "[{}]",
        site.b.kind
    );
    assert!(last_error(&site.clip("Revoked-1").await.unwrap()).contains("hilite auth twitch"));
}

async fn retries_running_out_fail_the_clip_with_the_reason(b: TestBackend) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    pending(&site, "Broken-1", false, |c| {
        c.file_fault = Some(FileFault::Status(500))
    })
    .await;
    for attempt in 1..=2 {
        assert!(
            matches!(
                site.download("Broken-1").await,
                Err(StageError::Retryable(_))
            ),
            "attempt {attempt}"
        );
        assert_eq!(
            site.clip("Broken-1").await.unwrap().status,
            ClipStatus::Pending
        );
    }
    match site.download("Broken-1").await {
        Err(StageError::Permanent(why)) => assert!(
            why.contains("gave up after 3 attempts") && why.contains("HTTP 500"),
            "{why}"
        ),
        other => panic!(
            "[{}] the third failure must be the last: {other:?}",
            site.b.kind
        ),
    }
    let clip = site.clip("Broken-1").await.unwrap();
    assert_eq!(
        (clip.status, clip.failed_stage, clip.attempts.download),
        (ClipStatus::Failed, Some(Stage::Download), 3),
        "[{}]",
        site.b.kind
    );
    assert_eq!(clip.errors.len(), 3, "each attempt's failure is kept");
    assert!(
        last_error(&clip).contains("HTTP 500"),
        "the reason is on the clip: {}",
        last_error(&clip)
    );
    // A failed clip's redelivery does nothing.
    site.download("Broken-1").await.unwrap();
    assert_eq!(site.fake.count("/files/Broken-1/landscape.mp4"), 3);
}

async fn a_file_gone_from_the_cdn_fails_the_clip_on_the_first_attempt(b: TestBackend) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    // Get Clips Download still lists the clip, but its file is gone: deleted in between.
    for (id, code) in [("Gone-404", 404), ("Gone-410", 410)] {
        pending(&site, id, false, |c| {
            c.file_fault = Some(FileFault::Status(code))
        })
        .await;
        match site.download(id).await {
            Err(StageError::Permanent(why)) => assert!(
                why.contains("gone from Twitch's CDN") && why.contains(&format!("HTTP {code}")),
                "[{}] {why}",
                site.b.kind
            ),
            other => panic!("[{}] a {code} must fail at once: {other:?}", site.b.kind),
        }
        let clip = site.clip(id).await.unwrap();
        assert_eq!(
            (clip.status, clip.failed_stage, clip.attempts.download),
            (ClipStatus::Failed, Some(Stage::Download), 1),
            "[{}] {id}",
            site.b.kind
        );
        assert!(
            last_error(&clip).contains(&format!("HTTP {code}")),
            "the reason is on the clip: {}",
            last_error(&clip)
        );
        assert_eq!(clip.media.source, None, "[{}] {id}", site.b.kind);
        assert_eq!(
            stored_size(&site, id).await,
            None,
            "[{}] {id} left media behind",
            site.b.kind
        );
        // A redelivery of the failed clip fetches nothing again.
        site.download(id).await.unwrap();
        assert_eq!(
            site.fake.count(&format!("/files/{id}/landscape.mp4")),
            1,
            "[{}] {id} was fetched more than once",
            site.b.kind
        );
    }
    assert!(site.take_all(QueueName::Analyze).await.is_empty());
}

/// A vault whose first `stale_reads` reads return the token as it was before another process
/// refreshed it: that process's refresh lands between this one's reads and its own refresh.
struct StaleReads {
    vault: std::sync::Arc<dyn hilite::store::TokenVault>,
    before: secrecy::SecretString,
    stale_reads: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl hilite::store::TokenVault for StaleReads {
    async fn put_token(
        &self,
        name: &hilite::domain::TokenRef,
        secret: &secrecy::SecretString,
    ) -> Result<(), hilite::store::VaultError> {
        self.vault.put_token(name, secret).await
    }
    async fn get_token(
        &self,
        name: &hilite::domain::TokenRef,
    ) -> Result<Option<secrecy::SecretString>, hilite::store::VaultError> {
        use std::sync::atomic::Ordering;
        let stale = self
            .stale_reads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if stale {
            return Ok(Some(self.before.clone()));
        }
        self.vault.get_token(name).await
    }
    async fn delete_token(
        &self,
        name: &hilite::domain::TokenRef,
    ) -> Result<(), hilite::store::VaultError> {
        self.vault.delete_token(name).await
    }
}

/// Two processes (download Lambdas started by one stream's end, or `hilite doctor` beside
/// `hilite serve`) find the token near its end and refresh it at once. Twitch rotates the
/// refresh token, so the second one's refresh is refused; that is no verdict on the account:
/// it takes the tokens the first one stored.
async fn two_processes_refreshing_a_token_near_its_end_at_once_both_get_a_working_token(
    b: TestBackend,
) {
    let site = Site::new(b).await;
    // Within the client's refresh margin from the start: every use refreshes first.
    site.fake
        .set_user_token_lifetime(chrono::Duration::minutes(2));
    let token = site.authorize_broadcaster().await;
    let vault = site.b.ports.vault.clone();
    let before = vault.get_token(&token).await.unwrap().unwrap();

    // The first process refreshes and stores the rotated tokens.
    site.pipeline
        .twitch
        .validate_user_token(&token)
        .await
        .expect("the first refresh");
    // The second read the old tokens before that, and refreshes with the spent refresh token.
    let mut config = site.b.config.clone();
    site.fake.configure(&mut config);
    let late = std::sync::Arc::new(StaleReads {
        vault: vault.clone(),
        before,
        stale_reads: std::sync::atomic::AtomicU32::new(2),
    });
    let second = hilite::twitch::TwitchClient::from_config(&config.twitch, late).unwrap();
    let validated = second.validate_user_token(&token).await;
    assert!(validated.is_ok(), "[{}] {validated:?}", site.b.kind);
    let stored = load_user_token(&*vault, &token).await.unwrap().unwrap();
    assert_eq!(
        stored.expose_refresh_token().map(str::to_string),
        site.fake.current_refresh_token(BROADCASTER),
        "[{}] the first process's tokens were overwritten",
        site.b.kind
    );
}

/// `hilite clips retry` moves the clip back to its stage, then queues it. When the queue
/// refuses the message, the clip is put back to `failed` (its stage kept), so the retry can
/// simply be run again; it is not left waiting at its stage with no message on the way.
async fn a_retry_whose_message_cannot_be_sent_leaves_the_clip_failed_to_retry_again(
    b: TestBackend,
) {
    use hilite::pipeline::attempts::retry_failed;
    let site = Site::new(b).await;
    let mut clip = harness::records::clip("RetryLost-1", "a clip", chrono::Utc::now());
    clip.status = ClipStatus::Failed;
    clip.failed_stage = Some(Stage::Download);
    clip.attempts.download = 3;
    site.b
        .ports
        .store
        .insert_clip_if_absent(&clip)
        .await
        .unwrap();
    let mut ports = site.b.ports.clone();
    ports.queue = std::sync::Arc::new(harness::local::FailingSends::new(
        site.b.ports.queue.clone(),
        1,
    ));

    assert!(retry_failed(&ports, &clip.id).await.is_err());
    let after = site.clip("RetryLost-1").await.unwrap();
    assert_eq!(
        (after.status, after.failed_stage),
        (ClipStatus::Failed, Some(Stage::Download)),
        "[{}]",
        site.b.kind
    );

    // Run again with the queue back: queued this time.
    assert_eq!(
        retry_failed(&ports, &clip.id).await.unwrap(),
        Stage::Download
    );
    assert_eq!(
        site.clip("RetryLost-1").await.unwrap().status,
        ClipStatus::Pending
    );
    assert_eq!(site.take_all(QueueName::Download).await.len(), 1);
}
