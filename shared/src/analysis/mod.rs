//! Signal analysis: what the analyze stage measures in a clip and how it turns the measures into
//! a score and a window (DESIGN.md §2, issue 4). Pure functions over samples, series and
//! messages — the only I/O is reading the media file the audio is decoded from. No store, no
//! queue, no clock: the stage in `pipeline::analyze` does that around these functions.
//!
//! - [`audio`]: AAC-LC decoded in-process (symphonia), EBU R128 momentary loudness on a 100 ms
//!   hop (ebur128), integrated loudness, the share of sound versus silence, loudness peaks.
//! - [`chat`]: seed 001's chat hype — a score per message, a sliding-window sum over time,
//!   peaks above mean + k·std taken highest first, moment edges where the slope changes;
//!   [`chat_log`] reads chat logs as text.
//! - [`score`]: a 0–100 score from normalised features, with the part each contributed.
//! - [`window`]: the part of the source worth cutting: dead air trimmed, length kept in bounds.
//!
//! `audio` and `chat` need the cargo feature `analysis` (they bring the decoder, the loudness
//! meter and the pattern engine); the configuration, `score` and `window` are plain arithmetic
//! and always built, so `Config` reads the same `[analysis]` section in every build.

use serde::{Deserialize, Serialize};

#[cfg(feature = "analysis")]
pub mod audio;
#[cfg(feature = "analysis")]
pub mod chat;
#[cfg(feature = "analysis")]
pub mod chat_log;
#[cfg(feature = "analysis")]
mod moments;
pub mod peaks;
pub mod score;
pub mod window;

use score::ScoreConfig;
use window::WindowConfig;

/// The `[analysis]` section of `hilite.toml`: how the analyze stage judges a clip. Every field
/// is documented, with its default, in `config/hilite.sample.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// A clip scoring below this (0–100) is skipped as "below threshold". Default 20.
    pub min_score: f64,
    /// A clip with less than this share of its 100 ms hops above the silence gate is skipped as
    /// "silent". Default 0.05 (one second of sound in twenty).
    pub min_sound_ratio: f64,
    pub audio: AudioConfig,
    pub window: WindowConfig,
    pub score: ScoreConfig,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            min_score: 20.0,
            min_sound_ratio: 0.05,
            audio: AudioConfig::default(),
            window: WindowConfig::default(),
            score: ScoreConfig::default(),
        }
    }
}

/// How loudness is read: what counts as silence and as a peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// A hop whose momentary loudness is at or below this is silence. Default −50 LUFS: far
    /// under speech (around −23 to −16 LUFS) and a game's background, above encoder hiss.
    pub silence_gate_lufs: f64,
    /// A loudness peak stands at least this far above the clip's typical loudness (the median
    /// of its hops above the silence gate; unlike the integrated loudness, a long shout does not
    /// raise it). Default 6 LU.
    pub peak_above_typical_lu: f64,
    /// Two peaks closer than this are one; the louder is kept. Default 2 s.
    pub peak_separation_secs: f64,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            silence_gate_lufs: -50.0,
            peak_above_typical_lu: 6.0,
            peak_separation_secs: 2.0,
        }
    }
}

impl AnalysisConfig {
    /// Check the values make sense together; the error names the key and the problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let w = &self.window;
        let s = &self.score;
        let checks: [(&'static str, bool, &str); 9] = [
            (
                "analysis.min_score",
                (0.0..=100.0).contains(&self.min_score),
                "must be between 0 and 100",
            ),
            (
                "analysis.min_sound_ratio",
                (0.0..=1.0).contains(&self.min_sound_ratio),
                "must be between 0 and 1",
            ),
            (
                "analysis.audio.silence_gate_lufs",
                (-70.0..=0.0).contains(&self.audio.silence_gate_lufs),
                "must be between -70 and 0 LUFS",
            ),
            (
                "analysis.audio.peak_separation_secs",
                self.audio.peak_separation_secs >= 0.0,
                "must not be negative",
            ),
            (
                "analysis.window.min_secs",
                w.min_secs > 0.0,
                "must be above 0",
            ),
            (
                "analysis.window.max_secs",
                w.max_secs >= w.min_secs,
                "must be at least analysis.window.min_secs",
            ),
            (
                "analysis.window.pad_secs",
                w.pad_secs >= 0.0,
                "must not be negative",
            ),
            (
                "analysis.score.ideal_max_secs",
                s.ideal_max_secs >= s.ideal_min_secs && s.ideal_min_secs >= 0.0,
                "must be at least analysis.score.ideal_min_secs (itself not negative)",
            ),
            (
                "analysis.score.weights",
                s.weights.all_finite_and_non_negative() && s.weights.sum() > 0.0,
                "must be non-negative with at least one above 0",
            ),
        ];
        match checks.into_iter().find(|(_, ok, _)| !ok) {
            Some((key, _, problem)) => Err((key, problem.to_string())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
// figment's `Jail` closures return its (large) error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_file_documents_the_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hilite.toml", crate::config::SAMPLE)?;
            let c = crate::config::Config::load(Some(std::path::Path::new("hilite.toml")), true)
                .map_err(|e| e.to_string())?;
            assert_eq!(c.analysis, AnalysisConfig::default());
            Ok(())
        });
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(AnalysisConfig::default().validate(), Ok(()));
    }

    #[test]
    fn inconsistent_values_name_their_key() {
        let mut c = AnalysisConfig::default();
        c.window.max_secs = 3.0;
        assert_eq!(c.validate().unwrap_err().0, "analysis.window.max_secs");
        let mut c = AnalysisConfig::default();
        c.score.weights = score::ScoreWeights {
            audio: 0.0,
            chat: 0.0,
            views: 0.0,
            duration: 0.0,
        };
        assert_eq!(c.validate().unwrap_err().0, "analysis.score.weights");
        let c = AnalysisConfig {
            min_score: 120.0,
            ..AnalysisConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "analysis.min_score");
    }
}
