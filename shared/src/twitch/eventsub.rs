//! Twitch EventSub over webhooks: checking that a request really comes from Twitch, and the
//! shapes of the messages it sends. Pure functions, no I/O: the webhook stage
//! (`pipeline::webhook`) decides what each message does.
//!
//! Protocol: <https://dev.twitch.tv/docs/eventsub/handling-webhook-events/> — the signature is
//! `sha256=` + hex HMAC-SHA256 keyed by the subscription secret over message id + timestamp +
//! the raw body; messages older than 10 minutes must be refused as possible replays.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

pub const HEADER_MESSAGE_ID: &str = "twitch-eventsub-message-id";
pub const HEADER_TIMESTAMP: &str = "twitch-eventsub-message-timestamp";
pub const HEADER_SIGNATURE: &str = "twitch-eventsub-message-signature";
pub const HEADER_MESSAGE_TYPE: &str = "twitch-eventsub-message-type";

/// Twitch's replay window: older messages are refused.
pub const MAX_AGE: Duration = Duration::minutes(10);
/// Tolerated clock skew for timestamps from the future.
pub const MAX_SKEW: Duration = Duration::minutes(1);

/// Why a request was refused before its body was even parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("timestamp is not RFC 3339")]
    BadTimestamp,
    #[error("timestamp is older than 10 minutes")]
    Stale,
    #[error("timestamp is in the future")]
    FromTheFuture,
    #[error("signature does not match")]
    BadSignature,
}

/// The headers that authenticate a delivery, as received.
#[derive(Debug, Clone)]
pub struct SignedHeaders<'a> {
    pub message_id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
    pub message_type: &'a str,
}

impl<'a> SignedHeaders<'a> {
    /// Collect the headers through `get` (a case-insensitive header lookup).
    pub fn from_lookup(get: impl Fn(&'static str) -> Option<&'a str>) -> Result<Self, Refusal> {
        let need = |name: &'static str| get(name).ok_or(Refusal::MissingHeader(name));
        Ok(Self {
            message_id: need(HEADER_MESSAGE_ID)?,
            timestamp: need(HEADER_TIMESTAMP)?,
            signature: need(HEADER_SIGNATURE)?,
            message_type: need(HEADER_MESSAGE_TYPE)?,
        })
    }
}

/// The HMAC Twitch computes, as the `sha256=<hex>` header value.
pub fn signature(secret: &[u8], message_id: &str, timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(
            mac(secret, message_id, timestamp, body)
                .finalize()
                .into_bytes()
        )
    )
}

fn mac(secret: &[u8], message_id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(message_id.as_bytes());
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac
}

/// Check a delivery's signature (in constant time) and freshness on the exact bytes received.
/// Returns the message timestamp.
pub fn verify(
    secret: &[u8],
    headers: &SignedHeaders<'_>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Refusal> {
    let expected = headers
        .signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(Refusal::BadSignature)?;
    mac(secret, headers.message_id, headers.timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| Refusal::BadSignature)?;
    let at = DateTime::parse_from_rfc3339(headers.timestamp)
        .map_err(|_| Refusal::BadTimestamp)?
        .with_timezone(&Utc);
    if now - at > MAX_AGE {
        return Err(Refusal::Stale);
    }
    if at - now > MAX_SKEW {
        return Err(Refusal::FromTheFuture);
    }
    Ok(at)
}

/// The `subscription` object every message carries.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// On a revocation, the reason: `user_removed`, `authorization_revoked`,
    /// `notification_failures_exceeded`, `version_removed`, …
    pub status: String,
    #[serde(default)]
    pub condition: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Challenge {
    pub subscription: SubscriptionInfo,
    pub challenge: String,
}

#[derive(Debug, Deserialize)]
pub struct Revocation {
    pub subscription: SubscriptionInfo,
}

#[derive(Debug, Deserialize)]
pub struct Notification {
    pub subscription: SubscriptionInfo,
    pub event: serde_json::Value,
}

/// `stream.online` event.
#[derive(Debug, Deserialize)]
pub struct StreamOnline {
    pub id: String,
    pub broadcaster_user_id: String,
    pub broadcaster_user_login: String,
    pub started_at: DateTime<Utc>,
}

/// `stream.offline` event.
#[derive(Debug, Deserialize)]
pub struct StreamOffline {
    pub broadcaster_user_id: String,
    pub broadcaster_user_login: String,
}

/// The subscription type of chat messages.
pub const CHAT_MESSAGE: &str = "channel.chat.message";

/// `channel.chat.message` event: only what the chat log keeps. Twitch sends no time of its
/// own in the event; the message's signed timestamp header is its time.
/// <https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#channelchatmessage>
#[derive(Debug, Deserialize)]
pub struct ChatMessageEvent {
    pub broadcaster_user_id: String,
    /// Unique per chat message; the chat log is de-duplicated on it.
    pub message_id: String,
    pub message: ChatMessageBody,
}

#[derive(Debug, Deserialize)]
pub struct ChatMessageBody {
    pub text: String,
    #[serde(default)]
    pub fragments: Vec<ChatFragment>,
}

/// One part of a message: text, an emote, a cheermote or a mention.
#[derive(Debug, Deserialize)]
pub struct ChatFragment {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub emote: Option<ChatEmote>,
}

#[derive(Debug, Deserialize)]
pub struct ChatEmote {
    pub id: String,
}

impl ChatMessageEvent {
    /// The ids of the emotes in the message, in order (a channel's own hype emotes are
    /// configured by id: their names change with the channel's prefix).
    pub fn emote_ids(&self) -> Vec<String> {
        self.message
            .fragments
            .iter()
            .filter(|f| f.kind == "emote")
            .filter_map(|f| f.emote.as_ref().map(|e| e.id.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"s3cRe7-for-tests";

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            message_id: id,
            timestamp: ts,
            signature: sig,
            message_type: "notification",
        }
    }

    #[test]
    fn a_correct_signature_and_fresh_timestamp_pass() {
        let now = Utc::now();
        let ts = now.to_rfc3339();
        let sig = signature(SECRET, "m1", &ts, b"{}");
        assert!(verify(SECRET, &headers("m1", &ts, &sig), b"{}", now).is_ok());
    }

    #[test]
    fn any_changed_input_breaks_the_signature() {
        let now = Utc::now();
        let ts = now.to_rfc3339();
        let sig = signature(SECRET, "m1", &ts, b"{\"a\":1}");
        let refused = |h: SignedHeaders<'_>, body: &[u8], secret: &[u8]| {
            verify(secret, &h, body, now).unwrap_err()
        };
        assert_eq!(
            refused(headers("m1", &ts, &sig), b"{\"a\":2}", SECRET),
            Refusal::BadSignature
        );
        assert_eq!(
            refused(headers("m2", &ts, &sig), b"{\"a\":1}", SECRET),
            Refusal::BadSignature
        );
        assert_eq!(
            refused(headers("m1", &ts, &sig), b"{\"a\":1}", b"other-secret"),
            Refusal::BadSignature
        );
        assert_eq!(
            refused(headers("m1", &ts, "sha256=zz"), b"{\"a\":1}", SECRET),
            Refusal::BadSignature
        );
        assert_eq!(
            refused(
                headers("m1", &ts, sig.trim_start_matches("sha256=")),
                b"{\"a\":1}",
                SECRET
            ),
            Refusal::BadSignature
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused_even_when_signed() {
        let now = Utc::now();
        for (offset, want) in [
            (Duration::minutes(-11), Refusal::Stale),
            (Duration::minutes(2), Refusal::FromTheFuture),
        ] {
            let ts = (now + offset).to_rfc3339();
            let sig = signature(SECRET, "m1", &ts, b"{}");
            assert_eq!(
                verify(SECRET, &headers("m1", &ts, &sig), b"{}", now).unwrap_err(),
                want
            );
        }
        let ts = (now - Duration::minutes(9)).to_rfc3339();
        let sig = signature(SECRET, "m1", &ts, b"{}");
        assert!(verify(SECRET, &headers("m1", &ts, &sig), b"{}", now).is_ok());
    }

    #[test]
    fn a_chat_event_keeps_its_text_and_emote_ids() {
        let e: ChatMessageEvent = serde_json::from_value(serde_json::json!({
            "broadcaster_user_id": "1971641", "chatter_user_id": "4145994", "message_id": "cc106a89",
            "message": {"text": "KEKW lol", "fragments": [
                {"type": "emote", "text": "KEKW", "emote": {"id": "emotesv2_abc", "emote_set_id": "0"}, "cheermote": null, "mention": null},
                {"type": "text", "text": " lol", "emote": null, "cheermote": null, "mention": null}
            ]},
            "color": "#00FF7F", "badges": [], "message_type": "text"
        }))
        .unwrap();
        assert_eq!(
            (e.message_id.as_str(), e.message.text.as_str()),
            ("cc106a89", "KEKW lol")
        );
        assert_eq!(e.emote_ids(), vec!["emotesv2_abc".to_string()]);
    }

    #[test]
    fn missing_headers_are_named() {
        let got = SignedHeaders::from_lookup(|name| (name != HEADER_SIGNATURE).then_some("x"))
            .unwrap_err();
        assert_eq!(got, Refusal::MissingHeader(HEADER_SIGNATURE));
    }

    #[test]
    fn twitch_timestamps_with_nanoseconds_parse() {
        let ts = "2026-11-21T06:00:00.123456789Z";
        let now = DateTime::parse_from_rfc3339(ts)
            .unwrap()
            .with_timezone(&Utc);
        let sig = signature(SECRET, "m1", ts, b"x");
        assert_eq!(
            verify(SECRET, &headers("m1", ts, &sig), b"x", now).unwrap(),
            now
        );
    }
}
