//! Serving presigned local media over HTTP: the one-machine stand-in for an S3 presigned GET.
//! `hilite serve` mounts this router at `/media/…`; platforms that pull a video (Instagram)
//! fetch it there with the URL `FsMediaStore::presign_get` signed. A missing, expired or
//! tampered signature is 403; nothing else under the data folder is reachable.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio_util::io::ReaderStream;

use super::fs::FsMediaStore;
use super::MediaError;
use crate::domain::MediaKey;

#[derive(Debug, Deserialize)]
struct Signature {
    expires: i64,
    sig: String,
}

/// Routes: `GET /media/{*key}?expires=…&sig=…`.
pub fn router(store: Arc<FsMediaStore>) -> Router {
    Router::new()
        .route("/media/{*key}", get(fetch))
        .with_state(store)
}

async fn fetch(
    State(store): State<Arc<FsMediaStore>>,
    Path(key): Path<String>,
    query: Result<Query<Signature>, QueryRejection>,
) -> Response {
    let Ok(Query(signature)) = query else {
        return (StatusCode::FORBIDDEN, "missing signature").into_response();
    };
    let Ok(key) = MediaKey::parse(key) else {
        return (StatusCode::NOT_FOUND, "no such media").into_response();
    };
    let path = match store.verify(&key, signature.expires, &signature.sig) {
        Ok(path) => path,
        Err(MediaError::NotFound(_)) => {
            return (StatusCode::NOT_FOUND, "no such media").into_response()
        }
        Err(e) => {
            tracing::info!(key = %key, error = %e, "refused a media request");
            return (StatusCode::FORBIDDEN, "invalid or expired signature").into_response();
        }
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return (StatusCode::NOT_FOUND, "no such media").into_response()
        }
        Err(e) => {
            tracing::warn!(key = %key, error = %e, "cannot open media");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let content_type = match key.as_str().rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("srt") => "application/x-subrip",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(ReaderStream::new(file)),
    )
        .into_response()
}
