//! Clips in the state store: inserted once, moved through the state machine by conditional
//! transitions (of two racing moves exactly one wins, an illegal or stale move changes nothing),
//! updated in place, failures counted per stage, listed best score first. Not publications
//! (`publications`), nor the clip state machine's rules themselves (`hilite::domain`).

use harness::backends::TestBackend;
use harness::records::clip;
use hilite::domain::*;
use hilite::store::StoreError;

use super::common::t0;

harness::on_both_backends!(
    inserting_a_clip_twice_keeps_the_first,
    of_two_concurrent_transitions_exactly_one_wins,
    an_illegal_transition_changes_nothing,
    a_transition_from_the_wrong_status_is_a_conflict,
    a_clip_is_updated_in_place_only_while_in_its_status_and_keeps_the_edit_fields,
    failures_are_counted_per_stage_and_the_log_is_bounded,
    clips_are_listed_best_score_first_and_counted,
);

async fn inserting_a_clip_twice_keeps_the_first(b: TestBackend) {
    let store = &b.ports.store;
    let first = clip("FirstClip", "Original title", t0());
    assert!(store.insert_clip_if_absent(&first).await.unwrap());
    let mut second = first.clone();
    second.title = "Changed title".into();
    assert!(!store.insert_clip_if_absent(&second).await.unwrap());
    let stored = store.get_clip(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.title, "Original title", "[{}]", b.kind);
    assert_eq!(
        stored, first,
        "[{}] the stored clip differs from what was inserted",
        b.kind
    );
}

async fn of_two_concurrent_transitions_exactly_one_wins(b: TestBackend) {
    for round in 0..5 {
        let c = clip(&format!("Race{round}"), "t", t0());
        b.ports.store.insert_clip_if_absent(&c).await.unwrap();
        let t = Transition::new(ClipStatus::Pending, ClipStatus::Downloaded).unwrap();
        let (s1, s2) = (b.ports.store.clone(), b.ports.store.clone());
        let (id1, id2) = (c.id.clone(), c.id.clone());
        let p1 = ClipPatch {
            skip_reason: Some("one".into()),
            ..Default::default()
        };
        let p2 = ClipPatch {
            skip_reason: Some("two".into()),
            ..Default::default()
        };
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { s1.transition_clip(&id1, t, p1, t0()).await }),
            tokio::spawn(async move { s2.transition_clip(&id2, t, p2, t0()).await }),
        );
        let results = [r1.unwrap(), r2.unwrap()];
        let wins: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins.len(), 1, "[{}] round {round}: {results:?}", b.kind);
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(loser.is_conflict(), "[{}] loser error: {loser}", b.kind);
        let stored = b.ports.store.get_clip(&c.id).await.unwrap().unwrap();
        assert_eq!(stored.status, ClipStatus::Downloaded);
        assert_eq!(
            stored.skip_reason, wins[0].skip_reason,
            "[{}] the stored patch is not the winner's",
            b.kind
        );
    }
}

async fn an_illegal_transition_changes_nothing(b: TestBackend) {
    let c = clip("Illegal", "t", t0());
    b.ports.store.insert_clip_if_absent(&c).await.unwrap();
    assert!(Transition::new(ClipStatus::Pending, ClipStatus::Published).is_err());
    // A legal move that does not match the stored status.
    let t = Transition::new(ClipStatus::Edited, ClipStatus::Published).unwrap();
    let err = b
        .ports
        .store
        .transition_clip(&c.id, t, ClipPatch::default(), t0())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{}] {err}", b.kind);
    assert_eq!(b.ports.store.get_clip(&c.id).await.unwrap().unwrap(), c);
}

async fn a_transition_from_the_wrong_status_is_a_conflict(b: TestBackend) {
    let missing = ClipId::parse("NoSuchClip").unwrap();
    let t = Transition::new(ClipStatus::Pending, ClipStatus::Downloaded).unwrap();
    let err = b
        .ports
        .store
        .transition_clip(&missing, t, ClipPatch::default(), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "[{}] {err}", b.kind);

    let c = clip("Moved", "t", t0());
    b.ports.store.insert_clip_if_absent(&c).await.unwrap();
    b.ports
        .store
        .transition_clip(&c.id, t, ClipPatch::default(), t0())
        .await
        .unwrap();
    match b
        .ports
        .store
        .transition_clip(&c.id, t, ClipPatch::default(), t0())
        .await
        .unwrap_err()
    {
        StoreError::Conflict {
            expected, actual, ..
        } => {
            assert_eq!(expected, "pending");
            assert_eq!(actual, "downloaded");
        }
        other => panic!("[{}] expected a conflict, got {other}", b.kind),
    }
}

/// `update_clip` (the render job id) and the fields the edit stage adds (moderation, generated
/// description and hashtags) round-trip through both stores.
async fn a_clip_is_updated_in_place_only_while_in_its_status_and_keeps_the_edit_fields(
    b: TestBackend,
) {
    let store = &b.ports.store;
    let mut c = clip("InPlace", "t", t0());
    c.status = ClipStatus::Analyzed;
    store.insert_clip_if_absent(&c).await.unwrap();
    let job = EditJob {
        id: "4c7599ae-0a82-49aa-ba5a-4727fcce14a8".into(),
        submitted_at: t0(),
        attempts_before: 0,
        failed: false,
    };
    let with_job = ClipPatch {
        edit_job: Some(Some(job.clone())),
        ..ClipPatch::default()
    };
    let updated = store
        .update_clip(&c.id, ClipStatus::Analyzed, with_job.clone(), t0())
        .await
        .unwrap();
    assert_eq!(
        (updated.status, updated.edit_job.as_ref()),
        (ClipStatus::Analyzed, Some(&job)),
        "[{}]",
        b.kind
    );
    let err = store
        .update_clip(&c.id, ClipStatus::Downloaded, with_job, t0())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{}] {err}", b.kind);

    let moderation = Moderation {
        category: Category::Hateful,
        virality: Virality::Medium,
        hateful: true,
        target: Some("a group".into()),
        justification: "why".into(),
        risk: risk_score(Virality::Medium, true),
        model: "m".into(),
    };
    let to_review = Transition::new(ClipStatus::Analyzed, ClipStatus::Review).unwrap();
    let patch = ClipPatch {
        generated_title: Some("Title".into()),
        generated_description: Some("Description".into()),
        generated_hashtags: Some(vec!["#one".into(), "#two".into()]),
        moderation: Some(moderation.clone()),
        ..ClipPatch::default()
    };
    let moved = store
        .transition_clip(&c.id, to_review, patch, t0())
        .await
        .unwrap();
    let stored = store.get_clip(&c.id).await.unwrap().unwrap();
    assert_eq!(stored, moved, "[{}]", b.kind);
    assert_eq!(stored.moderation, Some(moderation), "[{}]", b.kind);
    assert_eq!(stored.generated_hashtags, ["#one", "#two"], "[{}]", b.kind);
    assert_eq!(stored.generated_description.as_deref(), Some("Description"));
    assert_eq!(
        stored.edit_job,
        Some(job),
        "[{}] kept across the move",
        b.kind
    );
    let in_review = store.list_clips(ClipStatus::Review, 10).await.unwrap();
    assert_eq!(in_review.len(), 1, "[{}]", b.kind);
}

async fn failures_are_counted_per_stage_and_the_log_is_bounded(b: TestBackend) {
    let c = clip("Failing", "t", t0());
    let store = &b.ports.store;
    store.insert_clip_if_absent(&c).await.unwrap();
    let mut last = None;
    for i in 1..=25u32 {
        let updated = store
            .record_clip_failure(
                &c.id,
                ClipStatus::Pending,
                Stage::Download,
                &format!("boom {i}"),
                t0(),
            )
            .await
            .unwrap();
        assert_eq!(updated.attempts.download, i, "[{}]", b.kind);
        last = Some(updated);
    }
    let last = last.unwrap();
    assert_eq!(last.attempts.analyze, 0);
    assert_eq!(last.errors.len(), hilite::domain::clip::ERROR_LOG_LIMIT);
    assert_eq!(last.errors.last().unwrap().message, "boom 25");
    assert_eq!(
        store.get_clip(&c.id).await.unwrap().unwrap(),
        last,
        "[{}] the stored clip differs",
        b.kind
    );
    // Counting against a status the clip is not in is a conflict and counts nothing.
    let err = store
        .record_clip_failure(&c.id, ClipStatus::Downloaded, Stage::Analyze, "x", t0())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{}] {err}", b.kind);
    assert_eq!(
        store
            .get_clip(&c.id)
            .await
            .unwrap()
            .unwrap()
            .attempts
            .analyze,
        0
    );
    // Out of attempts: failed, with the stage recorded; retry brings it back with a fresh count.
    let failed = store
        .transition_clip(
            &c.id,
            Transition::new(ClipStatus::Pending, ClipStatus::Failed).unwrap(),
            ClipPatch {
                failed_stage: Some(Stage::Download),
                ..Default::default()
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(failed.failed_stage, Some(Stage::Download));
    let retried = store
        .transition_clip(
            &c.id,
            Transition::new(ClipStatus::Failed, ClipStatus::Pending).unwrap(),
            ClipPatch {
                reset_attempts: Some(Stage::Download),
                ..Default::default()
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!((retried.attempts.download, retried.failed_stage), (0, None));
}

async fn clips_are_listed_best_score_first_and_counted(b: TestBackend) {
    let store = &b.ports.store;
    let scores = [42.5, 99.0, 7.25, 63.0, 0.0, 100.0];
    for (i, s) in scores.iter().enumerate() {
        let mut c = clip(&format!("Scored{i}"), "t", t0());
        c.status = ClipStatus::Downloaded;
        c.score = Some(Score {
            total: *s,
            parts: Default::default(),
        });
        store.insert_clip_if_absent(&c).await.unwrap();
    }
    store
        .insert_clip_if_absent(&clip("StillPending", "t", t0()))
        .await
        .unwrap();
    let listed = store.list_clips(ClipStatus::Downloaded, 10).await.unwrap();
    let got: Vec<f64> = listed.iter().map(|c| c.rank()).collect();
    assert_eq!(
        got,
        vec![100.0, 99.0, 63.0, 42.5, 7.25, 0.0],
        "[{}]",
        b.kind
    );
    let top2 = store.list_clips(ClipStatus::Downloaded, 2).await.unwrap();
    assert_eq!(top2.len(), 2);
    assert_eq!(top2[0].rank(), 100.0);
    let counts = store.count_clips().await.unwrap();
    assert_eq!(
        counts.get(&ClipStatus::Downloaded),
        Some(&6),
        "[{}] {counts:?}",
        b.kind
    );
    assert_eq!(
        counts.get(&ClipStatus::Pending),
        Some(&1),
        "[{}] {counts:?}",
        b.kind
    );
    assert_eq!(counts.get(&ClipStatus::Published).copied().unwrap_or(0), 0);
}
