//! The `[transcribe]` and `[render]` sections of the configuration, with their defaults and
//! checks. `config/` holds them as fields of `Config`; they live here, beside the code that
//! reads them, so the configuration file does not grow with every render knob. Every key is
//! documented in `config/hilite.sample.toml`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// Which transcriber the render job uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TranscribeBackend {
    /// whisper.cpp in-process (`whisper-rs`); needs the `whisper` cargo feature and a model file.
    #[default]
    Whisper,
    /// Any OpenAI-compatible `/v1/audio/transcriptions` server.
    Api,
    /// No transcription: shorts without captions.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscribeConfig {
    pub backend: TranscribeBackend,
    /// A ggml whisper model file (whisper backend).
    pub model_path: PathBuf,
    /// Base URL ending in `/v1` of an OpenAI-compatible server (api backend).
    pub api_base: Url,
    #[serde(serialize_with = "redacted")]
    pub api_key: Option<SecretString>,
    /// The model name sent to the API (`whisper-1` on OpenAI, `whisper-large-v3` on Groq).
    pub api_model: String,
    /// ISO-639-1 code forced for every clip; empty means detected from the audio.
    pub language: String,
    /// Per-broadcaster override of `language`, keyed by login.
    pub language_by_broadcaster: BTreeMap<String, String>,
    /// Timeout of one transcription request, in seconds.
    pub request_timeout_secs: u64,
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            backend: TranscribeBackend::Whisper,
            model_path: PathBuf::from("/opt/whisper/ggml-base.bin"),
            api_base: Url::parse("https://api.openai.com/v1").unwrap_or_else(|_| unreachable!()),
            api_key: None,
            api_model: "whisper-1".into(),
            language: String::new(),
            language_by_broadcaster: BTreeMap::new(),
            request_timeout_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LayoutKind {
    /// The source scaled to the width over a blurred, zoomed copy of itself.
    #[default]
    Blur,
    /// A centred crop.
    Crop,
    /// A facecam region stacked over the gameplay.
    Split,
}

impl std::str::FromStr for LayoutKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "blur" => Ok(Self::Blur),
            "crop" => Ok(Self::Crop),
            "split" => Ok(Self::Split),
            _ => Err(format!("unknown layout {s:?} (one of: blur, crop, split)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EncoderChoice {
    /// `h264_nvenc` when ffmpeg has it and a test encode succeeds, else `libx264`.
    #[default]
    Auto,
    Nvenc,
    X264,
}

/// How libx264 holds the picture's quality (`render.x264_rate_control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum X264RateControl {
    /// A constant quantiser: `render.quality` is the QP. No rate control runs, so libx264
    /// skips the half-size analysis of every frame that CRF plans its bits with (a quarter to
    /// a third of `ultrafast`'s encode), and has no bit-rate ceiling of its own: the job measures the
    /// picture's busiest second and, over `render.max_video_kbps`, encodes it again as `crf`
    /// does (`encode::encode`). Constant QP also turns off adaptive quantisation and the
    /// macroblock tree, which `ultrafast` has off anyway.
    #[default]
    Qp,
    /// Constant rate factor under the ceiling from the start: `render.quality` is the CRF.
    /// What the slower presets' adaptive quantisation and macroblock tree need.
    Crf,
}

/// A rectangle of the source as fractions of its width and height (so it holds at any size).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// The `split` layout: where the facecam and the gameplay are in the source, and how much of
/// the short's height the facecam takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitRegions {
    pub facecam: Region,
    pub gameplay: Region,
    pub facecam_share: f64,
}

impl Default for SplitRegions {
    fn default() -> Self {
        // A facecam in the top-left quarter is the most common overlay position.
        Self {
            facecam: Region {
                x: 0.0,
                y: 0.0,
                w: 0.25,
                h: 0.25,
            },
            gameplay: Region {
                x: 0.2,
                y: 0.0,
                w: 0.6,
                h: 1.0,
            },
            facecam_share: 0.35,
        }
    }
}

/// A caption style preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionStyle {
    /// A font family present in `render.fonts_dir`.
    pub font: String,
    /// Font size in pixels of the 1080×1920 frame.
    pub size: u32,
    pub bold: bool,
    /// `#RRGGBB` colours.
    pub text_colour: String,
    pub highlight_colour: String,
    pub outline_colour: String,
    pub outline: f64,
    pub shadow: f64,
    /// Distance of the caption's bottom edge from the frame's bottom, as a fraction of the
    /// height; never less than the safe area's bottom.
    pub margin_bottom: f64,
}

/// The parts of the frame kept free of captions, as fractions: platforms draw their buttons
/// and the description there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafeArea {
    pub bottom: f64,
    /// Kept on both sides, so centred captions stay centred.
    pub right: f64,
}

impl Default for SafeArea {
    fn default() -> Self {
        // A conservative choice: TikTok, Reels and Shorts draw the caption/description over
        // roughly the bottom fifth and the like/comment/share column over the right ~13 %
        // of a 9:16 frame; their published safe-zone guides vary by app version.
        Self {
            bottom: 0.20,
            right: 0.15,
        }
    }
}

fn builtin_styles() -> BTreeMap<String, CaptionStyle> {
    let style = |size, text: &str, hl: &str, margin_bottom| CaptionStyle {
        font: "DejaVu Sans".into(),
        size,
        bold: true,
        text_colour: text.into(),
        highlight_colour: hl.into(),
        outline_colour: "#000000".into(),
        outline: 5.0,
        shadow: 0.0,
        margin_bottom,
    };
    BTreeMap::from([
        ("bold".to_string(), style(64, "#FFFFFF", "#FFD400", 0.30)),
        ("clean".to_string(), style(56, "#FFFFFF", "#4FC3F7", 0.26)),
        ("centre".to_string(), style(72, "#FFFFFF", "#7CFC00", 0.42)),
    ])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    pub layout: LayoutKind,
    /// Per-broadcaster layout, keyed by login.
    pub layout_by_broadcaster: BTreeMap<String, LayoutKind>,
    /// The name of a preset in `caption_styles`.
    pub caption_style: String,
    pub caption_styles: BTreeMap<String, CaptionStyle>,
    pub safe_area: SafeArea,
    /// Folder of font files given to libass.
    pub fonts_dir: PathBuf,
    pub encoder: EncoderChoice,
    /// libx264 preset: speed against size at the same quality.
    pub x264_preset: String,
    /// libx264 options over the preset (`-x264-params`, `key=value:…`); empty for none.
    pub x264_params: String,
    /// How libx264 holds the quality: a constant quantiser or a constant rate factor.
    pub x264_rate_control: X264RateControl,
    /// libx264's quality, 0–51, a QP or a CRF (`x264_rate_control`); lower is better and
    /// larger.
    pub quality: u8,
    /// NVENC's constant quality (CQ, 0–51), its own scale: the same number is not the same
    /// picture on both encoders.
    pub nvenc_quality: u8,
    /// The ceiling on what constant quality spends on a busy picture (kb/s). CRF and NVENC
    /// hold it as a one-second buffer (VBV); a constant-quantiser picture is kept only when
    /// no second of it carries more, and is otherwise encoded again at CRF.
    pub max_video_kbps: u32,
    /// Integrated loudness target (LUFS) and true-peak ceiling (dBTP).
    pub loudness_lufs: f64,
    pub true_peak_db: f64,
    pub max_fps: u32,
    pub split: SplitRegions,
    pub split_by_broadcaster: BTreeMap<String, SplitRegions>,
    /// How many pieces a libx264 encode is cut into, each encoded by its own ffmpeg at the
    /// same time; 0 picks one per CPU core, each at least `parts::MIN_PART_SECS` long.
    pub encode_parts: u32,
    /// Render jobs run at once by `hilite serve`.
    pub concurrency: usize,
    /// Longest one ffmpeg step may take, in seconds.
    pub step_timeout_secs: u64,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            layout: LayoutKind::Blur,
            layout_by_broadcaster: BTreeMap::new(),
            caption_style: "bold".into(),
            caption_styles: builtin_styles(),
            safe_area: SafeArea::default(),
            fonts_dir: PathBuf::from("/usr/share/fonts/truetype/dejavu"),
            encoder: EncoderChoice::Auto,
            // `ultrafast` with the deblocking filter and the 8×8 transform put back, at a
            // constant quantiser of 20. The short is what the platforms re-encode, so its
            // quality is what counts and its size only needs to stay under their limits
            // (`max_video_kbps`). Measured on 10 s of `make bench`'s 1080×1920 frames and of
            // three harder sources (a zooming fractal, the same with grain, a cellular
            // automaton), each encoded by itself with one thread, against the MoviePy
            // baseline's encoder settings (x264 `medium`, CRF 23) on the same frames: SSIM
            // 0.9985, 0.9951, 0.9941 against `medium`'s 0.9975, 0.9945, 0.9932 on the first
            // three, for 26–36 % less encoding CPU than the same preset at CRF 24 under the
            // ceiling (the former default, SSIM 0.9985, 0.9949, 0.9938), in files 0.9–1.2× its
            // size and 3.3–3.7× `medium`'s. CRF is dearer because it analyses every frame at
            // half size to plan its bits. The automaton is busy enough to go over the
            // ceiling at QP 20 (27.6 Mb/s in its busiest second): it is encoded again at CRF 20
            // under the ceiling, SSIM 0.9934 against `medium`'s 0.9938 (its better compression
            // tells under a ceiling), for 1.8× the former default's encoding CPU. The 8×8
            // transform makes the stream High profile, which `-profile:v high` only allows:
            // without it, ultrafast's stream is Constrained Baseline. Without the deblocking
            // filter, ultrafast fell below `medium` on the fractal and the grain.
            x264_preset: "ultrafast".into(),
            x264_params: "deblock=1:8x8dct=1".into(),
            x264_rate_control: X264RateControl::Qp,
            quality: 20,
            nvenc_quality: 20,
            // Instagram Reels take "VBR, 25 Mbps maximum" (Meta's Reels specifications,
            // developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media):
            // a second's worth of buffer at 16 Mb/s keeps even a 3 s short (Instagram's
            // shortest) under that, the buffer x264 starts with included. An encode in parts
            // starts one buffer per part, and every part lasts at least a 2 s GOP: at most
            // 16 × (1 + 1/2) = 24 Mb/s over the short. A constant-quantiser picture with no
            // second over 16 Mb/s is under 16 Mb/s over any length.
            max_video_kbps: 16_000,
            // The targets: about the level the platforms play short videos at (no
            // platform publishes a number); the -1 dBTP ceiling leaves room for AAC overshoot.
            loudness_lufs: -14.0,
            true_peak_db: -1.0,
            max_fps: 60,
            split: SplitRegions::default(),
            split_by_broadcaster: BTreeMap::new(),
            encode_parts: 0,
            concurrency: 1,
            step_timeout_secs: 600,
        }
    }
}

/// The highest constant-quality value libx264 (8-bit CRF) and NVENC (CQ) take.
const MAX_QUALITY: u8 = 51;

impl RenderConfig {
    /// The caption style the configuration names.
    pub fn style(&self) -> Option<&CaptionStyle> {
        self.caption_styles.get(&self.caption_style)
    }

    /// Check the values; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.style().is_none() {
            let names: Vec<_> = self.caption_styles.keys().cloned().collect();
            return Err((
                "render.caption_style",
                format!(
                    "{:?} is not a preset (one of: {})",
                    self.caption_style,
                    names.join(", ")
                ),
            ));
        }
        for (name, s) in &self.caption_styles {
            for c in [&s.text_colour, &s.highlight_colour, &s.outline_colour] {
                if super::captions::parse_hex(c).is_none() {
                    return Err((
                        "render.caption_styles",
                        format!("{name}: colour {c:?} is not #RRGGBB"),
                    ));
                }
            }
            if !(12..=200).contains(&s.size) || !(0.0..0.9).contains(&s.margin_bottom) {
                return Err((
                    "render.caption_styles",
                    format!("{name}: size must be 12–200 and margin_bottom 0–0.9"),
                ));
            }
        }
        let fraction = |v: f64| (0.0..0.5).contains(&v);
        if !fraction(self.safe_area.bottom) || !fraction(self.safe_area.right) {
            return Err((
                "render.safe_area",
                "bottom and right must be fractions below 0.5".into(),
            ));
        }
        if self.quality > MAX_QUALITY || self.nvenc_quality > MAX_QUALITY {
            return Err((
                "render.quality",
                format!("and render.nvenc_quality must be 0 to {MAX_QUALITY}"),
            ));
        }
        if !(500..=100_000).contains(&self.max_video_kbps) {
            return Err(("render.max_video_kbps", "must be 500 to 100000 kb/s".into()));
        }
        if self.encode_parts > 64 {
            return Err((
                "render.encode_parts",
                "must be 0 (one per CPU core) to 64".into(),
            ));
        }
        if self.concurrency == 0 || self.max_fps == 0 || self.step_timeout_secs == 0 {
            return Err((
                "render.concurrency",
                "and render.max_fps, render.step_timeout_secs must be at least 1".into(),
            ));
        }
        if !(-40.0..=-5.0).contains(&self.loudness_lufs)
            || !(-9.0..=0.0).contains(&self.true_peak_db)
        {
            return Err((
                "render.loudness_lufs",
                "must be -40 to -5 LUFS and render.true_peak_db -9 to 0 dBTP".into(),
            ));
        }
        for split in std::iter::once(&self.split).chain(self.split_by_broadcaster.values()) {
            for r in [split.facecam, split.gameplay] {
                let ok = r.x >= 0.0
                    && r.y >= 0.0
                    && r.w > 0.0
                    && r.h > 0.0
                    && r.x + r.w <= 1.0
                    && r.y + r.h <= 1.0;
                if !ok {
                    return Err((
                        "render.split",
                        format!("region {r:?} must lie inside the frame (fractions 0–1)"),
                    ));
                }
            }
            if !(0.1..=0.9).contains(&split.facecam_share) {
                return Err((
                    "render.split",
                    "facecam_share must be between 0.1 and 0.9".into(),
                ));
            }
        }
        Ok(())
    }
}

fn redacted<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("[redacted]"),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::{Format, Toml};

    use super::*;
    use crate::config::{Config, SAMPLE};

    #[test]
    fn the_sample_file_documents_the_defaults() {
        let c: Config = figment::Figment::from(Toml::string(SAMPLE))
            .extract()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&c.render).unwrap(),
            serde_json::to_value(RenderConfig::default()).unwrap()
        );
        assert_eq!(
            serde_json::to_value(&c.transcribe).unwrap(),
            serde_json::to_value(TranscribeConfig::default()).unwrap()
        );
    }

    #[test]
    fn an_unknown_style_or_a_region_outside_the_frame_is_refused_with_its_key() {
        let mut c = RenderConfig {
            caption_style: "fancy".into(),
            ..RenderConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "render.caption_style");
        c.caption_style = "bold".into();
        c.split.facecam = Region {
            x: 0.9,
            y: 0.0,
            w: 0.2,
            h: 0.2,
        };
        assert_eq!(c.validate().unwrap_err().0, "render.split");
        let mut c = RenderConfig::default();
        c.caption_styles.get_mut("bold").unwrap().highlight_colour = "yellow".into();
        assert_eq!(c.validate().unwrap_err().0, "render.caption_styles");
        let c = RenderConfig {
            max_video_kbps: 0,
            ..RenderConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "render.max_video_kbps");
        for (quality, nvenc_quality) in [(52, 20), (24, 52)] {
            let c = RenderConfig {
                quality,
                nvenc_quality,
                ..RenderConfig::default()
            };
            assert_eq!(c.validate().unwrap_err().0, "render.quality");
        }
        let c = RenderConfig {
            encode_parts: 65,
            ..RenderConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "render.encode_parts");
    }
}
