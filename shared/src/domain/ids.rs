//! Identifiers that come from outside (Twitch, the operator, the queue) parsed into types that
//! can only hold safe values. Every key and path the adapters build is made from these, so a
//! value that could escape a DynamoDB key prefix, an S3 key or a folder (`/`, `..`, `#`,
//! control characters) is refused at the boundary and never reaches a store.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn check(
    kind: &'static str,
    value: &str,
    max_len: usize,
    allowed: fn(char) -> bool,
    rule: &'static str,
) -> Result<(), InvalidId> {
    let refuse = |reason| InvalidId {
        kind,
        // Never echo an unbounded value back into an error message or a log line.
        value: value.chars().take(80).collect(),
        reason,
    };
    if value.is_empty() {
        return Err(refuse("it is empty"));
    }
    if value.len() > max_len {
        return Err(refuse("it is too long"));
    }
    if !value.chars().all(allowed) {
        return Err(refuse(rule));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal, $allowed:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check($kind, &value, $max, $allowed, $rule)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
    };
}

fn slug_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

id_type!(
    /// A Twitch clip id, e.g. `AwkwardHelplessSalamanderSwiftRage` or
    /// `SlugName-AbC123_x9`: letters, digits, `-` and `_`.
    ClipId, "clip id", 128, slug_char, "only ASCII letters, digits, '-' and '_' are allowed"
);
id_type!(
    /// A Twitch user id (broadcaster or editor): decimal digits.
    UserId, "Twitch user id", 32, |c| c.is_ascii_digit(), "only digits are allowed"
);
id_type!(
    /// A Twitch login name: lowercase letters, digits and `_` (Twitch allows 4–25; we accept 1–25).
    Login, "Twitch login", 25, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_',
    "only lowercase ASCII letters, digits and '_' are allowed"
);
id_type!(
    /// The name of a publishing account (seed 000's *worker*), chosen by the operator.
    AccountName, "account name", 64, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_',
    "only lowercase ASCII letters, digits, '-' and '_' are allowed"
);
id_type!(
    /// A Twitch stream id or EventSub message/subscription id (digits or UUIDs).
    ExternalId, "external id", 128, slug_char, "only ASCII letters, digits, '-' and '_' are allowed"
);

/// A user id is what Twitch calls `broadcaster_user_id`.
pub type BroadcasterId = UserId;
/// Editors (clip creators) are Twitch users too.
pub type EditorId = UserId;

/// The name under which a secret is kept in the token vault, e.g. `twitch/broadcaster/1234`
/// or `youtube/main-account`: path-like segments of safe characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenRef(String);

impl TokenRef {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        check(
            "token reference",
            &value,
            200,
            |c| slug_char(c) || c == '/',
            "only ASCII letters, digits, '-', '_' and '/' are allowed",
        )?;
        if value.split('/').any(str::is_empty) {
            return Err(InvalidId {
                kind: "token reference",
                value,
                reason: "it has an empty segment",
            });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenRef {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, InvalidId> {
        Self::parse(value)
    }
}

impl From<TokenRef> for String {
    fn from(r: TokenRef) -> String {
        r.0
    }
}

impl fmt::Display for TokenRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key in the media store: `/`-separated segments of `[A-Za-z0-9._-]`, no segment empty,
/// `.` or `..`, no leading `/`. Both the S3 key and the local path come from it unchanged, so
/// a key can never name anything outside the media root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MediaKey(String);

impl MediaKey {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        check(
            "media key",
            &value,
            512,
            |c| slug_char(c) || c == '.' || c == '/',
            "only ASCII letters, digits, '.', '-', '_' and '/' are allowed",
        )?;
        if value
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(InvalidId {
                kind: "media key",
                value,
                reason: "a segment is empty, '.' or '..'",
            });
        }
        Ok(Self(value))
    }

    /// The source download of a clip.
    pub fn source(clip: &ClipId) -> Self {
        Self(format!("raw/{clip}/source.mp4"))
    }

    /// An output of the render job for a clip (`short.mp4`, `captions.srt`, …).
    pub fn rendered(clip: &ClipId, file: &str) -> Result<Self, InvalidId> {
        Self::parse(format!("shorts/{clip}/{file}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MediaKey {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, InvalidId> {
        Self::parse(value)
    }
}

impl From<MediaKey> for String {
    fn from(k: MediaKey) -> String {
        k.0
    }
}

impl fmt::Display for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clip_ids_with_separators_or_traversal_are_refused() {
        for bad in ["", "a/b", "..", "a#b", "a b", "é", "a\nb", &"x".repeat(129)] {
            assert!(ClipId::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(ClipId::parse("AwkwardHelplessSalamanderSwiftRage").is_ok());
        assert!(ClipId::parse("SlugName-AbC123_x9").is_ok());
    }

    #[test]
    fn user_ids_are_digits_only() {
        assert!(UserId::parse("141981764").is_ok());
        assert!(UserId::parse("12a").is_err());
        assert!(UserId::parse("-1").is_err());
    }

    #[test]
    fn media_keys_cannot_escape_the_root() {
        for bad in [
            "../etc/passwd",
            "raw/../../x",
            "/abs",
            "raw//x",
            "raw/./x",
            "raw/x/",
            "a\\b",
            "raw/x y",
        ] {
            assert!(MediaKey::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            MediaKey::source(&ClipId::parse("Abc").unwrap()).as_str(),
            "raw/Abc/source.mp4"
        );
        assert!(MediaKey::rendered(&ClipId::parse("Abc").unwrap(), "short.mp4").is_ok());
        assert!(MediaKey::rendered(&ClipId::parse("Abc").unwrap(), "../x").is_err());
    }

    #[test]
    fn ids_deserialize_through_the_parser() {
        let bad: Result<ClipId, _> = serde_json::from_str("\"../x\"");
        assert!(bad.is_err());
        let good: ClipId = serde_json::from_str("\"Good_1\"").unwrap();
        assert_eq!(good.as_str(), "Good_1");
    }

    proptest! {
        #[test]
        fn any_accepted_media_key_has_no_traversal(s in "[a-z./]{1,20}") {
            if let Ok(k) = MediaKey::parse(s) {
                prop_assert!(!k.as_str().starts_with('/'));
                prop_assert!(k.as_str().split('/').all(|seg| seg != ".." && seg != "." && !seg.is_empty()));
            }
        }

        #[test]
        fn any_accepted_clip_id_is_a_single_key_segment(s in "\\PC{0,40}") {
            if let Ok(id) = ClipId::parse(s) {
                prop_assert!(id.as_str().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            }
        }
    }
}
