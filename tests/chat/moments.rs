//! After a stream: its chat's best moments that no clip covers become clips through Create Clip
//! From VOD, found by HiLite, once however often collect runs, then downloaded like any clip;
//! and the stream's chat hype is stored for analyze, placed on the clips' VOD timeline.

use chrono::{DateTime, Duration as Span, Utc};
use harness::backends::TestBackend;
use harness::fake_twitch::{FakeClip, Fault, BROADCASTER_SCOPE};
use harness::local::FailingSends;
use hilite::domain::{BroadcasterId, ClipId, ClipStatus, ExternalId, Window};
use hilite::pipeline::analyze::chat_hype_at;
use hilite::pipeline::messages::encode;
use hilite::pipeline::stream_hype;
use hilite::pipeline::{ClipMessage, CollectMessage, Pipeline, StageError};
use hilite::queue::{Delivery, QueueName};

use super::{Site, BROADCASTER, EDITOR};

/// Where chat erupts, in seconds from the stream's start; the second is already clipped.
const BURSTS: [i64; 3] = [600, 1500, 2400];
const BURST_SECS: i64 = 10;
const STREAM_SECS: i64 = 3000;

/// A stream of `STREAM_SECS` that started an hour ago, with calm chat and three bursts, sent
/// through the webhook. Returns the stream's start.
async fn stream_with_chat(site: &Site) -> DateTime<Utc> {
    let start = Utc::now() - Span::hours(1);
    site.fake.add_archive(BROADCASTER, "9001", start);
    let mut messages = Vec::new();
    let mut say = |t: DateTime<Utc>, text: &str| {
        let n = messages.len();
        messages.push((t, format!("d-{n}"), format!("c-{n}"), text.to_string()));
    };
    for s in (0..STREAM_SECS).step_by(6) {
        say(start + Span::seconds(s), "hello");
    }
    for burst in BURSTS {
        for k in 0..(BURST_SECS * 10) {
            say(
                start + Span::seconds(burst) + Span::milliseconds(k * 100),
                "KEKW lol",
            );
        }
    }
    let statuses = site.chat(&messages).await;
    assert!(statuses.iter().all(|s| *s == 204));
    site.drain_chat().await;
    start
}

/// A site where moments are on for `listed` (a login), the broadcaster's token stored, and
/// [`stream_with_chat`] done; `adjust` changes `chat.moments` further.
async fn streamed(
    b: TestBackend,
    listed: &str,
    adjust: impl FnOnce(&mut hilite::pipeline::chat::MomentsConfig),
) -> (Site, DateTime<Utc>) {
    let site = Site::with(b, |c| {
        c.chat.moments.broadcasters = vec![listed.to_string()];
        adjust(&mut c.chat.moments);
    })
    .await;
    site.authorize(BROADCASTER, &[BROADCASTER_SCOPE]).await;
    let start = stream_with_chat(&site).await;
    (site, start)
}

fn collect_body(start: DateTime<Utc>) -> String {
    encode(&CollectMessage {
        broadcaster_id: BroadcasterId::parse(BROADCASTER).unwrap(),
        // The archive's stream id as the fake reports it.
        stream_id: Some(ExternalId::parse("1").unwrap()),
        started_at: Some(start),
        ended_at: start + Span::seconds(STREAM_SECS),
    })
}

fn delivery(body: &str) -> Delivery {
    Delivery {
        message_id: uuid::Uuid::new_v4().to_string(),
        receipt: "test-receipt".into(),
        body: body.into(),
        receive_count: 1,
    }
}

async fn run(site: &Site, queue: QueueName, body: &str) {
    site.pipeline.handle(queue, &delivery(body)).await.unwrap();
}

/// The clip ids on the download queue (received, not deleted).
async fn on_download(site: &Site) -> Vec<String> {
    let mut ids = Vec::new();
    for d in site.take_all(QueueName::Download).await {
        ids.push(
            serde_json::from_str::<ClipMessage>(&d.body)
                .unwrap()
                .clip_id
                .to_string(),
        );
    }
    ids
}

/// Collect's answer when it must run again for Twitch to list a clip it made: a wait of
/// about 30 s, which the queue takes without using up a receive.
fn assert_waits_for_twitch(got: Result<(), StageError>) {
    let before = Utc::now();
    match got {
        Err(StageError::RateLimited { until, .. }) => assert!(
            until > before + Span::seconds(25) && until <= before + Span::seconds(31),
            "collect runs again at {until}, not about 30 s after {before}"
        ),
        other => panic!("collect should run again once Twitch lists the clip: {other:?}"),
    }
}

/// The HiLite clips the fake made, with where they sit in the VOD (start, end).
fn vod_clips(site: &Site) -> Vec<(String, f64, f64)> {
    site.fake
        .clips()
        .into_iter()
        .filter(|c| c.id.starts_with("HiLiteVodClip"))
        .map(|c| {
            let start = f64::from(c.vod_offset.unwrap());
            (c.id, start, start + c.duration)
        })
        .collect()
}

pub async fn the_uncovered_moments_become_clips_once_and_download_like_any_clip(b: TestBackend) {
    let (site, start) = streamed(b, "streamer_one", |_| {}).await;
    // An editor clipped the second burst already.
    let mut clipped = FakeClip::new(
        "EditorsOwnClip",
        BROADCASTER,
        EDITOR,
        start + Span::seconds(1515),
    );
    clipped.video_id = Some("9001".into());
    clipped.vod_offset = Some(1490);
    clipped.duration = 30.0;
    site.fake.add_clip(clipped);

    run(&site, QueueName::Collect, &collect_body(start)).await;

    let made = vod_clips(&site);
    assert_eq!(made.len(), 2, "one clip per uncovered burst: {made:?}");
    for burst in [BURSTS[0], BURSTS[2]] {
        let (a, z) = (burst as f64, (burst + BURST_SECS) as f64);
        assert!(
            made.iter().any(|(_, s, e)| *s <= a + 1.0 && *e >= z - 1.0),
            "no clip spans the burst at {burst} s: {made:?}"
        );
    }
    assert!(
        made.iter().all(|(_, s, e)| *e <= 1490.0 || *s >= 1520.0),
        "a clip repeats the editor's: {made:?}"
    );
    let on_download = on_download(&site).await;
    for (id, _, _) in &made {
        let clip = site.clip(id).await.expect("the new clip is recorded");
        assert!(clip.found_by_hilite, "{id}");
        assert_eq!(clip.status, ClipStatus::Pending);
        assert_eq!(clip.video_id.as_ref().map(|v| v.as_str()), Some("9001"));
        // What `hilite clips show` prints.
        assert_eq!(
            serde_json::to_value(&clip).unwrap()["found_by_hilite"],
            true
        );
        assert!(on_download.contains(id), "{id} not sent to download");
    }
    let editors = site.clip("EditorsOwnClip").await.expect("collected");
    assert!(!editors.found_by_hilite);
    hype_is_stored_for_analyze(&site, &editors).await;

    // Collect delivered again: nothing new is clipped.
    run(&site, QueueName::Collect, &collect_body(start)).await;
    assert_eq!(vod_clips(&site).len(), 2);
    assert_eq!(site.fake.count("/helix/videos/clips"), 2);

    // Downloaded like any clip.
    for (id, _, _) in &made {
        let body = encode(&ClipMessage {
            clip_id: ClipId::parse(id.clone()).unwrap(),
        });
        run(&site, QueueName::Download, &body).await;
        assert_eq!(site.clip(id).await.unwrap().status, ClipStatus::Downloaded);
    }
}

/// Twitch made a moment's clip but its answer was lost (a 504): the moment is not sent to
/// Create again, and collect, run again once Twitch lists the clip, records it and sends it to
/// download like the others.
pub async fn a_moment_clip_whose_answer_was_lost_is_recorded_by_the_next_run(b: TestBackend) {
    let (site, start) = streamed(b, "streamer_one", |_| {}).await;
    site.fake.fault("videos/clips", Fault::LoseAnswer, 1);

    let got = site
        .pipeline
        .handle(QueueName::Collect, &delivery(&collect_body(start)))
        .await;
    assert_waits_for_twitch(got);
    let made = vod_clips(&site);
    assert_eq!(made.len(), 3, "one clip per burst: {made:?}");
    let mut unrecorded = Vec::new();
    for (id, _, _) in &made {
        if site.clip(id).await.is_none() {
            unrecorded.push(id.clone());
        }
    }
    assert_eq!(
        unrecorded.len(),
        1,
        "the lost answer's clip: {unrecorded:?}"
    );
    assert!(!on_download(&site).await.contains(&unrecorded[0]));

    run(&site, QueueName::Collect, &collect_body(start)).await;
    let sent = on_download(&site).await;
    let clip = site.clip(&unrecorded[0]).await.expect("recorded now");
    assert!(clip.found_by_hilite);
    assert_eq!(clip.status, ClipStatus::Pending);
    assert!(sent.contains(&unrecorded[0]), "{sent:?}");
    assert_eq!(vod_clips(&site), made, "no clip made twice");
    assert_eq!(site.fake.count("/helix/videos/clips"), 3);
}

/// The queue refused a moment clip's download message, after its record: collect stops there,
/// runs again, sends it, and clips the moments it had not reached, each once.
pub async fn a_moment_clip_whose_download_message_failed_is_sent_by_the_next_run(b: TestBackend) {
    let (site, start) = streamed(b, "streamer_one", |_| {}).await;
    let mut ports = site.b.ports.clone();
    ports.queue = std::sync::Arc::new(FailingSends::new(ports.queue.clone(), 1));
    let failing = Pipeline::new(ports, site.pipeline.config.clone());

    let got = failing
        .handle(QueueName::Collect, &delivery(&collect_body(start)))
        .await;
    assert_waits_for_twitch(got);
    let first = vod_clips(&site);
    assert_eq!(
        first.len(),
        1,
        "it stopped at the clip it could not send: {first:?}"
    );
    assert!(on_download(&site).await.is_empty());

    run(&site, QueueName::Collect, &collect_body(start)).await;
    let made = vod_clips(&site);
    assert_eq!(made.len(), 3, "one clip per burst: {made:?}");
    let sent = on_download(&site).await;
    for (id, _, _) in &made {
        assert!(site.clip(id).await.expect("recorded").found_by_hilite);
        assert!(sent.contains(id), "{id} not sent to download: {sent:?}");
    }
    assert_eq!(site.fake.count("/helix/videos/clips"), 3);
}

/// Chat read late — a burst that lasted longer than the first collect knew — moves a moment's
/// end, so its claim no longer matches: the clip made for it still covers it, and no second
/// clip is made.
pub async fn a_moment_moved_by_late_chat_is_not_clipped_twice(b: TestBackend) {
    let (site, start) = streamed(b, "streamer_one", |_| {}).await;
    run(&site, QueueName::Collect, &collect_body(start)).await;
    let first = vod_clips(&site);
    assert_eq!(first.len(), 3, "{first:?}");

    let mut late = Vec::new();
    for burst in BURSTS {
        for k in 0..40 {
            let n = late.len();
            late.push((
                start + Span::seconds(burst + BURST_SECS) + Span::milliseconds(k * 100),
                format!("late-d-{n}"),
                format!("late-c-{n}"),
                "KEKW lol".to_string(),
            ));
        }
    }
    assert!(site.chat(&late).await.iter().all(|s| *s == 204));
    site.drain_chat().await;
    run(&site, QueueName::Collect, &collect_body(start)).await;
    assert_eq!(vod_clips(&site), first, "a moment was clipped twice");
}

pub async fn moments_are_off_unless_the_broadcaster_is_listed(b: TestBackend) {
    let (site, start) = streamed(b, "someone_else", |_| {}).await;
    let mut clipped = FakeClip::new(
        "EditorsOwnClip",
        BROADCASTER,
        EDITOR,
        start + Span::seconds(1515),
    );
    clipped.video_id = Some("9001".into());
    clipped.vod_offset = Some(1490);
    clipped.duration = 30.0;
    site.fake.add_clip(clipped);
    run(&site, QueueName::Collect, &collect_body(start)).await;
    assert_eq!(site.fake.count("/helix/videos/clips"), 0);
    assert!(vod_clips(&site).is_empty());
    // The hype still reaches analyze's score.
    let editors = site.clip("EditorsOwnClip").await.expect("collected");
    hype_is_stored_for_analyze(&site, &editors).await;
}

/// Collect stored the stream's chat hype where analyze reads it, on the VOD's timeline: the
/// editor's clip (VOD 1490–1520 s) sits on the burst at 1500 s and scores high on chat; the
/// same clip placed in calm chat does not.
async fn hype_is_stored_for_analyze(site: &Site, on_burst: &hilite::domain::Clip) {
    let hype = stream_hype::load(&site.b.ports, on_burst)
        .await
        .unwrap()
        .expect("the stream's hype is stored for its VOD");
    let whole = Window {
        start_secs: 0.0,
        end_secs: 30.0,
    };
    let high = chat_hype_at(&hype, on_burst, &whole).expect("the clip is on the chat's timeline");
    assert!(high > 0.8, "chat feature on a burst: {high}");
    let mut calm = on_burst.clone();
    calm.vod_offset_secs = Some(300);
    let low = chat_hype_at(&hype, &calm, &whole).unwrap_or(0.0);
    assert!(low < 0.1, "chat feature in calm chat: {low}");
    // A clip of no known VOD is scored without chat.
    let mut no_vod = on_burst.clone();
    no_vod.video_id = None;
    assert!(stream_hype::load(&site.b.ports, &no_vod)
        .await
        .unwrap()
        .is_none());
}

impl Site {
    /// Receive everything visible on `queue` (hidden for a minute, not deleted).
    pub async fn take_all(&self, queue: QueueName) -> Vec<Delivery> {
        let mut all = Vec::new();
        loop {
            let got = self
                .b
                .ports
                .queue
                .receive(queue, 10, std::time::Duration::from_secs(60))
                .await
                .unwrap();
            if got.is_empty() {
                return all;
            }
            all.extend(got);
        }
    }

    pub async fn clip(&self, id: &str) -> Option<hilite::domain::Clip> {
        self.b
            .ports
            .store
            .get_clip(&ClipId::parse(id).unwrap())
            .await
            .unwrap()
    }
}

/// `chat.moments.top` bounds the clips made for a stream however often its collect message is
/// delivered: a redelivery finds the moments already claimed and counts them toward the cap,
/// rather than clipping the next best ones.
pub async fn a_redelivered_collect_makes_no_more_clips_than_the_cap(b: TestBackend) {
    let (site, start) = streamed(b, "streamer_one", |m| m.top = 1).await;

    run(&site, QueueName::Collect, &collect_body(start)).await;
    let first = vod_clips(&site);
    assert_eq!(first.len(), 1, "{first:?}");
    run(&site, QueueName::Collect, &collect_body(start)).await;
    run(&site, QueueName::Collect, &collect_body(start)).await;
    assert_eq!(
        vod_clips(&site),
        first,
        "a redelivery clipped another moment"
    );
    assert_eq!(site.fake.count("/helix/videos/clips"), 1);
}
