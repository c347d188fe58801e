//! The edit stage's last decision: after the render, ask the LLM (when `[llm]` is on) to judge
//! the transcript and title the short, and say whether the clip goes on to `edited` or waits in
//! `review` (seed 002's risk score over `moderation.risk_threshold`, hateful speech, or a
//! broadcaster in `moderation.approval_required`).
//!
//! Moderation never fails the stage: an LLM that is down, refuses the key or answers twice
//! without valid JSON is logged, and the clip keeps its Twitch title with no verdict. The
//! render, which is what costs, is never repeated for it.

use std::sync::Arc;

use crate::domain::{moderation::review_reason, Clip, ClipStatus, Moderation};
use crate::llm::{ClipFacts, LlmClient, ModerationConfig};
use crate::render::Transcript;

/// What the edit stage records on the clip when it moves it on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `Edited`, or `Review` with the reason in `review_reason`.
    pub to: ClipStatus,
    pub review_reason: Option<String>,
    pub moderation: Option<Moderation>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub hashtags: Option<Vec<String>>,
}

/// The LLM client (or why `[llm]` could not be built) and the review rules.
pub struct Moderator {
    pub llm: Result<Option<Arc<LlmClient>>, String>,
    pub rules: ModerationConfig,
}

impl Moderator {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            llm: LlmClient::from_config(&config.llm)
                .map(|c| c.map(Arc::new))
                .map_err(|e| e.to_string()),
            rules: config.moderation.clone(),
        }
    }

    /// Judge the clip's transcript and decide where it goes.
    pub async fn decide(&self, clip: &Clip, login: &str, transcript: &Transcript) -> Decision {
        let mut decision = Decision {
            to: ClipStatus::Edited,
            review_reason: None,
            moderation: None,
            title: None,
            description: None,
            hashtags: None,
        };
        match &self.llm {
            Ok(Some(llm)) if !transcript.text.trim().is_empty() => {
                let facts = ClipFacts {
                    twitch_title: clip.title.clone(),
                    broadcaster: clip.broadcaster_name.clone(),
                    duration_secs: clip
                        .window
                        .map_or(clip.duration_secs, |w| w.duration_secs()),
                    view_count: clip.view_count,
                    language: transcript.language.clone(),
                    transcript: transcript.text.clone(),
                };
                match llm.judge(&facts).await {
                    Ok(v) => {
                        let m = v.moderation(llm.model());
                        tracing::info!(clip = %clip.id, category = ?m.category, virality = ?m.virality, hateful = m.hateful, risk = m.risk, "transcript moderated");
                        decision.moderation = Some(m);
                        decision.title = Some(v.title.trim().to_string());
                        decision.description = Some(v.description.trim().to_string());
                        decision.hashtags = Some(v.hashtags);
                    }
                    Err(e) => {
                        tracing::warn!(clip = %clip.id, error = %e, "no moderation verdict; the clip keeps its Twitch title");
                    }
                }
            }
            Ok(Some(_)) => {
                tracing::debug!(clip = %clip.id, "no speech in the clip; nothing to moderate");
            }
            Ok(None) => {}
            Err(why) => {
                tracing::error!(clip = %clip.id, error = %why, "[llm] cannot be used; the clip keeps its Twitch title");
            }
        }
        decision.review_reason = review_reason(
            decision.moderation.as_ref(),
            self.rules.risk_threshold,
            self.rules.requires_approval(login),
        );
        if let Some(reason) = &decision.review_reason {
            tracing::info!(clip = %clip.id, reason = %reason, "the clip waits for review (hilite clips approve|reject)");
            decision.to = ClipStatus::Review;
        }
        decision
    }
}
