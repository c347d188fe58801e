//! The JSON object the model must answer with, the prompt that asks for it, and the checks it
//! must pass. serde refuses unknown keys and wrong types; [`Verdict::parse`] adds what a type
//! cannot say (lengths, hashtag shape, a hateful verdict naming its target). Hand-written rather
//! than a JSON Schema validator: the schema is eight keys, and these checks give the model an
//! error it can act on when it is asked again.

use serde::{Deserialize, Serialize};

use crate::domain::{risk_score, Category, Moderation, Virality};

/// Longest generated title: YouTube's limit, the tightest of the three platforms
/// (<https://developers.google.com/youtube/v3/docs/videos#snippet.title>).
pub const MAX_TITLE_CHARS: usize = 100;
/// A short description; the platforms allow more (TikTok and Instagram 2,200 characters).
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_HASHTAGS: usize = 10;
const MAX_HASHTAG_CHARS: usize = 50;
const MAX_TEXT_CHARS: usize = 1000;

/// What the model is told about the clip.
#[derive(Debug, Clone, Serialize)]
pub struct ClipFacts {
    pub twitch_title: String,
    pub broadcaster: String,
    pub duration_secs: f64,
    pub view_count: u64,
    /// The transcript's language when the transcriber detected or was given one.
    pub language: Option<String>,
    pub transcript: String,
}

/// The model's answer, as it must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub category: Category,
    pub virality: Virality,
    pub hateful: bool,
    pub target: Option<String>,
    pub justification: String,
    pub title: String,
    pub description: String,
    pub hashtags: Vec<String>,
}

/// The instructions sent as the system message; the clip's facts follow as the user message.
pub const INSTRUCTIONS: &str = r##"You moderate and title short vertical videos cut from Twitch clips.
You get the clip's Twitch title, broadcaster, duration, view count, language and transcript as JSON.
1. Classify the transcript in exactly one category: "neutral", "controversial", "potentially_viral" or "hateful".
2. Rate its virality: "low", "medium" or "high".
3. Say whether it contains hateful speech (insults, stigmatisation or calls to violence against a group or a person).
4. If it does, name the target (an ethnic group, a religion, a person, a social group, other); otherwise null.
5. Justify the verdict in one or two sentences.
6. Write a catchy title (at most 100 characters, one line, no hashtags), a description of one to three sentences, and up to 10 hashtags ("#" followed by letters, digits or "_").
Write the title, description and hashtags in the transcript's language.
Answer with ONE JSON object and nothing else, with exactly these keys:
{"category": "...", "virality": "...", "hateful": false, "target": null, "justification": "...", "title": "...", "description": "...", "hashtags": ["#..."]}"##;

impl Verdict {
    /// Parse and check one answer. The error says what is wrong, for the model to fix.
    pub fn parse(content: &str) -> Result<Self, String> {
        let v: Verdict = serde_json::from_str(content.trim())
            .map_err(|e| format!("the answer is not the JSON object asked for: {e}"))?;
        v.check()?;
        Ok(v)
    }

    fn check(&self) -> Result<(), String> {
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(format!(
                "\"title\" must be 1 to {MAX_TITLE_CHARS} characters"
            ));
        }
        if title.chars().any(char::is_control) {
            return Err("\"title\" must be one line".into());
        }
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(format!(
                "\"description\" must be at most {MAX_DESCRIPTION_CHARS} characters"
            ));
        }
        let justification = self.justification.trim();
        if justification.is_empty() || justification.chars().count() > MAX_TEXT_CHARS {
            return Err(format!(
                "\"justification\" must be 1 to {MAX_TEXT_CHARS} characters"
            ));
        }
        if self.hashtags.len() > MAX_HASHTAGS {
            return Err(format!("at most {MAX_HASHTAGS} \"hashtags\""));
        }
        for tag in &self.hashtags {
            let body = tag.strip_prefix('#').unwrap_or_default();
            let ok = !body.is_empty()
                && body.chars().count() <= MAX_HASHTAG_CHARS
                && body.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !ok {
                return Err(format!(
                    "hashtag {tag:?} must be \"#\" then 1 to {MAX_HASHTAG_CHARS} letters, digits or \"_\""
                ));
            }
        }
        let target = self.target.as_deref().map(str::trim).unwrap_or_default();
        if self.hateful && target.is_empty() {
            return Err("a hateful verdict must name its \"target\"".into());
        }
        if target.chars().count() > MAX_TEXT_CHARS {
            return Err(format!(
                "\"target\" must be at most {MAX_TEXT_CHARS} characters"
            ));
        }
        if self.category == Category::Hateful && !self.hateful {
            return Err("category \"hateful\" with \"hateful\": false contradicts itself".into());
        }
        Ok(())
    }

    /// The verdict as the clip keeps it, with its seed 002 risk score.
    pub fn moderation(&self, model: &str) -> Moderation {
        let target = self
            .target
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Moderation {
            category: self.category,
            virality: self.virality,
            hateful: self.hateful,
            target,
            justification: self.justification.trim().to_string(),
            risk: risk_score(self.virality, self.hateful),
            model: model.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = serde_json::json!({
            "category": "potentially_viral", "virality": "high", "hateful": false, "target": null,
            "justification": "A clutch play with a big reaction.",
            "title": "The clutch nobody expected", "description": "One HP left.",
            "hashtags": ["#clutch", "#gaming"]
        });
        edit(&mut v);
        v.to_string()
    }

    #[test]
    fn a_complete_answer_parses_and_scores() {
        let v = Verdict::parse(&answer(|_| {})).unwrap();
        assert_eq!(v.virality, Virality::High);
        let m = v.moderation("m1");
        assert!((m.risk - 0.7).abs() < 1e-9);
        assert_eq!((m.target, m.model.as_str()), (None, "m1"));
    }

    #[test]
    fn answers_outside_the_schema_are_refused_with_what_to_fix() {
        type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|v| v["extra"] = "x".into()), "unknown field"),
            (
                Box::new(|v| v["virality"] = "huge".into()),
                "unknown variant",
            ),
            (Box::new(|v| v["hateful"] = "no".into()), "invalid type"),
            (
                Box::new(|v| v["title"] = "x".repeat(101).into()),
                "\"title\"",
            ),
            (Box::new(|v| v["title"] = "two\nlines".into()), "one line"),
            (
                Box::new(|v| v["hashtags"] = serde_json::json!(["clutch"])),
                "hashtag",
            ),
            (
                Box::new(|v| v["hashtags"] = serde_json::json!(["#two words"])),
                "hashtag",
            ),
            (Box::new(|v| v["hateful"] = true.into()), "target"),
            (
                Box::new(|v| v["category"] = "hateful".into()),
                "contradicts",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("title");
                }),
                "missing field",
            ),
        ];
        for (edit, expected) in cases {
            let text = answer(edit);
            let err = Verdict::parse(&text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert!(Verdict::parse("Sure! Here is the JSON: {}").is_err());
    }

    #[test]
    fn a_title_of_exactly_100_characters_passes() {
        let title = "é".repeat(MAX_TITLE_CHARS);
        assert!(Verdict::parse(&answer(|v| v["title"] = title.into())).is_ok());
    }
}
