//! A strict fake of an OpenAI-compatible chat-completions server (`POST /v1/chat/completions`)
//! as a real HTTP server on loopback. Strict means it refuses what the real API refuses: no or a
//! wrong bearer key (401), a body that is not JSON, a missing or unknown `model`, `messages`
//! that are not a non-empty list of `{role, content}` objects with known roles (400), and a
//! `response_format` other than `{"type": "json_object"}` or `{"type": "text"}`. Like OpenAI in
//! JSON mode, it refuses `json_object` when no message mentions "JSON". It answers each accepted
//! request with the next scripted content (the last one repeats), in the API's response shape.

use std::collections::VecDeque;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

use crate::openai_fake::{self, Server, Shared};

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
}

#[derive(Clone)]
pub struct FakeLlm {
    pub addr: SocketAddr,
    server: Server<Inner>,
}

impl FakeLlm {
    /// Start on a free loopback port; accepted requests get `answers` in order, the last one
    /// for every request after.
    pub async fn start(answers: Vec<String>) -> Self {
        assert!(!answers.is_empty(), "the fake LLM needs an answer");
        let inner = Inner {
            answers: answers.into(),
            ..Inner::default()
        };
        let server = Server::start(inner, "/v1/chat/completions", post(complete), "LLM").await;
        Self {
            addr: server.addr,
            server,
        }
    }

    /// The `llm.api_base` to configure (ends in `/v1`, like OpenAI's).
    pub fn api_base(&self) -> url::Url {
        self.server.api_base()
    }

    pub fn accepted(&self) -> Vec<SeenRequest> {
        self.server.lock().accepted.clone()
    }

    /// Status and reason of each refused request.
    pub fn refused(&self) -> Vec<(u16, String)> {
        self.server.refused()
    }
}

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

async fn complete(
    State((inner, refused)): State<Shared<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let refuse = |status: StatusCode, why: String| openai_fake::refuse(&refused, status, why);
    openai_fake::check_key(&refused, &headers, API_KEY)?;
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Some(body) = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|_| is_json)
    else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object".into(),
        ));
    };
    let json_mode = check(&body).map_err(|why| refuse(StatusCode::BAD_REQUEST, why))?;
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
    Ok(Json(json!({
        "id": format!("chatcmpl-{}", guard.accepted.len()),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }))
    .into_response())
}
