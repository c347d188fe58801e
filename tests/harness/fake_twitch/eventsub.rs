//! The fake's EventSub subscription endpoints: create (app token, HTTPS callback on 443, a
//! 10–100 character secret, 409 for a duplicate, chat only with the users' grants), list (one filter at most, paged in twos so
//! paging is exercised) and delete.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};

use super::call::Incoming;
use super::gate::Need;
use super::helix::time;
use super::{FakeTwitch, Subscription};

/// Get EventSub Subscriptions pages in twos here, so paging is exercised.
const SUBSCRIPTIONS_PAGE: usize = 2;

/// What the cursors of Get EventSub Subscriptions are issued for.
const SUBSCRIPTIONS: &str = "subscriptions";

fn subscription_json(sub: &Subscription) -> Value {
    json!({
        "id": sub.id, "status": "webhook_callback_verification_pending", "type": sub.kind, "version": "1",
        "condition": sub.condition, "created_at": time(sub.created_at),
        "transport": {"method": "webhook", "callback": sub.callback}, "cost": 1,
    })
}

pub(crate) async fn create_subscription(
    incoming: Incoming,
    body: Bytes,
) -> Result<Response, Response> {
    let call = incoming
        .admit("POST", "/helix/eventsub/subscriptions", Need::App)
        .await?;
    let fake = &call.fake;
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return Err(call.fail(400, "malformed JSON"));
    };
    let kind = v["type"].as_str().unwrap_or_default().to_string();
    let condition = v["condition"].clone();
    let callback = v["transport"]["callback"].as_str().unwrap_or_default();
    let secret = v["transport"]["secret"].as_str().unwrap_or_default();
    let callback_ok = url::Url::parse(callback)
        .is_ok_and(|u| u.scheme() == "https" && u.port().is_none_or(|p| p == 443));
    let problem = if !["stream.online", "stream.offline", "channel.chat.message"]
        .contains(&kind.as_str())
        || v["version"] != "1"
    {
        Some("The combination of values in the version and type fields is not valid")
    } else if v["transport"]["method"] != "webhook" || !callback_ok {
        Some("The URL in the transport's callback field is not valid. The URL must use the HTTPS protocol and the 443 port number.")
    } else if !(10..=100).contains(&secret.len()) || !secret.is_ascii() {
        Some("The length of the string in the secret field is not valid")
    } else if !condition["broadcaster_user_id"]
        .as_str()
        .is_some_and(|b| fake.lock().users.contains_key(b))
    {
        Some("The user specified in the condition object does not exist")
    } else if kind == "channel.chat.message" && condition["user_id"].as_str().is_none() {
        Some("The condition object is missing one or more required fields")
    } else {
        None
    };
    if let Some(p) = problem {
        return Err(call.fail(400, p));
    }
    if kind == "channel.chat.message" && !chat_authorized(fake, &condition) {
        return Err(call.fail(403, "subscription missing proper authorization"));
    }
    let mut s = fake.lock();
    if s.subscriptions
        .iter()
        .any(|x| x.kind == kind && x.condition == condition)
    {
        drop(s);
        return Err(call.fail(409, "subscription already exists"));
    }
    let sub = Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        condition,
        callback: callback.into(),
        created_at: Utc::now(),
    };
    s.subscriptions.push(sub.clone());
    let total = s.subscriptions.len();
    drop(s);
    Ok(call.accepted(
        json!({"data": [subscription_json(&sub)], "total": total, "total_cost": total, "max_total_cost": 10000}),
    ))
}

/// channel.chat.message with an app token (webhooks): the reading user granted user:read:chat
/// and user:bot, and the broadcaster granted channel:bot unless the reader moderates the
/// channel. <https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#channelchatmessage>
fn chat_authorized(fake: &FakeTwitch, condition: &Value) -> bool {
    let (Some(broadcaster), Some(reader)) = (
        condition["broadcaster_user_id"].as_str(),
        condition["user_id"].as_str(),
    ) else {
        return false;
    };
    let s = fake.lock();
    let granted = |user: &str, scope: &str| {
        s.refresh_tokens
            .values()
            .any(|(u, _, scopes)| u == user && scopes.iter().any(|x| x == scope))
    };
    granted(reader, "user:read:chat")
        && granted(reader, "user:bot")
        && (granted(broadcaster, "channel:bot")
            || s.moderators
                .contains(&(broadcaster.to_string(), reader.to_string())))
}

pub(crate) async fn list_subscriptions(incoming: Incoming) -> Result<Response, Response> {
    let call = incoming
        .admit("GET", "/helix/eventsub/subscriptions", Need::App)
        .await?;
    let filter = ["status", "type", "user_id", "subscription_id"]
        .iter()
        .flat_map(|k| call.all(k).into_iter().map(move |v| (*k, v)))
        .collect::<Vec<_>>();
    if filter.len() > 1 {
        return Err(call.fail(
            400,
            "The request may specify only one filter query parameter",
        ));
    }
    let offset = call.offset(SUBSCRIPTIONS)?;
    let (matching, total) = {
        let s = call.fake.lock();
        let matching: Vec<Value> = s
            .subscriptions
            .iter()
            .filter(|x| match filter.first() {
                Some(("type", v)) => x.kind == *v,
                Some(("user_id", v)) => {
                    x.condition["broadcaster_user_id"] == *v || x.condition["user_id"] == *v
                }
                Some(("subscription_id", v)) => x.id == *v,
                _ => true,
            })
            .map(subscription_json)
            .collect();
        (matching, s.subscriptions.len())
    };
    let (data, pagination) = call.page(SUBSCRIPTIONS.into(), matching, offset, SUBSCRIPTIONS_PAGE);
    Ok(call.ok(
        json!({"data": data, "total": total, "total_cost": total, "max_total_cost": 10000, "pagination": pagination}),
    ))
}

pub(crate) async fn delete_subscription(incoming: Incoming) -> Result<Response, Response> {
    let call = incoming
        .admit("DELETE", "/helix/eventsub/subscriptions", Need::App)
        .await?;
    let Some(id) = call.first("id") else {
        return Err(call.fail(400, "The id query parameter is required"));
    };
    let removed = {
        let mut s = call.fake.lock();
        let before = s.subscriptions.len();
        s.subscriptions.retain(|x| x.id != id);
        s.subscriptions.len() < before
    };
    Ok(if removed {
        call.reply(StatusCode::NO_CONTENT.into_response())
    } else {
        call.fail(404, "The subscription was not found")
    })
}
