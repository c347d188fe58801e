//! The webhook message claim (`claim_message`, `settle_message`, `release_message`) on both
//! backends: a copy of a delivery claims its id before applying it, so of concurrent copies
//! exactly one applies; a failed or crashed holder's claim goes back to Twitch's retry (at once
//! when released, after the lease when the holder died); a settled id is handled until it
//! expires.

use std::sync::Arc;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use harness::backends::TestBackend;
use hilite::domain::{ExternalId, Seen};
use hilite::store::MessageClaim;

harness::on_both_backends!(
    a_claimed_id_is_in_flight_until_settled_then_handled_until_it_expires,
    a_released_claim_is_claimable_at_once_and_only_its_holder_can_release_or_settle_it,
    a_dead_holders_claim_is_taken_over_after_its_lease,
    of_many_concurrent_claims_of_one_id_exactly_one_wins,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

const LEASE: Span = Span::seconds(30);

fn id(s: &str) -> ExternalId {
    ExternalId::parse(s).unwrap()
}

async fn a_claimed_id_is_in_flight_until_settled_then_handled_until_it_expires(b: TestBackend) {
    let store = &b.ports.store;
    let m = id("7a1b2c3d-0000-4000-8000-000000000001");
    let kind = b.kind;
    assert_eq!(
        store
            .claim_message(&m, "first", t0() + LEASE, t0())
            .await
            .unwrap(),
        MessageClaim::Claimed,
        "[{kind}]"
    );
    let later = t0() + Span::seconds(1);
    assert_eq!(
        store
            .claim_message(&m, "second", later + LEASE, later)
            .await
            .unwrap(),
        MessageClaim::InFlight,
        "[{kind}] a claim held by another delivery"
    );
    // A claimed id counts as seen for the other message-id operations.
    assert!(store.message_seen(&m, later).await.unwrap(), "[{kind}]");
    assert_eq!(
        store
            .remember_message(&m, later + Span::minutes(15), later)
            .await
            .unwrap(),
        Seen::AlreadySeen,
        "[{kind}]"
    );

    let expires = t0() + Span::minutes(15);
    store.settle_message(&m, "first", expires).await.unwrap();
    for at in [later, t0() + Span::minutes(14)] {
        assert_eq!(
            store
                .claim_message(&m, "third", at + LEASE, at)
                .await
                .unwrap(),
            MessageClaim::Handled,
            "[{kind}] at {at}: settled, and kept past the lease"
        );
    }
    // Settling again is not the holder's any more.
    let again = store
        .settle_message(&m, "first", expires)
        .await
        .unwrap_err();
    assert!(again.is_conflict(), "[{kind}] {again:?}");
    // Once expired, the id may be claimed again (Twitch would refuse such an old timestamp).
    assert_eq!(
        store
            .claim_message(&m, "fourth", expires + LEASE, expires)
            .await
            .unwrap(),
        MessageClaim::Claimed,
        "[{kind}]"
    );

    // An id remembered with `remember_message` is handled, not in flight.
    let r = id("7a1b2c3d-0000-4000-8000-000000000002");
    assert_eq!(
        store.remember_message(&r, expires, t0()).await.unwrap(),
        Seen::New
    );
    assert_eq!(
        store
            .claim_message(&r, "fifth", later + LEASE, later)
            .await
            .unwrap(),
        MessageClaim::Handled,
        "[{kind}]"
    );
}

async fn a_released_claim_is_claimable_at_once_and_only_its_holder_can_release_or_settle_it(
    b: TestBackend,
) {
    let store = &b.ports.store;
    let kind = b.kind;
    let m = id("7a1b2c3d-0000-4000-8000-000000000003");
    assert_eq!(
        store
            .claim_message(&m, "holder", t0() + LEASE, t0())
            .await
            .unwrap(),
        MessageClaim::Claimed
    );
    // Another token's release or settle changes nothing.
    store.release_message(&m, "stranger").await.unwrap();
    let err = store
        .settle_message(&m, "stranger", t0() + Span::minutes(15))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{kind}] {err:?}");
    assert_eq!(
        store
            .claim_message(&m, "retry", t0() + LEASE, t0())
            .await
            .unwrap(),
        MessageClaim::InFlight,
        "[{kind}] the holder's claim survived a stranger's release and settle"
    );

    // The holder failed and released: the next delivery claims at once, well inside the lease.
    store.release_message(&m, "holder").await.unwrap();
    assert!(!store.message_seen(&m, t0()).await.unwrap(), "[{kind}]");
    let soon = t0() + Span::seconds(1);
    assert_eq!(
        store
            .claim_message(&m, "retry", soon + LEASE, soon)
            .await
            .unwrap(),
        MessageClaim::Claimed,
        "[{kind}]"
    );
    // The old holder can neither release nor settle the new claim.
    store.release_message(&m, "holder").await.unwrap();
    let err = store
        .settle_message(&m, "holder", t0() + Span::minutes(15))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{kind}] {err:?}");
    store
        .settle_message(&m, "retry", t0() + Span::minutes(15))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_message(&m, "late", soon + LEASE, soon)
            .await
            .unwrap(),
        MessageClaim::Handled,
        "[{kind}]"
    );
    // Releasing an id nobody claimed is no error.
    store
        .release_message(&id("7a1b2c3d-0000-4000-8000-00000000dead"), "nobody")
        .await
        .unwrap();
}

async fn a_dead_holders_claim_is_taken_over_after_its_lease(b: TestBackend) {
    let store = &b.ports.store;
    let kind = b.kind;
    let m = id("7a1b2c3d-0000-4000-8000-000000000004");
    assert_eq!(
        store
            .claim_message(&m, "dead", t0() + LEASE, t0())
            .await
            .unwrap(),
        MessageClaim::Claimed
    );
    let just_before = t0() + LEASE - Span::milliseconds(1);
    assert_eq!(
        store
            .claim_message(&m, "early", just_before + LEASE, just_before)
            .await
            .unwrap(),
        MessageClaim::InFlight,
        "[{kind}] taken over before the lease ended"
    );
    let after = t0() + LEASE;
    assert_eq!(
        store
            .claim_message(&m, "heir", after + LEASE, after)
            .await
            .unwrap(),
        MessageClaim::Claimed,
        "[{kind}] the lease ended"
    );
    // The dead holder waking up cannot settle nor release the heir's claim.
    let err = store
        .settle_message(&m, "dead", t0() + Span::minutes(15))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "[{kind}] {err:?}");
    store.release_message(&m, "dead").await.unwrap();
    assert_eq!(
        store
            .claim_message(&m, "other", after + LEASE, after)
            .await
            .unwrap(),
        MessageClaim::InFlight,
        "[{kind}]"
    );
    store
        .settle_message(&m, "heir", t0() + Span::minutes(15))
        .await
        .unwrap();
}

async fn of_many_concurrent_claims_of_one_id_exactly_one_wins(b: TestBackend) {
    const COPIES: usize = 24;
    for round in 0..3 {
        let m = id(&format!("7a1b2c3d-0000-4000-8000-00000000010{round}"));
        let start = Arc::new(tokio::sync::Barrier::new(COPIES));
        let mut tasks = tokio::task::JoinSet::new();
        for copy in 0..COPIES {
            let (store, m, start) = (b.ports.store.clone(), m.clone(), start.clone());
            tasks.spawn(async move {
                let token = format!("copy-{copy}");
                start.wait().await;
                let got = store
                    .claim_message(&m, &token, t0() + LEASE, t0())
                    .await
                    .unwrap();
                (token, got)
            });
        }
        let mut winners = Vec::new();
        let mut in_flight = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                (token, MessageClaim::Claimed) => winners.push(token),
                (_, MessageClaim::InFlight) => in_flight += 1,
                (token, MessageClaim::Handled) => {
                    panic!("[{}] {token} saw a handled id nobody settled", b.kind)
                }
            }
        }
        assert_eq!(winners.len(), 1, "[{}] round {round}: {winners:?}", b.kind);
        assert_eq!(in_flight, COPIES - 1, "[{}]", b.kind);

        // The winner settles; the copies that come next all find it handled.
        b.ports
            .store
            .settle_message(&m, &winners[0], t0() + Span::minutes(15))
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for copy in 0..COPIES {
            let (store, m) = (b.ports.store.clone(), m.clone());
            tasks.spawn(async move {
                store
                    .claim_message(&m, &format!("late-{copy}"), t0() + LEASE, t0())
                    .await
                    .unwrap()
            });
        }
        while let Some(r) = tasks.join_next().await {
            assert_eq!(r.unwrap(), MessageClaim::Handled, "[{}]", b.kind);
        }
    }
}
