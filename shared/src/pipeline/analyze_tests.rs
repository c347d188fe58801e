//! The verdict from measured signals (the stage end to end, on both backends, is in
//! `tests/analyze.rs`).

use chrono::{TimeZone, Utc};

use super::*;
use crate::analysis::audio::FLOOR_LUFS;
use crate::analysis::chat::{self, ChatHypeConfig, ChatMessage};
use crate::domain::{Attempts, BroadcasterId, EditorId, ExternalId, MediaKeys};

fn clip() -> Clip {
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 20, 0, 0).unwrap();
    Clip {
        id: ClipId::parse("DecideClip").unwrap(),
        broadcaster_id: BroadcasterId::parse("1001").unwrap(),
        broadcaster_name: "StreamerOne".into(),
        editor_id: EditorId::parse("501").unwrap(),
        editor_name: "Editor".into(),
        url: "https://clips.twitch.tv/DecideClip".into(),
        title: "a moment".into(),
        duration_secs: 30.0,
        view_count: 50,
        created_at: at,
        video_id: Some(ExternalId::parse("2100000001").unwrap()),
        vod_offset_secs: Some(1000),
        found_by_hilite: false,
        status: ClipStatus::Downloaded,
        attempts: Attempts::default(),
        failed_stage: None,
        skip_reason: None,
        score: None,
        window: None,
        media: MediaKeys::default(),
        generated_title: None,
        generated_description: None,
        generated_hashtags: Vec::new(),
        moderation: None,
        edit_job: None,
        review_reason: None,
        errors: Vec::new(),
        fetched_at: at,
        updated_at: at,
    }
}

/// `secs` of audio: quiet outside `[from, to)`, talk at −24 LUFS inside with a shout at −10
/// in the middle second.
fn signals(secs: f64, from: f64, to: f64) -> AudioSignals {
    let n = (secs * 10.0) as usize;
    let shout = (from + to) / 2.0;
    let momentary: Vec<f64> = (0..n)
        .map(|k| {
            let t = k as f64 / 10.0;
            if (shout..shout + 1.0).contains(&t) {
                -10.0
            } else if (from..to).contains(&t) {
                -24.0
            } else {
                FLOOR_LUFS
            }
        })
        .collect();
    let sound = momentary.iter().filter(|&&m| m > -50.0).count() as f64 / n as f64;
    AudioSignals {
        sample_rate: 48_000,
        channels: 2,
        duration_secs: secs,
        hop_secs: 0.1,
        momentary_lufs: momentary,
        integrated_lufs: Some(-21.0),
        typical_lufs: Some(-24.0),
        max_momentary_lufs: -10.0,
        sound_ratio: sound,
        peaks: Vec::new(),
        silence_gate_lufs: -50.0,
    }
}

#[test]
fn silence_is_skipped_as_silent() {
    let mut s = signals(30.0, 0.0, 0.0);
    s.integrated_lufs = None;
    s.typical_lufs = None;
    let v = decide(&clip(), &s, &[], None, &AnalysisConfig::default());
    assert_eq!(
        v,
        Verdict::Skip {
            reason: "silent".into(),
            score: None
        }
    );
    // A cough in half a minute is silent too.
    let v = decide(
        &clip(),
        &signals(30.0, 10.0, 10.5),
        &[],
        None,
        &AnalysisConfig::default(),
    );
    assert_eq!(
        v,
        Verdict::Skip {
            reason: "silent".into(),
            score: None
        }
    );
}

#[test]
fn a_source_under_the_minimum_is_skipped_as_too_short() {
    let v = decide(
        &clip(),
        &signals(3.0, 0.0, 3.0),
        &[],
        None,
        &AnalysisConfig::default(),
    );
    let Verdict::Skip {
        reason,
        score: None,
    } = v
    else {
        panic!("{v:?}")
    };
    assert!(reason.starts_with("too short"), "{reason}");
}

#[test]
fn a_clip_with_sound_is_kept_with_its_trimmed_window_and_explained_score() {
    let v = decide(
        &clip(),
        &signals(30.0, 4.0, 24.0),
        &[10, 500],
        None,
        &AnalysisConfig::default(),
    );
    let Verdict::Keep { score, window } = v else {
        panic!("{v:?}")
    };
    // Half a second of padding; the end also keeps the 0.3 s the 400 ms meter trails behind.
    assert!(
        (window.start_secs - 3.5).abs() < 0.2 && (window.end_secs - 24.2).abs() < 0.2,
        "{window:?}"
    );
    assert!(score.parts.contains_key(score::AUDIO) && score.parts.contains_key(score::VIEWS));
    assert!(
        !score.parts.contains_key(score::CHAT),
        "no chat log, no chat part: {score:?}"
    );
    assert!(score.total > 50.0, "{score:?}");
}

#[test]
fn a_low_score_is_skipped_below_threshold_with_the_score_kept() {
    // Full marks for audio and length, but few views beside the stream's best clip.
    let cfg = AnalysisConfig {
        min_score: 95.0,
        ..AnalysisConfig::default()
    };
    let v = decide(&clip(), &signals(30.0, 4.0, 24.0), &[5000], None, &cfg);
    let Verdict::Skip {
        reason,
        score: Some(score),
    } = v
    else {
        panic!("{v:?}")
    };
    assert!(reason.starts_with("below threshold"), "{reason}");
    assert!(
        score.total < 95.0 && score.parts[score::VIEWS] < 15.0,
        "{score:?}"
    );
}

#[test]
fn the_chat_part_reads_the_hype_where_the_clip_sits_in_the_vod() {
    // A chat burst at 1010–1020 s of the VOD; the clip starts at 1000 s.
    let mut msgs: Vec<ChatMessage> = (0..3600)
        .map(|i| ChatMessage {
            offset_secs: i as f64,
            text: "hi".into(),
            emote_ids: vec![],
        })
        .collect();
    msgs.extend((0..200).map(|i| ChatMessage {
        offset_secs: 1010.0 + i as f64 / 20.0,
        text: "KEKW".into(),
        emote_ids: vec![],
    }));
    let hype = chat::analyze(&msgs, &ChatHypeConfig::default()).unwrap();
    let on_it = decide(
        &clip(),
        &signals(30.0, 4.0, 24.0),
        &[10, 500],
        Some(&hype),
        &AnalysisConfig::default(),
    );
    let Verdict::Keep { score, .. } = on_it else {
        panic!("{on_it:?}")
    };
    assert_eq!(score.parts.get(score::CHAT), Some(&30.0), "{score:?}");
    let mut elsewhere = clip();
    elsewhere.vod_offset_secs = Some(2500);
    let Verdict::Keep { score, .. } = decide(
        &elsewhere,
        &signals(30.0, 4.0, 24.0),
        &[10, 500],
        Some(&hype),
        &AnalysisConfig::default(),
    ) else {
        panic!()
    };
    assert!(score.parts[score::CHAT] < 3.0, "{score:?}");
}
