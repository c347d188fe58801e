//! The webhook stage: a Twitch EventSub delivery in, an HTTP answer out. It verifies, remembers,
//! stores and enqueues — and never calls Twitch, so it answers in microseconds whatever Twitch's
//! API is doing (seed 000 slept 600 s here; the delay now lives on the collect queue).
//!
//! Exactly once under redelivery, concurrent copies included: before applying a message the
//! webhook claims its id in the state store for a short lease (`claim_message`, of which
//! exactly one concurrent caller wins), then settles it (remembered past Twitch's replay
//! window) once the effects are done, or releases it when they failed, so Twitch's retry can
//! apply it. A copy that finds the id handled answers 2xx; one that finds it claimed waits a
//! moment for the holder's outcome, and answers 503 if there is none yet (the holder may still
//! fail, and a 2xx would tell Twitch the message was delivered), so Twitch retries it. A
//! handler that dies holding a claim leaves it to expire with its lease; the next delivery
//! then applies the message. The effects are idempotent besides (a stream is opened once per
//! stream id, a repeated `stream.offline` re-enqueues the same window, which collect handles
//! idempotently), should a holder outlive its lease.
//!
//! Chat messages are the exception: `channel.chat.message` goes to the chat queue without any
//! state store call (a busy chat sends thousands a minute), and its redeliveries are dropped by
//! message id when the chat log is written and read (`chat.rs`, `chat_window.rs`). So are
//! challenges (`webhook_callback_verification`): they change nothing, and each copy is answered
//! with its challenge.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use super::chat::{ChatLine, ChatNote};
use super::messages::{encode, CollectMessage};
use crate::backend::Ports;
use crate::domain::{BroadcasterId, ExternalId, Stream, SubscriptionStatus};
use crate::queue::QueueName;
use crate::store::{MessageClaim, StoreError};
use crate::twitch::eventsub::{
    self, Challenge, ChatMessageEvent, Notification, Refusal, Revocation, SignedHeaders,
    StreamOffline, StreamOnline,
};

/// Twitch's notifications are a few KiB; anything over this is refused unread.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A repeated `stream.offline` this soon after the stream closed re-enqueues its window.
const REPEATED_OFFLINE_WINDOW: chrono::Duration = chrono::Duration::hours(1);
/// How long a delivery holds a message id while applying it. Longer than the webhook Lambda's
/// 10-second timeout (infra/template.yaml), so a live handler never loses its claim; short
/// enough that Twitch's redelivery after a crashed handler finds it expired.
const CLAIM_LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// How long, in all, a copy that finds its id claimed waits for the holder's outcome. Twitch
/// wants an answer "within a few seconds"
/// (<https://dev.twitch.tv/docs/eventsub/handling-webhook-events>); applying takes
/// milliseconds.
const CLAIM_WAIT: Duration = Duration::from_millis(1500);
/// Between two looks at a claimed id.
const CLAIM_POLL: Duration = Duration::from_millis(25);

/// What the webhook needs besides the ports.
#[derive(Clone)]
pub struct WebhookSettings {
    pub secret: SecretString,
    pub collect_delay: Duration,
}

impl WebhookSettings {
    /// The settings from the configuration; `None` when no EventSub secret is configured (then
    /// every delivery is answered 503 and Twitch retries).
    pub fn from_config(config: &crate::config::Config) -> Option<Self> {
        config.twitch.eventsub_secret.clone().map(|secret| Self {
            secret,
            collect_delay: Duration::from_secs(config.pipeline.collect_delay_secs),
        })
    }
}

/// The answer when the webhook is not configured.
pub fn not_configured() -> WebhookResponse {
    WebhookResponse::text(503, "webhook not configured (twitch.eventsub_secret)")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl WebhookResponse {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
    fn no_content() -> Self {
        Self::text(204, "")
    }
}

/// Handle one delivery. `body` is the exact bytes received.
pub async fn handle_webhook(
    ports: &Ports,
    settings: &WebhookSettings,
    headers: &HeaderMap,
    body: &[u8],
) -> WebhookResponse {
    if body.len() > MAX_BODY_BYTES {
        return WebhookResponse::text(413, "body too large");
    }
    let now = ports.clock.now();
    let lookup = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = match SignedHeaders::from_lookup(lookup).and_then(|h| {
        eventsub::verify(settings.secret.expose_secret().as_bytes(), &h, body, now)
            .map(|at| (h, at))
    }) {
        Ok(ok) => ok,
        Err(refusal) => return refuse(refusal),
    };
    let (headers, sent_at) = signed;
    let Ok(message_id) = ExternalId::parse(headers.message_id) else {
        return WebhookResponse::text(400, "malformed message id");
    };
    let message = match Message::parse(headers.message_type, body) {
        Ok(m) => m,
        Err(e) => {
            tracing::info!(message_id = %message_id, error = %e, "refused a signed webhook with a malformed body");
            return WebhookResponse::text(400, "malformed JSON");
        }
    };
    // Chat arrives by the thousand a minute: it goes straight to the chat queue, with no state
    // store read or write per message; the chat log drops redeliveries by message id instead.
    if let Message::Notification(n) = &message {
        if n.subscription.kind == eventsub::CHAT_MESSAGE {
            return match chat(ports, n, sent_at).await {
                Ok(r) => r,
                Err(e) => unavailable(&message_id, &e),
            };
        }
    }
    // A challenge changes nothing, so it is answered every time it comes: Twitch sends it
    // again when our first answer did not reach it, and only the challenge itself verifies the
    // subscription (a "handled" 204 would fail it).
    if let Message::Challenge(c) = message {
        return challenge_answer(c);
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    match claim(ports, &message_id, &token).await {
        Ok(MessageClaim::Claimed) => {}
        Ok(MessageClaim::Handled) => {
            tracing::debug!(message_id = %message_id, "webhook message already handled");
            return WebhookResponse::no_content();
        }
        Ok(MessageClaim::InFlight) => {
            tracing::info!(message_id = %message_id, "another delivery of this webhook message is still being handled; Twitch will retry");
            return WebhookResponse::text(503, "being handled by another delivery; retry");
        }
        Err(e) => return unavailable(&message_id, &e),
    }
    let response = match apply(ports, settings, message, sent_at).await {
        Ok(r) => r,
        Err(e) => {
            // Let Twitch's retry claim it at once rather than after the lease.
            if let Err(release) = ports.store.release_message(&message_id, &token).await {
                tracing::warn!(message_id = %message_id, error = %release, "could not release a webhook message claim; it expires with its lease");
            }
            return unavailable(&message_id, &e);
        }
    };
    // Remembered past Twitch's 10-minute replay window, so a replay is refused as stale or
    // recognised as handled.
    let expires = sent_at + eventsub::MAX_AGE + chrono::Duration::minutes(5);
    if let Err(e) = ports
        .store
        .settle_message(&message_id, &token, expires)
        .await
    {
        // The effects are done and idempotent; a redelivery after the lease would repeat them
        // harmlessly.
        tracing::warn!(message_id = %message_id, error = %e, "could not remember a handled webhook message");
    }
    response
}

/// Claim the id, waiting (bounded by [`CLAIM_WAIT`]) while another delivery holds it: the
/// holder either settles (then this copy is `Handled`) or releases (then this copy claims).
async fn claim(
    ports: &Ports,
    message_id: &ExternalId,
    token: &str,
) -> Result<MessageClaim, StoreError> {
    let polls = CLAIM_WAIT.as_millis() / CLAIM_POLL.as_millis();
    let mut poll = 0;
    loop {
        let now = ports.clock.now();
        let found = ports
            .store
            .claim_message(message_id, token, now + CLAIM_LEASE, now)
            .await?;
        if found != MessageClaim::InFlight || poll >= polls {
            return Ok(found);
        }
        poll += 1;
        tokio::time::sleep(CLAIM_POLL).await;
    }
}

fn challenge_answer(c: Challenge) -> WebhookResponse {
    tracing::info!(subscription = %c.subscription.id, kind = %c.subscription.kind, "answered an EventSub challenge");
    WebhookResponse::text(200, c.challenge)
}

fn refuse(refusal: Refusal) -> WebhookResponse {
    tracing::info!(reason = %refusal, "refused a webhook delivery");
    WebhookResponse::text(403, "forbidden")
}

fn unavailable(message_id: &ExternalId, e: &dyn std::fmt::Display) -> WebhookResponse {
    // A 5xx makes Twitch deliver the message again later.
    tracing::error!(message_id = %message_id, error = %e, "webhook not handled; Twitch will retry");
    WebhookResponse::text(503, "temporarily unavailable")
}

enum Message {
    Challenge(Challenge),
    Revocation(Revocation),
    Notification(Notification),
    Unknown(String),
}

impl Message {
    fn parse(message_type: &str, body: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match message_type {
            "webhook_callback_verification" => Message::Challenge(serde_json::from_slice(body)?),
            "revocation" => Message::Revocation(serde_json::from_slice(body)?),
            "notification" => Message::Notification(serde_json::from_slice(body)?),
            other => {
                // Still has to be JSON: a signed body that is not is malformed.
                serde_json::from_slice::<serde_json::Value>(body)?;
                Message::Unknown(other.to_string())
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

async fn apply(
    ports: &Ports,
    settings: &WebhookSettings,
    message: Message,
    sent_at: DateTime<Utc>,
) -> Result<WebhookResponse, ApplyError> {
    let now = ports.clock.now();
    match message {
        Message::Challenge(c) => Ok(challenge_answer(c)),
        Message::Revocation(r) => {
            let sub = r.subscription;
            tracing::warn!(subscription = %sub.id, kind = %sub.kind, reason = %sub.status, "Twitch revoked an EventSub subscription; run `hilite subscribe` again once fixed");
            let broadcaster = sub
                .condition
                .get("broadcaster_user_id")
                .and_then(|v| v.as_str())
                .and_then(|s| BroadcasterId::parse(s).ok());
            if let (Some(b), Ok(id)) = (broadcaster, ExternalId::parse(sub.id.clone())) {
                match ports
                    .store
                    .set_subscription_status(
                        &b,
                        &id,
                        &sub.kind,
                        SubscriptionStatus::Revoked,
                        Some(&sub.status),
                        now,
                    )
                    .await
                {
                    Ok(()) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(WebhookResponse::no_content())
        }
        Message::Notification(n) => notification(ports, settings, n, sent_at).await,
        Message::Unknown(kind) => {
            tracing::info!(message_type = %kind, "ignored an unknown EventSub message type");
            Ok(WebhookResponse::no_content())
        }
    }
}

/// A `channel.chat.message` notification onto the chat queue.
async fn chat(
    ports: &Ports,
    n: &Notification,
    sent_at: DateTime<Utc>,
) -> Result<WebhookResponse, ApplyError> {
    let event = serde_json::from_value::<ChatMessageEvent>(n.event.clone());
    let note = event.ok().and_then(|e| {
        let broadcaster_id = BroadcasterId::parse(e.broadcaster_user_id.clone()).ok()?;
        (!e.message_id.is_empty()).then(|| ChatNote {
            broadcaster_id,
            line: ChatLine {
                emote_ids: e.emote_ids(),
                id: e.message_id,
                at: sent_at,
                text: e.message.text,
            },
        })
    });
    let Some(note) = note else {
        tracing::info!("refused a chat notification with bad fields");
        return Ok(WebhookResponse::text(
            400,
            "malformed event: bad channel.chat.message fields",
        ));
    };
    ports
        .queue
        .send(QueueName::Chat, &encode(&note), Duration::ZERO)
        .await?;
    Ok(WebhookResponse::no_content())
}

async fn notification(
    ports: &Ports,
    settings: &WebhookSettings,
    n: Notification,
    sent_at: DateTime<Utc>,
) -> Result<WebhookResponse, ApplyError> {
    let bad = |what: &str| {
        tracing::info!(kind = %n.subscription.kind, "refused a notification with {what}");
        Ok(WebhookResponse::text(
            400,
            format!("malformed event: {what}"),
        ))
    };
    match n.subscription.kind.as_str() {
        "stream.online" => {
            let Ok(e) = serde_json::from_value::<StreamOnline>(n.event.clone()) else {
                return bad("bad stream.online fields");
            };
            let (Ok(broadcaster_id), Ok(stream_id)) = (
                BroadcasterId::parse(e.broadcaster_user_id),
                ExternalId::parse(e.id),
            ) else {
                return bad("bad ids");
            };
            let stream = Stream {
                broadcaster_id,
                stream_id,
                started_at: e.started_at,
                ended_at: None,
            };
            let new = ports.store.open_stream(&stream).await?;
            tracing::info!(broadcaster = %stream.broadcaster_id, stream = %stream.stream_id, new, "stream online");
            Ok(WebhookResponse::no_content())
        }
        "stream.offline" => {
            let Ok(e) = serde_json::from_value::<StreamOffline>(n.event.clone()) else {
                return bad("bad stream.offline fields");
            };
            let Ok(broadcaster_id) = BroadcasterId::parse(e.broadcaster_user_id) else {
                return bad("bad ids");
            };
            let collect = match ports.store.close_stream(&broadcaster_id, sent_at).await? {
                Some(s) => CollectMessage {
                    broadcaster_id,
                    stream_id: Some(s.stream_id),
                    started_at: Some(s.started_at),
                    ended_at: sent_at,
                },
                None => match ports.store.latest_stream(&broadcaster_id).await? {
                    // Closed by an earlier delivery whose collect may not have reached the
                    // queue; or a new stream began since, its `stream.online` missed. The
                    // window runs to this notification, so it holds both: the closed stream's
                    // clips and any made since (collect records each clip once).
                    Some(s)
                        if s.ended_at
                            .is_some_and(|end| sent_at - end < REPEATED_OFFLINE_WINDOW) =>
                    {
                        CollectMessage {
                            broadcaster_id,
                            stream_id: Some(s.stream_id),
                            started_at: Some(s.started_at),
                            ended_at: s.ended_at.map_or(sent_at, |end| end.max(sent_at)),
                        }
                    }
                    _ => {
                        tracing::info!(broadcaster = %broadcaster_id, "stream.offline without a recorded start; collect will find the start from the latest archive video");
                        CollectMessage {
                            broadcaster_id,
                            stream_id: None,
                            started_at: None,
                            ended_at: sent_at,
                        }
                    }
                },
            };
            ports
                .queue
                .send(
                    QueueName::Collect,
                    &encode(&collect),
                    settings.collect_delay,
                )
                .await?;
            tracing::info!(broadcaster = %collect.broadcaster_id, delay_secs = settings.collect_delay.as_secs(), "stream offline; collect enqueued");
            Ok(WebhookResponse::no_content())
        }
        other => {
            tracing::info!(kind = %other, "ignored a notification of an unhandled subscription type");
            Ok(WebhookResponse::no_content())
        }
    }
}
