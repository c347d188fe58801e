//! Moderation and titles from a language model (seed 002): a clip's transcript and metadata go
//! to any OpenAI-compatible chat-completions server (OpenAI, Groq, a self-hosted llama.cpp or
//! vLLM server), which answers with one strict JSON object — category, virality, hateful
//! speech and its target, a justification, and a title, description and hashtags for the
//! platforms. The answer is checked against its schema ([`verdict`]) and asked for once more
//! when it does not pass; the HTTP exchange is in [`client`].
//!
//! This module does not decide what happens to the clip: the edit stage scores the verdict
//! (`domain::moderation`) and moves the clip to `review` or `edited`, and keeps Twitch's title
//! when no valid answer came. It holds the `[llm]` and `[moderation]` configuration sections.
//! The API key is sent as a bearer token and never logged or put in an error message.

pub mod client;
pub mod verdict;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

pub use client::{LlmClient, LlmError};
pub use verdict::{ClipFacts, Verdict};

/// `[llm]`: the chat-completions server. Off unless `api_base` and `model` are set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Base URL ending in `/v1` (`https://api.openai.com/v1`, `https://api.groq.com/openai/v1`).
    pub api_base: Option<Url>,
    /// The model name, e.g. `gpt-4o-mini` or `llama-3.3-70b-versatile`.
    pub model: String,
    /// Sent as a bearer token when set (a self-hosted server may need none).
    #[serde(serialize_with = "crate::config::redacted")]
    pub api_key: Option<SecretString>,
    /// Ask for `response_format: {"type": "json_object"}`; turn off for a server that refuses it.
    pub json_mode: bool,
    /// Timeout of one request, in seconds.
    pub request_timeout_secs: u64,
    /// The transcript is cut to this many characters (a 60 s clip is about 1,000).
    pub max_transcript_chars: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            api_base: None,
            model: String::new(),
            api_key: None,
            json_mode: true,
            request_timeout_secs: 60,
            max_transcript_chars: 8000,
        }
    }
}

impl LlmConfig {
    pub fn enabled(&self) -> bool {
        self.api_base.is_some() && !self.model.trim().is_empty()
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.api_base.is_some() == self.model.trim().is_empty() {
            return Err((
                "llm.api_base",
                "and llm.model must be set together (or neither, to leave moderation off)".into(),
            ));
        }
        if self.request_timeout_secs == 0 || self.max_transcript_chars == 0 {
            return Err((
                "llm.request_timeout_secs",
                "and llm.max_transcript_chars must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// `[moderation]`: when a rendered clip waits for a person (`review`) instead of going on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModerationConfig {
    /// A clip whose risk score (seed 002: 0.2–1.0) is above this waits for review. Hateful
    /// speech always does.
    pub risk_threshold: f64,
    /// Broadcaster logins whose every clip waits for `hilite clips approve`.
    pub approval_required: Vec<String>,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        Self {
            // Seed 002 alerts above 0.7.
            risk_threshold: 0.7,
            approval_required: Vec::new(),
        }
    }
}

impl ModerationConfig {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.risk_threshold) {
            return Err((
                "moderation.risk_threshold",
                format!("is {}, must be between 0 and 1", self.risk_threshold),
            ));
        }
        Ok(())
    }

    pub fn requires_approval(&self, login: &str) -> bool {
        self.approval_required
            .iter()
            .any(|l| l.eq_ignore_ascii_case(login))
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::{Format, Toml};

    use super::*;
    use crate::config::{Config, SAMPLE};

    #[test]
    fn the_sample_file_documents_the_defaults_and_leaves_the_llm_off() {
        let c: Config = figment::Figment::from(Toml::string(SAMPLE))
            .extract()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&c.llm).unwrap(),
            serde_json::to_value(LlmConfig::default()).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&c.moderation).unwrap(),
            serde_json::to_value(ModerationConfig::default()).unwrap()
        );
        assert!(!c.llm.enabled());
    }

    #[test]
    fn half_an_llm_configuration_or_a_threshold_outside_0_1_is_refused_with_its_key() {
        let c = LlmConfig {
            model: "m".into(),
            ..LlmConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "llm.api_base");
        let m = ModerationConfig {
            risk_threshold: 1.5,
            ..ModerationConfig::default()
        };
        assert_eq!(m.validate().unwrap_err().0, "moderation.risk_threshold");
        assert!(ModerationConfig {
            approval_required: vec!["SomeOne".into()],
            ..ModerationConfig::default()
        }
        .requires_approval("someone"));
    }

    #[test]
    fn the_api_key_never_shows_when_the_configuration_is_printed() {
        let c = LlmConfig {
            api_key: Some(SecretString::from("sk-very-secret-123".to_string())),
            ..LlmConfig::default()
        };
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("sk-very-secret-123"), "{shown}");
    }
}
