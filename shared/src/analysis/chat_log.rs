//! Chat logs as text, for `hilite analyze-chat`: HiLite's JSON lines (one [`ChatMessage`] per
//! line: `offset_secs`, `text`, optional `emote_ids`), the lines HiLite's chat capture stores
//! (`pipeline::chat::ChatLine`: `id`, `at`, `text`, `emote_ids`, decompressed; their times are
//! taken from the log's first message and a message repeated under the same id counts once),
//! and plain `[hh:mm:ss] user: text` logs as chat downloaders write them. Text in, messages
//! out; reading (and decompressing) the file is the caller's.

use std::collections::HashSet;

use super::chat::ChatMessage;
use crate::pipeline::chat::ChatLine;

/// A line that is neither format, with its number (from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ChatLogError {
    pub line: usize,
    pub problem: String,
}

/// Parse a whole log; blank lines are skipped, anything else must be a message.
pub fn parse_log(text: &str) -> Result<Vec<ChatMessage>, ChatLogError> {
    let mut messages = Vec::new();
    // Captured lines carry absolute times: they are placed once the earliest is known.
    let mut captured: Vec<(usize, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let mut ids = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fail = |problem: String| ChatLogError {
            line: i + 1,
            problem,
        };
        let json = if line.starts_with('{') {
            Some(
                serde_json::from_str::<serde_json::Value>(line)
                    .map_err(|e| fail(format!("not a chat message: {e}")))?,
            )
        } else {
            None
        };
        let message = if let Some(v) = json.filter(|v| v.get("at").is_some()) {
            let c = serde_json::from_value::<ChatLine>(v)
                .map_err(|e| fail(format!("not a captured chat line: {e}")))?;
            if !ids.insert(c.id) {
                continue;
            }
            captured.push((messages.len(), c.at));
            ChatMessage {
                offset_secs: 0.0,
                text: c.text,
                emote_ids: c.emote_ids,
            }
        } else if line.starts_with('{') {
            serde_json::from_str::<ChatMessage>(line)
                .map_err(|e| fail(format!("not a chat message: {e}")))?
        } else {
            parse_plain(line)
                .ok_or_else(|| fail("expected `[hh:mm:ss] user: text` or a JSON object".into()))?
        };
        if !message.offset_secs.is_finite() || message.offset_secs < 0.0 {
            return Err(fail(format!(
                "the time {} is not a time in the stream",
                message.offset_secs
            )));
        }
        messages.push(message);
    }
    if let Some(first) = captured.iter().map(|(_, at)| *at).min() {
        for (i, at) in captured {
            messages[i].offset_secs = (at - first).num_milliseconds() as f64 / 1000.0;
        }
    }
    Ok(messages)
}

/// `[h:mm:ss] user: text` (also `[mm:ss]`).
fn parse_plain(line: &str) -> Option<ChatMessage> {
    let rest = line.strip_prefix('[')?;
    let (stamp, rest) = rest.split_once(']')?;
    let mut secs = 0.0;
    let parts: Vec<&str> = stamp.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    for part in parts {
        let n: u32 = part.trim().parse().ok()?;
        secs = secs * 60.0 + f64::from(n);
    }
    let (user, text) = rest.trim_start().split_once(':')?;
    if user.is_empty() || user.contains(char::is_whitespace) {
        return None;
    }
    Some(ChatMessage {
        offset_secs: secs,
        text: text.trim().to_string(),
        emote_ids: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_lines_are_read_alike() {
        let log = "[0:00:05] alice: hello chat\n\n[1:02:03] bob_42: KEKW that was: insane\n\
                   {\"offset_secs\": 3724.5, \"text\": \"lol\", \"emote_ids\": [\"e1\"]}\n[12:30] carol: hi";
        let m = parse_log(log).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].offset_secs, m[0].text.as_str()), (5.0, "hello chat"));
        assert_eq!(
            (m[1].offset_secs, m[1].text.as_str()),
            (3723.0, "KEKW that was: insane")
        );
        assert_eq!(
            (m[2].offset_secs, m[2].emote_ids.clone()),
            (3724.5, vec!["e1".to_string()])
        );
        assert_eq!(m[3].offset_secs, 750.0);
    }

    #[test]
    fn captured_lines_are_timed_from_the_first_and_counted_once() {
        let log = "{\"id\":\"b\",\"at\":\"2026-11-21T06:00:10.500Z\",\"text\":\"KEKW\",\"emote_ids\":[\"e9\"]}\n\
                   {\"id\":\"a\",\"at\":\"2026-11-21T06:00:00Z\",\"text\":\"hi\"}\n\
                   {\"id\":\"b\",\"at\":\"2026-11-21T06:00:10.500Z\",\"text\":\"KEKW\",\"emote_ids\":[\"e9\"]}\n";
        let m = parse_log(log).unwrap();
        assert_eq!(m.len(), 2, "the repeated id counts once");
        assert_eq!(
            (m[0].offset_secs, m[0].emote_ids.clone()),
            (10.5, vec!["e9".to_string()])
        );
        assert_eq!((m[1].offset_secs, m[1].text.as_str()), (0.0, "hi"));
        assert!(parse_log("{\"id\":\"x\",\"at\":\"yesterday\",\"text\":\"t\"}").is_err());
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number() {
        let err = parse_log("[0:00:01] a: ok\nsomething else\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(parse_log("{\"text\": \"no time\"}")
            .unwrap_err()
            .problem
            .contains("offset_secs"));
        assert!(parse_log("{\"offset_secs\": -3, \"text\": \"x\"}").is_err());
        assert!(parse_log("[1:2:3:4] a: x").is_err());
        assert!(parse_log("[0:00:01] no colon here").is_err());
    }
}
