//! What every fake Helix endpoint does around its own checks: take the request (headers and
//! query), pass it through the gate (`gate.rs`: `Client-Id`, token kind and scope, faults, rate
//! limit), and answer in Twitch's shapes — `{"data": …}` bodies, Twitch's error body, opaque
//! `after` cursors bound to the query that issued them. It is not the endpoints' rules: each
//! handler still checks its own parameters. Handlers return `Result<Response, Response>` so a
//! refusal (`Err`, already logged) can leave early with `?`; axum answers either side.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::gate::{Admitted, Need, Req};
use super::oauth::error;
use super::{first, parse_query, FakeTwitch};

/// Twitch's message for an `after` cursor it did not issue for this query.
const BAD_CURSOR: &str = "The cursor specified in the after query parameter is not valid";

/// A Helix request as it arrived, before the gate.
pub(crate) struct Incoming {
    fake: FakeTwitch,
    headers: HeaderMap,
    query: Vec<(String, String)>,
}

impl FromRequestParts<FakeTwitch> for Incoming {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, fake: &FakeTwitch) -> Result<Self, Infallible> {
        Ok(Self {
            fake: fake.clone(),
            headers: parts.headers.clone(),
            query: parse_query(parts.uri.query()),
        })
    }
}

impl Incoming {
    /// Pass the gate as `method path` needing `need`; the refusal is already logged.
    pub(crate) async fn admit(
        self,
        method: &'static str,
        path: &'static str,
        need: Need,
    ) -> Result<Call, Response> {
        let req = Req {
            method,
            path,
            query: &self.query,
        };
        let admitted = self.fake.admit(&self.headers, &req, need).await?;
        Ok(Call {
            fake: self.fake,
            method,
            path,
            query: self.query,
            admitted,
        })
    }
}

/// A request the gate let through; every answer goes through it to be logged and to carry the
/// `Ratelimit-*` headers.
pub(crate) struct Call {
    pub fake: FakeTwitch,
    method: &'static str,
    path: &'static str,
    query: Vec<(String, String)>,
    admitted: Admitted,
}

impl Call {
    /// The first value of query parameter `key`.
    pub(crate) fn first(&self, key: &str) -> Option<&str> {
        first(&self.query, key)
    }

    /// Every value of a repeated query parameter (`login=a&login=b`).
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The user a user token belongs to (none for an app token).
    pub(crate) fn user_id(&self) -> Option<&str> {
        self.admitted.user_id.as_deref()
    }

    pub(crate) fn reply(&self, response: Response) -> Response {
        let req = Req {
            method: self.method,
            path: self.path,
            query: &self.query,
        };
        self.fake.answer(&req, &self.admitted, response)
    }

    /// Refuse with Twitch's error body.
    pub(crate) fn fail(&self, status: u16, message: &str) -> Response {
        self.reply(error(status, message))
    }

    pub(crate) fn ok(&self, body: Value) -> Response {
        self.reply(axum::Json(body).into_response())
    }

    /// 202 Accepted: what Twitch answers when it creates something (a subscription, a clip).
    pub(crate) fn accepted(&self, body: Value) -> Response {
        self.reply((StatusCode::ACCEPTED, axum::Json(body)).into_response())
    }

    /// Where the page starts: 0 without `after`, else the offset of a cursor this fake issued
    /// for the same `query` (Twitch refuses a cursor from another query).
    // The `Err` is the answer itself, sent at once: boxing it would buy nothing in a test fake.
    #[allow(clippy::result_large_err)]
    pub(crate) fn offset(&self, query: &str) -> Result<usize, Response> {
        let Some(cursor) = self.first("after") else {
            return Ok(0);
        };
        let offset = match self.fake.lock().cursors.get(cursor) {
            Some((issued_for, offset)) if issued_for == query => Some(*offset),
            _ => None,
        };
        offset.ok_or_else(|| self.fail(400, BAD_CURSOR))
    }

    /// The `size` items from `offset`, and the `pagination` object: a fresh opaque cursor for
    /// the rest when there is more, `{}` on the last page.
    pub(crate) fn page(
        &self,
        query: String,
        items: Vec<Value>,
        offset: usize,
        size: usize,
    ) -> (Vec<Value>, Value) {
        let next = offset + size;
        let pagination = if next < items.len() {
            let cursor = uuid::Uuid::new_v4().simple().to_string();
            self.fake
                .lock()
                .cursors
                .insert(cursor.clone(), (query, next));
            json!({"cursor": cursor})
        } else {
            json!({})
        };
        let data = items.into_iter().skip(offset).take(size).collect();
        (data, pagination)
    }
}
