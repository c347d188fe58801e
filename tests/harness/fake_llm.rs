//! A strict fake of an OpenAI-compatible chat-completions server (`POST /v1/chat/completions`)
//! as a real HTTP server on loopback. Strict means it refuses what the real API refuses: no or a
//! wrong bearer key (401), a body that is not JSON, a missing or unknown `model`, `messages`
//! that are not a non-empty list of `{role, content}` objects with known roles (400), and a
//! `response_format` other than `{"type": "json_object"}` or `{"type": "text"}`. Like OpenAI in
//! JSON mode, it refuses `json_object` when no message mentions "JSON". It answers each accepted
//! request with the next scripted content (the last one repeats), in the API's response shape.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const API_KEY: &str = "sk-fake-llm-key-not-for-logs";
pub const MODEL: &str = "fake-moderator-1";

/// The content of a valid verdict, with `virality` and `hateful` chosen by the test.
pub fn verdict(virality: &str, hateful: bool, title: &str) -> String {
    json!({
        "category": if hateful { "hateful" } else { "potentially_viral" },
        "virality": virality,
        "hateful": hateful,
        "target": if hateful { Value::from("a religious group") } else { Value::Null },
        "justification": "Judged from the transcript.",
        "title": title,
        "description": "The moment the stream went wild.",
        "hashtags": ["#clip", "#gaming"],
    })
    .to_string()
}

/// What one accepted request carried.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub messages: Vec<Value>,
    pub json_mode: bool,
}

#[derive(Default)]
struct Inner {
    answers: VecDeque<String>,
    accepted: Vec<SeenRequest>,
    refused: Vec<(u16, String)>,
}

#[derive(Clone)]
pub struct FakeLlm {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeLlm {
    /// Start on a free loopback port; accepted requests get `answers` in order, the last one
    /// for every request after.
    pub async fn start(answers: Vec<String>) -> Self {
        assert!(!answers.is_empty(), "the fake LLM needs an answer");
        let inner = Arc::new(Mutex::new(Inner {
            answers: answers.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake LLM server");
        let addr = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner }
    }

    /// The `llm.api_base` to configure (ends in `/v1`, like OpenAI's).
    pub fn api_base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/v1", self.addr)).expect("a URL")
    }

    pub fn accepted(&self) -> Vec<SeenRequest> {
        self.inner.lock().expect("lock").accepted.clone()
    }

    /// Status and reason of each refused request.
    pub fn refused(&self) -> Vec<(u16, String)> {
        self.inner.lock().expect("lock").refused.clone()
    }
}

type Shared = Arc<Mutex<Inner>>;

/// Why a request body is not a chat completion request the real API would take.
fn check(body: &Value) -> Result<bool, String> {
    if body["model"].as_str() != Some(MODEL) {
        return Err(format!("The model {:?} does not exist", body["model"]));
    }
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("messages must be a non-empty array")?;
    for m in messages {
        let role = m["role"].as_str().unwrap_or_default();
        if !["system", "user", "assistant"].contains(&role) {
            return Err(format!("unknown message role {:?}", m["role"]));
        }
        if !m["content"].is_string() {
            return Err("each message's content must be a string".into());
        }
    }
    let json_mode = match &body["response_format"] {
        Value::Null => false,
        f if f == &json!({"type": "json_object"}) => true,
        f if f == &json!({"type": "text"}) => false,
        other => return Err(format!("invalid response_format {other}")),
    };
    if json_mode
        && !messages
            .iter()
            .any(|m| m["content"].as_str().unwrap_or_default().contains("JSON"))
    {
        return Err(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'"
                .into(),
        );
    }
    Ok(json_mode)
}

async fn complete(State(inner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let refuse = |status: StatusCode, why: String| {
        inner
            .lock()
            .expect("lock")
            .refused
            .push((status.as_u16(), why.clone()));
        (
            status,
            Json(json!({"error": {"message": why, "type": "invalid_request_error"}})),
        )
            .into_response()
    };
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {API_KEY}")) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided".into(),
        );
    }
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Some(body) = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|_| is_json)
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object".into(),
        );
    };
    let json_mode = match check(&body) {
        Ok(j) => j,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    let mut guard = inner.lock().expect("lock");
    let content = if guard.answers.len() > 1 {
        guard.answers.pop_front().unwrap_or_default()
    } else {
        guard.answers.front().cloned().unwrap_or_default()
    };
    guard.accepted.push(SeenRequest {
        messages: body["messages"].as_array().cloned().unwrap_or_default(),
        json_mode,
    });
    Json(json!({
        "id": format!("chatcmpl-{}", guard.accepted.len()),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }))
    .into_response()
}
