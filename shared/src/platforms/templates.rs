//! Post text from templates (seed 003): `{title}`, `{description}`, `{broadcaster}`,
//! `{clipper}`, `{hashtags}` and `{clip_url}` filled from the clip, the generated title
//! preferred to Twitch's, the generated description and hashtags used when the edit stage made
//! them. Each account may set its own templates ([`Templates::for_account`]); what it leaves
//! unset is the default. The broadcaster is always credited: a text that does not name them
//! gets a credit line. Each platform's length limits are applied here, so uploads never fail on them:
//! YouTube titles 100 characters and descriptions 5000 bytes
//! (<https://developers.google.com/youtube/v3/docs/videos#snippet.title>), TikTok titles 2200
//! characters (<https://developers.tiktok.com/doc/content-posting-api-reference-direct-post>),
//! Instagram captions 2200 characters and 30 hashtags
//! (<https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media>).

use serde::{Deserialize, Serialize};

use super::PostText;
use crate::domain::{Clip, Platform, PostTemplates};

/// The templates one post is rendered with: the defaults, overridden per account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Templates {
    pub title: String,
    pub description: String,
    /// Tags without `#`; `{hashtags}` renders them as `#tag #tag`.
    pub hashtags: Vec<String>,
}

impl Default for Templates {
    fn default() -> Self {
        Self {
            title: "{title}".into(),
            description:
                "{description}\n{title} — clipped by {clipper} on {broadcaster}'s stream.\n{clip_url}\n{hashtags}"
                    .into(),
            hashtags: vec!["twitch".into(), "shorts".into(), "gaming".into()],
        }
    }
}

impl Templates {
    /// The defaults with what `account` sets in their place.
    pub fn for_account(account: &PostTemplates) -> Self {
        let d = Self::default();
        Self {
            title: account.title.clone().unwrap_or(d.title),
            description: account.description.clone().unwrap_or(d.description),
            hashtags: account.hashtags.clone().unwrap_or(d.hashtags),
        }
    }
}

fn fill(template: &str, clip: &Clip, hashtags: &str) -> String {
    let title = clip
        .generated_title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(&clip.title);
    template
        .replace("{title}", title)
        .replace(
            "{description}",
            clip.generated_description.as_deref().unwrap_or_default(),
        )
        .replace("{broadcaster}", &clip.broadcaster_name)
        .replace("{clipper}", &clip.editor_name)
        .replace("{hashtags}", hashtags)
        .replace("{clip_url}", &clip.url)
}

fn cut_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn cut_bytes(s: &str, n: usize) -> String {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Render the text of `clip`'s post on `platform`.
pub fn render(t: &Templates, clip: &Clip, platform: Platform) -> PostText {
    // Instagram allows 30 hashtags a post; YouTube ignores all of a video's if it has over 60
    // (https://support.google.com/youtube/answer/6390658).
    let max_tags = if platform == Platform::Instagram {
        30
    } else {
        60
    };
    // The account's tags first, then the generated ones, each once.
    let mut tags: Vec<String> = Vec::new();
    for tag in t.hashtags.iter().chain(&clip.generated_hashtags) {
        let tag = tag.trim().trim_start_matches('#');
        if !tag.is_empty() && !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            tags.push(tag.to_string());
        }
    }
    tags.truncate(max_tags);
    let hashtags = tags
        .iter()
        .map(|h| format!("#{h}"))
        .collect::<Vec<_>>()
        .join(" ");
    // YouTube refuses '<' and '>' in titles and descriptions.
    let clean = |s: String| {
        if platform == Platform::Youtube {
            s.replace(['<', '>'], "")
        } else {
            s
        }
    };
    let mut title = clean(fill(&t.title, clip, &hashtags)).trim().to_string();
    let mut description = clean(fill(&t.description, clip, &hashtags))
        .trim()
        .to_string();
    if !description.contains(&clip.broadcaster_name) && !title.contains(&clip.broadcaster_name) {
        description = format!(
            "{description}\n\nCredit: {} — twitch.tv/{}",
            clip.broadcaster_name,
            clip.broadcaster_name.to_lowercase()
        )
        .trim()
        .to_string();
    }
    match platform {
        Platform::Youtube => {
            title = cut_chars(&title, 100);
            description = cut_bytes(&description, 5000);
        }
        Platform::Tiktok | Platform::Instagram => {
            // Both post one caption: title and description together fit 2200 characters,
            // the credit (at the end of the description) kept by shortening the title first.
            let room = 2200usize.saturating_sub(description.chars().count() + 2);
            title = cut_chars(&title, room);
            description = cut_chars(&description, 2200);
        }
    }
    PostText {
        title,
        description,
        tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;
    use chrono::Utc;

    fn clip() -> Clip {
        let now = Utc::now();
        Clip {
            id: ClipId::parse("C1").unwrap(),
            broadcaster_id: BroadcasterId::parse("1").unwrap(),
            broadcaster_name: "StreamerOne".into(),
            editor_id: EditorId::parse("2").unwrap(),
            editor_name: "EditorTwo".into(),
            url: "https://clips.twitch.tv/C1".into(),
            title: "twitch title".into(),
            duration_secs: 30.0,
            view_count: 1,
            created_at: now,
            video_id: None,
            vod_offset_secs: None,
            found_by_hilite: false,
            status: ClipStatus::Edited,
            attempts: Attempts::default(),
            failed_stage: None,
            skip_reason: None,
            score: None,
            window: None,
            media: MediaKeys::default(),
            generated_title: Some("Generated <title>".into()),
            generated_description: None,
            generated_hashtags: Vec::new(),
            moderation: None,
            edit_job: None,
            review_reason: None,
            errors: vec![],
            fetched_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_generated_title_is_preferred_and_placeholders_are_filled() {
        let t = render(&Templates::default(), &clip(), Platform::Youtube);
        assert_eq!(t.title, "Generated title");
        assert!(
            t.description
                .contains("clipped by EditorTwo on StreamerOne's stream"),
            "{}",
            t.description
        );
        assert!(
            t.description.contains("https://clips.twitch.tv/C1")
                && t.description.contains("#twitch #shorts")
        );
    }

    #[test]
    fn the_broadcaster_is_credited_even_when_the_template_forgets() {
        let t = Templates {
            title: "{title}".into(),
            description: "{hashtags}".into(),
            hashtags: vec![],
        };
        let text = render(&t, &clip(), Platform::Tiktok);
        assert!(
            text.description
                .contains("Credit: StreamerOne — twitch.tv/streamerone"),
            "{}",
            text.description
        );
    }

    #[test]
    fn an_accounts_templates_replace_the_defaults_and_generated_text_is_used() {
        let mut c = clip();
        c.generated_description = Some("The comeback of the year".into());
        c.generated_hashtags = vec!["#clutch".into(), "#Twitch".into()];
        let own = PostTemplates {
            title: Some("{broadcaster}: {title}".into()),
            description: Some("{description} {hashtags}".into()),
            hashtags: None,
        };
        let t = Templates::for_account(&own);
        assert_eq!(t.hashtags, Templates::default().hashtags, "unset: default");
        let text = render(&t, &c, Platform::Youtube);
        assert_eq!(text.title, "StreamerOne: Generated title");
        assert!(
            text.description
                .starts_with("The comeback of the year #twitch #shorts #gaming #clutch"),
            "{}",
            text.description
        );
        assert_eq!(
            text.tags,
            ["twitch", "shorts", "gaming", "clutch"],
            "each tag once"
        );
        let plain = render(&Templates::default(), &clip(), Platform::Tiktok);
        assert!(
            plain.description.starts_with("Generated"),
            "no generated description leaves no blank line: {:?}",
            plain.description
        );
    }

    #[test]
    fn platform_length_limits_are_kept() {
        let t = Templates {
            title: "x".repeat(300),
            description: "é".repeat(4000),
            hashtags: (0..40).map(|i| format!("t{i}")).collect(),
        };
        let yt = render(&t, &clip(), Platform::Youtube);
        assert_eq!(yt.title.chars().count(), 100);
        assert!(yt.description.len() <= 5000);
        let ig = render(&t, &clip(), Platform::Instagram);
        assert!(ig.title.chars().count() + ig.description.chars().count() + 2 <= 2200 + 2);
        assert_eq!(ig.tags.len(), 30);
    }
}
