//! A chat burst through the real webhook path: thousands of messages a minute, a tenth of
//! them delivered twice by Twitch, none lost and none counted twice, and no state store call
//! per message.

use chrono::{Duration as Span, Utc};
use harness::backends::TestBackend;
use hilite::domain::ExternalId;

use super::Site;

/// Messages in the burst: 1,000 in 30 seconds, a rate of 2,000 a minute.
const BURST: i64 = 1000;

pub async fn a_chat_burst_through_the_webhook_is_stored_once_each_without_the_state_store(
    b: TestBackend,
) {
    let site = Site::with(b, |c| {
        c.chat.batch_max_messages = 250;
        c.chat.consumers = 100;
    })
    .await;
    let start = Utc::now() - Span::seconds(90);
    let mut messages: Vec<_> = (0..BURST)
        .map(|i| {
            let at = start + Span::milliseconds(i * 30);
            let text = if i % 3 == 0 { "KEKW lol" } else { "hello chat" };
            (
                at,
                format!("delivery-{i}"),
                format!("chat-{i}"),
                text.to_string(),
            )
        })
        .collect();
    // Twitch delivers every tenth message again, later (its answer was lost, say).
    messages.extend((0..BURST).step_by(10).map(|i| {
        let at = start + Span::seconds(61);
        (
            at,
            format!("delivery-{i}"),
            format!("chat-{i}"),
            "again".to_string(),
        )
    }));
    let statuses = site.chat(&messages).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    // The webhook remembered none of them: chat never touches the state store.
    for i in [0, 10, BURST - 1] {
        let id = ExternalId::parse(format!("delivery-{i}")).unwrap();
        assert!(
            !site
                .b
                .ports
                .store
                .message_seen(&id, Utc::now())
                .await
                .unwrap(),
            "delivery-{i} was recorded in the state store"
        );
    }

    site.drain_chat().await;

    let (ids, read) = site
        .stored_chat(start - Span::minutes(1), start + Span::minutes(5))
        .await;
    let mut expected: Vec<String> = (0..BURST).map(|i| format!("chat-{i}")).collect();
    expected.sort();
    assert_eq!(ids.len(), expected.len(), "{read:?}");
    assert_eq!(ids, expected, "every message once");
    assert_eq!(read.messages, BURST as usize);
    // 1,100 deliveries in batches of at most 250 lines: many objects, never one growing one.
    assert!(read.objects >= 4, "{read:?}");
}

/// A signed chat notification without a message id (or with a bad broadcaster id) is refused
/// with 400 and queues nothing.
pub async fn a_malformed_chat_notification_is_refused_and_queues_nothing(b: TestBackend) {
    let site = Site::with(b, |_| {}).await;
    let good = harness::eventsub::chat_message(super::BROADCASTER, "m-1", "hi");
    let mut no_id: serde_json::Value = serde_json::from_str(&good).unwrap();
    no_id["event"]["message_id"] = "".into();
    let mut bad_broadcaster: serde_json::Value = serde_json::from_str(&good).unwrap();
    bad_broadcaster["event"]["broadcaster_user_id"] = "../1001".into();
    let mut no_text: serde_json::Value = serde_json::from_str(&good).unwrap();
    no_text["event"]["message"] = serde_json::json!({});
    for (i, body) in [no_id, bad_broadcaster, no_text].iter().enumerate() {
        let status = site
            .chat_body(Utc::now(), &format!("bad-{i}"), &body.to_string())
            .await;
        assert_eq!(status, 400, "{body}");
    }
    let depth = site
        .b
        .ports
        .queue
        .depth(hilite::queue::QueueName::Chat)
        .await
        .unwrap();
    assert_eq!(depth.visible + depth.in_flight, 0, "nothing was queued");
}
