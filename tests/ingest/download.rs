//! The download stage against the fake Twitch and its CDN.

use harness::backends::TestBackend;
use harness::fake_twitch::media::clip_media;
use harness::fake_twitch::{FakeClip, FileFault, EDITOR_SCOPE};
use harness::records::clip as clip_record;
use hilite::domain::{ClipStatus, MediaKey, Stage};
use hilite::pipeline::StageError;
use hilite::queue::QueueName;

use super::{minutes_ago, Site, BROADCASTER, TRUSTED};

harness::on_both_backends!(
    download_prefers_the_portrait_version_and_hands_the_clip_to_analyze,
    a_redelivered_download_of_a_downloaded_clip_only_re_enqueues_analyze,
    foreign_hosts_plain_http_and_foreign_redirects_are_refused_at_once,
    truncated_and_non_mp4_files_are_rejected_and_counted,
    not_an_editor_and_deleted_clips_fail_at_once,
);

/// A clip both on the fake Twitch and recorded `pending`, as collect leaves it.
pub async fn pending(site: &Site, id: &str, portrait: bool, edit: impl FnOnce(&mut FakeClip)) {
    let mut clip = FakeClip::new(id, BROADCASTER, TRUSTED, minutes_ago(30));
    clip.portrait = portrait;
    edit(&mut clip);
    site.fake.add_clip(clip);
    site.b
        .ports
        .store
        .insert_clip_if_absent(&clip_record(id, "a clip", minutes_ago(30)))
        .await
        .unwrap();
}

pub async fn stored_size(site: &Site, id: &str) -> Option<u64> {
    site.b
        .ports
        .media
        .size(&MediaKey::source(&id.parse().unwrap()))
        .await
        .unwrap()
}

pub fn last_error(clip: &hilite::domain::Clip) -> String {
    clip.errors
        .last()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

async fn download_prefers_the_portrait_version_and_hands_the_clip_to_analyze(b: TestBackend) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    pending(&site, "Tall-1", true, |_| {}).await;
    pending(&site, "Wide-1", false, |_| {}).await;

    site.download("Tall-1").await.unwrap();
    site.download("Wide-1").await.unwrap();

    let media = tokio::task::spawn_blocking(clip_media).await.unwrap();
    let tall = site.clip("Tall-1").await.unwrap();
    assert_eq!(tall.status, ClipStatus::Downloaded, "[{}]", site.b.kind);
    assert_eq!(tall.media.source, Some(MediaKey::source(&tall.id)));
    assert!(
        tall.media.source_is_portrait,
        "the portrait version must be recorded as such"
    );
    assert_eq!(
        stored_size(&site, "Tall-1").await,
        Some(media.portrait.len() as u64)
    );
    let wide = site.clip("Wide-1").await.unwrap();
    assert!(!wide.media.source_is_portrait);
    assert_eq!(
        stored_size(&site, "Wide-1").await,
        Some(media.landscape.len() as u64)
    );
    assert_eq!(site.fake.count("/files/Tall-1/portrait.mp4"), 1);
    assert_eq!(site.fake.count("/files/Tall-1/landscape.mp4"), 0);
    assert_eq!(
        site.clip_ids_on(QueueName::Analyze).await,
        ["Tall-1", "Wide-1"],
        "[{}]",
        site.b.kind
    );
}

async fn a_redelivered_download_of_a_downloaded_clip_only_re_enqueues_analyze(b: TestBackend) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    pending(&site, "Once-1", false, |_| {}).await;
    site.download("Once-1").await.unwrap();
    site.download("Once-1").await.unwrap();
    assert_eq!(
        site.fake.count("/helix/clips/downloads"),
        1,
        "[{}] the redelivery called Twitch again",
        site.b.kind
    );
    assert_eq!(site.fake.count("/files/Once-1/landscape.mp4"), 1);
    assert_eq!(
        site.clip_ids_on(QueueName::Analyze).await,
        ["Once-1", "Once-1"]
    );
}

async fn foreign_hosts_plain_http_and_foreign_redirects_are_refused_at_once(b: TestBackend) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    pending(&site, "Foreign-1", false, |c| {
        c.download_url = Some("https://clips.evil.example/steal.mp4".into())
    })
    .await;
    pending(&site, "Plain-1", false, |c| {
        c.download_url = Some("http://production.assets.clips.twitchcdn.net/x.mp4".into())
    })
    .await;
    pending(&site, "Redirect-1", false, |c| {
        c.file_fault = Some(FileFault::RedirectTo(
            "https://clips.evil.example/steal.mp4".into(),
        ))
    })
    .await;

    for (id, why) in [
        ("Foreign-1", "not in twitch.download_host_suffixes"),
        ("Plain-1", "only https"),
        ("Redirect-1", "redirect refused"),
    ] {
        let outcome = site.download(id).await;
        assert!(
            matches!(outcome, Err(StageError::Permanent(_))),
            "[{}] {id}: {outcome:?}",
            site.b.kind
        );
        let clip = site.clip(id).await.unwrap();
        assert_eq!(
            (clip.status, clip.failed_stage, clip.attempts.download),
            (ClipStatus::Failed, Some(Stage::Download), 1),
            "[{}] {id}",
            site.b.kind
        );
        assert!(
            last_error(&clip).contains(why),
            "{id}: {}",
            last_error(&clip)
        );
        assert_eq!(stored_size(&site, id).await, None);
    }
    assert!(site.take_all(QueueName::Analyze).await.is_empty());

    // Without the test-only flag, the fake's own loopback HTTP URL is refused too.
    let strict = Site::with(TestBackend::embedded(3).await, |c| {
        c.twitch.allow_insecure_download_hosts = false
    })
    .await;
    strict.authorize_broadcaster().await;
    pending(&strict, "Loopback-1", false, |_| {}).await;
    assert!(matches!(
        strict.download("Loopback-1").await,
        Err(StageError::Permanent(_))
    ));
    assert_eq!(
        strict.fake.count("/files/Loopback-1/landscape.mp4"),
        0,
        "the file was fetched anyway"
    );
}

async fn truncated_and_non_mp4_files_are_rejected_and_counted(b: TestBackend) {
    let site = Site::new(b).await;
    site.authorize_broadcaster().await;
    pending(&site, "Short-1", false, |c| {
        c.file_fault = Some(FileFault::Truncate)
    })
    .await;
    pending(&site, "Html-1", false, |c| {
        c.file_fault = Some(FileFault::NotMp4)
    })
    .await;
    for (id, why) in [("Short-1", "download failed"), ("Html-1", "not an MP4")] {
        let outcome = site.download(id).await;
        assert!(
            matches!(outcome, Err(StageError::Retryable(_))),
            "[{}] {id}: {outcome:?}",
            site.b.kind
        );
        let clip = site.clip(id).await.unwrap();
        assert_eq!(
            (clip.status, clip.attempts.download),
            (ClipStatus::Pending, 1),
            "[{}] {id}",
            site.b.kind
        );
        assert!(
            last_error(&clip).contains(why),
            "{id}: {}",
            last_error(&clip)
        );
        assert_eq!(
            stored_size(&site, id).await,
            None,
            "[{}] a damaged file reached the media store",
            site.b.kind
        );
    }
    assert!(site.take_all(QueueName::Analyze).await.is_empty());
}

async fn not_an_editor_and_deleted_clips_fail_at_once(b: TestBackend) {
    let site = Site::new(b).await;
    // An editor authorized HiLite, but Twitch does not (any longer) list them as an editor.
    let token = site
        .fake
        .authorize(&site.pipeline.twitch, TRUSTED, &[EDITOR_SCOPE])
        .await;
    site.put_broadcaster(Some(token), Some(TRUSTED)).await;
    pending(&site, "NotEditor-1", false, |_| {}).await;
    assert!(
        matches!(
            site.download("NotEditor-1").await,
            Err(StageError::Permanent(_))
        ),
        "[{}]",
        site.b.kind
    );
    let clip = site.clip("NotEditor-1").await.unwrap();
    assert_eq!(
        (clip.status, clip.attempts.download),
        (ClipStatus::Failed, 1)
    );
    assert!(last_error(&clip).contains("403"), "{}", last_error(&clip));

    // Once Twitch lists them as an editor, their token downloads; a deleted clip fails at once.
    site.fake.add_editor(BROADCASTER, TRUSTED);
    pending(&site, "Editor-1", false, |_| {}).await;
    site.download("Editor-1").await.unwrap();
    pending(&site, "Deleted-1", false, |_| {}).await;
    site.fake.edit_clip("Deleted-1", |c| c.deleted = true);
    assert!(matches!(
        site.download("Deleted-1").await,
        Err(StageError::Permanent(_))
    ));
    let clip = site.clip("Deleted-1").await.unwrap();
    assert_eq!(
        (clip.status, clip.failed_stage),
        (ClipStatus::Failed, Some(Stage::Download)),
        "[{}]",
        site.b.kind
    );
    assert!(last_error(&clip).contains("404"), "{}", last_error(&clip));
}
