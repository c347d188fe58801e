//! The fake's EventSub subscription endpoints: create (app token, HTTPS callback on 443, a
//! 10–100 character secret, 409 for a duplicate, chat only with the users' grants), list (one filter at most, paged in twos so
//! paging is exercised) and delete.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};

use super::gate::{Need, Req};
use super::helix::{ok, time};
use super::oauth::error;
use super::{first, parse_query, FakeTwitch, Subscription};

/// Get EventSub Subscriptions pages in twos here, so paging is exercised.
const SUBSCRIPTIONS_PAGE: usize = 2;

fn subscription_json(sub: &Subscription) -> Value {
    json!({
        "id": sub.id, "status": "webhook_callback_verification_pending", "type": sub.kind, "version": "1",
        "condition": sub.condition, "created_at": time(sub.created_at),
        "transport": {"method": "webhook", "callback": sub.callback}, "cost": 1,
    })
}

pub(crate) async fn create_subscription(
    State(fake): State<FakeTwitch>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = Req {
        method: "POST",
        path: "/helix/eventsub/subscriptions",
        query: &[],
    };
    let admitted = match fake.admit(&headers, &req, Need::App).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return fake.answer(&req, admitted, error(400, "malformed JSON"));
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
        return fake.answer(&req, admitted, error(400, p));
    }
    if kind == "channel.chat.message" && !chat_authorized(&fake, &condition) {
        return fake.answer(
            &req,
            admitted,
            error(403, "subscription missing proper authorization"),
        );
    }
    let mut s = fake.lock();
    if s.subscriptions
        .iter()
        .any(|x| x.kind == kind && x.condition == condition)
    {
        drop(s);
        return fake.answer(&req, admitted, error(409, "subscription already exists"));
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
    let body = json!({"data": [subscription_json(&sub)], "total": total, "total_cost": total, "max_total_cost": 10000});
    fake.answer(
        &req,
        admitted,
        (StatusCode::ACCEPTED, axum::Json(body)).into_response(),
    )
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

pub(crate) async fn list_subscriptions(
    State(fake): State<FakeTwitch>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = parse_query(raw.as_deref());
    let req = Req {
        method: "GET",
        path: "/helix/eventsub/subscriptions",
        query: &query,
    };
    let admitted = match fake.admit(&headers, &req, Need::App).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let filters: Vec<&(String, String)> = query
        .iter()
        .filter(|(k, _)| ["status", "type", "user_id", "subscription_id"].contains(&k.as_str()))
        .collect();
    if filters.len() > 1 {
        return fake.answer(
            &req,
            admitted,
            error(
                400,
                "The request may specify only one filter query parameter",
            ),
        );
    }
    let mut s = fake.lock();
    let offset = match first(&query, "after") {
        None => 0,
        Some(c) => match s.cursors.get(c) {
            Some((sig, n)) if sig == "subscriptions" => *n,
            _ => {
                drop(s);
                return fake.answer(
                    &req,
                    admitted,
                    error(
                        400,
                        "The cursor specified in the after query parameter is not valid",
                    ),
                );
            }
        },
    };
    let matching: Vec<Subscription> = s
        .subscriptions
        .iter()
        .filter(|x| match filters.first() {
            Some((k, v)) if k == "type" => &x.kind == v,
            Some((k, v)) if k == "user_id" => {
                x.condition["broadcaster_user_id"] == v.as_str()
                    || x.condition["user_id"] == v.as_str()
            }
            Some((k, v)) if k == "subscription_id" => &x.id == v,
            _ => true,
        })
        .cloned()
        .collect();
    let data: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(SUBSCRIPTIONS_PAGE)
        .map(subscription_json)
        .collect();
    let next = offset + SUBSCRIPTIONS_PAGE;
    let pagination = if next < matching.len() {
        let cursor = uuid::Uuid::new_v4().simple().to_string();
        s.cursors
            .insert(cursor.clone(), ("subscriptions".into(), next));
        json!({"cursor": cursor})
    } else {
        json!({})
    };
    let total = s.subscriptions.len();
    drop(s);
    fake.answer(&req, admitted, ok(json!({"data": data, "total": total, "total_cost": total, "max_total_cost": 10000, "pagination": pagination})))
}

pub(crate) async fn delete_subscription(
    State(fake): State<FakeTwitch>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = parse_query(raw.as_deref());
    let req = Req {
        method: "DELETE",
        path: "/helix/eventsub/subscriptions",
        query: &query,
    };
    let admitted = match fake.admit(&headers, &req, Need::App).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(id) = first(&query, "id") else {
        return fake.answer(
            &req,
            admitted,
            error(400, "The id query parameter is required"),
        );
    };
    let mut s = fake.lock();
    let before = s.subscriptions.len();
    s.subscriptions.retain(|x| x.id != id);
    let removed = s.subscriptions.len() < before;
    drop(s);
    let response = if removed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(404, "The subscription was not found")
    };
    fake.answer(&req, admitted, response)
}
