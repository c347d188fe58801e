//! Reopening a publication that failed on an earlier day (the planner retries it): fresh
//! attempts, the chosen resume handles kept, the last error kept until the next attempt, and only
//! from `failed`.

use chrono::Duration as Span;
use harness::backends::TestBackend;
use hilite::domain::*;
use hilite::store::StoreError;

use super::common::{pub_key, t0};

harness::on_both_backends!(
    a_failed_publication_is_reopened_with_fresh_attempts_and_only_from_failed
);

async fn a_failed_publication_is_reopened_with_fresh_attempts_and_only_from_failed(b: TestBackend) {
    let store = &b.ports.store;
    let key = pub_key("Reopened", "main", Platform::Tiktok);
    store
        .create_publication_if_absent(&Publication::planned(key.clone(), t0()))
        .await
        .unwrap();
    // Reopening what has not failed is a conflict that changes nothing.
    let err = store
        .reopen_publication(&key, &ResumeHandles::default(), t0())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{}] {err:?}", b.kind);
    let Claim::Claimed(p) = store
        .claim_publication(&key, Span::minutes(10), t0())
        .await
        .unwrap()
    else {
        panic!("[{}] could not claim", b.kind)
    };
    let token = p.claim_token.clone().unwrap();
    let saved = ResumeHandles {
        upload_session: Some("https://upload.example/session".into()),
        publish_id: Some("v_pub_failed".into()),
        container_id: None,
    };
    store
        .save_publication_progress(&key, &token, &saved, t0())
        .await
        .unwrap();
    store
        .release_publication(
            &key,
            &token,
            "FAILED: file_format_check_failed",
            false,
            t0(),
        )
        .await
        .unwrap();
    let keep = ResumeHandles {
        upload_session: saved.upload_session.clone(),
        ..ResumeHandles::default()
    };
    let later = t0() + Span::days(1);
    let reopened = store.reopen_publication(&key, &keep, later).await.unwrap();
    assert_eq!(
        (reopened.status, reopened.attempts, &reopened.resume),
        (PostStatus::Pending, 0, &keep),
        "[{}]",
        b.kind
    );
    assert_eq!(
        reopened.last_error.as_deref(),
        Some("FAILED: file_format_check_failed"),
        "[{}] the last error is kept until the next attempt",
        b.kind
    );
    assert_eq!(
        store.get_publication(&key).await.unwrap().unwrap(),
        reopened,
        "[{}] what was returned is what is stored",
        b.kind
    );
    assert!(
        matches!(
            store
                .claim_publication(&key, Span::minutes(10), later)
                .await
                .unwrap(),
            Claim::Claimed(_)
        ),
        "[{}] a reopened publication is claimable",
        b.kind
    );
    // Uploading under a claim: reopening is refused.
    let err = store
        .reopen_publication(&key, &ResumeHandles::default(), later)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{}] {err:?}", b.kind);
    let missing = pub_key("NeverPlanned", "main", Platform::Tiktok);
    let err = store
        .reopen_publication(&missing, &ResumeHandles::default(), later)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "[{}] {err:?}",
        b.kind
    );
}
