//! The gate every fake Helix request passes first: `Client-Id`, a live token of the right kind
//! and scope, an injected fault if one is queued for the route, and the token's rate-limit
//! bucket. It also logs each answer and puts the `Ratelimit-*` headers on it.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use chrono::Utc;

use super::oauth::error;
use super::{Bucket, FakeTwitch, Fault, Logged, TokenKind, CLIENT_ID};

pub(crate) enum Need {
    AnyToken,
    App,
    /// A user token with one of these scopes.
    UserScope(&'static [&'static str]),
}

pub(crate) struct Admitted {
    pub user_id: Option<String>,
    pub headers: HeaderMap,
    /// [`Fault::LoseAnswer`]: the answer is replaced by a 504.
    pub lose_answer: bool,
}

pub(crate) struct Req<'a> {
    pub method: &'static str,
    pub path: &'static str,
    pub query: &'a [(String, String)],
}

impl FakeTwitch {
    pub(crate) fn record(&self, req: &Req<'_>, status: u16) {
        self.lock().log.push(Logged {
            at: Utc::now(),
            method: req.method.into(),
            path: req.path.into(),
            query: req.query.to_vec(),
            status,
        });
    }

    /// Log the answer and attach the rate-limit headers.
    pub(crate) fn answer(
        &self,
        req: &Req<'_>,
        admitted: &Admitted,
        response: Response,
    ) -> Response {
        let mut response = if admitted.lose_answer {
            error(504, "Gateway Timeout")
        } else {
            response
        };
        self.record(req, response.status().as_u16());
        response.headers_mut().extend(admitted.headers.clone());
        response
    }

    pub(crate) fn refuse(&self, req: &Req<'_>, response: Response) -> Response {
        self.record(req, response.status().as_u16());
        response
    }

    pub(crate) async fn admit(
        &self,
        headers: &HeaderMap,
        req: &Req<'_>,
        need: Need,
    ) -> Result<Admitted, Response> {
        let route = req.path.trim_start_matches("/helix/");
        let (bucket_key, user_id, fault) = {
            let mut s = self.lock();
            if headers.get("client-id").and_then(|v| v.to_str().ok()) != Some(CLIENT_ID) {
                drop(s);
                return Err(self.refuse(
                    req,
                    error(401, "Client ID is missing or does not match the token"),
                ));
            }
            let bearer = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            let now = Utc::now();
            let token = bearer
                .and_then(|b| s.tokens.get(b))
                .filter(|t| t.expires_at > now)
                .cloned();
            let Some(token) = token else {
                drop(s);
                return Err(self.refuse(req, error(401, "Invalid OAuth token")));
            };
            let (key, user_id) = match (&token.kind, &need) {
                (TokenKind::User { .. }, Need::App) => {
                    drop(s);
                    return Err(self.refuse(
                        req,
                        error(
                            401,
                            "The Authorization header must specify an app access token",
                        ),
                    ));
                }
                (TokenKind::App, Need::UserScope(_)) => {
                    drop(s);
                    return Err(self.refuse(
                        req,
                        error(401, "This endpoint requires a user access token"),
                    ));
                }
                (TokenKind::User { scopes, .. }, Need::UserScope(wanted))
                    if !wanted.iter().any(|w| scopes.iter().any(|s| s == w)) =>
                {
                    drop(s);
                    return Err(self.refuse(
                        req,
                        error(
                            401,
                            "Missing scope: editor:manage:clips or channel:manage:clips",
                        ),
                    ));
                }
                (TokenKind::App, _) => ("app".to_string(), None),
                (TokenKind::User { user_id, .. }, _) => {
                    (format!("user:{user_id}"), Some(user_id.clone()))
                }
            };
            let fault = s
                .faults
                .iter()
                .position(|(r, _)| route.starts_with(r.as_str()))
                .and_then(|i| s.faults.remove(i))
                .map(|(_, f)| f);
            (key, user_id, fault)
        };
        let lose_answer = matches!(fault, Some(Fault::LoseAnswer));
        match fault {
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            Some(Fault::LoseAnswer) => {}
            Some(Fault::Unavailable) => {
                return Err(self.refuse(req, error(503, "Service Unavailable")))
            }
            Some(Fault::Status(code, message)) => {
                return Err(self.refuse(req, error(code, message)))
            }
            Some(Fault::RateLimited { reset_in }) => {
                let mut s = self.lock();
                let reset = (Utc::now() + chrono::Duration::from_std(reset_in).unwrap_or_default())
                    .timestamp()
                    + 1;
                s.buckets.insert(
                    bucket_key,
                    Bucket {
                        remaining: 0,
                        reset,
                    },
                );
                let limit = s.bucket_limit;
                drop(s);
                let mut r = error(429, "Too Many Requests");
                r.headers_mut().extend(rate_headers(limit, 0, reset));
                return Err(self.refuse(req, r));
            }
            None => {}
        }
        let mut s = self.lock();
        let now = Utc::now().timestamp_millis();
        let (limit, period) = (s.bucket_limit, s.bucket_period_secs);
        let bucket = s.buckets.entry(bucket_key).or_insert(Bucket {
            remaining: limit,
            reset: now / 1000 + period + 1,
        });
        if now >= bucket.reset * 1000 {
            *bucket = Bucket {
                remaining: limit,
                reset: now / 1000 + period + 1,
            };
        }
        if bucket.remaining == 0 {
            let reset = bucket.reset;
            s.bucket_violations += 1;
            drop(s);
            let mut r = error(429, "Too Many Requests");
            r.headers_mut().extend(rate_headers(limit, 0, reset));
            return Err(self.refuse(req, r));
        }
        bucket.remaining -= 1;
        let headers = rate_headers(limit, bucket.remaining, bucket.reset);
        Ok(Admitted {
            user_id,
            headers,
            lose_answer,
        })
    }
}

fn rate_headers(limit: u32, remaining: u32, reset: i64) -> HeaderMap {
    let mut h = HeaderMap::new();
    let v = |n: i64| HeaderValue::from_str(&n.to_string()).unwrap_or(HeaderValue::from_static("0"));
    h.insert("ratelimit-limit", v(limit.into()));
    h.insert("ratelimit-remaining", v(remaining.into()));
    h.insert("ratelimit-reset", v(reset));
    h
}
