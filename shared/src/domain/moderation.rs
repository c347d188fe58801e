//! What the moderation of a clip's transcript concluded (seed 002), and the risk score computed
//! from it. The verdict comes from an LLM (`crate::llm`); this module only holds it and scores
//! it, so the rule that sends a clip to `review` is written once and tested without a network.

use serde::{Deserialize, Serialize};

/// How far a clip is likely to spread, as the model judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Virality {
    Low,
    Medium,
    High,
}

/// The one category a transcript falls into (seed 002's "Neutre, Polémique, Potentiellement
/// viral, Discours haineux").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Neutral,
    Controversial,
    PotentiallyViral,
    Hateful,
}

/// The moderation verdict kept on the clip, beside the risk score it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moderation {
    pub category: Category,
    pub virality: Virality,
    pub hateful: bool,
    /// Who the hateful speech targets (an ethnic group, a religion, a person…), when it is.
    pub target: Option<String>,
    pub justification: String,
    /// [`risk_score`] of this verdict, 0.2–1.0.
    pub risk: f64,
    /// The model that judged it.
    pub model: String,
}

/// Seed 002's risk score: 0.2 to start with, +0.3 for medium virality or +0.5 for high, +0.4
/// for hateful speech, at most 1.0.
pub fn risk_score(virality: Virality, hateful: bool) -> f64 {
    let mut score = 0.2;
    score += match virality {
        Virality::Low => 0.0,
        Virality::Medium => 0.3,
        Virality::High => 0.5,
    };
    if hateful {
        score += 0.4;
    }
    f64::min(score, 1.0)
}

/// Why a clip waits for a person instead of going on to publication; `None` when it may go on.
/// Hateful speech always waits, whatever the threshold: seed 002 scores it 0.6 at low virality,
/// under its 0.7 alert threshold, and a short is public.
pub fn review_reason(
    moderation: Option<&Moderation>,
    risk_threshold: f64,
    broadcaster_requires_approval: bool,
) -> Option<String> {
    if let Some(m) = moderation {
        if m.hateful {
            return Some(format!(
                "the transcript was judged hateful (risk {:.1}): {}",
                m.risk, m.justification
            ));
        }
        if m.risk > risk_threshold {
            return Some(format!(
                "risk {:.1} is above moderation.risk_threshold {risk_threshold}",
                m.risk
            ));
        }
    }
    broadcaster_requires_approval
        .then(|| "the broadcaster's clips need approval (moderation.approval_required)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(virality: Virality, hateful: bool) -> Moderation {
        Moderation {
            category: Category::Neutral,
            virality,
            hateful,
            target: None,
            justification: "because".into(),
            risk: risk_score(virality, hateful),
            model: "m".into(),
        }
    }

    #[test]
    fn the_risk_score_follows_seed_002() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(risk_score(Virality::Low, false), 0.2));
        assert!(close(risk_score(Virality::Medium, false), 0.5));
        assert!(close(risk_score(Virality::High, false), 0.7));
        assert!(close(risk_score(Virality::Low, true), 0.6));
        assert!(close(risk_score(Virality::Medium, true), 0.9));
        // 0.2 + 0.5 + 0.4 is capped.
        assert!(close(risk_score(Virality::High, true), 1.0));
    }

    #[test]
    fn a_clip_waits_for_review_when_hateful_risky_or_its_broadcaster_asks() {
        assert!(
            review_reason(Some(&verdict(Virality::Low, true)), 0.7, false)
                .is_some_and(|r| r.contains("hateful"))
        );
        // 0.7 is not above 0.7; a lower threshold catches it.
        assert_eq!(
            review_reason(Some(&verdict(Virality::High, false)), 0.7, false),
            None
        );
        assert!(
            review_reason(Some(&verdict(Virality::High, false)), 0.6, false)
                .is_some_and(|r| r.contains("risk_threshold"))
        );
        assert!(review_reason(None, 0.7, true).is_some_and(|r| r.contains("approval")));
        assert_eq!(review_reason(None, 0.7, false), None);
    }
}
