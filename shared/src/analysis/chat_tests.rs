//! Message scoring in the languages streamers' chats use, and the moments found in synthetic
//! chats with planted bursts.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

fn scorer() -> HypeScorer {
    HypeScorer::new(&ChatHypeConfig::default()).unwrap()
}

#[test]
fn laughter_is_recognised_in_many_languages_as_patterns() {
    let s = scorer();
    for text in [
        "lol",
        "LOOOL",
        "lolol that was close",
        "lmao",
        "LMFAOOO",
        "rofl",
        "xD",
        "xDDDD",
        "haha",
        "HAHAHAHA",
        "ahahah",
        "jajaja",
        "JAJAJAJA",
        "jeje",
        "mdr",
        "ptdrrr",
        "kkkkkk",
        "jsjsjs",
        "rsrsrs",
        "wkwkwk",
        "5555",
        "хахаха",
        "ахаха",
        "草",
        "それは草",
        "ㅋㅋㅋ",
        "哈哈哈",
        "😂",
        "he fell off hahaha!",
    ] {
        assert!(s.laughs(text), "{text:?} should laugh");
    }
}

#[test]
fn words_that_merely_contain_laughter_do_not_laugh() {
    let s = scorer();
    for text in [
        "lollipop",
        "hello",
        "ja",
        "ha",
        "kk",
        "xdxd2",
        "haunted",
        "jam",
        "mdrn",
        "www.twitch.tv",
        "kekse",
    ] {
        assert!(!s.laughs(text), "{text:?} should not laugh");
    }
}

#[test]
fn message_scores_follow_seed_001() {
    let s = scorer();
    let none: [&str; 0] = [];
    assert_eq!(s.score("hello chat", none), 1.0);
    assert_eq!(s.score("lol", none), 4.0);
    // Emote names are case-sensitive, as on Twitch.
    assert_eq!(s.score("Pog", none), 5.0);
    assert_eq!(s.score("pog", none), 1.0);
    // Laughter and an emote together: (1 + 3 + 4) × 1.5.
    assert_eq!(s.score("hahaha OMEGALUL", none), 12.0);
    // A spammed line counts five emotes at most: (1 + 3 + 5 × 4) × 1.5 (KEKW laughs as well).
    assert_eq!(s.score(&"KEKW ".repeat(12), none), 36.0);
}

#[test]
fn channel_emotes_count_by_their_id() {
    let cfg = ChatHypeConfig {
        hype_emote_ids: vec!["emotesv2_abc".into()],
        ..ChatHypeConfig::default()
    };
    let s = HypeScorer::new(&cfg).unwrap();
    assert_eq!(s.score("streamerHype", ["emotesv2_abc"]), 5.0);
    assert_eq!(s.score("streamerHype", ["emotesv2_other"]), 1.0);
}

#[test]
fn a_bad_pattern_or_bucket_is_a_config_error() {
    let cfg = ChatHypeConfig {
        laughter_words: vec!["(unclosed".into()],
        ..ChatHypeConfig::default()
    };
    assert!(matches!(
        HypeScorer::new(&cfg),
        Err(ChatConfigError::Pattern(_))
    ));
    let cfg = ChatHypeConfig {
        bucket_secs: 0.0,
        ..ChatHypeConfig::default()
    };
    assert_eq!(
        analyze(&[], &cfg).unwrap_err(),
        ChatConfigError::NotPositive("bucket_secs")
    );
}

#[test]
fn an_empty_or_flat_chat_has_no_moments() {
    let cfg = ChatHypeConfig::default();
    let empty = analyze(&[], &cfg).unwrap();
    assert!(empty.moments.is_empty() && empty.messages == 0);
    let flat: Vec<ChatMessage> = (0..1200).map(|i| message(i as f64 * 0.5, "hi")).collect();
    let hype = analyze(&flat, &cfg).unwrap();
    assert_eq!(hype.messages, 1200);
    // Only the ends of the timeline dip (the window sees fewer messages there): no peak above.
    assert!(hype.moments.is_empty(), "{:?}", hype.moments);
}

#[test]
fn messages_without_a_usable_time_are_left_out() {
    let msgs = vec![
        message(f64::NAN, "lol"),
        message(10.0, "lol"),
        message(MAX_SPAN_SECS + 11.0, "lol"),
    ];
    let hype = analyze(&msgs, &ChatHypeConfig::default()).unwrap();
    assert_eq!(hype.messages, 1);
    assert!(hype.signal.len() < 10);
}

#[test]
fn the_hype_at_a_clips_position_is_its_share_of_the_streams_best() {
    let chat = planted_chat(1, 3600.0, 1.0, &[(1000.0, 20.0, 15.0), (2000.0, 20.0, 6.0)]);
    let hype = analyze(&chat, &ChatHypeConfig::default()).unwrap();
    assert_eq!(hype.hype_between(990.0, 1030.0), Some(1.0));
    let smaller = hype.hype_between(1990.0, 2030.0).unwrap();
    assert!(smaller > 0.2 && smaller < 0.7, "{smaller}");
    assert!(hype.hype_between(3000.0, 3030.0).unwrap() < 0.05);
    assert_eq!(hype.hype_between(5000.0, 5030.0), None);
}

fn message(offset_secs: f64, text: &str) -> ChatMessage {
    ChatMessage {
        offset_secs,
        text: text.into(),
        emote_ids: Vec::new(),
    }
}

/// A chat of `secs` with a quiet background (`background` messages a second, mostly plain) and
/// bursts `(start, duration, rate)` of reactions, in random order as chat logs may be.
fn planted_chat(
    seed: u64,
    secs: f64,
    background: f64,
    bursts: &[(f64, f64, f64)],
) -> Vec<ChatMessage> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut msgs = Vec::new();
    let quiet = [
        "hi chat",
        "what game is this",
        "gg",
        "lol",
        "first time here",
        "nice",
    ];
    for _ in 0..(secs * background) as usize {
        let text = quiet[rng.gen_range(0..quiet.len())];
        msgs.push(message(rng.gen_range(0.0..secs), text));
    }
    let loud = [
        "KEKW",
        "KEKW KEKW",
        "LMAOOO",
        "jajajaja",
        "OMEGALUL",
        "no way",
        "hahaha LUL",
    ];
    // A burst keeps its rate up to its edges: each message is jittered within its own slot.
    // (Drawn uniformly over the whole burst instead, a lull of a second at either end is common
    // at these rates, and then the burst really does end there.)
    for &(start, duration, rate) in bursts {
        let n = (duration * rate) as usize;
        let slot = duration / n as f64;
        for i in 0..n {
            let text = loud[rng.gen_range(0..loud.len())];
            msgs.push(message(
                start + (i as f64 + rng.gen_range(0.0..1.0)) * slot,
                text,
            ));
        }
    }
    // Shuffled: the analysis must not depend on order.
    for i in (1..msgs.len()).rev() {
        msgs.swap(i, rng.gen_range(0..=i));
    }
    msgs
}

proptest! {
    // A fixed seed: the edges of random chats are themselves random — a clump of background
    // messages next to a burst (about one edge in a thousand) really does move it, and this
    // test's verdict should not change from run to run. Change the seed to explore.
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x4869_4c69_7465),
        ..ProptestConfig::default()
    })]

    #[test]
    fn planted_bursts_are_found_exactly_with_their_edges_within_a_second(
        seed in any::<u64>(),
        background in 0.2f64..1.0,
        bursts in proptest::collection::vec((0.0f64..1.0, 8.0f64..30.0, 10.0f64..20.0), 1..=4),
    ) {
        // Two hours, one slot per burst, each burst well inside its slot.
        let secs = 7200.0;
        let slot = secs / bursts.len() as f64;
        let planted: Vec<(f64, f64, f64)> = bursts
            .iter()
            .enumerate()
            .map(|(i, &(at, duration, rate))| (i as f64 * slot + 60.0 + at * (slot - 120.0 - duration), duration, rate))
            .collect();
        let chat = planted_chat(seed, secs, background, &planted);
        let hype = analyze(&chat, &ChatHypeConfig::default()).unwrap();
        prop_assert_eq!(hype.moments.len(), planted.len(), "moments {:?}, planted {:?}", hype.moments, planted);
        for &(start, duration, _) in &planted {
            let m = hype.moments.iter().find(|m| m.peak_secs >= start && m.peak_secs <= start + duration);
            prop_assert!(m.is_some(), "no moment peaks in {start}..{}: {:?}", start + duration, hype.moments);
            let m = m.unwrap();
            prop_assert!((m.start_secs - start).abs() <= 1.0, "start {} vs planted {start}", m.start_secs);
            prop_assert!((m.end_secs - (start + duration)).abs() <= 1.0, "end {} vs planted {}", m.end_secs, start + duration);
        }
        for pair in hype.moments.windows(2) {
            prop_assert!(pair[0].hype >= pair[1].hype, "highest first");
        }
    }
}

/// Over many random chats, a moment's edges sit on the planted ones: no bias, a tenth of a
/// second of spread.
#[test]
fn edges_are_unbiased_and_tight_over_many_chats() {
    let mut errors = Vec::new();
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(7919));
        let (rate, duration, start, background) = (
            rng.gen_range(10.0..20.0),
            rng.gen_range(8.0..30.0),
            rng.gen_range(100.0..500.0),
            rng.gen_range(0.2..1.0),
        );
        let chat = planted_chat(seed, 1800.0, background, &[(start, duration, rate)]);
        let hype = analyze(&chat, &ChatHypeConfig::default()).unwrap();
        assert_eq!(hype.moments.len(), 1, "seed {seed}: {:?}", hype.moments);
        errors.push(hype.moments[0].start_secs - start);
        errors.push(hype.moments[0].end_secs - (start + duration));
    }
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let sd = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
    let within_half = errors.iter().filter(|e| e.abs() <= 0.5).count() as f64 / n;
    assert!(mean.abs() < 0.05, "bias {mean}");
    assert!(sd < 0.15, "spread {sd}");
    assert!(within_half >= 0.99, "{within_half} within 0.5 s");
}
