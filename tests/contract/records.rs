//! The state store's other records: webhook message ids (remembered once until they expire),
//! accounts, whitelist entries, streams, broadcasters and their subscriptions' revocations, and
//! the store's readiness. Not clips (`clips`) nor publications (`publications`).

use chrono::Duration as Span;
use harness::backends::TestBackend;
use harness::records::{account, broadcaster, whitelist_entry};
use hilite::domain::*;
use hilite::store::StoreError;

use super::common::t0;

harness::on_both_backends!(
    a_message_id_is_remembered_once_until_it_expires,
    accounts_are_stored_listed_and_removed,
    whitelist_entries_are_scoped_and_removable,
    streams_open_once_and_close_the_latest,
    subscription_revocations_are_recorded_with_their_reason,
    the_store_reports_ready,
);

async fn a_message_id_is_remembered_once_until_it_expires(b: TestBackend) {
    let store = &b.ports.store;
    let id = ExternalId::parse("befa7b53-d79d-478f-86b9-120f112b044e").unwrap();
    let expires = t0() + Span::minutes(20);
    assert_eq!(
        store.remember_message(&id, expires, t0()).await.unwrap(),
        Seen::New
    );
    assert_eq!(
        store
            .remember_message(&id, expires, t0() + Span::minutes(1))
            .await
            .unwrap(),
        Seen::AlreadySeen
    );
    // After expiry the id may be used again (Twitch would refuse such an old timestamp anyway).
    assert_eq!(
        store
            .remember_message(&id, t0() + Span::hours(2), t0() + Span::minutes(21))
            .await
            .unwrap(),
        Seen::New
    );
    // Concurrent deliveries of one new id: exactly one is new.
    let fresh = ExternalId::parse("c0ffee00-0000-4000-8000-000000000001").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, id) = (store.clone(), fresh.clone());
        tasks.push(tokio::spawn(async move {
            s.remember_message(&id, expires, t0()).await.unwrap()
        }));
    }
    let mut new = 0;
    for t in tasks {
        if t.await.unwrap() == Seen::New {
            new += 1;
        }
    }
    assert_eq!(new, 1, "[{}]", b.kind);
}

async fn accounts_are_stored_listed_and_removed(b: TestBackend) {
    let store = &b.ports.store;
    let a = account("main", "Europe/Paris");
    let mut c = account("clips-fr", "America/Montreal");
    c.platforms = vec![Platform::Tiktok];
    store.put_account(&a).await.unwrap();
    store.put_account(&c).await.unwrap();
    assert_eq!(
        store.get_account(&a.name).await.unwrap(),
        Some(a.clone()),
        "[{}]",
        b.kind
    );
    let mut names: Vec<_> = store
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["clips-fr", "main"]);
    let mut updated = a.clone();
    updated.max_per_day = 5;
    updated.paused = true;
    store.put_account(&updated).await.unwrap();
    assert_eq!(store.get_account(&a.name).await.unwrap(), Some(updated));
    assert!(store.remove_account(&a.name).await.unwrap());
    assert!(!store.remove_account(&a.name).await.unwrap());
    assert_eq!(store.get_account(&a.name).await.unwrap(), None);
    assert_eq!(store.list_accounts().await.unwrap().len(), 1);
}

async fn whitelist_entries_are_scoped_and_removable(b: TestBackend) {
    let store = &b.ports.store;
    let bid = BroadcasterId::parse("1001").unwrap();
    let global = whitelist_entry("501", WhitelistScope::Global);
    let scoped = whitelist_entry("501", WhitelistScope::Broadcaster(bid.clone()));
    let other = whitelist_entry("777", WhitelistScope::Broadcaster(bid.clone()));
    for e in [&global, &scoped, &other] {
        store.put_whitelist_entry(e).await.unwrap();
    }
    let mut inactive = other.clone();
    inactive.active = false;
    store.put_whitelist_entry(&inactive).await.unwrap();
    let list = store.list_whitelist().await.unwrap();
    assert_eq!(list.len(), 3, "[{}] {list:?}", b.kind);
    assert!(list.contains(&inactive) && list.contains(&global) && list.contains(&scoped));
    assert!(editor_allowed(
        &list,
        &bid,
        &EditorId::parse("501").unwrap()
    ));
    assert!(!editor_allowed(
        &list,
        &bid,
        &EditorId::parse("777").unwrap()
    ));
    assert!(store
        .remove_whitelist_entry(&scoped.scope, &scoped.editor_id)
        .await
        .unwrap());
    assert!(!store
        .remove_whitelist_entry(&scoped.scope, &scoped.editor_id)
        .await
        .unwrap());
    let left = store.list_whitelist().await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(
        left.contains(&global),
        "[{}] removing the scoped entry removed the global one",
        b.kind
    );
}

async fn streams_open_once_and_close_the_latest(b: TestBackend) {
    let store = &b.ports.store;
    let bid = BroadcasterId::parse("2002").unwrap();
    assert_eq!(store.latest_stream(&bid).await.unwrap(), None);
    assert_eq!(
        store.close_stream(&bid, t0()).await.unwrap(),
        None,
        "[{}] closed a stream that never opened",
        b.kind
    );
    let s1 = Stream {
        broadcaster_id: bid.clone(),
        stream_id: ExternalId::parse("40001").unwrap(),
        started_at: t0(),
        ended_at: None,
    };
    assert!(store.open_stream(&s1).await.unwrap());
    assert!(
        !store.open_stream(&s1).await.unwrap(),
        "[{}] a redelivered stream.online opened twice",
        b.kind
    );
    let closed = store
        .close_stream(&bid, t0() + Span::hours(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.ended_at, Some(t0() + Span::hours(3)));
    assert_eq!(closed.stream_id, s1.stream_id);
    assert_eq!(
        store
            .close_stream(&bid, t0() + Span::hours(4))
            .await
            .unwrap(),
        None,
        "[{}] closed twice",
        b.kind
    );
    let s2 = Stream {
        started_at: t0() + Span::days(1),
        stream_id: ExternalId::parse("40002").unwrap(),
        ..s1.clone()
    };
    store.open_stream(&s2).await.unwrap();
    assert_eq!(store.latest_stream(&bid).await.unwrap(), Some(s2.clone()));
    let other = BroadcasterId::parse("2003").unwrap();
    assert_eq!(store.latest_stream(&other).await.unwrap(), None);
}

async fn subscription_revocations_are_recorded_with_their_reason(b: TestBackend) {
    let store = &b.ports.store;
    let mut bc = broadcaster("3003", "streamer_one");
    bc.subscriptions.push(Subscription {
        id: ExternalId::parse("f1c2a387-161a-49f9-a165-0f21d7a4e1c4").unwrap(),
        kind: "stream.offline".into(),
        status: SubscriptionStatus::Enabled,
        reason: None,
        updated_at: t0(),
    });
    store.put_broadcaster(&bc).await.unwrap();
    assert_eq!(
        store.get_broadcaster(&bc.id).await.unwrap(),
        Some(bc.clone()),
        "[{}]",
        b.kind
    );
    let sub = bc.subscriptions[0].id.clone();
    store
        .set_subscription_status(
            &bc.id,
            &sub,
            "stream.offline",
            SubscriptionStatus::Revoked,
            Some("authorization_revoked"),
            t0() + Span::hours(1),
        )
        .await
        .unwrap();
    let got = store.get_broadcaster(&bc.id).await.unwrap().unwrap();
    assert_eq!(got.subscriptions.len(), 1);
    assert_eq!(got.subscriptions[0].status, SubscriptionStatus::Revoked);
    assert_eq!(
        got.subscriptions[0].reason.as_deref(),
        Some("authorization_revoked")
    );
    // A subscription not yet known is added.
    let new_sub = ExternalId::parse("aaaa0000-161a-49f9-a165-0f21d7a4e1c4").unwrap();
    store
        .set_subscription_status(
            &bc.id,
            &new_sub,
            "stream.online",
            SubscriptionStatus::Enabled,
            None,
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_broadcaster(&bc.id)
            .await
            .unwrap()
            .unwrap()
            .subscriptions
            .len(),
        2
    );
    let unknown = BroadcasterId::parse("9999").unwrap();
    let err = store
        .set_subscription_status(
            &unknown,
            &sub,
            "stream.offline",
            SubscriptionStatus::Revoked,
            None,
            t0(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "[{}] {err}", b.kind);
    assert_eq!(store.list_broadcasters().await.unwrap().len(), 1);
}

async fn the_store_reports_ready(b: TestBackend) {
    b.ports.store.ready().await.unwrap();
}
