//! The collect stage against the fake Twitch.

use chrono::{Duration as Span, Utc};
use harness::fake_twitch::{FakeClip, Fault};
use harness::records::whitelist_entry;
use hilite::domain::{
    BroadcasterId, ClipPatch, ClipStatus, MediaKey, MediaKeys, Transition, WhitelistScope,
};
use hilite::pipeline::collect::{collect, CollectSettings, Collected};
use hilite::pipeline::{CollectMessage, StageError};
use hilite::queue::QueueName;

use super::{minutes_ago, Site, BROADCASTER, STRANGER, TRUSTED};

harness::on_both_backends!(
    collect_keeps_only_whitelisted_clips_and_enqueues_one_download_each,
    a_redelivered_collect_inserts_nothing_twice_and_leaves_no_pending_clip_unqueued,
    a_window_over_twitchs_1000_result_cap_is_split_and_merged,
    a_missing_stream_start_comes_from_the_latest_archive_else_the_lookback,
    a_window_twitch_refuses_is_kept_for_another_try_and_records_nothing,
);

fn window(minutes: i64) -> CollectMessage {
    CollectMessage {
        broadcaster_id: BroadcasterId::parse(BROADCASTER).unwrap(),
        stream_id: None,
        started_at: Some(minutes_ago(minutes)),
        ended_at: Utc::now(),
    }
}

fn body(m: &CollectMessage) -> String {
    serde_json::to_string(m).unwrap()
}

async fn collect_keeps_only_whitelisted_clips_and_enqueues_one_download_each(
    b: harness::backends::TestBackend,
) {
    let site = Site::new(b).await;
    site.b
        .ports
        .store
        .put_whitelist_entry(&whitelist_entry(TRUSTED, WhitelistScope::Global))
        .await
        .unwrap();
    for (id, editor, at) in [
        ("Good-1", TRUSTED, 50),
        ("Good-2", TRUSTED, 30),
        ("Good-3", TRUSTED, 10),
        ("Bad-1", STRANGER, 40),
        ("Bad-2", STRANGER, 20),
    ] {
        site.fake
            .add_clip(FakeClip::new(id, BROADCASTER, editor, minutes_ago(at)));
    }
    site.fake.add_clip(FakeClip::new(
        "TooEarly",
        BROADCASTER,
        TRUSTED,
        minutes_ago(90),
    ));

    site.run(QueueName::Collect, &body(&window(60)))
        .await
        .unwrap();

    let kind = site.b.kind;
    for id in ["Good-1", "Good-2", "Good-3"] {
        let c = site
            .clip(id)
            .await
            .unwrap_or_else(|| panic!("[{kind}] {id} was not recorded"));
        assert_eq!(
            (c.status, c.editor_id.as_str()),
            (ClipStatus::Pending, TRUSTED)
        );
    }
    for id in ["Bad-1", "Bad-2", "TooEarly"] {
        assert!(
            site.clip(id).await.is_none(),
            "[{kind}] {id} reached the state store"
        );
    }
    let total: u64 = site
        .b
        .ports
        .store
        .count_clips()
        .await
        .unwrap()
        .values()
        .sum();
    assert_eq!(total, 3, "[{kind}]");
    assert_eq!(
        site.clip_ids_on(QueueName::Download).await,
        ["Good-1", "Good-2", "Good-3"],
        "[{kind}]"
    );
}

async fn a_redelivered_collect_inserts_nothing_twice_and_leaves_no_pending_clip_unqueued(
    b: harness::backends::TestBackend,
) {
    let site = Site::new(b).await;
    for (id, at) in [("Clip-A", 50), ("Clip-B", 30), ("Clip-C", 10)] {
        site.fake
            .add_clip(FakeClip::new(id, BROADCASTER, TRUSTED, minutes_ago(at)));
    }
    let msg = window(60);
    site.run(QueueName::Collect, &body(&msg)).await.unwrap();
    assert_eq!(site.clip_ids_on(QueueName::Download).await.len(), 3);
    // Clip-A got downloaded meanwhile; B and C are still pending (their messages may be lost).
    let to = Transition::new(ClipStatus::Pending, ClipStatus::Downloaded).unwrap();
    let media = MediaKeys {
        source: Some(MediaKey::source(&"Clip-A".parse().unwrap())),
        ..MediaKeys::default()
    };
    site.b
        .ports
        .store
        .transition_clip(
            &"Clip-A".parse().unwrap(),
            to,
            ClipPatch {
                media: Some(media),
                ..ClipPatch::default()
            },
            Utc::now(),
        )
        .await
        .unwrap();

    let twitch = &site.pipeline.twitch;
    let again = collect(
        &site.b.ports,
        twitch,
        CollectSettings {
            lookback: Span::hours(12),
            chat: Default::default(),
        },
        &msg,
    )
    .await
    .unwrap();

    assert_eq!(
        again,
        Collected {
            found: 3,
            allowed: 3,
            inserted: 0,
            enqueued: 2,
            moments: 0,
        },
        "[{}]",
        site.b.kind
    );
    let total: u64 = site
        .b
        .ports
        .store
        .count_clips()
        .await
        .unwrap()
        .values()
        .sum();
    assert_eq!(total, 3);
    assert_eq!(
        site.clip("Clip-A").await.unwrap().status,
        ClipStatus::Downloaded,
        "a redelivery must not reset a clip"
    );
    assert_eq!(
        site.clip_ids_on(QueueName::Download).await,
        ["Clip-B", "Clip-C"],
        "[{}]",
        site.b.kind
    );
}

async fn a_window_over_twitchs_1000_result_cap_is_split_and_merged(
    b: harness::backends::TestBackend,
) {
    let site = Site::new(b).await;
    // Only a few editors are trusted, so few records are written; the lowest-viewed of them
    // sort past the 1000th result of the whole window and are lost without a split.
    site.b
        .ports
        .store
        .put_whitelist_entry(&whitelist_entry(TRUSTED, WhitelistScope::Global))
        .await
        .unwrap();
    let start = minutes_ago(180);
    for i in 0..2500u32 {
        let at = start + Span::seconds(i64::from(i) * 4);
        let trusted = i % 500 == 7;
        let mut clip = FakeClip::new(
            &format!("Bulk-{i:04}"),
            BROADCASTER,
            if trusted { TRUSTED } else { STRANGER },
            at,
        );
        clip.view_count = if trusted { 1 } else { 100 + u64::from(i) };
        site.fake.add_clip(clip);
    }
    let msg = hilite::pipeline::CollectMessage {
        started_at: Some(start),
        ..window(0)
    };
    let got = collect(
        &site.b.ports,
        &site.pipeline.twitch,
        CollectSettings {
            lookback: Span::hours(12),
            chat: Default::default(),
        },
        &msg,
    )
    .await
    .unwrap();

    assert_eq!(
        got.found, 2500,
        "[{}] every clip once, despite the cap",
        site.b.kind
    );
    assert_eq!((got.allowed, got.inserted), (5, 5));
    assert!(
        site.fake.count("/helix/clips") > 25,
        "the window was never split"
    );
    let ids = site.clip_ids_on(QueueName::Download).await;
    assert_eq!(
        ids,
        [
            "Bulk-0007",
            "Bulk-0507",
            "Bulk-1007",
            "Bulk-1507",
            "Bulk-2007"
        ],
        "[{}]",
        site.b.kind
    );
    assert!(
        site.fake.requests().iter().all(|r| r.status == 200),
        "the client sent a request the fake refused"
    );
}

async fn a_missing_stream_start_comes_from_the_latest_archive_else_the_lookback(
    b: harness::backends::TestBackend,
) {
    let site = Site::new(b).await;
    let end = Utc::now();
    site.fake.add_clip(FakeClip::new(
        "BeforeStream",
        BROADCASTER,
        TRUSTED,
        end - Span::minutes(150),
    ));
    site.fake.add_clip(FakeClip::new(
        "DuringStream",
        BROADCASTER,
        TRUSTED,
        end - Span::minutes(60),
    ));
    site.fake.add_clip(FakeClip::new(
        "LongAgo",
        BROADCASTER,
        TRUSTED,
        end - Span::hours(13),
    ));
    let msg = hilite::pipeline::CollectMessage {
        started_at: None,
        ended_at: end,
        ..window(0)
    };
    let settings = CollectSettings {
        lookback: Span::hours(12),
        chat: Default::default(),
    };

    // No archive video: the 12-hour look-back.
    let got = collect(&site.b.ports, &site.pipeline.twitch, settings.clone(), &msg)
        .await
        .unwrap();
    assert_eq!(
        got.found, 2,
        "[{}] the look-back covers 12 hours",
        site.b.kind
    );
    assert!(site.clip("LongAgo").await.is_none());

    // Another broadcaster whose archive started two hours before the end: only that stream's
    // clips, not the older archive's.
    site.fake.add_user("1002", "streamer_two");
    site.fake.add_clip(FakeClip::new(
        "TwoBefore",
        "1002",
        TRUSTED,
        end - Span::minutes(150),
    ));
    site.fake.add_clip(FakeClip::new(
        "TwoDuring",
        "1002",
        TRUSTED,
        end - Span::minutes(60),
    ));
    site.fake
        .add_archive("1002", "2100000099", end - Span::minutes(120));
    site.fake
        .add_archive("1002", "2100000098", end - Span::days(3));
    let msg = hilite::pipeline::CollectMessage {
        broadcaster_id: BroadcasterId::parse("1002").unwrap(),
        ..msg
    };
    let got = collect(&site.b.ports, &site.pipeline.twitch, settings, &msg)
        .await
        .unwrap();
    assert_eq!((got.found, got.inserted), (1, 1), "[{}]", site.b.kind);
    assert!(site.clip("TwoDuring").await.is_some() && site.clip("TwoBefore").await.is_none());
}

/// A collect message is its stream window's only trace: a refusal that no retry will change
/// by itself (a client secret rotated on the Twitch console, a 403) must not delete it, as a
/// clip stage's permanent failure does once the clip records it. It is retried, and ends in
/// the dead-letter queue, where the operator can send it again once the cause is fixed.
async fn a_window_twitch_refuses_is_kept_for_another_try_and_records_nothing(
    b: harness::backends::TestBackend,
) {
    let site = Site::new(b).await;
    site.fake.add_clip(FakeClip::new(
        "Kept-1",
        BROADCASTER,
        TRUSTED,
        minutes_ago(20),
    ));
    site.fake.fault("clips", Fault::Status(403, "Forbidden"), 1);
    let settings = || CollectSettings {
        lookback: Span::hours(12),
        chat: Default::default(),
    };
    let msg = window(60);

    let got = collect(&site.b.ports, &site.pipeline.twitch, settings(), &msg).await;
    let kind = site.b.kind;
    assert!(
        matches!(got, Err(StageError::Retryable(ref m)) if m.contains("dead-letter")),
        "[{kind}] {got:?}"
    );
    assert!(site.clip("Kept-1").await.is_none(), "[{kind}]");

    // The cause gone, the same message collects the window.
    let again = collect(&site.b.ports, &site.pipeline.twitch, settings(), &msg)
        .await
        .unwrap();
    assert_eq!(again.inserted, 1, "[{kind}]");
}
