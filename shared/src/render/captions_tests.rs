use proptest::prelude::*;

use super::*;
use crate::render::settings::RenderConfig;

fn rules(max_line_chars: usize) -> LineRules {
    LineRules {
        max_line_chars,
        pause_cs: 60,
        max_caption_cs: 350,
        linger_cs: 50,
    }
}

fn words(list: &[(&str, f64, f64)]) -> Vec<Word> {
    list.iter()
        .map(|&(t, s, e)| Word {
            text: t.into(),
            start: s,
            end: e,
        })
        .collect()
}

fn style() -> (CaptionStyle, SafeArea) {
    let c = RenderConfig::default();
    (c.style().cloned().unwrap(), c.safe_area)
}

#[test]
fn a_sentence_end_and_a_pause_both_start_a_new_caption() {
    let w = words(&[
        ("Hello", 0.0, 0.3),
        ("there.", 0.3, 0.6),
        ("Big", 0.7, 0.9),
        ("play", 0.9, 1.1),
        ("now", 2.0, 2.3),
    ]);
    let caps = build_captions(&w, &rules(30));
    let texts: Vec<String> = caps
        .iter()
        .map(|c| {
            c.words()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(texts, ["Hello there.", "Big play", "now"]);
    // The second caption lingers after "play" but not into "now".
    assert_eq!((caps[1].start_cs, caps[1].end_cs), (70, 160));
}

#[test]
fn two_lines_break_after_a_comma_rather_than_evenly() {
    let w = words(&[
        ("oh", 0.0, 0.1),
        ("no,", 0.1, 0.2),
        ("what", 0.2, 0.3),
        ("is", 0.3, 0.4),
        ("happening", 0.4, 0.5),
    ]);
    let caps = build_captions(&w, &rules(17));
    assert_eq!(caps.len(), 1);
    let lines: Vec<Vec<&str>> = caps[0]
        .lines
        .iter()
        .map(|l| l.iter().map(|w| w.text.as_str()).collect())
        .collect();
    assert_eq!(
        lines,
        vec![vec!["oh", "no,"], vec!["what", "is", "happening"]]
    );
}

#[test]
fn the_spoken_word_alone_carries_the_highlight_colour() {
    let (style, safe) = style();
    let w = words(&[("one", 0.0, 0.5), ("two", 0.5, 1.0), ("three", 1.0, 1.5)]);
    let r = rules(30);
    let ass = to_ass(&build_captions(&w, &r), &style, &safe, (1080, 1920), &r);
    let events: Vec<&str> = ass.lines().filter(|l| l.starts_with("Dialogue:")).collect();
    assert_eq!(events.len(), 3);
    let hl = ass_colour(&style.highlight_colour);
    assert!(
        events[0].starts_with("Dialogue: 0,0:00:00.00,0:00:00.50,"),
        "{}",
        events[0]
    );
    assert!(
        events[1].ends_with(&format!("one {{\\c{hl}}}two{{\\r}} three")),
        "{}",
        events[1]
    );
    assert!(
        events[2].starts_with("Dialogue: 0,0:00:01.00,0:00:02.00,"),
        "{}",
        events[2]
    );
    assert!(ass.contains("PlayResX: 1080\nPlayResY: 1920"));
    assert!(
        ass.contains("Style: Caption,DejaVu Sans,64,&H00FFFFFF,&H0000D4FF,"),
        "{ass}"
    );
}

#[test]
fn the_style_keeps_captions_out_of_the_safe_area() {
    let (mut style, safe) = style();
    style.margin_bottom = 0.05; // asks to sit lower than the platforms allow
    let r = rules(30);
    let ass = to_ass(
        &build_captions(&words(&[("x", 0.0, 1.0)]), &r),
        &style,
        &safe,
        (1080, 1920),
        &r,
    );
    let line = ass.lines().find(|l| l.starts_with("Style:")).unwrap();
    // Bottom-centre alignment, 162 px each side (15 % of 1080), 384 px up (20 % of 1920).
    assert!(line.ends_with(",2,162,162,384,1"), "{line}");
}

#[test]
fn srt_cues_are_numbered_with_comma_milliseconds() {
    let srt = to_srt(&build_captions(
        &words(&[("Hi.", 0.0, 0.42), ("Yes", 61.0, 61.5)]),
        &rules(30),
    ));
    assert_eq!(
        srt,
        "1\n00:00:00,000 --> 00:00:00,920\nHi.\n\n2\n00:01:01,000 --> 00:01:02,000\nYes\n\n"
    );
}

#[test]
fn braces_and_backslashes_cannot_inject_override_tags() {
    let (style, safe) = style();
    let r = rules(30);
    let ass = to_ass(
        &build_captions(&words(&[("{\\pos(0,0)}x", 0.0, 1.0)]), &r),
        &style,
        &safe,
        (1080, 1920),
        &r,
    );
    assert!(!ass.contains("\\pos"), "{ass}");
}

#[test]
fn a_word_wider_than_a_line_is_squeezed() {
    let (style, safe) = style();
    let r = rules(10);
    let ass = to_ass(
        &build_captions(&words(&[("Supercalifragilistic", 0.0, 1.0)]), &r),
        &style,
        &safe,
        (1080, 1920),
        &r,
    );
    assert!(ass.contains("{\\fscx50}"), "{ass}");
}

#[test]
fn colours_convert_to_ass_order() {
    assert_eq!(ass_colour("#112233"), "&H00332211");
    assert_eq!(ass_colour("bogus"), "&H00FFFFFF");
}

fn arb_words() -> impl Strategy<Value = Vec<Word>> {
    let word = ("[A-Za-z]{1,14}[.,!?]?", 0.0f64..60.0, 0.0f64..2.0);
    prop::collection::vec(word, 0..80).prop_map(|v| {
        v.into_iter()
            .map(|(text, start, len)| Word {
                text,
                start,
                end: start + len,
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn captions_keep_their_invariants(ws in arb_words(), max in 8usize..40) {
        let r = rules(max);
        let caps = build_captions(&ws, &r);
        // Every word appears exactly once, in time order.
        let mut expected: Vec<&Word> = ws.iter().collect();
        expected.sort_by(|a, b| a.start.total_cmp(&b.start));
        let got: Vec<&str> = caps.iter().flat_map(|c| c.words().map(|w| w.text.as_str())).collect();
        let mut want: Vec<&str> = expected.iter().map(|w| w.text.as_str()).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got_sorted, want);
        let mut prev_end = 0;
        for c in &caps {
            prop_assert!(!c.lines.is_empty() && c.lines.len() <= 2, "{} lines", c.lines.len());
            prop_assert!(c.start_cs < c.end_cs);
            prop_assert!(c.start_cs >= prev_end, "captions overlap");
            prev_end = c.end_cs;
            let ws: Vec<&TimedWord> = c.words().collect();
            for pair in ws.windows(2) {
                prop_assert!(pair[0].start_cs < pair[1].start_cs);
            }
            for line in &c.lines {
                let refs: Vec<&TimedWord> = line.iter().collect();
                prop_assert!(line_chars(&refs) <= max || line.len() == 1);
            }
        }
        // The written files agree: one SRT cue per caption, ASS events in order without overlap.
        let (style, safe) = style();
        let srt = to_srt(&caps);
        prop_assert_eq!(srt.matches(" --> ").count(), caps.len());
        let ass = to_ass(&caps, &style, &safe, (1080, 1920), &r);
        let mut last_end = String::from("0:00:00.00");
        for line in ass.lines().filter(|l| l.starts_with("Dialogue:")) {
            let fields: Vec<&str> = line.splitn(10, ',').collect();
            prop_assert!(fields[1] < fields[2], "empty event {}", line);
            prop_assert!(fields[1] >= last_end.as_str(), "events overlap at {}", line);
            prop_assert!(fields[9].matches("\\N").count() <= 1);
            prop_assert_eq!(fields[9].matches("\\c&H").count(), 1);
            last_end = fields[2].to_string();
        }
    }
}
