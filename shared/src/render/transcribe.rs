//! Speech to timed words, behind the `Transcriber` trait. Two backends: any OpenAI-compatible
//! `/v1/audio/transcriptions` server (OpenAI, Groq, a self-hosted whisper server), here, and
//! whisper.cpp in-process (`whisper.rs`, cargo feature `whisper`). Both take the 16 kHz mono
//! WAV the job extracts and must return word-level times: captions are timed per word.
//!
//! The API key is sent as a bearer token and never logged or put in an error message.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::captions::Word;
use super::settings::{TranscribeBackend, TranscribeConfig};

/// What was said, word by word, in seconds from the start of the audio.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// The detected or forced language, when the backend says.
    pub language: Option<String>,
    pub text: String,
    pub words: Vec<Word>,
}

#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error("the transcription server refused the API key (HTTP 401); check transcribe.api_key")]
    Unauthorized,
    #[error("the transcription server refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the transcription server is unavailable: {0}")]
    Unavailable(String),
    #[error("the transcription answer is unusable: {0}")]
    BadAnswer(String),
    #[error("the audio file {path}: {message}")]
    Audio { path: String, message: String },
    /// A backend that cannot run: a model missing, a feature not built in.
    #[error("{0}")]
    Setup(String),
}

impl TranscribeError {
    /// A key refused, a request refused, or a backend that cannot run will fail again.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized | Self::Rejected { .. } | Self::Setup(_)
        )
    }
}

#[async_trait]
pub trait Transcriber: Send + Sync {
    /// For the render report.
    fn name(&self) -> &'static str;
    /// Transcribe a 16 kHz mono WAV file; `language` forces an ISO-639-1 code.
    async fn transcribe(
        &self,
        wav: &Path,
        language: Option<&str>,
    ) -> Result<Transcript, TranscribeError>;
}

/// The `none` backend: shorts without captions, by choice in the configuration.
pub struct NoCaptions;

#[async_trait]
impl Transcriber for NoCaptions {
    fn name(&self) -> &'static str {
        "none"
    }
    async fn transcribe(&self, _: &Path, _: Option<&str>) -> Result<Transcript, TranscribeError> {
        Ok(Transcript::default())
    }
}

/// Build the configured backend.
pub fn from_config(cfg: &TranscribeConfig) -> Result<Arc<dyn Transcriber>, TranscribeError> {
    match cfg.backend {
        TranscribeBackend::None => Ok(Arc::new(NoCaptions)),
        TranscribeBackend::Api => Ok(Arc::new(ApiTranscriber::new(cfg)?)),
        #[cfg(feature = "whisper")]
        TranscribeBackend::Whisper => Ok(Arc::new(super::whisper::WhisperTranscriber::load(&cfg.model_path)?)),
        #[cfg(not(feature = "whisper"))]
        TranscribeBackend::Whisper => Err(TranscribeError::Setup(
            "transcribe.backend = \"whisper\" but this build has no whisper backend: build with `--features whisper`, \
             or set transcribe.backend = \"api\" (or \"none\" for shorts without captions)"
                .into(),
        )),
    }
}

/// An OpenAI-compatible transcription server.
pub struct ApiTranscriber {
    http: reqwest::Client,
    endpoint: Url,
    key: Option<SecretString>,
    model: String,
}

/// Attempts of one transcription when the server is down or busy (DESIGN.md §3: bounded).
const ATTEMPTS: u32 = 3;
/// The longest Retry-After the job waits for; longer and the stage retries later instead.
const MAX_WAIT: Duration = Duration::from_secs(30);

impl ApiTranscriber {
    pub fn new(cfg: &TranscribeConfig) -> Result<Self, TranscribeError> {
        let base = cfg.api_base.as_str().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/audio/transcriptions")).map_err(|e| {
            TranscribeError::Setup(format!("transcribe.api_base is not a URL base: {e}"))
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
            .build()
            .map_err(|e| TranscribeError::Setup(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            endpoint,
            key: cfg.api_key.clone(),
            model: cfg.api_model.clone(),
        })
    }

    async fn once(&self, audio: &[u8], language: Option<&str>) -> Result<Transcript, Attempt> {
        let file = reqwest::multipart::Part::bytes(audio.to_vec())
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| Attempt::Fail(TranscribeError::Setup(e.to_string())))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "word");
        if let Some(lang) = language {
            form = form.text("language", lang.to_string());
        }
        let mut req = self.http.post(self.endpoint.clone()).multipart(form);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key.expose_secret());
        }
        // `without_url`: the error then names no host or query, only what went wrong.
        let resp = req
            .send()
            .await
            .map_err(|e| Attempt::Again(e.without_url().to_string(), None))?;
        let status = resp.status();
        if status.is_success() {
            let body: Verbose = resp.json().await.map_err(|e| {
                Attempt::Fail(TranscribeError::BadAnswer(e.without_url().to_string()))
            })?;
            return body.into_transcript().map_err(Attempt::Fail);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let message: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        Err(match status.as_u16() {
            401 => Attempt::Fail(TranscribeError::Unauthorized),
            429 => Attempt::Again(format!("HTTP 429: {message}"), retry_after),
            s if s >= 500 => Attempt::Again(format!("HTTP {s}: {message}"), None),
            s => Attempt::Fail(TranscribeError::Rejected { status: s, message }),
        })
    }
}

enum Attempt {
    Fail(TranscribeError),
    /// Worth another try, after the server's Retry-After when it gave one.
    Again(String, Option<Duration>),
}

#[async_trait]
impl Transcriber for ApiTranscriber {
    fn name(&self) -> &'static str {
        "api"
    }

    async fn transcribe(
        &self,
        wav: &Path,
        language: Option<&str>,
    ) -> Result<Transcript, TranscribeError> {
        let audio = tokio::fs::read(wav)
            .await
            .map_err(|e| TranscribeError::Audio {
                path: wav.display().to_string(),
                message: e.to_string(),
            })?;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            match self.once(&audio, language).await {
                Ok(t) => return Ok(t),
                Err(Attempt::Fail(e)) => return Err(e),
                Err(Attempt::Again(why, retry_after)) => {
                    last = why;
                    if attempt + 1 == ATTEMPTS {
                        break;
                    }
                    let backoff = Duration::from_millis(
                        500 * 2u64.pow(attempt) + rand::thread_rng().gen_range(0..250),
                    );
                    let wait = retry_after.unwrap_or(backoff);
                    if wait > MAX_WAIT {
                        break;
                    }
                    tracing::warn!(attempt = attempt + 1, wait_ms = wait.as_millis() as u64, error = %last, "transcription failed; trying again");
                    tokio::time::sleep(wait).await;
                }
            }
        }
        Err(TranscribeError::Unavailable(last))
    }
}

/// The `verbose_json` answer, as far as we read it.
#[derive(Deserialize)]
struct Verbose {
    #[serde(default)]
    text: String,
    language: Option<String>,
    words: Option<Vec<VerboseWord>>,
}

#[derive(Deserialize)]
struct VerboseWord {
    word: String,
    start: f64,
    end: f64,
}

impl Verbose {
    fn into_transcript(self) -> Result<Transcript, TranscribeError> {
        let words =
            match self.words {
                Some(w) => w,
                // Silence gives no words and no text; text without words is a server that ignored
                // `timestamp_granularities[]`, and captions cannot be timed from it.
                None if self.text.trim().is_empty() => Vec::new(),
                None => return Err(TranscribeError::BadAnswer(
                    "no word timestamps (does the server support timestamp_granularities[]=word?)"
                        .into(),
                )),
            };
        let words = words
            .into_iter()
            .filter(|w| w.start.is_finite() && w.end.is_finite())
            .map(|w| Word {
                text: w.word.trim().to_string(),
                start: w.start,
                end: w.end,
            })
            .filter(|w| !w.text.is_empty())
            .collect();
        Ok(Transcript {
            language: self.language,
            text: self.text.trim().to_string(),
            words,
        })
    }
}
