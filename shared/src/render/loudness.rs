//! The short's sound at the configured loudness (−14 LUFS integrated, −1 dBTP by default),
//! encoded once into the AAC track that the mux puts beside the picture.
//!
//! Two passes: `ebur128` measures the window (integrated loudness, true peak), the second
//! applies the gain those values call for — what `loudnorm` does in its `linear` mode, without
//! its 192 kHz resampling — and the result is measured with `ebur128` again. (`loudnorm`'s own
//! first pass measures the same EBU R128 values but runs its whole dynamic processor at
//! 192 kHz to do it: five times the CPU of `ebur128` on a minute of sound.) A plain gain
//! only works when it leaves the peaks under the ceiling; otherwise `loudnorm` would switch
//! to its dynamic mode, which on a window of a few seconds (its look-ahead is 3 s) misses the
//! target by a few LU. A clip with a scream or an explosion is exactly that case, so then the
//! gain is applied with a peak limiter after it. The limiter takes loudness away as it works,
//! so the gain is first calibrated on the limited sound (read by `ebur128`, not encoded; three
//! passes at most), then encoded and checked, with one more correction if the encoder moved
//! the result off the targets.
//! All passes read only the sound, and the job runs them beside the picture's encode; the
//! first decodes the window once into a WAV that the others read.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::encode::AAC;
use super::settings::RenderConfig;
use super::{ffmpeg, strings, Cut, RenderError};

/// The first pass's EBU R128 measurement of the window (`ebur128`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Integrated loudness, LUFS.
    pub input_i: f64,
    /// True peak, dBTP.
    pub input_tp: f64,
    /// Loudness range, LU.
    pub input_lra: f64,
    /// The relative gate of the integrated loudness, LUFS.
    pub input_thresh: f64,
}

/// What `ebur128` reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    pub integrated_lufs: f64,
    pub true_peak_dbtp: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `loudnorm` second pass, linear.
    Linear,
    /// Gain and a peak limiter, the gain corrected from measurement.
    Limited,
    /// A silent window: nothing to normalise.
    Silent,
}

/// How the sound was normalised, for the render report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalised {
    pub method: Method,
    pub measured_input: Option<Measured>,
    /// The normalised sound, as `ebur128` reads it.
    pub result: Loudness,
    /// How many times the sound was encoded to AAC (and measured) to get there.
    #[serde(default)]
    pub encodes: u32,
}

/// How far from the target the result may be before the gain is corrected, in LU.
const TOLERANCE_LU: f64 = 0.5;

/// The first pass makes the sound what is delivered (stereo, 48 kHz), so that what is measured
/// is what is heard.
const DELIVERED: &str = "aformat=channel_layouts=stereo,aresample=48000";

/// Normalise the window's sound into `output`: the short's AAC track (`encode::AAC`), whose
/// loudness is measured as it will be delivered, the encoder's overshoot included.
///
/// The first pass decodes the window's sound once, as delivered, into a 32-bit float WAV
/// beside `output` (11 MB a minute a channel; float keeps the peaks a decoder puts over full
/// scale), and the passes after it read that: none of them demuxes the source or decodes its
/// AAC again.
pub async fn normalise(
    cut: Cut<'_>,
    cfg: &RenderConfig,
    output: &Path,
    timeout: Duration,
) -> Result<Normalised, RenderError> {
    let pcm = output.with_extension("wav");
    let pcm = pcm.as_path();
    let Some(m) = measure(cut, pcm, timeout).await? else {
        render(pcm, "anull", output, timeout).await?;
        let result = loudness(output, timeout).await?;
        return Ok(Normalised {
            method: Method::Silent,
            measured_input: None,
            result,
            encodes: 1,
        });
    };
    let target = cfg.loudness_lufs;
    let mut gain = target - m.input_i;
    // The second pass. `loudnorm` given the first pass's values (`linear=true`) stays linear
    // when the measured true peak plus the gain to the target is under the ceiling (and the
    // loudness range under its LRA target, a condition of its dynamic mode that a gain does
    // not need), and then applies that gain and nothing else — at 192 kHz, its working rate,
    // which costs as much CPU as the first pass. The same gain through `volume` at 48 kHz is
    // the same sound for a fraction of that.
    let linear_tried = m.input_tp + gain <= tp_target(cfg);
    if linear_tried {
        render(pcm, &format!("volume={gain:.2}dB"), output, timeout).await?;
        let result = loudness(output, timeout).await?;
        if within(&result, cfg) {
            return Ok(Normalised {
                method: Method::Linear,
                measured_input: Some(m),
                result,
                encodes: 1,
            });
        }
    }
    tracing::debug!(
        lufs = m.input_i,
        tp = m.input_tp,
        "a plain gain would cross the peak ceiling; limiting instead"
    );
    // The limiter works on sample peaks; half a dB under the true-peak target covers the
    // inter-sample peaks of speech and music.
    let mut limit_db = tp_target(cfg) - 0.5;
    // Holding the peaks down takes loudness away, by an amount only a pass can tell (0.7 LU
    // on the bench's clip). The gain is first calibrated on the limited sound itself, read by
    // `ebur128` without encoding it: about 0.3 s of CPU a minute of sound, against 1.7 s for
    // an AAC encode and its check.
    for _ in 0..CALIBRATIONS {
        let got = limited_loudness(pcm, gain, limit_db, timeout).await?;
        let miss = target - got;
        if miss.abs() <= TOLERANCE_LU / 2.0 {
            break;
        }
        gain += miss;
    }
    let mut encodes = 0;
    loop {
        render(pcm, &limited_chain(gain, limit_db), output, timeout).await?;
        let result = loudness(output, timeout).await?;
        encodes += 1;
        if within(&result, cfg) || encodes == ENCODES {
            return Ok(Normalised {
                method: Method::Limited,
                measured_input: Some(m),
                result,
                encodes: encodes + u32::from(linear_tried),
            });
        }
        // What the encoder moved: peaks over the ceiling lower the limiter's by as much (and
        // a tenth of a dB), loudness off the target corrects the gain.
        let over = result.true_peak_dbtp - tp_target(cfg);
        if over > 0.0 {
            limit_db -= over + 0.1;
        }
        gain += target - result.integrated_lufs;
    }
}

/// Passes that calibrate the limited sound's gain before it is encoded, at most.
const CALIBRATIONS: u32 = 3;
/// AAC encodes of the limited sound, at most: the first, and one correction.
const ENCODES: u32 = 2;

/// The gain, then a peak limiter with its ceiling at `limit_db` (sample peaks, dBFS).
fn limited_chain(gain: f64, limit_db: f64) -> String {
    let limit = 10f64.powf(limit_db / 20.0);
    format!("volume={gain:.2}dB,alimiter=limit={limit:.4}:attack=2:release=50:level=0")
}

/// The integrated loudness of the window through [`limited_chain`], without encoding it.
async fn limited_loudness(
    pcm: &Path,
    gain: f64,
    limit_db: f64,
    timeout: Duration,
) -> Result<f64, RenderError> {
    let chain = format!("{},ebur128", limited_chain(gain, limit_db));
    let args = pcm_args(pcm, &chain, &["-nostats", "-f", "null", "-"]);
    let out = ffmpeg(&args, "calibrating the limiter", timeout).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    summary_values(&stderr)
        .and_then(|value| value("I:"))
        .ok_or(RenderError::Ffmpeg {
            step: "calibrating the limiter",
            detail: "ebur128 printed no summary".into(),
        })
}

fn within(l: &Loudness, cfg: &RenderConfig) -> bool {
    (l.integrated_lufs - cfg.loudness_lufs).abs() <= TOLERANCE_LU
        && l.true_peak_dbtp <= tp_target(cfg)
}

/// The ceiling the sound is normalised to: half a dB under the configured one, because the
/// AAC encoder's reconstruction overshoots its input's peaks by a few tenths of a dB.
fn tp_target(cfg: &RenderConfig) -> f64 {
    cfg.true_peak_db - 0.5
}

/// The decoded window (`pcm`) through `chain`, into `output`.
fn pcm_args(pcm: &Path, chain: &str, output: &[&str]) -> Vec<String> {
    let mut args = vec!["-i".into(), pcm.display().to_string()];
    args.extend(strings(&["-af", chain]));
    args.extend(strings(output));
    args
}

/// Encode the decoded window through `chain` into the short's AAC track.
async fn render(pcm: &Path, chain: &str, out: &Path, timeout: Duration) -> Result<(), RenderError> {
    let mut args = pcm_args(pcm, chain, AAC);
    args.push(out.display().to_string());
    ffmpeg(&args, "normalising the sound", timeout)
        .await
        .map(drop)
}

/// First pass: decode the window's sound as it will be delivered (stereo, 48 kHz) into `pcm`,
/// a float WAV, measuring it on the way (`ebur128` passes the sound through). `None` when it
/// is silent. `-vn` means the video packets are read past, never decoded.
pub async fn measure(
    cut: Cut<'_>,
    pcm: &Path,
    timeout: Duration,
) -> Result<Option<Measured>, RenderError> {
    let mut args = cut.input();
    args.extend(strings(&[
        "-vn",
        "-af",
        &format!("{DELIVERED},ebur128=peak=true"),
        "-nostats",
        "-c:a",
        "pcm_f32le",
    ]));
    args.push(pcm.display().to_string());
    let out = ffmpeg(&args, "measuring loudness", timeout).await?;
    parse_measurement(&String::from_utf8_lossy(&out.stderr)).ok_or(RenderError::Ffmpeg {
        step: "measuring loudness",
        detail: "ebur128 printed no summary".into(),
    })
}

/// `ebur128` reports silence as the absolute gate, −70 LUFS: nothing passed it.
const ABSOLUTE_GATE_LUFS: f64 = -70.0;

/// The first pass's values from the `ebur128` summary: `Some(None)` for silence (nothing above
/// the absolute gate, or no peak at all), `None` when there is no summary.
pub fn parse_measurement(stderr: &str) -> Option<Option<Measured>> {
    let value = summary_values(stderr)?;
    let (i, tp) = (value("I:")?, value("Peak:")?);
    if i <= ABSOLUTE_GATE_LUFS + 0.05 || !tp.is_finite() {
        return Some(None);
    }
    Some(Some(Measured {
        input_i: i,
        input_tp: tp,
        input_lra: value("LRA:")?,
        // The first "Threshold:" is the integrated loudness's; the second, the range's.
        input_thresh: value("Threshold:")?,
    }))
}

/// Measure a file's integrated loudness and true peak with `ebur128`.
pub async fn loudness(path: &Path, timeout: Duration) -> Result<Loudness, RenderError> {
    let mut args = strings(&["-nostats", "-i"]);
    args.push(path.display().to_string());
    args.extend(strings(&[
        "-vn",
        "-af",
        "ebur128=peak=true",
        "-f",
        "null",
        "-",
    ]));
    let out = ffmpeg(&args, "measuring loudness", timeout).await?;
    parse_ebur128(&String::from_utf8_lossy(&out.stderr)).ok_or(RenderError::Ffmpeg {
        step: "measuring loudness",
        detail: "ebur128 printed no summary".into(),
    })
}

/// Read the summary `ebur128` prints at the end.
pub fn parse_ebur128(stderr: &str) -> Option<Loudness> {
    let value = summary_values(stderr)?;
    Some(Loudness {
        integrated_lufs: value("I:")?,
        true_peak_dbtp: value("Peak:")?,
    })
}

/// The first value after a label (`I:`, `Peak:`…) in the last `ebur128` summary of stderr
/// ("-inf" reads as −∞).
fn summary_values(stderr: &str) -> Option<impl Fn(&str) -> Option<f64> + '_> {
    let summary = &stderr[stderr.rfind("Summary:")?..];
    Some(move |label: &str| {
        summary.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(label)?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_pass_reads_the_ebur128_summary_and_knows_silence() {
        let err = "[Parsed_ebur128_1 @ 0x1] t: 59.9 M: -30.1\n[Parsed_ebur128_1 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -27.6 LUFS\n    Threshold: -38.2 LUFS\n\n  Loudness range:\n    LRA:        18.1 LU\n    Threshold: -48.0 LUFS\n    LRA low:   -40.0 LUFS\n    LRA high:  -21.9 LUFS\n\n  True peak:\n    Peak:       -4.5 dBFS\n";
        assert_eq!(
            parse_measurement(err),
            Some(Some(Measured {
                input_i: -27.6,
                input_tp: -4.5,
                input_lra: 18.1,
                input_thresh: -38.2,
            }))
        );
        let silent = err.replace("-27.6 LUFS", "-70.0 LUFS");
        assert_eq!(parse_measurement(&silent), Some(None));
        let no_peak = err.replace("-4.5 dBFS", "-inf dBFS");
        assert_eq!(parse_measurement(&no_peak), Some(None));
        assert_eq!(parse_measurement("no summary"), None);
    }

    #[test]
    fn the_ebur128_summary_gives_loudness_and_peak() {
        let err = "[Parsed_ebur128_0 @ 0x1] t: 1 M: -20\n[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -14.2 LUFS\n    Threshold: -24.6 LUFS\n\n  Loudness range:\n    LRA:         3.1 LU\n\n  True peak:\n    Peak:       -1.3 dBFS\n";
        assert_eq!(
            parse_ebur128(err),
            Some(Loudness {
                integrated_lufs: -14.2,
                true_peak_dbtp: -1.3
            })
        );
        assert_eq!(parse_ebur128("nothing"), None);
    }

    #[test]
    fn the_result_must_meet_both_targets() {
        let cfg = RenderConfig::default();
        assert!(within(
            &Loudness {
                integrated_lufs: -14.3,
                true_peak_dbtp: -1.6
            },
            &cfg
        ));
        assert!(!within(
            &Loudness {
                integrated_lufs: -15.0,
                true_peak_dbtp: -3.0
            },
            &cfg
        ));
        assert!(!within(
            &Loudness {
                integrated_lufs: -14.0,
                true_peak_dbtp: -1.2
            },
            &cfg
        ));
    }
}
