//! The chat-completions exchange: `POST {api_base}/chat/completions` with the model, a system
//! and a user message, and `response_format: {"type": "json_object"}`
//! (<https://platform.openai.com/docs/api-reference/chat/create>; Groq, llama.cpp's server and
//! vLLM take the same request). An answer that fails [`Verdict::parse`] is shown to the model
//! with what is wrong and asked for once more; a second bad answer is [`LlmError::Invalid`].
//! 429, 5xx and network errors are retried a bounded number of times (DESIGN.md §3); other
//! refusals fail at once. Answers are read up to a fixed size.

use std::time::Duration;

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::verdict::{ClipFacts, Verdict, INSTRUCTIONS};
use super::LlmConfig;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM server refused the API key (HTTP {0}); check llm.api_key")]
    Unauthorized(u16),
    #[error("the LLM server refused the request (HTTP {status}): {message}; check llm.model and llm.json_mode")]
    Rejected { status: u16, message: String },
    #[error("the LLM server is unavailable: {0}")]
    Unavailable(String),
    #[error("the model answered twice without the JSON asked for: {0}")]
    Invalid(String),
    #[error("llm configuration: {0}")]
    Setup(String),
}

/// Requests of one completion when the server is down or busy.
const ATTEMPTS: u32 = 3;
/// The longest Retry-After honoured; longer and the clip goes on without a verdict.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Largest answer read; a verdict is a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

pub struct LlmClient {
    http: reqwest::Client,
    endpoint: Url,
    key: Option<SecretString>,
    model: String,
    json_mode: bool,
    max_transcript_chars: usize,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
}

#[derive(Deserialize)]
struct AnswerMessage {
    content: Option<String>,
}

enum Attempt {
    /// Worth another request after this wait.
    Again(Duration, LlmError),
    Fail(LlmError),
}

impl LlmClient {
    /// The client, or `None` when `[llm]` is off.
    pub fn from_config(cfg: &LlmConfig) -> Result<Option<Self>, LlmError> {
        let Some(base) = cfg.api_base.as_ref().filter(|_| cfg.enabled()) else {
            return Ok(None);
        };
        let base = base.as_str().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| LlmError::Setup(format!("llm.api_base is not a URL base: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
            .build()
            .map_err(|e| LlmError::Setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(Some(Self {
            http,
            endpoint,
            key: cfg.api_key.clone(),
            model: cfg.model.clone(),
            json_mode: cfg.json_mode,
            max_transcript_chars: cfg.max_transcript_chars.max(1),
        }))
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Ask for the clip's verdict: once, and once more with the reason when the answer is not
    /// valid.
    pub async fn judge(&self, facts: &ClipFacts) -> Result<Verdict, LlmError> {
        let mut facts = facts.clone();
        if facts.transcript.chars().count() > self.max_transcript_chars {
            facts.transcript = facts
                .transcript
                .chars()
                .take(self.max_transcript_chars)
                .collect();
        }
        let mut messages = vec![
            json!({"role": "system", "content": INSTRUCTIONS}),
            json!({"role": "user", "content": serde_json::to_string(&facts).unwrap_or_default()}),
        ];
        let first = self.complete(&messages).await?;
        let why = match Verdict::parse(&first) {
            Ok(v) => return Ok(v),
            Err(why) => why,
        };
        tracing::warn!(model = %self.model, error = %why, "the model's answer is not valid; asking once more");
        messages.push(json!({"role": "assistant", "content": first}));
        messages.push(json!({
            "role": "user",
            "content": format!("That answer is not valid: {why}. Answer again with only the JSON object, exactly as asked."),
        }));
        let second = self.complete(&messages).await?;
        Verdict::parse(&second).map_err(LlmError::Invalid)
    }

    /// One completion's text, with bounded retries of transient failures.
    async fn complete(&self, messages: &[Value]) -> Result<String, LlmError> {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            // Low: the verdict should not change from one try to the next.
            "temperature": 0.2,
        });
        if self.json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        let mut attempt = 1;
        loop {
            match self.once(&body).await {
                Ok(text) => return Ok(text),
                Err(Attempt::Again(wait, e)) if attempt < ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "LLM request failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(Attempt::Again(_, e) | Attempt::Fail(e)) => return Err(e),
            }
        }
    }

    async fn once(&self, body: &Value) -> Result<String, Attempt> {
        let mut request = self.http.post(self.endpoint.clone()).json(body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key.expose_secret());
        }
        let backoff = || Duration::from_millis(rand::thread_rng().gen_range(500..1500));
        let mut response = request.send().await.map_err(|e| {
            // reqwest's error names the URL, never the headers.
            Attempt::Again(
                backoff(),
                LlmError::Unavailable(e.without_url().to_string()),
            )
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            Attempt::Again(
                backoff(),
                LlmError::Unavailable(e.without_url().to_string()),
            )
        })? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Attempt::Fail(LlmError::Invalid(format!(
                    "the answer is over {MAX_ANSWER_BYTES} bytes"
                ))));
            }
            bytes.extend_from_slice(&chunk);
        }
        match status {
            200..=299 => {}
            401 | 403 => return Err(Attempt::Fail(LlmError::Unauthorized(status))),
            429 => {
                let wait = retry_after.unwrap_or_else(backoff);
                let e = LlmError::Unavailable("rate limited (HTTP 429)".into());
                return Err(if wait > MAX_WAIT {
                    Attempt::Fail(e)
                } else {
                    Attempt::Again(wait, e)
                });
            }
            500..=599 => {
                return Err(Attempt::Again(
                    backoff(),
                    LlmError::Unavailable(format!("HTTP {status}")),
                ))
            }
            _ => {
                return Err(Attempt::Fail(LlmError::Rejected {
                    status,
                    message: error_message(&bytes),
                }))
            }
        }
        let answer: ChatResponse = serde_json::from_slice(&bytes).map_err(|e| {
            Attempt::Fail(LlmError::Unavailable(format!(
                "the server's answer is not a chat completion: {e}"
            )))
        })?;
        answer
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| {
                Attempt::Fail(LlmError::Unavailable(
                    "the chat completion has no message content".into(),
                ))
            })
    }
}

/// The API's `error.message` (OpenAI's error shape), else the start of the body.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<String> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
    let text = parsed.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    text.chars().take(300).collect()
}
