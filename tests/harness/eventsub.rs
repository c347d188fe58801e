//! Building EventSub deliveries the way Twitch signs them, for the webhook tests and the demo.

use chrono::{DateTime, Utc};
use hilite::twitch::eventsub::{
    signature, HEADER_MESSAGE_ID, HEADER_MESSAGE_TYPE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use http::{HeaderMap, HeaderValue};

pub const SECRET: &str = "hilite-test-eventsub-secret";

/// One delivery: its headers and the exact body bytes.
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub fn signed(message_type: &str, message_id: &str, at: DateTime<Utc>, body: &str) -> Delivery {
    signed_with(SECRET, message_type, message_id, at, body)
}

pub fn signed_with(
    secret: &str,
    message_type: &str,
    message_id: &str,
    at: DateTime<Utc>,
    body: &str,
) -> Delivery {
    let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let sig = signature(secret.as_bytes(), message_id, &ts, body.as_bytes());
    let mut headers = HeaderMap::new();
    let v = |s: &str| HeaderValue::from_str(s).expect("header value");
    headers.insert(HEADER_MESSAGE_ID, v(message_id));
    headers.insert(HEADER_TIMESTAMP, v(&ts));
    headers.insert(HEADER_SIGNATURE, v(&sig));
    headers.insert(HEADER_MESSAGE_TYPE, v(message_type));
    Delivery {
        headers,
        body: body.as_bytes().to_vec(),
    }
}

pub fn online(broadcaster: &str, stream_id: &str, started_at: DateTime<Utc>) -> String {
    serde_json::json!({
        "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4", "type": "stream.online", "version": "1", "status": "enabled", "cost": 0,
            "condition": {"broadcaster_user_id": broadcaster}, "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"},
        "event": {"id": stream_id, "broadcaster_user_id": broadcaster, "broadcaster_user_login": "streamer_one", "broadcaster_user_name": "Streamer_One", "type": "live",
            "started_at": started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}
    })
    .to_string()
}

pub fn offline(broadcaster: &str) -> String {
    serde_json::json!({
        "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c5", "type": "stream.offline", "version": "1", "status": "enabled", "cost": 0,
            "condition": {"broadcaster_user_id": broadcaster}, "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"},
        "event": {"broadcaster_user_id": broadcaster, "broadcaster_user_login": "streamer_one", "broadcaster_user_name": "Streamer_One"}
    })
    .to_string()
}

pub fn challenge(challenge: &str) -> String {
    serde_json::json!({
        "challenge": challenge,
        "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4", "status": "webhook_callback_verification_pending", "type": "stream.offline", "version": "1", "cost": 0,
            "condition": {"broadcaster_user_id": "1001"}, "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"}
    })
    .to_string()
}

pub fn revocation(broadcaster: &str, subscription_id: &str, reason: &str) -> String {
    serde_json::json!({
        "subscription": {"id": subscription_id, "status": reason, "type": "stream.offline", "version": "1", "cost": 0,
            "condition": {"broadcaster_user_id": broadcaster}, "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"}
    })
    .to_string()
}

/// A `channel.chat.message` notification as Twitch sends it (webhook transport), read by
/// `user_id` in `broadcaster`'s chat.
pub fn chat_message(broadcaster: &str, message_id: &str, text: &str) -> String {
    serde_json::json!({
        "subscription": {"id": "0b7f3361-672b-4d39-b307-dd5b576c9b27", "type": "channel.chat.message", "version": "1", "status": "enabled", "cost": 0,
            "condition": {"broadcaster_user_id": broadcaster, "user_id": broadcaster}, "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"}, "created_at": "2026-11-01T10:11:12.634234626Z"},
        "event": {"broadcaster_user_id": broadcaster, "broadcaster_user_login": "streamer_one", "broadcaster_user_name": "Streamer_One",
            "chatter_user_id": "4145994", "chatter_user_login": "viewer32", "chatter_user_name": "viewer32", "message_id": message_id,
            "message": {"text": text, "fragments": [{"type": "text", "text": text, "cheermote": null, "emote": null, "mention": null}]},
            "color": "#00FF7F", "badges": [], "message_type": "text", "cheer": null, "reply": null, "channel_points_custom_reward_id": null,
            "source_broadcaster_user_id": null, "source_broadcaster_user_login": null, "source_broadcaster_user_name": null, "source_message_id": null, "source_badges": null}
    })
    .to_string()
}
