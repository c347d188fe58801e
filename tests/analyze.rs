//! The analyze stage on generated clips (ffmpeg test pattern, espeak-ng speech, a loud burst,
//! silence): what it measures, what it decides, and that it keeps DESIGN.md §3 — conditional
//! transitions, attempts counted, failed after the last, one effect however often a message is
//! delivered. The stage tests run on both backends (`embedded::*` and `aws::*`).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use harness::backends::TestBackend;
use harness::fixtures::{self, SpeechClip};
use harness::records::clip;
use hilite::analysis::audio::analyze_file;
use hilite::analysis::window::{best_window, WindowConfig};
use hilite::analysis::AudioConfig;
use hilite::domain::{Clip, ClipId, ClipStatus, MediaKey, Stage};
use hilite::media::{MediaError, MediaStore};
use hilite::pipeline::analyze::{analyze, AnalyzeSettings};
use hilite::pipeline::{ClipMessage, Pipeline, StageError};
use hilite::queue::{Delivery, QueueName};
use reqwest::Url;

harness::on_both_backends!(
    a_downloaded_clip_is_analyzed_and_sent_to_edit_once,
    a_silent_clip_is_skipped_as_silent,
    a_clip_without_audio_fails_with_a_clear_reason,
    a_clip_whose_source_is_gone_fails_at_once,
    a_flaky_media_store_is_retried_then_the_clip_fails,
    of_two_workers_analysing_one_clip_one_transitions_and_one_edit_is_sent,
    the_pipeline_runs_analyze_for_the_analyze_queue,
);

#[test]
fn the_window_holds_the_burst_and_trims_the_silence() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures::speech_with_burst(dir.path());
    let signals = analyze_file(&f.path, &AudioConfig::default()).unwrap();
    assert!(
        (signals.duration_secs - f.duration_secs).abs() < 0.2,
        "{} vs {}",
        signals.duration_secs,
        f.duration_secs
    );

    let w = best_window(
        &signals.series(),
        signals.duration_secs,
        &WindowConfig::default(),
    )
    .unwrap();
    // Most of the 3 s of leading and 4 s of trailing silence are gone; the sound is all there.
    assert!(
        w.start_secs >= f.sound_start_secs - 1.0 && w.start_secs <= f.sound_start_secs,
        "{w:?} vs {f:?}"
    );
    assert!(
        w.end_secs >= f.sound_end_secs - 0.1 && w.end_secs <= f.sound_end_secs + 1.0,
        "{w:?} vs {f:?}"
    );

    // Asked for less than the sound lasts, the window keeps the burst.
    let short = WindowConfig {
        max_secs: 5.0,
        ..WindowConfig::default()
    };
    let w = best_window(&signals.series(), signals.duration_secs, &short).unwrap();
    assert!(w.duration_secs() <= 5.0 + 1e-9, "{w:?}");
    assert!(
        w.start_secs <= f.burst_start_secs && w.end_secs >= f.burst_end_secs,
        "{w:?} vs {f:?}"
    );

    // The burst is the loudest peak, where it was made.
    let top = signals.peaks.first().expect("a loudness peak");
    assert!(
        top.at_secs >= f.burst_start_secs && top.at_secs <= f.burst_end_secs + 0.4,
        "{top:?} vs {f:?}"
    );
    assert!(
        signals.sound_ratio > 0.4 && signals.sound_ratio < 0.8,
        "{}",
        signals.sound_ratio
    );
}

fn settings(b: &TestBackend) -> AnalyzeSettings {
    AnalyzeSettings::from_config(&b.config)
}

/// A `downloaded` clip whose source is `file`, stored under its deterministic key.
async fn downloaded_clip(b: &TestBackend, id: &str, file: &Path) -> Clip {
    let mut c = clip(
        id,
        "What a play",
        Utc.with_ymd_and_hms(2026, 11, 20, 20, 0, 0).unwrap(),
    );
    c.status = ClipStatus::Downloaded;
    let key = MediaKey::source(&c.id);
    b.ports
        .media
        .put_file(&key, file, "video/mp4")
        .await
        .unwrap();
    c.media.source = Some(key);
    assert!(b.ports.store.insert_clip_if_absent(&c).await.unwrap());
    c
}

fn message(c: &Clip) -> ClipMessage {
    ClipMessage {
        clip_id: c.id.clone(),
    }
}

async fn stored(b: &TestBackend, id: &ClipId) -> Clip {
    b.ports
        .store
        .get_clip(id)
        .await
        .unwrap()
        .expect("the clip is stored")
}

/// Every message on the edit queue now (received and deleted).
async fn edit_messages(b: &TestBackend) -> Vec<ClipMessage> {
    let mut out = Vec::new();
    loop {
        let batch = b
            .ports
            .queue
            .receive(QueueName::Edit, 10, Duration::from_secs(60))
            .await
            .unwrap();
        if batch.is_empty() {
            return out;
        }
        for d in batch {
            out.push(serde_json::from_str(&d.body).unwrap());
            b.ports
                .queue
                .delete(QueueName::Edit, &d.receipt)
                .await
                .unwrap();
        }
    }
}

fn speech(b: &TestBackend) -> SpeechClip {
    fixtures::speech_with_burst(b.scratch())
}

async fn a_downloaded_clip_is_analyzed_and_sent_to_edit_once(b: TestBackend) {
    let f = speech(&b);
    let c = downloaded_clip(&b, "SpeechClip1", &f.path).await;
    analyze(&b.ports, &settings(&b), &message(&c))
        .await
        .unwrap();

    let done = stored(&b, &c.id).await;
    assert_eq!(
        done.status,
        ClipStatus::Analyzed,
        "[{}] {:?}",
        b.kind,
        done.errors
    );
    let score = done.score.clone().expect("a score");
    assert!(score.total > 0.0 && score.total <= 100.0, "{score:?}");
    assert!(
        score.parts.contains_key("audio") && score.parts.contains_key("duration"),
        "{score:?}"
    );
    let window = done.window.expect("a window");
    assert!(
        window.start_secs <= f.burst_start_secs && window.end_secs >= f.burst_end_secs,
        "{window:?}"
    );
    assert!(
        window.start_secs > 1.5 && window.end_secs < f.duration_secs - 2.5,
        "the silence is trimmed: {window:?}"
    );
    assert_eq!(edit_messages(&b).await, vec![message(&c)], "[{}]", b.kind);

    // A redelivery moves nothing and re-sends edit (the first send may have been lost).
    analyze(&b.ports, &settings(&b), &message(&c))
        .await
        .unwrap();
    assert_eq!(
        stored(&b, &c.id).await,
        done,
        "[{}] a second transition",
        b.kind
    );
    assert_eq!(edit_messages(&b).await, vec![message(&c)], "[{}]", b.kind);
}

async fn a_silent_clip_is_skipped_as_silent(b: TestBackend) {
    let path = fixtures::silent_clip(b.scratch(), 12.0);
    let c = downloaded_clip(&b, "SilentClip1", &path).await;
    analyze(&b.ports, &settings(&b), &message(&c))
        .await
        .unwrap();
    let done = stored(&b, &c.id).await;
    assert_eq!(done.status, ClipStatus::Skipped, "[{}]", b.kind);
    assert_eq!(done.skip_reason.as_deref(), Some("silent"));
    assert!(edit_messages(&b).await.is_empty());
    // Redelivered, a skipped clip stays as it is.
    analyze(&b.ports, &settings(&b), &message(&c))
        .await
        .unwrap();
    assert_eq!(stored(&b, &c.id).await, done);
}

async fn a_clip_without_audio_fails_with_a_clear_reason(b: TestBackend) {
    let path = fixtures::video_only_clip(b.scratch(), 6.0);
    let c = downloaded_clip(&b, "MuteClip1", &path).await;
    let err = analyze(&b.ports, &settings(&b), &message(&c))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StageError::Permanent(_)),
        "[{}] {err:?}",
        b.kind
    );
    let done = stored(&b, &c.id).await;
    assert_eq!(done.status, ClipStatus::Failed, "[{}]", b.kind);
    assert_eq!(done.failed_stage, Some(Stage::Analyze));
    assert_eq!(
        done.attempts.analyze, 1,
        "a clip without audio is not retried"
    );
    let reason = &done.errors.last().expect("the error is recorded").message;
    assert!(reason.contains("no audio track"), "{reason}");
    assert!(edit_messages(&b).await.is_empty());
}

async fn a_clip_whose_source_is_gone_fails_at_once(b: TestBackend) {
    let path = fixtures::silent_clip(b.scratch(), 6.0);
    let c = downloaded_clip(&b, "GoneClip1", &path).await;
    b.ports
        .media
        .delete(c.media.source.as_ref().unwrap())
        .await
        .unwrap();
    let err = analyze(&b.ports, &settings(&b), &message(&c))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StageError::Permanent(_)),
        "[{}] {err:?}",
        b.kind
    );
    let done = stored(&b, &c.id).await;
    assert_eq!(
        (done.status, done.failed_stage),
        (ClipStatus::Failed, Some(Stage::Analyze))
    );
    assert!(
        done.errors.last().unwrap().message.contains("not found"),
        "{:?}",
        done.errors
    );

    // A message naming no clip at all is refused, and nothing is created.
    let ghost = ClipMessage {
        clip_id: ClipId::parse("NoSuchClip").unwrap(),
    };
    assert!(matches!(
        analyze(&b.ports, &settings(&b), &ghost).await,
        Err(StageError::Permanent(_))
    ));
    assert!(b
        .ports
        .store
        .get_clip(&ghost.clip_id)
        .await
        .unwrap()
        .is_none());
}

/// The real media store, unavailable for the first `failures` downloads.
struct FlakyMedia {
    inner: Arc<dyn MediaStore>,
    failures: AtomicU32,
}

#[async_trait]
impl MediaStore for FlakyMedia {
    async fn put_file(
        &self,
        key: &MediaKey,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, MediaError> {
        self.inner.put_file(key, path, content_type).await
    }
    async fn get_to_file(&self, key: &MediaKey, path: &Path) -> Result<u64, MediaError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(MediaError::Unavailable {
                key: key.clone(),
                message: "503 Slow Down".into(),
            });
        }
        self.inner.get_to_file(key, path).await
    }
    async fn delete(&self, key: &MediaKey) -> Result<(), MediaError> {
        self.inner.delete(key).await
    }
    async fn size(&self, key: &MediaKey) -> Result<Option<u64>, MediaError> {
        self.inner.size(key).await
    }
    async fn presign_get(&self, key: &MediaKey, ttl: Duration) -> Result<Url, MediaError> {
        self.inner.presign_get(key, ttl).await
    }
}

async fn a_flaky_media_store_is_retried_then_the_clip_fails(b: TestBackend) {
    let f = speech(&b);
    let mut ports = b.ports.clone();
    ports.media = Arc::new(FlakyMedia {
        inner: b.ports.media.clone(),
        failures: AtomicU32::new(1),
    });
    let settings = settings(&b);
    assert_eq!(settings.max_attempts, 3);

    // One outage: counted, retried, then analysed.
    let c = downloaded_clip(&b, "FlakyClip1", &f.path).await;
    assert!(matches!(
        analyze(&ports, &settings, &message(&c)).await,
        Err(StageError::Retryable(_))
    ));
    let after_one = stored(&b, &c.id).await;
    assert_eq!(
        (after_one.status, after_one.attempts.analyze),
        (ClipStatus::Downloaded, 1)
    );
    analyze(&ports, &settings, &message(&c)).await.unwrap();
    assert_eq!(stored(&b, &c.id).await.status, ClipStatus::Analyzed);

    // A lasting outage: failed after the third attempt, with the reason.
    ports.media = Arc::new(FlakyMedia {
        inner: b.ports.media.clone(),
        failures: AtomicU32::new(10),
    });
    let c = downloaded_clip(&b, "FlakyClip2", &f.path).await;
    for _ in 0..2 {
        assert!(matches!(
            analyze(&ports, &settings, &message(&c)).await,
            Err(StageError::Retryable(_))
        ));
    }
    assert!(matches!(
        analyze(&ports, &settings, &message(&c)).await,
        Err(StageError::Permanent(_))
    ));
    let done = stored(&b, &c.id).await;
    assert_eq!(
        (done.status, done.failed_stage, done.attempts.analyze),
        (ClipStatus::Failed, Some(Stage::Analyze), 3)
    );
    assert!(
        done.errors
            .iter()
            .all(|e| e.stage == Stage::Analyze && e.message.contains("503 Slow Down")),
        "{:?}",
        done.errors
    );
}

async fn of_two_workers_analysing_one_clip_one_transitions_and_one_edit_is_sent(b: TestBackend) {
    let f = speech(&b);
    let c = downloaded_clip(&b, "RaceClip1", &f.path).await;
    let s = settings(&b);
    let m = message(&c);
    let (one, two) = tokio::join!(analyze(&b.ports, &s, &m), analyze(&b.ports, &s, &m));
    one.unwrap();
    two.unwrap();
    assert_eq!(stored(&b, &c.id).await.status, ClipStatus::Analyzed);
    assert_eq!(
        edit_messages(&b).await,
        vec![message(&c)],
        "[{}] one edit message",
        b.kind
    );
}

async fn the_pipeline_runs_analyze_for_the_analyze_queue(b: TestBackend) {
    let path = fixtures::silent_clip(b.scratch(), 8.0);
    let c = downloaded_clip(&b, "WiredClip1", &path).await;
    let pipeline = Pipeline::new(b.ports.clone(), Arc::new(b.config.clone()));
    let delivery = Delivery {
        message_id: "m-1".into(),
        receipt: "r-1".into(),
        body: serde_json::to_string(&message(&c)).unwrap(),
        receive_count: 1,
    };
    pipeline
        .handle(QueueName::Analyze, &delivery)
        .await
        .unwrap();
    assert_eq!(stored(&b, &c.id).await.status, ClipStatus::Skipped);
}
