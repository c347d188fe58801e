//! The two Twitch calls chat capture adds, against the strict fake: a `channel.chat.message`
//! webhook subscription only with the reader's and the broadcaster's grants, and Create Clip
//! From VOD refused out of range (before any call) and for a user who may not clip.

use chrono::{Duration as Span, Utc};
use harness::backends::TestBackend;
use harness::eventsub::SECRET;
use harness::fake_twitch::{Fault, BROADCASTER_SCOPE};
use hilite::domain::{BroadcasterId, UserId};
use hilite::twitch::helix::{Created, NewSubscription, VodClip};
use hilite::twitch::TwitchError;
use secrecy::SecretString;

use super::{Site, BROADCASTER, EDITOR, READER};

async fn fresh_site() -> Site {
    Site::with(TestBackend::embedded(3).await, |c| {
        c.twitch.callback_url = Some(
            "https://hilite.example.com/webhooks/twitch"
                .parse()
                .unwrap(),
        );
        c.twitch.eventsub_secret = Some(SecretString::from(SECRET.to_string()));
    })
    .await
}

fn chat_subscription(site: &Site, reader: &str) -> NewSubscription {
    NewSubscription::webhook(
        "channel.chat.message",
        serde_json::json!({"broadcaster_user_id": BROADCASTER, "user_id": reader}),
        &site.pipeline.config.twitch,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_subscription_needs_the_readers_and_the_broadcasters_grants() {
    let site = fresh_site().await;
    let twitch = &site.pipeline.twitch;
    let refused = |r: Result<Created, TwitchError>| matches!(r, Err(TwitchError::Forbidden(_)));

    assert!(refused(
        twitch
            .create_subscription(&chat_subscription(&site, READER))
            .await
    ));
    // The reader alone is not enough: the broadcaster must allow bots in their chat.
    site.fake
        .authorize(twitch, READER, &["user:read:chat", "user:bot"])
        .await;
    assert!(refused(
        twitch
            .create_subscription(&chat_subscription(&site, READER))
            .await
    ));
    // What `hilite auth twitch --chat` asks a broadcaster for.
    site.authorize(
        BROADCASTER,
        &[
            BROADCASTER_SCOPE,
            "user:read:chat",
            "user:bot",
            "channel:bot",
        ],
    )
    .await;
    assert!(matches!(
        twitch
            .create_subscription(&chat_subscription(&site, READER))
            .await,
        Ok(Created::New(_))
    ));
    assert!(matches!(
        twitch
            .create_subscription(&chat_subscription(&site, BROADCASTER))
            .await,
        Ok(Created::New(_))
    ));
    // A moderator reads without the broadcaster's channel:bot.
    let moderated = fresh_site().await;
    moderated.fake.add_moderator(BROADCASTER, EDITOR);
    moderated
        .fake
        .authorize(
            &moderated.pipeline.twitch,
            EDITOR,
            &["user:read:chat", "user:bot"],
        )
        .await;
    let sub = chat_subscription(&moderated, EDITOR);
    assert!(matches!(
        moderated.pipeline.twitch.create_subscription(&sub).await,
        Ok(Created::New(_))
    ));
}

fn vod_clip(editor: &str, offset: u32, duration: f64) -> VodClip {
    VodClip {
        broadcaster: BroadcasterId::parse(BROADCASTER).unwrap(),
        editor: editor.parse().unwrap(),
        vod_id: "9001".into(),
        vod_offset: offset,
        duration_secs: duration,
        title: "HiLite moment 0:10:00".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_clip_from_vod_is_refused_out_of_range_and_for_a_user_who_may_not_clip() {
    let site = fresh_site().await;
    site.fake
        .add_archive(BROADCASTER, "9001", Utc::now() - Span::hours(1));
    let token = site.authorize(BROADCASTER, &[BROADCASTER_SCOPE]).await;
    let twitch = &site.pipeline.twitch;

    for bad in [
        vod_clip(BROADCASTER, 600, 61.0),
        vod_clip(BROADCASTER, 600, 4.9),
        vod_clip(BROADCASTER, 10, 20.0),
    ] {
        let got = twitch.create_clip_from_vod(&token, &bad).await;
        assert!(
            matches!(got, Err(TwitchError::Rejected { status: 400, .. })),
            "{bad:?}: {got:?}"
        );
    }
    assert_eq!(
        site.fake.count("/helix/videos/clips"),
        0,
        "refused before any call"
    );

    // The editor_id must be the token's user.
    let got = twitch
        .create_clip_from_vod(&token, &vod_clip(EDITOR, 600, 20.0))
        .await;
    assert!(matches!(got, Err(TwitchError::Forbidden(_))), "{got:?}");
    let mut unknown_vod = vod_clip(BROADCASTER, 600, 20.0);
    unknown_vod.vod_id = "404404".into();
    assert!(matches!(
        twitch.create_clip_from_vod(&token, &unknown_vod).await,
        Err(TwitchError::NotFound(_))
    ));
    assert!(site.fake.clips().is_empty(), "nothing was clipped");

    let made = twitch
        .create_clip_from_vod(&token, &vod_clip(BROADCASTER, 600, 20.0))
        .await
        .unwrap();
    let clip = site
        .fake
        .clips()
        .into_iter()
        .find(|c| c.id == made.id)
        .expect("the clip exists");
    assert_eq!((clip.vod_offset, clip.duration), (Some(580), 20.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_clip_call_that_may_have_reached_twitch_is_not_sent_again() {
    let site = fresh_site().await;
    site.fake
        .add_archive(BROADCASTER, "9001", Utc::now() - Span::hours(1));
    let token = site.authorize(BROADCASTER, &[BROADCASTER_SCOPE]).await;
    let twitch = &site.pipeline.twitch;
    let request = vod_clip(BROADCASTER, 600, 20.0);

    // A 503 says nothing about whether the clip was made: the caller is told, once.
    site.fake.fault("videos/clips", Fault::Unavailable, 1);
    let got = twitch.create_clip_from_vod(&token, &request).await;
    assert!(
        matches!(got, Err(TwitchError::Server { status: 503, .. })),
        "{got:?}"
    );
    assert_eq!(site.fake.count("/helix/videos/clips"), 1);

    // The answer does not come within the client's timeout (1 s here): the call is over for
    // the client, though Twitch may be making the clip. Sending it again would make two.
    site.fake.fault(
        "videos/clips",
        Fault::Delay(std::time::Duration::from_secs(2)),
        1,
    );
    let got = twitch.create_clip_from_vod(&token, &request).await;
    assert!(matches!(got, Err(TwitchError::Network(_))), "{got:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        site.fake.clips().len() <= 1,
        "at most the one clip the timed-out call made: {:?}",
        site.fake.clips()
    );

    // A GET is the same whether it is answered once or twice: it is still tried again.
    site.fake.fault("videos", Fault::Unavailable, 1);
    let archive = twitch
        .latest_archive(&UserId::parse(BROADCASTER.to_string()).unwrap())
        .await
        .expect("the GET is tried again after a 503");
    assert_eq!(archive.map(|v| v.id).as_deref(), Some("9001"));
}
