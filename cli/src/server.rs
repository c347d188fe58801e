//! The HTTP routes of `hilite serve`. Each route is one line in [`router`] and one handler
//! below (or a router from `hilite`, like presigned media); later routes (the Twitch webhook)
//! are added the same way. Starting, stopping and the workers are in `serve`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hilite::backend::Ports;
use hilite::config::Config;
use hilite::media::fs::FsMediaStore;
use serde_json::json;

use crate::output::backend_name;

/// A readiness check that takes longer than this reports the store unavailable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub ports: Ports,
    pub config: Arc<Config>,
}

/// All routes. `media` serves presigned local media; it is `None` on the AWS backend, where
/// presigned URLs point at S3.
pub fn router(state: AppState, media: Option<Arc<FsMediaStore>>) -> Router {
    let max_body = state.config.server.max_body_bytes;
    let mut app = Router::new()
        .route("/health", get(health))
        .route("/webhooks/twitch", post(twitch_webhook))
        .with_state(state);
    if let Some(media) = media {
        app = app.merge(hilite::media::http::router(media));
    }
    app.layer(DefaultBodyLimit::max(max_body))
}

/// `POST /webhooks/twitch`: Twitch EventSub deliveries, verified on the exact bytes received.
async fn twitch_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use hilite::pipeline::webhook::{handle_webhook, not_configured, WebhookSettings};
    let answer = match WebhookSettings::from_config(&state.config) {
        Some(settings) => handle_webhook(&state.ports, &settings, &headers, &body).await,
        None => not_configured(),
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}

/// `GET /health`: 200 when the state store answers now, 503 with the reason when it does not.
async fn health(State(state): State<AppState>) -> Response {
    let backend = backend_name(state.config.backend);
    let problem = match tokio::time::timeout(HEALTH_TIMEOUT, state.ports.store.ready()).await {
        Ok(Ok(())) => return Json(json!({ "status": "ok", "backend": backend })).into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "the state store did not answer within {}s",
            HEALTH_TIMEOUT.as_secs()
        ),
    };
    tracing::warn!(reason = %problem, "health check failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "backend": backend, "reason": problem })),
    )
        .into_response()
}
