//! Encoding the short: the encoder choice (NVENC only when ffmpeg has it and a test encode
//! works), the one encode of the picture (trimmed, laid out, captions burned), the mux of it
//! with the AAC track `loudness` writes, the thumbnail, and the speech extract for
//! transcription. The picture and the sound are encoded apart so that the job can
//! run them side by side; the mux only copies them.
//!
//! Output: H.264 High, closed GOPs of two seconds, yuv420p, at constant quality under a bit-rate
//! ceiling (`render.max_video_kbps`); AAC-LC stereo at 48 kHz; the index at the front
//! (`+faststart`) so platforms can start reading before the end arrives.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::settings::{EncoderChoice, RenderConfig};
use super::{ffmpeg, run_tool, secs, strings, Cut, RenderError};

/// The encoder that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoder {
    H264Nvenc,
    Libx264,
}

impl Encoder {
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            Encoder::H264Nvenc => "h264_nvenc",
            Encoder::Libx264 => "libx264",
        }
    }
}

/// Whether ffmpeg can encode with NVENC here, checked once per process.
static NVENC_WORKS: OnceCell<bool> = OnceCell::const_new();

/// Pick the encoder the configuration allows and this machine can run.
pub async fn choose_encoder(
    choice: EncoderChoice,
    timeout: Duration,
) -> Result<Encoder, RenderError> {
    if choice == EncoderChoice::X264 {
        return Ok(Encoder::Libx264);
    }
    let works = *NVENC_WORKS.get_or_init(|| nvenc_works(timeout)).await;
    match (choice, works) {
        (_, true) => Ok(Encoder::H264Nvenc),
        (EncoderChoice::Nvenc, false) => Err(RenderError::EncoderUnavailable(
            "ffmpeg lacks h264_nvenc or the GPU has no NVENC unit (A100/H100 have none)".into(),
        )),
        _ => Ok(Encoder::Libx264),
    }
}

async fn nvenc_works(timeout: Duration) -> bool {
    let listed = match run_tool(
        "ffmpeg",
        &["-hide_banner".into(), "-encoders".into()],
        "listing encoders",
        timeout,
    )
    .await
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).contains(" h264_nvenc "),
        Err(_) => false,
    };
    if !listed {
        return false;
    }
    // A build with NVENC on a machine without a usable NVIDIA GPU lists it but fails to open it.
    let args = strings(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=black:s=256x256:r=30:d=0.2",
        "-c:v",
        "h264_nvenc",
        "-f",
        "null",
        "-",
    ]);
    let ok = ffmpeg(&args, "testing NVENC", timeout).await.is_ok();
    tracing::info!(nvenc = ok, "checked for an NVENC encoder");
    ok
}

/// Everything the picture's encode needs.
pub struct EncodePlan<'a> {
    pub cut: Cut<'a>,
    pub video_graph: String,
    pub out_fps: f64,
    pub encoder: Encoder,
    /// The picture alone: [`mux`] puts the sound beside it.
    pub output: &'a Path,
}

/// Encode the short's picture: trim, lay out, burn the captions, encode. The sound is left
/// out (`-an`), so the encode can start before the sound is normalised and never waits for it.
pub async fn encode(
    plan: &EncodePlan<'_>,
    cfg: &RenderConfig,
    timeout: Duration,
) -> Result<(), RenderError> {
    let gop = (plan.out_fps * 2.0).round().max(1.0) as u32;
    let mut args = plan.cut.input();
    args.extend([
        "-filter_complex".into(),
        plan.video_graph.clone(),
        "-map".into(),
        "[vout]".into(),
        "-an".into(),
        "-c:v".into(),
        plan.encoder.ffmpeg_name().into(),
    ]);
    let quality = cfg.quality.to_string();
    match plan.encoder {
        Encoder::Libx264 => {
            args.extend([
                "-preset".into(),
                cfg.x264_preset.clone(),
                "-crf".into(),
                quality,
            ]);
            if !cfg.x264_params.is_empty() {
                args.extend(["-x264-params".into(), cfg.x264_params.clone()]);
            }
        }
        Encoder::H264Nvenc => {
            args.extend(strings(&[
                "-preset", "p5", "-rc", "vbr", "-b:v", "0", "-cq",
            ]));
            args.push(quality);
        }
    }
    // The ceiling: a one-second buffer at the configured rate (VBV for x264, the same
    // options for NVENC).
    let max_rate = format!("{}k", cfg.max_video_kbps);
    args.extend([
        "-maxrate".into(),
        max_rate.clone(),
        "-bufsize".into(),
        max_rate,
    ]);
    args.extend(strings(&["-profile:v", "high", "-flags", "+cgop", "-g"]));
    args.extend([
        gop.to_string(),
        "-t".into(),
        secs(plan.cut.duration),
        plan.output.display().to_string(),
    ]);
    ffmpeg(&args, "encoding the short", timeout).await.map(drop)
}

/// The delivered sound: AAC-LC stereo at 48 kHz (`loudness::normalise` writes it).
pub(crate) const AAC: &[&str] = &[
    "-c:a",
    "aac",
    "-profile:a",
    "aac_low",
    "-b:a",
    "160k",
    "-ar",
    "48000",
    "-ac",
    "2",
];

/// Put the encoded picture and sound together into the short, both copied as they are, with
/// the index at the front (`+faststart`).
pub async fn mux(
    video: &Path,
    sound: &Path,
    output: &Path,
    timeout: Duration,
) -> Result<(), RenderError> {
    let mut args = vec!["-i".into(), video.display().to_string()];
    args.extend(["-i".into(), sound.display().to_string()]);
    args.extend(strings(&[
        "-map",
        "0:v:0",
        "-map",
        "1:a:0",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
    ]));
    args.push(output.display().to_string());
    ffmpeg(&args, "muxing the short", timeout).await.map(drop)
}

/// A JPEG of the short at `at` seconds.
pub async fn thumbnail(
    short: &Path,
    at: f64,
    output: &Path,
    timeout: Duration,
) -> Result<(), RenderError> {
    let args: Vec<String> = vec![
        "-ss".into(),
        secs(at),
        "-i".into(),
        short.display().to_string(),
        "-frames:v".into(),
        "1".into(),
        "-q:v".into(),
        "3".into(),
        output.display().to_string(),
    ];
    ffmpeg(&args, "taking the thumbnail", timeout)
        .await
        .map(drop)
}

/// Extract the window's sound as 16 kHz mono PCM WAV, the input format whisper models are
/// trained on.
pub async fn extract_speech(
    cut: Cut<'_>,
    output: &Path,
    timeout: Duration,
) -> Result<(), RenderError> {
    let mut args = cut.input();
    args.extend(strings(&[
        "-vn",
        "-ac",
        "1",
        "-ar",
        "16000",
        "-c:a",
        "pcm_s16le",
    ]));
    args.push(output.display().to_string());
    ffmpeg(&args, "extracting the speech", timeout)
        .await
        .map(drop)
}
