//! Publications in the state store: planned once, claimed under a lease (of two racing claims
//! exactly one wins, an expired lease can be claimed again), progress and results recorded only
//! by the claim holder, released for a retry or failed, listed by clip and by account. Reopening
//! a failed publication is `reopening_publications`.

use std::collections::BTreeSet;

use chrono::Duration as Span;
use harness::backends::TestBackend;
use hilite::domain::*;

use super::common::{pub_key, t0};

harness::on_both_backends!(
    of_two_concurrent_claims_exactly_one_wins,
    an_expired_lease_can_be_claimed_again,
    only_the_claim_holder_can_record_progress_and_results,
    a_released_publication_is_retried_or_failed,
    publications_are_listed_by_clip_and_by_account,
);

async fn of_two_concurrent_claims_exactly_one_wins(b: TestBackend) {
    for round in 0..5 {
        let key = pub_key(&format!("Claimed{round}"), "main", Platform::Youtube);
        let store = &b.ports.store;
        assert!(store
            .create_publication_if_absent(&Publication::planned(key.clone(), t0()))
            .await
            .unwrap());
        assert!(!store
            .create_publication_if_absent(&Publication::planned(key.clone(), t0()))
            .await
            .unwrap());
        let (s1, s2, k1, k2) = (store.clone(), store.clone(), key.clone(), key.clone());
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { s1.claim_publication(&k1, Span::minutes(10), t0()).await }),
            tokio::spawn(async move { s2.claim_publication(&k2, Span::minutes(10), t0()).await }),
        );
        let results = [r1.unwrap().unwrap(), r2.unwrap().unwrap()];
        let claimed = results
            .iter()
            .filter(|c| matches!(c, Claim::Claimed(_)))
            .count();
        let refused = results
            .iter()
            .filter(|c| matches!(c, Claim::NotClaimable(_)))
            .count();
        assert_eq!(
            (claimed, refused),
            (1, 1),
            "[{}] round {round}: {results:?}",
            b.kind
        );
        let stored = store.get_publication(&key).await.unwrap().unwrap();
        assert_eq!(stored.status, PostStatus::Uploading);
        assert_eq!(
            stored.attempts, 1,
            "[{}] the losing claim counted an attempt",
            b.kind
        );
    }
    let missing = pub_key("NeverPlanned", "main", Platform::Tiktok);
    assert_eq!(
        b.ports
            .store
            .claim_publication(&missing, Span::minutes(1), t0())
            .await
            .unwrap(),
        Claim::Missing
    );
}

async fn an_expired_lease_can_be_claimed_again(b: TestBackend) {
    let key = pub_key("Leased", "main", Platform::Tiktok);
    let store = &b.ports.store;
    store
        .create_publication_if_absent(&Publication::planned(key.clone(), t0()))
        .await
        .unwrap();
    let Claim::Claimed(first) = store
        .claim_publication(&key, Span::minutes(10), t0())
        .await
        .unwrap()
    else {
        panic!("[{}] first claim refused", b.kind)
    };
    let early = store
        .claim_publication(&key, Span::minutes(10), t0() + Span::minutes(9))
        .await
        .unwrap();
    assert!(
        matches!(early, Claim::NotClaimable(_)),
        "[{}] {early:?}",
        b.kind
    );
    let late = store
        .claim_publication(&key, Span::minutes(10), t0() + Span::minutes(11))
        .await
        .unwrap();
    let Claim::Claimed(second) = late else {
        panic!("[{}] expired lease not reclaimed: {late:?}", b.kind)
    };
    assert_ne!(second.claim_token, first.claim_token);
    assert_eq!(second.attempts, 2);
    // The first holder's token is now worthless.
    let err = store
        .complete_publication(
            &key,
            first.claim_token.as_deref().unwrap(),
            &PostResult {
                video_id: "v".into(),
                url: "u".into(),
            },
            t0(),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{}] {err}", b.kind);
}

async fn only_the_claim_holder_can_record_progress_and_results(b: TestBackend) {
    let key = pub_key("Progress", "main", Platform::Youtube);
    let store = &b.ports.store;
    store
        .create_publication_if_absent(&Publication::planned(key.clone(), t0()))
        .await
        .unwrap();
    let Claim::Claimed(held) = store
        .claim_publication(&key, Span::minutes(10), t0())
        .await
        .unwrap()
    else {
        panic!("claim refused")
    };
    let token = held.claim_token.clone().unwrap();
    let resume = ResumeHandles {
        upload_session: Some("https://upload.example/session/1".into()),
        ..Default::default()
    };
    assert!(store
        .save_publication_progress(&key, "not-the-token", &resume, t0())
        .await
        .unwrap_err()
        .is_conflict());
    store
        .save_publication_progress(&key, &token, &resume, t0())
        .await
        .unwrap();
    assert_eq!(
        store.get_publication(&key).await.unwrap().unwrap().resume,
        resume,
        "[{}]",
        b.kind
    );
    let result = PostResult {
        video_id: "abc123".into(),
        url: "https://youtu.be/abc123".into(),
    };
    assert!(store
        .complete_publication(&key, "not-the-token", &result, t0())
        .await
        .unwrap_err()
        .is_conflict());
    let done = store
        .complete_publication(&key, &token, &result, t0() + Span::seconds(5))
        .await
        .unwrap();
    assert_eq!(done.status, PostStatus::Success);
    assert_eq!(done.platform_video_id.as_deref(), Some("abc123"));
    assert_eq!(done.published_at, Some(t0() + Span::seconds(5)));
    assert_eq!(
        store.get_publication(&key).await.unwrap().unwrap(),
        done,
        "[{}]",
        b.kind
    );
    // A finished publication is never claimed again, even long after.
    let again = store
        .claim_publication(&key, Span::minutes(10), t0() + Span::days(2))
        .await
        .unwrap();
    assert!(
        matches!(again, Claim::NotClaimable(_)),
        "[{}] {again:?}",
        b.kind
    );
}

async fn a_released_publication_is_retried_or_failed(b: TestBackend) {
    let store = &b.ports.store;
    let key = pub_key("Released", "main", Platform::Instagram);
    store
        .create_publication_if_absent(&Publication::planned(key.clone(), t0()))
        .await
        .unwrap();
    let Claim::Claimed(p) = store
        .claim_publication(&key, Span::minutes(10), t0())
        .await
        .unwrap()
    else {
        panic!()
    };
    let back = store
        .release_publication(
            &key,
            p.claim_token.as_deref().unwrap(),
            "HTTP 503",
            true,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        (back.status, back.last_error.as_deref()),
        (PostStatus::Pending, Some("HTTP 503")),
        "[{}]",
        b.kind
    );
    let Claim::Claimed(p) = store
        .claim_publication(&key, Span::minutes(10), t0())
        .await
        .unwrap()
    else {
        panic!("[{}] a released publication could not be claimed", b.kind)
    };
    let failed = store
        .release_publication(
            &key,
            p.claim_token.as_deref().unwrap(),
            "video too long",
            false,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, PostStatus::Failed);
    assert_eq!(failed.attempts, 2);
    let again = store
        .claim_publication(&key, Span::minutes(10), t0())
        .await
        .unwrap();
    assert!(
        matches!(again, Claim::NotClaimable(_)),
        "[{}] {again:?}",
        b.kind
    );
}

async fn publications_are_listed_by_clip_and_by_account(b: TestBackend) {
    let store = &b.ports.store;
    let keys = [
        pub_key("ListedA", "alpha", Platform::Youtube),
        pub_key("ListedA", "alpha", Platform::Tiktok),
        pub_key("ListedA", "beta", Platform::Youtube),
        pub_key("ListedB", "alpha", Platform::Instagram),
    ];
    for k in &keys {
        store
            .create_publication_if_absent(&Publication::planned(k.clone(), t0()))
            .await
            .unwrap();
    }
    let set = |v: Vec<Publication>| {
        v.into_iter()
            .map(|p| p.key.to_string())
            .collect::<BTreeSet<_>>()
    };
    let by_clip = set(store
        .list_publications(Some(&keys[0].clip_id), None)
        .await
        .unwrap());
    assert_eq!(
        by_clip,
        keys[..3].iter().map(|k| k.to_string()).collect(),
        "[{}]",
        b.kind
    );
    let by_account = set(store
        .list_publications(None, Some(&keys[0].account))
        .await
        .unwrap());
    assert_eq!(
        by_account,
        [&keys[0], &keys[1], &keys[3]]
            .iter()
            .map(|k| k.to_string())
            .collect(),
        "[{}]",
        b.kind
    );
    let both = set(store
        .list_publications(Some(&keys[3].clip_id), Some(&keys[3].account))
        .await
        .unwrap());
    assert_eq!(both.len(), 1);
}
