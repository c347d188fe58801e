//! A publishing account (seed 000's *worker*): where and when it posts.

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccountName, Login};
use super::publication::Platform;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Privacy {
    #[default]
    Public,
    Unlisted,
    Private,
}

impl std::str::FromStr for Privacy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(Privacy::Public),
            "unlisted" => Ok(Privacy::Unlisted),
            "private" => Ok(Privacy::Private),
            _ => Err(format!(
                "unknown privacy {s:?} (one of: public, unlisted, private)"
            )),
        }
    }
}

/// An IANA time zone name, checked against the tz database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        s.parse::<chrono_tz::Tz>().map_err(|_| {
            format!("unknown time zone {s:?} (use an IANA name such as Europe/Paris)")
        })?;
        Ok(Self(s))
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        // Checked in `parse`, which every constructor goes through.
        self.0.parse().unwrap_or(chrono_tz::UTC)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<TimeZoneName> for String {
    fn from(t: TimeZoneName) -> String {
        t.0
    }
}

/// An account's own post text (seed 003's templates): placeholders `{title}` (the generated
/// title when the edit stage made one, else Twitch's), `{description}` (the generated
/// description, or nothing), `{broadcaster}`, `{clipper}`, `{hashtags}` and `{clip_url}`. A
/// field left unset uses HiLite's default; the broadcaster is credited whatever the template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostTemplates {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags without `#`, posted before the generated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashtags: Option<Vec<String>>,
}

impl PostTemplates {
    /// Check a template before it is stored: only known placeholders, balanced braces.
    pub fn parse_template(s: &str) -> Result<String, String> {
        const KNOWN: [&str; 6] = [
            "title",
            "description",
            "broadcaster",
            "clipper",
            "hashtags",
            "clip_url",
        ];
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in template {s:?}"))?;
            let name = &after[..close];
            if !KNOWN.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{name}}} in template {s:?} (known: {})",
                    KNOWN.map(|k| format!("{{{k}}}")).join(", ")
                ));
            }
            rest = &after[close + 1..];
        }
        Ok(s.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub name: AccountName,
    pub timezone: TimeZoneName,
    /// Local time of the daily post, in `timezone`.
    pub post_at: NaiveTime,
    pub max_per_day: u32,
    pub platforms: Vec<Platform>,
    /// Broadcasters whose clips this account posts; empty means all.
    #[serde(default)]
    pub broadcasters: Vec<Login>,
    #[serde(default)]
    pub privacy: Privacy,
    #[serde(default)]
    pub paused: bool,
    /// This account's post text; unset fields use the defaults.
    #[serde(default)]
    pub templates: PostTemplates,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_only_known_placeholders() {
        assert!(PostTemplates::parse_template("{title} by {broadcaster} {hashtags}").is_ok());
        let err = PostTemplates::parse_template("{titel}").unwrap_err();
        assert!(err.contains("{titel}") && err.contains("{title}"), "{err}");
        assert!(PostTemplates::parse_template("{title").is_err());
    }
}
