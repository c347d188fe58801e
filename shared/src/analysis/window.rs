//! The best window of a clip: the part the short is cut from. Dead air at the start and the
//! end is trimmed using the loudness series; the result is kept between a minimum and a maximum
//! length (default 5–60 s) and never runs past the source. When the sound lasts longer than the
//! maximum, the loudest stretch of that length is kept.
//!
//! Pure arithmetic over a loudness series (see `audio` for how it is measured); it does not
//! look at video, speech or chat.

use serde::{Deserialize, Serialize};

use crate::domain::Window;

/// The length of signal behind each momentary loudness value (EBU R128 "momentary" is 400 ms).
/// <https://tech.ebu.ch/docs/tech/tech3341.pdf> §2.
pub const MOMENTARY_WINDOW_SECS: f64 = 0.4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowConfig {
    /// The shortest window. A source shorter than this is skipped as "too short"; a shorter
    /// stretch of sound is widened to it. Default 5 s.
    pub min_secs: f64,
    /// The longest window. Default 60 s, the longest clip Twitch makes and a comfortable short.
    pub max_secs: f64,
    /// Kept before the first and after the last sound, so words are not clipped. Default 0.5 s.
    pub pad_secs: f64,
    /// Besides silence, hops this far below the clip's integrated loudness are dead air.
    /// Default 20 LU (a room tone or a muted game under a speaking streamer).
    pub dead_air_below_integrated_lu: f64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            min_secs: 5.0,
            max_secs: 60.0,
            pad_secs: 0.5,
            dead_air_below_integrated_lu: 20.0,
        }
    }
}

/// The loudness series a window is chosen from.
#[derive(Debug, Clone, Copy)]
pub struct LoudnessSeries<'a> {
    /// Seconds between values; value `k` is the momentary loudness of the 400 ms ending at
    /// `(k + 1) · hop_secs`.
    pub hop_secs: f64,
    pub momentary_lufs: &'a [f64],
    pub integrated_lufs: Option<f64>,
    /// At or below this a hop is silence, whatever the integrated loudness.
    pub silence_gate_lufs: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum WindowRefusal {
    #[error(
        "too short: the source lasts {source_secs:.1} s, the minimum window is {min_secs:.1} s"
    )]
    TooShort { source_secs: f64, min_secs: f64 },
}

/// Choose the window of a source lasting `source_secs`.
pub fn best_window(
    series: &LoudnessSeries<'_>,
    source_secs: f64,
    cfg: &WindowConfig,
) -> Result<Window, WindowRefusal> {
    // A NaN length (no audio measured) is refused too.
    if source_secs.is_nan() || source_secs < cfg.min_secs {
        return Err(WindowRefusal::TooShort {
            source_secs,
            min_secs: cfg.min_secs,
        });
    }
    let hop = series.hop_secs;
    let gate = match series.integrated_lufs {
        Some(i) => series
            .silence_gate_lufs
            .max(i - cfg.dead_air_below_integrated_lu),
        None => series.silence_gate_lufs,
    };
    let loud = |v: &f64| *v > gate;
    let (start, end) = match (
        series.momentary_lufs.iter().position(loud),
        series.momentary_lufs.iter().rposition(loud),
    ) {
        // A hop's value covers the 400 ms ending at (k + 1)·hop. The first loud hop's own 100 ms
        // holds the onset; the last loud hop's window only just reaches the end of the sound,
        // which lies within its first hop.
        (Some(first), Some(last)) => (
            first as f64 * hop - cfg.pad_secs,
            (last + 1) as f64 * hop - (MOMENTARY_WINDOW_SECS - hop).max(0.0) + cfg.pad_secs,
        ),
        _ => (0.0, source_secs),
    };
    let (start, end) = (start.max(0.0), end.min(source_secs));
    let (start, end) = if end - start > cfg.max_secs {
        loudest_stretch(series, start, end, cfg.max_secs)
    } else if end - start < cfg.min_secs {
        widen(start, end, cfg.min_secs, source_secs)
    } else {
        (start, end)
    };
    Ok(Window {
        start_secs: start,
        end_secs: end,
    })
}

/// Of the stretches of `length` inside `[start, end]`, stepped by one hop, one with the most
/// loudness energy (momentary values as power, summed over the hops it holds). Stretches within
/// 1 % of the best are equal; of those, the one centred nearest the loudest hop wins, so the
/// peak keeps its lead-in and its aftermath.
fn loudest_stretch(series: &LoudnessSeries<'_>, start: f64, end: f64, length: f64) -> (f64, f64) {
    let hop = series.hop_secs;
    let values = series.momentary_lufs;
    let hop_index = |t: f64| ((t / hop).floor().max(0.0) as usize).min(values.len());
    // prefix[k] = energy of hops 0..k.
    let mut prefix = Vec::with_capacity(values.len() + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    for v in values {
        acc += 10f64.powf(v / 10.0);
        prefix.push(acc);
    }
    // Hops whose 400 ms lies inside [s, s + length]: (k + 1)·hop − W ≥ s and (k + 1)·hop ≤ s + length.
    let energy = |s: f64| {
        let first = hop_index(s + MOMENTARY_WINDOW_SECS + hop * 0.999).saturating_sub(1);
        let end_excl = hop_index(s + length + hop * 0.001);
        if end_excl > first {
            prefix[end_excl] - prefix[first]
        } else {
            0.0
        }
    };
    let steps = ((end - length - start) / hop + 1e-9).floor().max(0.0) as usize;
    let starts: Vec<f64> = (0..=steps).map(|i| start + i as f64 * hop).collect();
    let energies: Vec<f64> = starts.iter().map(|&s| energy(s)).collect();
    let best = energies.iter().copied().fold(0.0, f64::max);
    let (lo, hi) = (hop_index(start), hop_index(end));
    let peak_at = (lo..hi)
        .max_by(|&a, &b| values[a].total_cmp(&values[b]).then(b.cmp(&a)))
        .map_or((start + end) / 2.0, |k| {
            (k + 1) as f64 * hop - MOMENTARY_WINDOW_SECS / 2.0
        });
    let chosen = starts
        .iter()
        .zip(&energies)
        .filter(|(_, &e)| e >= best * 0.99)
        .map(|(&s, _)| s)
        .min_by(|a, b| {
            (a + length / 2.0 - peak_at)
                .abs()
                .total_cmp(&(b + length / 2.0 - peak_at).abs())
        })
        .unwrap_or(start);
    (chosen, chosen + length)
}

/// Grow `[start, end]` to `length` around its middle, shifted to stay inside the source.
fn widen(start: f64, end: f64, length: f64, source_secs: f64) -> (f64, f64) {
    let middle = (start + end) / 2.0;
    let s = (middle - length / 2.0).clamp(0.0, (source_secs - length).max(0.0));
    (s, (s + length).min(source_secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOP: f64 = 0.1;

    /// A momentary series for `secs` of audio, silent except `[from, to)` at `lufs` — as the
    /// meter sees it, with each value covering the 400 ms before its hop.
    fn series_with_sound(secs: f64, sounds: &[(f64, f64, f64)]) -> Vec<f64> {
        let n = (secs / HOP).round() as usize;
        (0..n)
            .map(|k| {
                let (w_end, w_start) = (
                    (k + 1) as f64 * HOP,
                    (k + 1) as f64 * HOP - MOMENTARY_WINDOW_SECS,
                );
                sounds
                    .iter()
                    .filter(|(from, to, _)| *from < w_end && *to > w_start)
                    .map(|(_, _, l)| *l)
                    .fold(-70.0, f64::max)
            })
            .collect()
    }

    fn series(values: &[f64], integrated: Option<f64>) -> LoudnessSeries<'_> {
        LoudnessSeries {
            hop_secs: HOP,
            momentary_lufs: values,
            integrated_lufs: integrated,
            silence_gate_lufs: -50.0,
        }
    }

    #[test]
    fn silence_at_both_ends_is_trimmed_with_a_little_padding() {
        let v = series_with_sound(30.0, &[(4.0, 20.0, -20.0)]);
        let w = best_window(&series(&v, Some(-20.0)), 30.0, &WindowConfig::default()).unwrap();
        assert!((w.start_secs - 3.5).abs() <= 0.11, "{w:?}");
        assert!((w.end_secs - 20.5).abs() <= 0.11, "{w:?}");
    }

    #[test]
    fn a_source_shorter_than_the_minimum_is_refused() {
        let v = series_with_sound(3.0, &[(0.0, 3.0, -20.0)]);
        let err = best_window(&series(&v, Some(-20.0)), 3.0, &WindowConfig::default()).unwrap_err();
        assert_eq!(
            err,
            WindowRefusal::TooShort {
                source_secs: 3.0,
                min_secs: 5.0
            }
        );
        assert!(err.to_string().starts_with("too short"));
    }

    #[test]
    fn a_short_sound_is_widened_to_the_minimum_inside_the_source() {
        let v = series_with_sound(20.0, &[(18.5, 19.5, -20.0)]);
        let w = best_window(&series(&v, Some(-20.0)), 20.0, &WindowConfig::default()).unwrap();
        assert_eq!(w.duration_secs(), 5.0);
        assert_eq!(w.end_secs, 20.0);
    }

    #[test]
    fn sound_longer_than_the_maximum_keeps_its_loudest_stretch() {
        let v = series_with_sound(90.0, &[(0.0, 90.0, -30.0), (70.0, 72.0, -8.0)]);
        let cfg = WindowConfig {
            max_secs: 20.0,
            ..WindowConfig::default()
        };
        let w = best_window(&series(&v, Some(-28.0)), 90.0, &cfg).unwrap();
        assert!((w.duration_secs() - 20.0).abs() < 1e-6, "{w:?}");
        assert!(w.start_secs <= 70.0 && w.end_secs >= 72.0, "{w:?}");
    }

    #[test]
    fn quiet_room_tone_under_speech_is_dead_air() {
        let v = series_with_sound(30.0, &[(0.0, 30.0, -48.0), (10.0, 22.0, -18.0)]);
        let w = best_window(&series(&v, Some(-19.0)), 30.0, &WindowConfig::default()).unwrap();
        assert!(
            (w.start_secs - 9.5).abs() <= 0.11 && (w.end_secs - 22.5).abs() <= 0.11,
            "{w:?}"
        );
    }

    proptest! {
        #[test]
        fn the_window_stays_in_bounds_and_holds_the_sound_when_it_fits(
            source in 5.0f64..120.0, from in 0.0f64..1.0, len in 0.2f64..120.0,
            min in 1.0f64..10.0, extra in 0.0f64..60.0,
        ) {
            // The sound starts where the series still has a hop to hear it.
            let from = from * (source - 0.3);
            let to = (from + len).min(source);
            let v = series_with_sound(source, &[(from, to, -20.0)]);
            let cfg = WindowConfig { min_secs: min.min(source), max_secs: min.min(source) + extra, ..WindowConfig::default() };
            let w = best_window(&series(&v, Some(-20.0)), source, &cfg).unwrap();
            prop_assert!(w.start_secs >= 0.0 && w.end_secs <= source + 1e-9, "{:?}", w);
            prop_assert!(w.duration_secs() <= cfg.max_secs + 1e-6, "{:?}", w);
            prop_assert!(w.duration_secs() >= cfg.min_secs - 1e-6, "{:?}", w);
            if to - from + 2.0 * cfg.pad_secs <= cfg.max_secs {
                // The whole sound is inside, within a hop of rounding.
                prop_assert!(w.start_secs <= from + HOP && w.end_secs >= to - HOP, "{:?} vs {}..{}", w, from, to);
            }
        }
    }
}
