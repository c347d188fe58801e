//! The clip's score: 0–100 from normalised features (each 0–1) — the audio's peak energy, the
//! chat's hype where the clip sits in the stream, its views beside the stream's other clips,
//! and how well its length fits a short — weighted by configuration. The result keeps the
//! points each feature earned, so `hilite clips show ID` explains every score.
//!
//! A feature that cannot be measured (no chat log for the stream, no other clip to compare
//! views with) is left out and the weights of the others share its points, rather than
//! counting as zero: a clip is not worse for lacking a chat log.
//!
//! This module only does arithmetic; measuring the features is `audio`'s and `chat`'s job.

use serde::{Deserialize, Serialize};

use crate::domain::Score;

/// Names of the parts in [`Score::parts`].
pub const AUDIO: &str = "audio";
pub const CHAT: &str = "chat";
pub const VIEWS: &str = "views";
pub const DURATION: &str = "duration";

/// How much each feature counts, relative to the others (they need not add up to anything).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreWeights {
    /// Default 35: the reaction you hear is the strongest sign of a moment.
    pub audio: f64,
    /// Default 30: chat exploding is seed 001's whole signal.
    pub chat: f64,
    /// Default 20: viewers already voted, but views also follow the clip's age.
    pub views: f64,
    /// Default 15: a short that fits the format without padding or cutting.
    pub duration: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        Self {
            audio: 35.0,
            chat: 30.0,
            views: 20.0,
            duration: 15.0,
        }
    }
}

impl ScoreWeights {
    pub fn sum(&self) -> f64 {
        self.audio + self.chat + self.views + self.duration
    }

    pub fn all_finite_and_non_negative(&self) -> bool {
        [self.audio, self.chat, self.views, self.duration]
            .iter()
            .all(|w| w.is_finite() && *w >= 0.0)
    }
}

/// The weights and what full marks mean for each feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreConfig {
    pub weights: ScoreWeights,
    /// A window between these lengths (seconds) fits a short perfectly; the fit falls to zero
    /// at the window's configured minimum and maximum. Defaults 15 and 45.
    pub ideal_min_secs: f64,
    pub ideal_max_secs: f64,
    /// Half the audio feature: the loudest moment this far above the clip's typical loudness
    /// (the median of its sound) earns full marks (a shout over talk). Default 12 LU.
    pub audio_contrast_full_lu: f64,
    /// The other half: the loudest moment's level, from nothing at `audio_quiet_lufs` to full
    /// marks at `audio_loud_lufs`. Defaults −40 and −14 LUFS (momentary).
    pub audio_quiet_lufs: f64,
    pub audio_loud_lufs: f64,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        Self {
            weights: ScoreWeights::default(),
            ideal_min_secs: 15.0,
            ideal_max_secs: 45.0,
            audio_contrast_full_lu: 12.0,
            audio_quiet_lufs: -40.0,
            audio_loud_lufs: -14.0,
        }
    }
}

/// The measured features, each in 0–1; `None` when it could not be measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Features {
    pub audio: Option<f64>,
    pub chat: Option<f64>,
    pub views: Option<f64>,
    pub duration: Option<f64>,
}

/// Weigh the features into a 0–100 score. Each part is the points its feature earned; the
/// total is their sum. With no measurable feature the score is 0.
pub fn combine(features: &Features, weights: &ScoreWeights) -> Score {
    let present: Vec<(&str, f64, f64)> = [
        (AUDIO, features.audio, weights.audio),
        (CHAT, features.chat, weights.chat),
        (VIEWS, features.views, weights.views),
        (DURATION, features.duration, weights.duration),
    ]
    .into_iter()
    .filter_map(|(name, f, w)| {
        f.filter(|v| v.is_finite())
            .map(|v| (name, v.clamp(0.0, 1.0), w.max(0.0)))
    })
    .collect();
    let weight_sum: f64 = present.iter().map(|(_, _, w)| w).sum();
    let mut score = Score::default();
    if weight_sum <= 0.0 {
        return score;
    }
    for (name, value, weight) in present {
        let points = round2(100.0 * weight / weight_sum * value);
        score.parts.insert(name.to_string(), points);
        score.total += points;
    }
    score.total = round2(score.total.min(100.0));
    score
}

/// The audio feature from the loudest momentary loudness and the clip's typical loudness: half
/// contrast (how far the peak stands above the clip), half level (how loud the peak is).
/// Silence (`typical_lufs` is `None`) is 0.
pub fn audio_energy(max_momentary_lufs: f64, typical_lufs: Option<f64>, cfg: &ScoreConfig) -> f64 {
    let Some(typical) = typical_lufs else {
        return 0.0;
    };
    let contrast = ratio(max_momentary_lufs - typical, cfg.audio_contrast_full_lu);
    let level = ratio(
        max_momentary_lufs - cfg.audio_quiet_lufs,
        cfg.audio_loud_lufs - cfg.audio_quiet_lufs,
    );
    0.5 * contrast + 0.5 * level
}

/// The views feature: this clip's views beside the most viewed clip of the same stream, on a
/// log scale (10 views of 1000 is not nothing). `None` when there is no other clip to compare
/// with or nobody viewed any.
pub fn views_relative(views: u64, other_clips_views: &[u64]) -> Option<f64> {
    if other_clips_views.is_empty() {
        return None;
    }
    let most = other_clips_views
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(views);
    if most == 0 {
        return None;
    }
    Some(((views as f64).ln_1p() / (most as f64).ln_1p()).clamp(0.0, 1.0))
}

/// The duration feature: 1 inside the ideal range, falling linearly to 0 at `min_secs` below
/// it and at `max_secs` above it.
pub fn duration_fit(secs: f64, min_secs: f64, max_secs: f64, cfg: &ScoreConfig) -> f64 {
    let (lo, hi) = (cfg.ideal_min_secs, cfg.ideal_max_secs);
    if secs < lo {
        ratio(secs - min_secs, lo - min_secs)
    } else if secs > hi {
        1.0 - ratio(secs - hi, max_secs - hi)
    } else {
        1.0
    }
}

/// `part / whole` clamped to 0–1; a non-positive `whole` means "any positive part is full".
fn ratio(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        return if part > 0.0 { 1.0 } else { 0.0 };
    }
    (part / whole).clamp(0.0, 1.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_marks_everywhere_is_100_and_the_parts_follow_the_weights() {
        let f = Features {
            audio: Some(1.0),
            chat: Some(1.0),
            views: Some(1.0),
            duration: Some(1.0),
        };
        let s = combine(&f, &ScoreWeights::default());
        assert_eq!(s.total, 100.0);
        assert_eq!(s.parts[AUDIO], 35.0);
        assert_eq!(s.parts[CHAT], 30.0);
        assert_eq!(s.parts[VIEWS], 20.0);
        assert_eq!(s.parts[DURATION], 15.0);
    }

    #[test]
    fn a_missing_feature_is_left_out_and_the_others_share_its_weight() {
        let f = Features {
            audio: Some(1.0),
            chat: None,
            views: None,
            duration: Some(0.5),
        };
        let s = combine(&f, &ScoreWeights::default());
        // audio 35/50 of 100, duration 15/50 of 100 at half marks.
        assert_eq!(s.parts[AUDIO], 70.0);
        assert_eq!(s.parts[DURATION], 15.0);
        assert!(!s.parts.contains_key(CHAT));
        assert_eq!(s.total, 85.0);
        assert_eq!(
            combine(&Features::default(), &ScoreWeights::default()).total,
            0.0
        );
    }

    #[test]
    fn a_shout_over_talk_scores_higher_than_flat_talk() {
        let cfg = ScoreConfig::default();
        let shout = audio_energy(-10.0, Some(-24.0), &cfg);
        let flat = audio_energy(-22.0, Some(-24.0), &cfg);
        assert!(shout > 0.9 && flat < 0.5, "shout {shout}, flat {flat}");
        assert_eq!(audio_energy(-10.0, None, &cfg), 0.0);
    }

    #[test]
    fn views_compare_on_a_log_scale_with_the_streams_other_clips() {
        assert_eq!(views_relative(1000, &[10, 1000]), Some(1.0));
        let some = views_relative(30, &[1000]).unwrap();
        assert!(some > 0.45 && some < 0.55, "{some}");
        assert_eq!(views_relative(5, &[]), None);
        assert_eq!(views_relative(0, &[0, 0]), None);
        assert_eq!(views_relative(5000, &[10]), Some(1.0));
    }

    #[test]
    fn duration_fit_is_full_inside_the_ideal_range_and_falls_off_outside() {
        let cfg = ScoreConfig::default();
        assert_eq!(duration_fit(30.0, 5.0, 60.0, &cfg), 1.0);
        assert_eq!(duration_fit(5.0, 5.0, 60.0, &cfg), 0.0);
        assert_eq!(duration_fit(10.0, 5.0, 60.0, &cfg), 0.5);
        assert_eq!(duration_fit(52.5, 5.0, 60.0, &cfg), 0.5);
        assert_eq!(duration_fit(60.0, 5.0, 60.0, &cfg), 0.0);
    }

    proptest! {
        #[test]
        fn the_score_is_between_0_and_100_and_the_sum_of_its_parts(
            a in proptest::option::of(-1.0f64..2.0), c in proptest::option::of(0.0f64..1.0),
            v in proptest::option::of(0.0f64..1.0), d in proptest::option::of(0.0f64..1.0),
            wa in 0.0f64..50.0, wc in 0.0f64..50.0, wv in 0.0f64..50.0, wd in 0.01f64..50.0,
        ) {
            let s = combine(
                &Features { audio: a, chat: c, views: v, duration: d },
                &ScoreWeights { audio: wa, chat: wc, views: wv, duration: wd },
            );
            prop_assert!((0.0..=100.0).contains(&s.total));
            let sum: f64 = s.parts.values().sum();
            prop_assert!((sum - s.total).abs() < 0.05, "{} vs {}", sum, s.total);
        }
    }
}
