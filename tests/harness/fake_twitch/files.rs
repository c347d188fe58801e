//! The fake clip CDN: `GET /files/{clip}/{landscape|portrait}.mp4`, with the clip's file fault
//! if it has one (a redirect elsewhere, a truncated body, an HTML page, an error status).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::media::clip_media;
use super::{FakeTwitch, FileFault, Logged};

pub(crate) async fn file(
    State(fake): State<FakeTwitch>,
    Path((clip, variant)): Path<(String, String)>,
) -> Response {
    let found = {
        let s = fake.lock();
        s.clips
            .iter()
            .find(|c| c.id == clip && !c.deleted)
            .map(|c| (c.portrait, c.file_fault.clone()))
    };
    let media = match tokio::task::spawn_blocking(clip_media).await {
        Ok(m) => m,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let response = match (found, variant.as_str()) {
        (None, _) => StatusCode::NOT_FOUND.into_response(),
        (Some((_, Some(fault))), _) => faulty(fault, &media.landscape),
        (Some((_, None)), "landscape.mp4") => mp4(&media.landscape),
        (Some((true, None)), "portrait.mp4") => mp4(&media.portrait),
        (Some(_), _) => StatusCode::NOT_FOUND.into_response(),
    };
    fake.lock().log.push(Logged {
        at: Utc::now(),
        method: "GET".into(),
        path: format!("/files/{clip}/{variant}"),
        query: Vec::new(),
        status: response.status().as_u16(),
    });
    response
}

fn mp4(bytes: &[u8]) -> Response {
    ([(header::CONTENT_TYPE, "video/mp4")], bytes.to_vec()).into_response()
}

fn faulty(fault: FileFault, bytes: &[u8]) -> Response {
    match fault {
        FileFault::RedirectTo(url) => {
            (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
        }
        FileFault::NotMp4 => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Service temporarily unavailable, please try again later</body></html>",
        )
            .into_response(),
        FileFault::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        FileFault::Truncate => {
            // Announce the whole file, send half of it, end the body: the connection closes short.
            let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
            let body = Body::from_stream(futures::stream::iter([Ok::<_, std::io::Error>(half)]));
            Response::builder()
                .header(header::CONTENT_TYPE, "video/mp4")
                .header(header::CONTENT_LENGTH, bytes.len())
                .body(body)
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}
