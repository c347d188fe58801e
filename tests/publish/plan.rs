//! The daily plan: the best clips up to the daily maximum once, a failed post retried by the
//! next day's plan (and not the same day), and each account's own post text.

use super::*;

harness::on_both_backends!(
    the_plan_takes_the_best_clips_up_to_the_daily_maximum_once,
    a_failed_post_is_retried_by_the_next_days_plan_and_not_before,
    a_post_tiktok_failed_is_retried_afresh_and_posted_once,
    a_post_whose_worker_died_is_planned_again_once_its_lease_is_over,
    youtubes_daily_uploads_are_counted_across_every_account,
);

async fn the_plan_takes_the_best_clips_up_to_the_daily_maximum_once(b: TestBackend) {
    let w = world(b, &Platform::ALL).await;
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

async fn a_failed_post_is_retried_by_the_next_days_plan_and_not_before(b: TestBackend) {
    let w = world(b, &[Platform::Youtube]).await;
    // A landscape render: YouTube would not take it as a Short, so the post fails at once.
    let clip = w.clip("lima", false).await;
    let first = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(first.enqueued, 1, "{first:?}");
    let msg = PublishMessage {
        clip_id: clip.clone(),
        account: w.account.clone(),
        platform: Platform::Youtube,
    };
    let err = w.drive(&msg, &mut rng(11), 0.0).await.expect_err("refused");
    assert!(err.to_string().contains("not vertical"), "{err}");
    assert_eq!(w.status(&msg).await, PostStatus::Failed);

    // The render is fixed; a plan the same day leaves the failure alone.
    let key =
        w.b.ports
            .store
            .get_clip(&clip)
            .await
            .unwrap()
            .unwrap()
            .media
            .short
            .unwrap();
    w.b.ports
        .media
        .put_file(&key, &video(true).await, "video/mp4")
        .await
        .unwrap();
    w.clock.advance(Duration::hours(2));
    let same_day = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(same_day.enqueued, 0, "{same_day:?}");
    assert_eq!(w.status(&msg).await, PostStatus::Failed);

    w.clock.advance(Duration::days(1));
    let next_day = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(
        (next_day.clips.as_slice(), next_day.enqueued),
        (["lima".to_string()].as_slice(), 1),
        "{next_day:?}"
    );
    let reopened = w.publication(&msg).await;
    assert_eq!(
        (reopened.status, reopened.attempts),
        (PostStatus::Pending, 0),
        "{reopened:?}"
    );
    w.drive(&msg, &mut rng(12), 0.0).await.expect("posted");
    assert_eq!(w.posts_of("youtube", &clip), 1);
    // Posted: later plans never take it again.
    w.clock.advance(Duration::days(1));
    let after = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(after.enqueued, 0, "{after:?}");
}

#[tokio::test]
async fn an_accounts_templates_and_the_generated_title_make_the_post_text() {
    let w = world(TestBackend::embedded(3).await, &[Platform::Youtube]).await;
    let mut account =
        w.b.ports
            .store
            .get_account(&w.account)
            .await
            .unwrap()
            .unwrap();
    account.templates = PostTemplates {
        title: Some("{title} | {clipper}".into()),
        description: None,
        hashtags: Some(vec!["speedrun".into()]),
    };
    w.b.ports.store.put_account(&account).await.unwrap();
    let clip = w
        .clip_with("mike", true, |c| {
            c.generated_title = Some("The jump nobody expected".into())
        })
        .await;
    let msg = w.plan_one(&clip, Platform::Youtube).await;
    w.drive(&msg, &mut rng(13), 0.0).await.expect("posted");
    let titles: Vec<String> = w.fake.with(|s| {
        s.posts
            .iter()
            .filter(|(p, _)| *p == "youtube")
            .map(|(_, t)| t.clone())
            .collect()
    });
    assert_eq!(
        titles,
        ["The jump nobody expected | TrustedEditor"],
        "the account's title template over the generated title"
    );
}

async fn a_post_tiktok_failed_is_retried_afresh_and_posted_once(b: TestBackend) {
    let w = world(b, &[Platform::Tiktok]).await;
    let clip = w.clip("november", true).await;
    w.fake
        .with(|s| s.tiktok_fail_next = Some("video_pull_failed".into()));
    let first = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(first.enqueued, 1, "{first:?}");
    let msg = PublishMessage {
        clip_id: clip.clone(),
        account: w.account.clone(),
        platform: Platform::Tiktok,
    };
    let err = w.drive(&msg, &mut rng(14), 0.0).await.expect_err("failed");
    assert!(err.to_string().contains("video_pull_failed"), "{err}");
    let failed = w.publication(&msg).await;
    assert_eq!(failed.status, PostStatus::Failed);
    let dead_id = failed.resume.publish_id.clone().expect("publish_id saved");

    w.clock.advance(Duration::days(1));
    let next_day = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(next_day.enqueued, 1, "{next_day:?}");
    let reopened = w.publication(&msg).await;
    assert_eq!(
        reopened.resume,
        ResumeHandles::default(),
        "TikTok said that post failed: its handles are dropped"
    );
    w.drive(&msg, &mut rng(15), 0.0).await.expect("posted");
    let posted = w.publication(&msg).await;
    assert_ne!(posted.resume.publish_id.as_deref(), Some(dead_id.as_str()));
    assert_eq!(w.posts_of("tiktok", &clip), 1);
}

/// A worker that claimed a publication and died leaves it `uploading`; its message may be in
/// the dead-letter queue. Once the lease is over, the next plan queues it again, and the
/// publish stage claims it and posts it once.
async fn a_post_whose_worker_died_is_planned_again_once_its_lease_is_over(b: TestBackend) {
    let w = world(b, &[Platform::Youtube]).await;
    let clip = w.clip("mike", true).await;
    let first = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(first.enqueued, 1, "{first:?}");
    let msg = PublishMessage {
        clip_id: clip.clone(),
        account: w.account.clone(),
        platform: Platform::Youtube,
    };
    let key = PublicationKey {
        clip_id: clip.clone(),
        account: w.account.clone(),
        platform: Platform::Youtube,
    };
    let claimed =
        w.b.ports
            .store
            .claim_publication(&key, LEASE, w.clock.now())
            .await
            .unwrap();
    assert!(matches!(claimed, Claim::Claimed(_)), "{claimed:?}");

    let held = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(held.enqueued, 0, "held by a live lease: {held:?}");
    w.clock.advance(LEASE + Duration::minutes(1));
    let after = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert_eq!(after.enqueued, 1, "{after:?}");
    w.drive(&msg, &mut rng(31), 0.0).await.expect("posted");
    assert_eq!(w.posts_of("youtube", &clip), 1);
}

/// YouTube's upload quota is the project's, shared by every channel: another account's uploads
/// of the last day count against this account's room, and once they fill it nothing is
/// planned for YouTube while the other platforms still are.
async fn youtubes_daily_uploads_are_counted_across_every_account(b: TestBackend) {
    use hilite::pipeline::plan::YOUTUBE_DAILY_UPLOADS;
    let w = world(b, &[Platform::Youtube, Platform::Instagram]).await;
    let store = &w.b.ports.store;
    let other = records::account("second", "Europe/Paris");
    store.put_account(&other).await.unwrap();
    let now = w.clock.now();
    for n in 0..YOUTUBE_DAILY_UPLOADS {
        let key = PublicationKey {
            clip_id: ClipId::parse(format!("Uploaded{n}")).unwrap(),
            account: other.name.clone(),
            platform: Platform::Youtube,
        };
        let mut p = Publication::planned(key, now - Duration::hours(3));
        p.status = PostStatus::Success;
        p.published_at = Some(now - Duration::hours(2));
        assert!(store.create_publication_if_absent(&p).await.unwrap());
    }
    let clip = w.clip("mike", true).await;

    let report = plan(&w.b.ports, &w.platforms, &w.account, now)
        .await
        .expect("plan");
    assert_eq!(
        report.skipped.get("youtube").map(String::as_str),
        Some("no quota left today"),
        "{report:?}"
    );
    let planned: Vec<Platform> = store
        .list_publications(Some(&clip), Some(&w.account))
        .await
        .unwrap()
        .iter()
        .map(|p| p.key.platform)
        .collect();
    assert_eq!(planned, [Platform::Instagram]);

    // A day later the other account's uploads are out of the window: YouTube is planned.
    w.clock.advance(Duration::hours(23));
    let later = plan(&w.b.ports, &w.platforms, &w.account, w.clock.now())
        .await
        .expect("plan");
    assert!(!later.skipped.contains_key("youtube"), "{later:?}");
}
