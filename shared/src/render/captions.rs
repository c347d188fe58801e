//! Captions from word timings: the words are grouped into short captions of at most two lines,
//! broken at phrase boundaries (sentence punctuation, pauses), then written as an ASS file in
//! which the word being spoken changes colour, and as an SRT file for the platforms that take
//! captions beside the video. Pure functions only: no file or process is touched here.
//!
//! Times are kept in whole centiseconds, the resolution of ASS, so that what is checked is what
//! is written. Input times are cleaned first (sorted, each word starting at least one
//! centisecond after the previous one, ending after it starts) because transcribers do return
//! overlapping and zero-length words.

use std::fmt::Write as _;

use super::settings::{CaptionStyle, SafeArea};

/// A word as a transcriber returns it, in seconds from the start of the short.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Word {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

/// A word placed in a caption, in centiseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedWord {
    pub text: String,
    pub start_cs: u64,
    pub end_cs: u64,
}

/// One caption on screen: one or two lines shown from `start_cs` to `end_cs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    pub start_cs: u64,
    pub end_cs: u64,
    pub lines: Vec<Vec<TimedWord>>,
}

impl Caption {
    pub fn words(&self) -> impl Iterator<Item = &TimedWord> {
        self.lines.iter().flatten()
    }
}

/// How words are grouped into captions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineRules {
    /// Characters that fit on one line inside the safe area.
    pub max_line_chars: usize,
    /// A silence at least this long ends a caption.
    pub pause_cs: u64,
    /// A caption is never on screen longer than this.
    pub max_caption_cs: u64,
    /// How long a caption's last word stays after it is said, when nothing follows at once.
    pub linger_cs: u64,
}

impl LineRules {
    /// The rules for a style on a frame: the line length comes from the width between the safe
    /// margins and an average glyph advance of 0.62 em (DejaVu Sans Bold over mixed-case text
    /// measures about 0.6 em; the margin covers wide words). A longer line is squeezed
    /// horizontally by the ASS writer rather than allowed to cross the margin.
    pub fn for_style(style: &CaptionStyle, safe: &SafeArea, frame_width: u32) -> Self {
        let usable = f64::from(frame_width) * (1.0 - 2.0 * safe.right);
        let chars = (usable / (0.62 * f64::from(style.size.max(1)))).floor() as usize;
        Self {
            max_line_chars: chars.max(8),
            pause_cs: 60,
            max_caption_cs: 350,
            linger_cs: 50,
        }
    }
}

/// Group words into captions of at most two lines each.
pub fn build_captions(words: &[Word], rules: &LineRules) -> Vec<Caption> {
    let words = normalise(words);
    let mut groups: Vec<Vec<TimedWord>> = Vec::new();
    let mut current: Vec<TimedWord> = Vec::new();
    for w in words {
        if let Some(last) = current.last() {
            let pause = w.start_cs.saturating_sub(last.end_cs) >= rules.pause_cs;
            let sentence_end = ends_sentence(&last.text);
            let too_long = w.end_cs.saturating_sub(current[0].start_cs) > rules.max_caption_cs;
            let mut candidate: Vec<&TimedWord> = current.iter().collect();
            candidate.push(&w);
            let fits = best_split(&candidate, rules.max_line_chars).is_some();
            if pause || sentence_end || too_long || !fits {
                groups.push(std::mem::take(&mut current));
            }
        }
        current.push(w);
    }
    if !current.is_empty() {
        groups.push(current);
    }

    let starts: Vec<u64> = groups.iter().map(|g| g[0].start_cs).collect();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, group)| {
            let start_cs = group[0].start_cs;
            let last = &group[group.len() - 1];
            let wanted_end = last.end_cs.max(last.start_cs + 1) + rules.linger_cs;
            let end_cs = match starts.get(i + 1) {
                Some(&next) => wanted_end.min(next),
                None => wanted_end,
            };
            let refs: Vec<&TimedWord> = group.iter().collect();
            let lines = match best_split(&refs, rules.max_line_chars) {
                Some(Some(k)) => vec![group[..k].to_vec(), group[k..].to_vec()],
                // One line, or a single word wider than a line (squeezed when written).
                _ => vec![group],
            };
            Caption {
                start_cs,
                end_cs,
                lines,
            }
        })
        .collect()
}

/// Sort, trim, drop empty words, and make starts strictly increasing and ends after starts.
fn normalise(words: &[Word]) -> Vec<TimedWord> {
    let mut sorted: Vec<&Word> = words.iter().filter(|w| !w.text.trim().is_empty()).collect();
    sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out: Vec<TimedWord> = Vec::with_capacity(sorted.len());
    for w in sorted {
        let mut start = to_cs(w.start);
        if let Some(prev) = out.last() {
            start = start.max(prev.start_cs + 1);
        }
        let end = to_cs(w.end).max(start + 1);
        out.push(TimedWord {
            text: w.text.split_whitespace().collect::<Vec<_>>().join(" "),
            start_cs: start,
            end_cs: end,
        });
    }
    out
}

fn to_cs(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        (secs * 100.0).round() as u64
    } else {
        0
    }
}

fn ends_sentence(text: &str) -> bool {
    text.ends_with(['.', '!', '?', '…'])
}

fn ends_phrase(text: &str) -> bool {
    ends_sentence(text) || text.ends_with([',', ';', ':'])
}

fn line_chars(words: &[&TimedWord]) -> usize {
    let letters: usize = words.iter().map(|w| w.text.chars().count()).sum();
    letters + words.len().saturating_sub(1)
}

/// Where to break `words` into lines: `Some(None)` when one line holds them, `Some(Some(k))`
/// for two lines `[..k]` and `[k..]`, `None` when two lines cannot hold them. Among the
/// possible breaks, one after a phrase's punctuation wins, then the most even.
fn best_split(words: &[&TimedWord], max: usize) -> Option<Option<usize>> {
    if line_chars(words) <= max {
        return Some(None);
    }
    if words.len() == 1 {
        // One word longer than a line: it is shown alone, squeezed.
        return Some(None);
    }
    (1..words.len())
        .filter(|&k| line_chars(&words[..k]) <= max && line_chars(&words[k..]) <= max)
        .min_by_key(|&k| {
            let imbalance = line_chars(&words[..k]).abs_diff(line_chars(&words[k..]));
            let phrase_bonus = if ends_phrase(&words[k - 1].text) {
                0
            } else {
                1000
            };
            phrase_bonus + imbalance
        })
        .map(Some)
}

/// The SRT file: one numbered cue per caption.
pub fn to_srt(captions: &[Caption]) -> String {
    let mut out = String::new();
    for (i, c) in captions.iter().enumerate() {
        let lines: Vec<String> = c
            .lines
            .iter()
            .map(|l| join(l, |w| w.text.clone()))
            .collect();
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            srt_time(c.start_cs),
            srt_time(c.end_cs),
            lines.join("\n")
        );
    }
    out
}

/// The ASS file: one event per word of each caption, the whole caption shown with the spoken
/// word in the highlight colour. Events of one caption follow each other without overlap.
pub fn to_ass(
    captions: &[Caption],
    style: &CaptionStyle,
    safe: &SafeArea,
    frame: (u32, u32),
    rules: &LineRules,
) -> String {
    let (w, h) = frame;
    let side = (f64::from(w) * safe.right).ceil() as u32;
    let bottom = (f64::from(h) * style.margin_bottom.max(safe.bottom)).ceil() as u32;
    let mut out = String::new();
    let _ = write!(
        out,
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {w}\nPlayResY: {h}\nWrapStyle: 2\nScaledBorderAndShadow: yes\n\n\
         [V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
         Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Caption,{font},{size},{text},{hl},{outline_c},&H80000000,{bold},0,0,0,100,100,0,0,1,{outline},{shadow},2,{side},{side},{bottom},1\n\n\
         [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        font = style.font.replace(',', " "),
        size = style.size,
        text = ass_colour(&style.text_colour),
        hl = ass_colour(&style.highlight_colour),
        outline_c = ass_colour(&style.outline_colour),
        bold = if style.bold { -1 } else { 0 },
        outline = style.outline,
        shadow = style.shadow,
    );
    let highlight = ass_colour(&style.highlight_colour);
    for c in captions {
        let words: Vec<&TimedWord> = c.words().collect();
        for (i, spoken) in words.iter().enumerate() {
            let start = if i == 0 { c.start_cs } else { spoken.start_cs };
            let end = words.get(i + 1).map_or(c.end_cs, |next| next.start_cs);
            if end <= start {
                continue;
            }
            let text = c
                .lines
                .iter()
                .map(|line| {
                    let body = join(line, |word| {
                        let escaped = ass_escape(&word.text);
                        if std::ptr::eq(word, *spoken) {
                            format!("{{\\c{highlight}}}{escaped}{{\\r}}")
                        } else {
                            escaped
                        }
                    });
                    let refs: Vec<&TimedWord> = line.iter().collect();
                    let chars = line_chars(&refs);
                    if chars > rules.max_line_chars {
                        // Too wide for the safe area: squeeze this line rather than cross it.
                        let scale = 100 * rules.max_line_chars / chars;
                        format!("{{\\fscx{scale}}}{body}")
                    } else {
                        body
                    }
                })
                .collect::<Vec<_>>()
                .join("\\N");
            let _ = writeln!(
                out,
                "Dialogue: 0,{},{},Caption,,0,0,0,,{text}",
                ass_time(start),
                ass_time(end)
            );
        }
    }
    out
}

fn join(words: &[TimedWord], f: impl Fn(&TimedWord) -> String) -> String {
    words.iter().map(f).collect::<Vec<_>>().join(" ")
}

/// ASS has no escape for braces or a lone backslash (they start override tags), so they are
/// replaced by look-alikes; a transcript never needs them.
fn ass_escape(text: &str) -> String {
    text.replace('{', "(").replace('}', ")").replace('\\', "/")
}

/// `#RRGGBB` to ASS's `&H00BBGGRR` (alpha first, then blue, green, red). Settings validate the
/// form; anything else falls back to white so a caption is never invisible.
pub fn ass_colour(hex: &str) -> String {
    match parse_hex(hex) {
        Some((r, g, b)) => format!("&H00{b:02X}{g:02X}{r:02X}"),
        None => "&H00FFFFFF".into(),
    }
}

pub(crate) fn parse_hex(hex: &str) -> Option<(u8, u8, u8)> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 || !h.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((byte(0)?, byte(2)?, byte(4)?))
}

fn ass_time(cs: u64) -> String {
    format!(
        "{}:{:02}:{:02}.{:02}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100
    )
}

fn srt_time(cs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02},{:03}",
        cs / 360_000,
        cs / 6000 % 60,
        cs / 100 % 60,
        cs % 100 * 10
    )
}

#[cfg(test)]
#[path = "captions_tests.rs"]
mod tests;
