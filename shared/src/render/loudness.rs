//! The short's sound at the configured loudness (−14 LUFS integrated, −1 dBTP by default),
//! rendered once to a WAV file that the encode muxes as it is.
//!
//! Two-pass `loudnorm`: the first pass measures the window (`print_format=json`), the second
//! feeds the measured values back with `linear=true`, a plain gain, and the result is measured
//! with `ebur128`. `loudnorm` can only stay linear when the gain leaves the peaks under the
//! ceiling; otherwise it switches to its dynamic mode, which on a window of a few seconds (its
//! look-ahead is 3 s) misses the target by a few LU. A clip with a scream or an explosion
//! is exactly that case, so then the gain is applied with a peak limiter after it, and the gain
//! is corrected from what `ebur128` reads until the target is met (two corrections at most).
//! All passes read only the sound: each costs a fraction of a second for a minute of audio.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::settings::RenderConfig;
use super::{ffmpeg, secs, RenderError};

/// `loudnorm`'s first-pass measurement of the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub input_i: f64,
    pub input_tp: f64,
    pub input_lra: f64,
    pub input_thresh: f64,
    pub target_offset: f64,
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
}

/// How far from the target the result may be before the gain is corrected, in LU.
const TOLERANCE_LU: f64 = 0.5;

/// Every chain starts by making the sound what is delivered (stereo, 48 kHz), so that what
/// is measured is what is heard.
const DELIVERED: &str = "aformat=channel_layouts=stereo,aresample=48000";

/// Normalise the window's sound into `out_wav` (48 kHz stereo float).
pub async fn normalise(
    source: &Path,
    start: f64,
    duration: f64,
    cfg: &RenderConfig,
    out_wav: &Path,
    timeout: Duration,
) -> Result<Normalised, RenderError> {
    let Some(m) = measure(source, start, duration, cfg, timeout).await? else {
        render(source, start, duration, DELIVERED, out_wav, timeout).await?;
        let result = loudness(out_wav, timeout).await?;
        return Ok(Normalised {
            method: Method::Silent,
            measured_input: None,
            result,
        });
    };
    let target = cfg.loudness_lufs;
    let linear = format!(
        "{DELIVERED},loudnorm=I={target}:TP={}:LRA=11:measured_I={}:measured_TP={}:measured_LRA={}:measured_thresh={}:offset={}:linear=true,aresample=48000",
        tp_target(cfg),
        m.input_i,
        m.input_tp,
        m.input_lra,
        m.input_thresh,
        m.target_offset
    );
    render(source, start, duration, &linear, out_wav, timeout).await?;
    let result = loudness(out_wav, timeout).await?;
    if within(&result, cfg) {
        return Ok(Normalised {
            method: Method::Linear,
            measured_input: Some(m),
            result,
        });
    }
    tracing::debug!(
        lufs = result.integrated_lufs,
        tp = result.true_peak_dbtp,
        "loudnorm could not stay linear; limiting instead"
    );
    // The limiter works on sample peaks; half a dB under the true-peak target covers the
    // inter-sample peaks of speech and music.
    let limit = 10f64.powf((tp_target(cfg) - 0.5) / 20.0);
    let mut gain = target - m.input_i;
    let mut result = result;
    for _ in 0..3 {
        let chain = format!(
            "{DELIVERED},volume={gain:.2}dB,alimiter=limit={limit:.4}:attack=2:release=50:level=0"
        );
        render(source, start, duration, &chain, out_wav, timeout).await?;
        result = loudness(out_wav, timeout).await?;
        if within(&result, cfg) {
            break;
        }
        gain += target - result.integrated_lufs;
    }
    Ok(Normalised {
        method: Method::Limited,
        measured_input: Some(m),
        result,
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

async fn render(
    source: &Path,
    start: f64,
    duration: f64,
    chain: &str,
    out: &Path,
    timeout: Duration,
) -> Result<(), RenderError> {
    let args: Vec<String> = vec![
        "-ss".into(),
        secs(start),
        "-t".into(),
        secs(duration),
        "-i".into(),
        source.display().to_string(),
        "-vn".into(),
        "-af".into(),
        chain.into(),
        "-c:a".into(),
        "pcm_f32le".into(),
        out.display().to_string(),
    ];
    ffmpeg(&args, "normalising the sound", timeout)
        .await
        .map(drop)
}

/// First pass: measure the window. `None` when it is silent.
pub async fn measure(
    source: &Path,
    start: f64,
    duration: f64,
    cfg: &RenderConfig,
    timeout: Duration,
) -> Result<Option<Measured>, RenderError> {
    let filter = format!(
        "{DELIVERED},loudnorm=I={}:TP={}:LRA=11:print_format=json",
        cfg.loudness_lufs,
        tp_target(cfg)
    );
    let args: Vec<String> = vec![
        "-ss".into(),
        secs(start),
        "-t".into(),
        secs(duration),
        "-i".into(),
        source.display().to_string(),
        "-vn".into(),
        "-af".into(),
        filter,
        "-f".into(),
        "null".into(),
        "-".into(),
    ];
    let out = ffmpeg(&args, "measuring loudness", timeout).await?;
    parse_loudnorm(&String::from_utf8_lossy(&out.stderr))
}

/// Read loudnorm's JSON block from ffmpeg's stderr.
pub fn parse_loudnorm(stderr: &str) -> Result<Option<Measured>, RenderError> {
    #[derive(Deserialize)]
    struct Raw {
        input_i: String,
        input_tp: String,
        input_lra: String,
        input_thresh: String,
        target_offset: String,
    }
    let bad = || RenderError::Ffmpeg {
        step: "measuring loudness",
        detail: "loudnorm printed no measurement".into(),
    };
    let start = stderr.rfind('{').ok_or_else(bad)?;
    let end = stderr[start..].find('}').ok_or_else(bad)? + start + 1;
    let raw: Raw = serde_json::from_str(&stderr[start..end]).map_err(|_| bad())?;
    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    match (
        num(&raw.input_i),
        num(&raw.input_tp),
        num(&raw.input_lra),
        num(&raw.input_thresh),
        num(&raw.target_offset),
    ) {
        (
            Some(input_i),
            Some(input_tp),
            Some(input_lra),
            Some(input_thresh),
            Some(target_offset),
        ) => Ok(Some(Measured {
            input_i,
            input_tp,
            input_lra,
            input_thresh,
            target_offset,
        })),
        // "-inf": digital silence.
        _ => Ok(None),
    }
}

/// Measure a file's integrated loudness and true peak with `ebur128`.
pub async fn loudness(path: &Path, timeout: Duration) -> Result<Loudness, RenderError> {
    let args: Vec<String> = ["-nostats", "-i"]
        .iter()
        .map(|s| s.to_string())
        .chain([path.display().to_string()])
        .chain(
            ["-vn", "-af", "ebur128=peak=true", "-f", "null", "-"]
                .iter()
                .map(|s| s.to_string()),
        )
        .collect();
    let out = ffmpeg(&args, "measuring loudness", timeout).await?;
    parse_ebur128(&String::from_utf8_lossy(&out.stderr)).ok_or(RenderError::Ffmpeg {
        step: "measuring loudness",
        detail: "ebur128 printed no summary".into(),
    })
}

/// Read the summary `ebur128` prints at the end.
pub fn parse_ebur128(stderr: &str) -> Option<Loudness> {
    let summary = &stderr[stderr.rfind("Summary:")?..];
    let value = |label: &str| {
        summary.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(label)?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
    };
    Some(Loudness {
        integrated_lufs: value("I:")?,
        true_peak_dbtp: value("Peak:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudnorm_json_is_read_from_the_end_of_stderr() {
        let err = "[Parsed_loudnorm_0 @ 0x1]\n{\n\t\"input_i\" : \"-27.61\",\n\t\"input_tp\" : \"-4.47\",\n\t\"input_lra\" : \"18.06\",\n\t\"input_thresh\" : \"-39.20\",\n\t\"output_i\" : \"-16.58\",\n\t\"normalization_type\" : \"dynamic\",\n\t\"target_offset\" : \"0.58\"\n}\n";
        let m = parse_loudnorm(err).unwrap().unwrap();
        assert_eq!(
            (m.input_i, m.input_tp, m.target_offset),
            (-27.61, -4.47, 0.58)
        );
        let silent = err.replace("-27.61", "-inf");
        assert_eq!(parse_loudnorm(&silent).unwrap(), None);
        assert!(parse_loudnorm("no json").is_err());
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
