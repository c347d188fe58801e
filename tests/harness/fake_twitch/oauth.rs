//! The fake's OAuth service: client credentials, the device code flow (with
//! `authorization_pending` and `slow_down`), refresh with rotation (a refresh token works once),
//! and `/validate`. Form bodies and answers follow
//! <https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/>.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use super::{
    first, parse_query, DeviceGrant, FakeTwitch, Logged, State as Inner, Token, TokenKind,
    CLIENT_ID, CLIENT_SECRET,
};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub(crate) fn error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"error": code.canonical_reason().unwrap_or(""), "status": status, "message": message});
    (code, axum::Json(body)).into_response()
}

fn log(s: &mut Inner, method: &str, path: &str, query: Vec<(String, String)>, status: u16) {
    s.log.push(Logged {
        at: Utc::now(),
        method: method.into(),
        path: path.into(),
        query,
        status,
    });
}

fn new_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Issue an access token (and for users a refresh token) and answer like the token endpoint.
fn issue(s: &mut Inner, kind: TokenKind) -> serde_json::Value {
    let access = new_secret();
    let lifetime = match kind {
        TokenKind::App => chrono::Duration::days(60),
        TokenKind::User { .. } => s.user_token_lifetime,
    };
    s.tokens.insert(
        access.clone(),
        Token {
            kind: kind.clone(),
            expires_at: Utc::now() + lifetime,
        },
    );
    match kind {
        TokenKind::App => {
            json!({"access_token": access, "expires_in": lifetime.num_seconds(), "token_type": "bearer"})
        }
        TokenKind::User {
            user_id,
            login,
            scopes,
        } => {
            let refresh = new_secret();
            // One valid refresh token per user: issuing a new one retires the old.
            s.refresh_tokens.retain(|_, (u, _, _)| *u != user_id);
            s.refresh_tokens
                .insert(refresh.clone(), (user_id, login, scopes.clone()));
            json!({"access_token": access, "refresh_token": refresh, "expires_in": lifetime.num_seconds(), "scope": scopes, "token_type": "bearer"})
        }
    }
}

pub(crate) async fn token(State(fake): State<FakeTwitch>, body: Bytes) -> Response {
    let form = parse_query(std::str::from_utf8(&body).ok());
    let mut s = fake.lock();
    let (status, answer) = if s.token_rate_limits > 0 {
        s.token_rate_limits -= 1;
        (429, Err("Too Many Requests"))
    } else {
        token_answer(&mut s, &form)
    };
    // Logged without the form: it holds secrets.
    log(&mut s, "POST", "/oauth2/token", Vec::new(), status);
    match answer {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(m) => error(status, m),
    }
}

fn token_answer(
    s: &mut Inner,
    form: &[(String, String)],
) -> (u16, Result<serde_json::Value, &'static str>) {
    if first(form, "client_id") != Some(CLIENT_ID) {
        return (400, Err("invalid client"));
    }
    match first(form, "grant_type") {
        Some("client_credentials") => {
            if first(form, "client_secret") != Some(CLIENT_SECRET) {
                return (403, Err("invalid client secret"));
            }
            (200, Ok(issue(s, TokenKind::App)))
        }
        Some("refresh_token") => {
            // A confidential client must send its secret with a refresh.
            if first(form, "client_secret") != Some(CLIENT_SECRET) {
                return (400, Err("invalid client secret"));
            }
            let Some((user_id, login, scopes)) =
                first(form, "refresh_token").and_then(|r| s.refresh_tokens.remove(r))
            else {
                return (400, Err("Invalid refresh token"));
            };
            // The old access tokens stop working once refreshed.
            s.tokens.retain(
                |_, t| !matches!(&t.kind, TokenKind::User { user_id: u, .. } if *u == user_id),
            );
            (
                200,
                Ok(issue(
                    s,
                    TokenKind::User {
                        user_id,
                        login,
                        scopes,
                    },
                )),
            )
        }
        Some(DEVICE_GRANT) => {
            let now = Utc::now();
            let Some(code) = first(form, "device_code") else {
                return (400, Err("missing device_code"));
            };
            let interval = chrono::Duration::seconds(s.device_interval_secs as i64);
            let Some(grant) = s.devices.get_mut(code) else {
                return (400, Err("invalid device code"));
            };
            if grant.expires_at < now {
                return (400, Err("invalid device code"));
            }
            if first(form, "scopes").unwrap_or("") != grant.scopes.join(" ") {
                return (400, Err("scopes do not match the device authorization"));
            }
            let too_fast = grant.last_poll.is_some_and(|t| now - t < interval);
            grant.last_poll = Some(now);
            let Some(user_id) = grant.approved_by.clone() else {
                return (
                    400,
                    Err(if too_fast {
                        "slow_down"
                    } else {
                        "authorization_pending"
                    }),
                );
            };
            let scopes = grant.scopes.clone();
            s.devices.remove(code);
            let login = s.users.get(&user_id).cloned().unwrap_or_default();
            (
                200,
                Ok(issue(
                    s,
                    TokenKind::User {
                        user_id,
                        login,
                        scopes,
                    },
                )),
            )
        }
        _ => (400, Err("unsupported grant_type")),
    }
}

pub(crate) async fn device(State(fake): State<FakeTwitch>, body: Bytes) -> Response {
    let form = parse_query(std::str::from_utf8(&body).ok());
    let mut s = fake.lock();
    if first(&form, "client_id") != Some(CLIENT_ID) {
        log(&mut s, "POST", "/oauth2/device", Vec::new(), 400);
        return error(400, "invalid client");
    }
    let scopes: Vec<String> = first(&form, "scopes")
        .unwrap_or("")
        .split(' ')
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect();
    let device_code = new_secret();
    let user_code = new_secret()[..8].to_uppercase();
    let expires_in = 1800;
    s.devices.insert(
        device_code.clone(),
        DeviceGrant {
            scopes,
            user_code: user_code.clone(),
            approved_by: None,
            last_poll: None,
            expires_at: Utc::now() + chrono::Duration::seconds(expires_in),
        },
    );
    let interval = s.device_interval_secs;
    log(&mut s, "POST", "/oauth2/device", Vec::new(), 200);
    axum::Json(json!({
        "device_code": device_code,
        "expires_in": expires_in,
        "interval": interval,
        "user_code": user_code,
        "verification_uri": format!("https://www.twitch.tv/activate?public=true&device-code={user_code}"),
    }))
    .into_response()
}

pub(crate) async fn validate(State(fake): State<FakeTwitch>, headers: HeaderMap) -> Response {
    let mut s = fake.lock();
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("OAuth "))
        .map(str::to_string);
    let now = Utc::now();
    let token = presented
        .and_then(|t| s.tokens.get(&t).cloned())
        .filter(|t| t.expires_at > now);
    let status = if token.is_some() { 200 } else { 401 };
    log(&mut s, "GET", "/oauth2/validate", Vec::new(), status);
    let Some(token) = token else {
        return error(401, "invalid access token");
    };
    let expires_in = (token.expires_at - now).num_seconds();
    let body = match token.kind {
        TokenKind::App => json!({"client_id": CLIENT_ID, "scopes": [], "expires_in": expires_in}),
        TokenKind::User {
            user_id,
            login,
            scopes,
        } => {
            json!({"client_id": CLIENT_ID, "login": login, "scopes": scopes, "user_id": user_id, "expires_in": expires_in})
        }
    };
    axum::Json(body).into_response()
}
