//! A strict fake of an OpenAI-compatible transcription server (`POST /v1/audio/transcriptions`)
//! as a real HTTP server on loopback. Strict means it refuses what the real API refuses: no or
//! a wrong bearer key (401), a body that is not multipart, a missing or non-WAV `file`, a
//! missing or unknown `model`, and — because captions need them — any request without
//! `response_format=verbose_json` and `timestamp_granularities[]=word` (400). It answers with
//! the words it was given, and can inject faults (500, 429 with Retry-After) before answering.

use std::collections::VecDeque;
use std::net::SocketAddr;

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use hilite::render::captions::Word;
use serde_json::json;

use crate::openai_fake::{self, Server, Shared};

pub const API_KEY: &str = "sk-fake-transcribe-key-not-for-logs";
pub const MODEL: &str = "whisper-1";

/// A fault the next request gets instead of its answer.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    ServerError,
    RateLimited { retry_after_secs: u64 },
}

/// What one accepted request carried.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub language: Option<String>,
    pub audio_bytes: usize,
}

#[derive(Default)]
struct Inner {
    words: Vec<Word>,
    faults: VecDeque<Fault>,
    accepted: Vec<SeenRequest>,
}

#[derive(Clone)]
pub struct FakeTranscribe {
    pub addr: SocketAddr,
    server: Server<Inner>,
}

impl FakeTranscribe {
    /// Start on a free loopback port; every accepted request is answered with `words`.
    pub async fn start(words: Vec<Word>) -> Self {
        let inner = Inner {
            words,
            ..Inner::default()
        };
        let server = Server::start(
            inner,
            "/v1/audio/transcriptions",
            post(transcribe),
            "transcription",
        )
        .await;
        Self {
            addr: server.addr,
            server,
        }
    }

    /// The `api_base` to configure (ends in `/v1`, like OpenAI's).
    pub fn api_base(&self) -> url::Url {
        self.server.api_base()
    }

    pub fn inject(&self, fault: Fault) {
        self.server.lock().faults.push_back(fault);
    }

    pub fn accepted(&self) -> Vec<SeenRequest> {
        self.server.lock().accepted.clone()
    }

    /// Status and reason of each refused request.
    pub fn refused(&self) -> Vec<(u16, String)> {
        self.server.refused()
    }
}

async fn transcribe(
    State((inner, refused)): State<Shared<Inner>>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Response> {
    let refuse = |status: StatusCode, why: String| openai_fake::refuse(&refused, status, why);
    openai_fake::check_key(&refused, &headers, API_KEY)?;
    let Ok(mut multipart) = multipart else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the body must be multipart/form-data".into(),
        ));
    };
    let (mut file, mut fields) = (
        None::<Vec<u8>>,
        std::collections::HashMap::<String, String>::new(),
    );
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                let is_file = field.file_name().is_some();
                let Ok(bytes) = field.bytes().await else {
                    return Err(refuse(
                        StatusCode::BAD_REQUEST,
                        format!("unreadable field {name}"),
                    ));
                };
                if name == "file" && is_file {
                    file = Some(bytes.to_vec());
                } else {
                    fields.insert(name, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    format!("bad multipart body: {e}"),
                ))
            }
        }
    }
    let Some(file) =
        file.filter(|f| f.len() > 44 && f.starts_with(b"RIFF") && &f[8..12] == b"WAVE")
    else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "file: a WAV audio file is required".into(),
        ));
    };
    for (key, want) in [
        ("model", MODEL),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
    ] {
        if fields.get(key).map(String::as_str) != Some(want) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("{key} must be {want:?}, got {:?}", fields.get(key)),
            ));
        }
    }
    let mut guard = inner.lock().expect("lock");
    if let Some(fault) = guard.faults.pop_front() {
        return Ok(match fault {
            Fault::ServerError => {
                (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response()
            }
            Fault::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                "slow down",
            )
                .into_response(),
        });
    }
    guard.accepted.push(SeenRequest {
        language: fields.get("language").cloned(),
        audio_bytes: file.len(),
    });
    let words: Vec<_> = guard
        .words
        .iter()
        .map(|w| json!({"word": w.text, "start": w.start, "end": w.end}))
        .collect();
    let text = guard
        .words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Json(json!({"task": "transcribe", "language": "english", "duration": 4.0, "text": text, "words": words})).into_response())
}
