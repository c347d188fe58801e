//! The Twitch client's OAuth and EventSub calls against the fake (the backend only holds the
//! token vault here, so these run on the embedded one).

use harness::backends::TestBackend;
use harness::fake_twitch::{BROADCASTER_SCOPE, CLIENT_SECRET};
use hilite::domain::Login;
use hilite::twitch::auth::DevicePoll;
use hilite::twitch::helix::{Created, NewSubscription};
use hilite::twitch::tokens::load_user_token;
use hilite::twitch::TwitchError;
use secrecy::SecretString;

use super::{Site, BROADCASTER};

#[tokio::test]
async fn the_device_flow_polls_until_approved_then_stores_a_validated_token() {
    let site = Site::new(TestBackend::embedded(3).await).await;
    let twitch = &site.pipeline.twitch;
    let scopes = [BROADCASTER_SCOPE];
    let device = twitch.start_device_flow(&scopes).await.unwrap();
    assert!(
        device.verification_uri.starts_with("https://"),
        "{device:?}"
    );
    assert!(
        !format!("{device:?}").contains("device_code"),
        "the device code must not be printable"
    );

    assert!(matches!(
        twitch.poll_device_flow(&device, &scopes).await.unwrap(),
        DevicePoll::Pending
    ));
    assert!(
        matches!(
            twitch.poll_device_flow(&device, &scopes).await.unwrap(),
            DevicePoll::SlowDown
        ),
        "polling faster than the interval"
    );
    site.fake.approve_device(&device.user_code, BROADCASTER);
    let set = twitch.finish_device_flow(&device, &scopes).await.unwrap();
    assert_eq!(
        (set.user_id.as_str(), set.login.as_str()),
        (BROADCASTER, "streamer_one")
    );
    assert!(set.has_scope(BROADCASTER_SCOPE));

    let name = twitch.save_user_token(&set).await.unwrap();
    assert_eq!(name.as_str(), "twitch/user/1001");
    assert_eq!(
        load_user_token(&*site.b.ports.vault, &name).await.unwrap(),
        Some(set)
    );
    site.put_broadcaster(Some(name.clone()), None).await;
    let checked = twitch
        .validate_stored_tokens(&*site.b.ports.store)
        .await
        .unwrap();
    assert_eq!(checked.len(), 1);
    let validated = checked[0].1.as_ref().unwrap();
    assert_eq!(
        validated.user_id.as_ref().map(|u| u.as_str()),
        Some(BROADCASTER)
    );
    assert!(validated.scopes.iter().any(|s| s == BROADCASTER_SCOPE));

    // Revoked: validation says so (and nothing panics or leaks).
    site.fake.revoke_authorization(BROADCASTER);
    let checked = twitch
        .validate_stored_tokens(&*site.b.ports.store)
        .await
        .unwrap();
    let err = checked[0].1.as_ref().unwrap_err();
    assert!(matches!(err, TwitchError::Unauthorized(_)), "{err}");
}

#[tokio::test]
async fn the_app_token_is_fetched_once_and_again_after_a_401() {
    let site = Site::new(TestBackend::embedded(3).await).await;
    let twitch = &site.pipeline.twitch;
    let login = Login::parse("streamer_one").unwrap();
    assert_eq!(
        twitch
            .user_by_login(&login)
            .await
            .unwrap()
            .unwrap()
            .id
            .as_str(),
        BROADCASTER
    );
    assert!(twitch
        .user_by_login(&Login::parse("nobody_here").unwrap())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        site.fake.count("/oauth2/token"),
        1,
        "the app token is cached"
    );
    site.fake.expire_app_tokens();
    assert!(twitch.user_by_login(&login).await.unwrap().is_some());
    assert_eq!(site.fake.count("/oauth2/token"), 2);
    let statuses: Vec<u16> = site
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/helix/users")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 200, 401, 200]);

    // The token endpoint's own rate limit is a wait, not a refusal: the stage is retried
    // after it, and the next call gets its token.
    site.fake.expire_app_tokens();
    site.fake.limit_token_endpoint(1);
    let limited = twitch.user_by_login(&login).await.unwrap_err();
    assert!(
        matches!(limited, TwitchError::RateLimited { .. }),
        "{limited}"
    );
    assert!(matches!(
        hilite::pipeline::StageError::from(limited),
        hilite::pipeline::StageError::RateLimited { .. }
    ));
    assert!(twitch.user_by_login(&login).await.unwrap().is_some());

    // A wrong secret is Twitch's refusal, and the error does not repeat the secret.
    let wrong = Site::with(TestBackend::embedded(3).await, |c| {
        c.twitch.client_secret = Some(SecretString::from("wrong-secret-value".to_string()))
    })
    .await;
    let err = wrong
        .pipeline
        .twitch
        .user_by_login(&login)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TwitchError::Rejected { status: 403, .. }),
        "{err}"
    );
    assert!(
        !err.to_string().contains("wrong-secret-value") && !err.to_string().contains(CLIENT_SECRET),
        "{err}"
    );
}

#[tokio::test]
async fn eventsub_subscriptions_are_created_once_listed_across_pages_and_deleted() {
    let site = Site::new(TestBackend::embedded(3).await).await;
    site.fake.add_user("1002", "streamer_two");
    let twitch = &site.pipeline.twitch;
    let new = |kind: &str, broadcaster: &str, callback: &str| NewSubscription {
        kind: kind.into(),
        version: "1".into(),
        condition: serde_json::json!({"broadcaster_user_id": broadcaster}),
        callback: callback.parse().unwrap(),
        secret: SecretString::from(harness::eventsub::SECRET.to_string()),
    };
    let hook = "https://hilite.example.com/webhooks/twitch";
    for broadcaster in [BROADCASTER, "1002"] {
        for kind in ["stream.online", "stream.offline"] {
            match twitch
                .create_subscription(&new(kind, broadcaster, hook))
                .await
                .unwrap()
            {
                Created::New(s) => assert_eq!(
                    (s.kind.as_str(), s.status.as_str()),
                    (kind, "webhook_callback_verification_pending")
                ),
                Created::Existing => panic!("{kind} for {broadcaster} existed already"),
            }
        }
    }
    assert!(
        matches!(
            twitch
                .create_subscription(&new("stream.online", BROADCASTER, hook))
                .await
                .unwrap(),
            Created::Existing
        ),
        "409 is not an error"
    );
    let refused = twitch
        .create_subscription(&new(
            "stream.online",
            BROADCASTER,
            "http://hilite.example.com:8080/hook",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, TwitchError::Rejected { status: 400, .. }),
        "{refused}"
    );

    let all = twitch.list_subscriptions(None).await.unwrap();
    assert_eq!(all.len(), 4, "every page is read");
    let mine = twitch
        .list_subscriptions(Some(("user_id", BROADCASTER.to_string())))
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    twitch.delete_subscription(&mine[0].id).await.unwrap();
    assert_eq!(twitch.list_subscriptions(None).await.unwrap().len(), 3);
    assert!(matches!(
        twitch.delete_subscription(&mine[0].id).await,
        Err(TwitchError::NotFound(_))
    ));
}

/// A listing of subscriptions is read to its end, and a listing that does not end stops with an
/// error after 100 pages rather than calling Twitch for ever (the fake pages in twos).
#[tokio::test]
async fn a_subscription_listing_stops_after_a_hundred_pages() {
    let site = Site::new(TestBackend::embedded(3).await).await;
    let twitch = &site.pipeline.twitch;
    site.fake.add_subscriptions(200);
    let all = twitch.list_subscriptions(None).await.unwrap();
    assert_eq!(all.len(), 200, "a hundred pages are read");
    let read = site.fake.count("/helix/eventsub/subscriptions");
    assert_eq!(read, 100);

    site.fake.add_subscriptions(1);
    let got = twitch.list_subscriptions(None).await;
    match got {
        Err(TwitchError::Malformed(m)) => assert!(m.contains("past 100 pages"), "{m}"),
        other => panic!(
            "a listing past 100 pages must stop: {:?}",
            other.map(|all| all.len())
        ),
    }
    assert_eq!(site.fake.count("/helix/eventsub/subscriptions") - read, 100);
}
