//! Chat hype (seed 001, AutoClipMaker): when something happens on stream, chat explodes. Each
//! message scores — base 1, a bonus for laughter in the languages streamers' chats use, a bonus
//! per hype emote, a multiplier when laughter and emotes come together — and the scores, summed
//! over a sliding window, make a hype signal over the stream's time. Moments are the signal's
//! peaks above mean + k·std, taken highest first with their neighbourhood suppressed; each
//! moment starts where chat's rise is steepest and ends where its decay is (seed 001's
//! derivative method: the points where the slope changes; how they are located is in
//! `moments`).
//!
//! Pure and fast: one pass scores the messages into fixed time buckets (no allocation per
//! message), then everything works on the buckets. A million messages take a fraction of a
//! second (`make bench`). Not here: reading chat logs or calling Twitch.

use std::collections::HashSet;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use super::moments::{centred_sum, find_moments, mean_std, Edges};

/// The longest span analysed at once: a week of buckets, far past Twitch's 48 h stream limit,
/// so a stray timestamp cannot make the analysis allocate without bound.
pub const MAX_SPAN_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// Laughter written as a word, matched case-insensitively with a non-letter (or the message's
/// edge) on both sides, so `lol` counts and `lollipop` does not.
pub const LAUGHTER_WORDS: &[&str] = &[
    r"l+o+l+(?:o+l+)*",  // lol, lool, lolol (en)
    r"l+m+f*a+o+",       // lmao, lmfao
    r"r+o+f+l+",         // rofl
    r"k+e+k+w*",         // kek, kekw (as text)
    r"x+d+",             // xd, xDDD
    r"a?(?:h+a+){2,}h?", // haha, ahaha, hahah
    r"(?:a+h+){2,}a*",   // ahah (fr, it)
    r"(?:h+e+){2,}h?",   // hehe
    r"(?:h+i+){2,}",     // hihi (fr)
    r"a?(?:j+a+){2,}j?", // jaja, jajaja (es)
    r"(?:j+e+){2,}",     // jeje (es)
    r"m+d+r+",           // mdr (fr)
    r"p+t+d+r+",         // ptdr (fr)
    r"k{4,}",            // kkkk (pt-BR)
    r"(?:j+s+){2,}j*",   // jsjs (pt-BR)
    r"(?:r+s+){2,}",     // rsrs (pt-BR)
    r"(?:w+k+){2,}w*",   // wkwk (id)
    r"5{3,}",            // 555 (th: "ha" is 5)
    r"а?(?:х+а+){2,}х?", // хаха, ахаха (ru)
];

/// Laughter marks that are not words in a script with spaces: matched anywhere.
pub const LAUGHTER_MARKS: &[&str] = &[
    "草",   // "grass", laughter (ja)
    "ｗｗ", // full-width www (ja)
    "ㅋㅋ", // kk (ko)
    "ㅎㅎ", // hh (ko)
    "哈哈", // haha (zh)
    "笑",   // laugh (ja, zh)
    "😂", "🤣",
];

/// Emotes that mean hype, by name (Twitch emote names are case-sensitive).
pub const HYPE_EMOTES: &[&str] = &[
    "KEKW",
    "LUL",
    "LULW",
    "OMEGALUL",
    "ICANT",
    "Pog",
    "PogChamp",
    "PogU",
    "POGGERS",
    "monkaS",
    "monkaW",
    "Kreygasm",
    "PepeLaugh",
    "pepeLaugh",
    "WAYTOODANK",
    "EZ",
    "Clap",
    "GIGACHAD",
];

/// Everything the chat analysis can be tuned with; every field has a documented default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatHypeConfig {
    /// Every message counts this much. Default 1.
    pub base_score: f64,
    /// Added when a message laughs. Default 3 (seed 001).
    pub laughter_bonus: f64,
    /// Added per hype emote in a message. Default 4 (seed 001).
    pub emote_bonus: f64,
    /// Emotes counted per message at most, so one spammed line is not a moment. Default 5.
    pub max_emotes_per_message: u32,
    /// A message that laughs and has a hype emote scores this many times its sum. Default 1.5.
    pub combo_multiplier: f64,
    /// Laughter written as words (regular expressions, case-insensitive). Default
    /// [`LAUGHTER_WORDS`].
    pub laughter_words: Vec<String>,
    /// Laughter marks matched anywhere. Default [`LAUGHTER_MARKS`].
    pub laughter_marks: Vec<String>,
    /// Hype emotes by name. Default [`HYPE_EMOTES`].
    pub hype_emotes: Vec<String>,
    /// The channel's own hype emotes by Twitch emote id (their names change with the channel's
    /// prefix; chat events carry the id). Default none.
    pub hype_emote_ids: Vec<String>,
    /// Width of a time bucket, the signal's resolution. Default 0.5 s.
    pub bucket_secs: f64,
    /// The hype at time t sums the scores within ±window/2 of t. Default 10 s.
    pub window_secs: f64,
    /// A peak must exceed the hype's mean by this many standard deviations. Default 2.
    pub threshold_std: f64,
    /// Smoothing (Gaussian σ) of the message rate in which a moment's edges are found.
    /// Default 0.5 s.
    pub edge_smoothing_secs: f64,
    /// Space kept free around a moment before another may start. Default 5 s.
    pub min_gap_secs: f64,
    /// The most moments reported, highest hype first. Default 20.
    pub max_moments: usize,
}

impl Default for ChatHypeConfig {
    fn default() -> Self {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Self {
            base_score: 1.0,
            laughter_bonus: 3.0,
            emote_bonus: 4.0,
            max_emotes_per_message: 5,
            combo_multiplier: 1.5,
            laughter_words: owned(LAUGHTER_WORDS),
            laughter_marks: owned(LAUGHTER_MARKS),
            hype_emotes: owned(HYPE_EMOTES),
            hype_emote_ids: Vec::new(),
            bucket_secs: 0.5,
            window_secs: 10.0,
            threshold_std: 2.0,
            edge_smoothing_secs: 0.5,
            min_gap_secs: 5.0,
            max_moments: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatConfigError {
    #[error("a laughter pattern does not compile: {0}")]
    Pattern(String),
    #[error("{0} must be above 0")]
    NotPositive(&'static str),
}

/// One chat message, its time in seconds from the stream's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub offset_secs: f64,
    pub text: String,
    /// Ids of the emotes the message carries (Twitch's emote fragments), when known.
    #[serde(default)]
    pub emote_ids: Vec<String>,
}

/// Scores single messages. Built once (patterns compiled), then used for any number.
#[derive(Debug, Clone)]
pub struct HypeScorer {
    laughter: Option<Regex>,
    emotes: HashSet<String>,
    emote_ids: HashSet<String>,
    /// Shortest and longest emote name: most words are ruled out without hashing.
    name_lengths: (usize, usize),
    base: f64,
    laughter_bonus: f64,
    emote_bonus: f64,
    max_emotes: u32,
    combo: f64,
}

impl HypeScorer {
    pub fn new(cfg: &ChatHypeConfig) -> Result<Self, ChatConfigError> {
        let words = cfg.laughter_words.join("|");
        let marks: Vec<String> = cfg
            .laughter_marks
            .iter()
            .map(|m| regex::escape(m))
            .collect();
        let mut alternatives = Vec::new();
        if !words.is_empty() {
            // Explicit letter/digit classes rather than `\b`: the fast DFA engines cannot
            // evaluate a Unicode word boundary on non-ASCII text and would fall back to a slow one.
            alternatives.push(format!(
                r"(?:^|[^\p{{L}}\p{{N}}])(?:{words})(?:$|[^\p{{L}}\p{{N}}])"
            ));
        }
        if !marks.is_empty() {
            alternatives.push(marks.join("|"));
        }
        let laughter = if alternatives.is_empty() {
            None
        } else {
            Some(
                RegexBuilder::new(&alternatives.join("|"))
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| ChatConfigError::Pattern(e.to_string()))?,
            )
        };
        let emotes: HashSet<String> = cfg.hype_emotes.iter().cloned().collect();
        let name_lengths = (
            emotes.iter().map(String::len).min().unwrap_or(usize::MAX),
            emotes.iter().map(String::len).max().unwrap_or(0),
        );
        Ok(Self {
            laughter,
            emotes,
            emote_ids: cfg.hype_emote_ids.iter().cloned().collect(),
            name_lengths,
            base: cfg.base_score,
            laughter_bonus: cfg.laughter_bonus,
            emote_bonus: cfg.emote_bonus,
            max_emotes: cfg.max_emotes_per_message,
            combo: cfg.combo_multiplier,
        })
    }

    /// Whether the text laughs.
    pub fn laughs(&self, text: &str) -> bool {
        self.laughter.as_ref().is_some_and(|r| r.is_match(text))
    }

    /// The hype emotes in a message: its words that are hype emote names, and its emote
    /// fragments whose id is a channel hype emote (at most the configured maximum).
    pub fn hype_emotes<'a>(&self, text: &str, emote_ids: impl IntoIterator<Item = &'a str>) -> u32 {
        let (shortest, longest) = self.name_lengths;
        let by_name = text
            .split_ascii_whitespace()
            .filter(|w| (shortest..=longest).contains(&w.len()) && self.emotes.contains(*w))
            .count();
        let by_id = if self.emote_ids.is_empty() {
            0
        } else {
            emote_ids
                .into_iter()
                .filter(|id| self.emote_ids.contains(*id))
                .count()
        };
        ((by_name + by_id) as u32).min(self.max_emotes)
    }

    /// The score of one message.
    pub fn score<'a>(&self, text: &str, emote_ids: impl IntoIterator<Item = &'a str>) -> f64 {
        let laughs = self.laughs(text);
        let emotes = self.hype_emotes(text, emote_ids);
        let mut score = self.base + f64::from(emotes) * self.emote_bonus;
        if laughs {
            score += self.laughter_bonus;
        }
        if laughs && emotes > 0 {
            score *= self.combo;
        }
        score
    }
}

/// A moment of the stream that chat reacted to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    /// Where the reaction rises steepest (the inflection point of its rise): its start.
    pub start_secs: f64,
    /// Where the hype signal peaks.
    pub peak_secs: f64,
    /// Where the reaction falls steepest (the inflection point of its decay): its end.
    pub end_secs: f64,
    /// The hype signal at the peak (summed message scores in the window).
    pub hype: f64,
    /// How far the peak stands above the mean, in standard deviations.
    pub intensity: f64,
}

impl Moment {
    pub fn duration_secs(&self) -> f64 {
        self.end_secs - self.start_secs
    }
}

/// The hype signal of a chat and the moments found in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatHype {
    /// The time of bucket 0's start.
    pub origin_secs: f64,
    pub bucket_secs: f64,
    /// The hype signal: per bucket, the scores within ±window/2 of its middle.
    pub signal: Vec<f64>,
    pub mean: f64,
    pub std: f64,
    /// mean + k·std: peaks must exceed it.
    pub threshold: f64,
    /// Highest hype first.
    pub moments: Vec<Moment>,
    /// Messages scored; messages with no usable time, or beyond [`MAX_SPAN_SECS`], are not.
    pub messages: usize,
}

impl ChatHype {
    /// The time of the middle of bucket `i`.
    pub fn time_of(&self, i: usize) -> f64 {
        self.origin_secs + (i as f64 + 0.5) * self.bucket_secs
    }

    /// The chat feature for the score (0–1): the highest hype between `start_secs` and
    /// `end_secs` above the mean, as a share of the stream's highest. `None` when the span is
    /// outside the chat's timeline or the chat never rises above its mean.
    pub fn hype_between(&self, start_secs: f64, end_secs: f64) -> Option<f64> {
        let to_bucket = |t: f64| ((t - self.origin_secs) / self.bucket_secs).floor();
        let (a, b) = (
            to_bucket(start_secs).max(0.0),
            to_bucket(end_secs).min(self.signal.len() as f64 - 1.0),
        );
        if a.is_nan() || b.is_nan() || a > b {
            return None;
        }
        let here = self.signal[a as usize..=b as usize]
            .iter()
            .copied()
            .fold(f64::MIN, f64::max);
        let top = self.signal.iter().copied().fold(f64::MIN, f64::max);
        (top > self.mean).then(|| ((here - self.mean) / (top - self.mean)).clamp(0.0, 1.0))
    }
}

/// Score every message and find the moments.
pub fn analyze(
    messages: &[ChatMessage],
    cfg: &ChatHypeConfig,
) -> Result<ChatHype, ChatConfigError> {
    let scorer = HypeScorer::new(cfg)?;
    let scored = messages.iter().map(|m| {
        (
            m.offset_secs,
            scorer.score(&m.text, m.emote_ids.iter().map(String::as_str)),
        )
    });
    hype_from_scores(scored, cfg)
}

/// The hype signal and moments of already scored messages `(offset_secs, score)`. The
/// iterator is walked twice (its time span first), so it must be cheap to clone.
pub fn hype_from_scores<I>(scored: I, cfg: &ChatHypeConfig) -> Result<ChatHype, ChatConfigError>
where
    I: Iterator<Item = (f64, f64)> + Clone,
{
    for (name, value) in [
        ("bucket_secs", cfg.bucket_secs),
        ("window_secs", cfg.window_secs),
    ] {
        if value.is_nan() || value <= 0.0 {
            return Err(ChatConfigError::NotPositive(name));
        }
    }
    let bucket = cfg.bucket_secs;
    let first = scored
        .clone()
        .map(|(t, _)| t)
        .filter(|t| t.is_finite())
        .fold(f64::INFINITY, f64::min);
    let origin = if first.is_finite() {
        (first / bucket).floor() * bucket
    } else {
        0.0
    };
    let last = scored
        .clone()
        .map(|(t, _)| t)
        .filter(|t| t.is_finite() && *t - origin <= MAX_SPAN_SECS)
        .fold(origin, f64::max);
    let n = ((last - origin) / bucket).floor() as usize + 1;
    let mut per_bucket = vec![0.0; n];
    let mut counts = vec![0.0; n];
    let mut counted = 0;
    for (t, score) in scored {
        if !t.is_finite() || t - origin > MAX_SPAN_SECS {
            continue;
        }
        let b = (((t - origin) / bucket) as usize).min(n - 1);
        per_bucket[b] += score;
        counts[b] += 1.0;
        counted += 1;
    }
    let half = (cfg.window_secs / bucket / 2.0).round() as usize;
    let signal = centred_sum(&per_bucket, half);
    let (mean, std) = mean_std(&signal);
    let threshold = mean + cfg.threshold_std * std;
    let mut hype = ChatHype {
        origin_secs: origin,
        bucket_secs: bucket,
        signal,
        mean,
        std,
        threshold,
        moments: Vec::new(),
        messages: counted,
    };
    if std > 0.0 {
        let sigma = cfg.edge_smoothing_secs / bucket;
        let edges = Edges::new(counts, sigma, half, bucket);
        hype.moments = find_moments(&hype, &edges, half, cfg);
    }
    Ok(hype)
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
