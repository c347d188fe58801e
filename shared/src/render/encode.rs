//! Encoding the short: the encoder choice (NVENC only when ffmpeg has it and a test encode
//! works), the one encode of the picture (trimmed, laid out, captions burned), the mux of it
//! with the AAC track `loudness` writes, the thumbnail, and the speech extract for
//! transcription. The picture and the sound are encoded apart so that the job can
//! run them side by side; the mux only copies them.
//!
//! Output: H.264 High, closed GOPs of two seconds, yuv420p, at constant quality under a bit-rate
//! ceiling (`render.max_video_kbps`, held by the encoder or checked on the result: `bitrate`);
//! AAC-LC stereo at 48 kHz; the index at the front (`+faststart`) so platforms can start
//! reading before the end arrives.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::bitrate::{self, RateControl, VideoRate};
use super::layout::{video_graph, Burn, Layout, Rate, Shrink, Span};
use super::parts::{cuts, part_count, Picture};
use super::settings::{EncoderChoice, RenderConfig, X264RateControl};
use super::{ffmpeg, millis, ms_secs, run_tool, secs, strings, Cut, RenderError};

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
    let listed = listing("-encoders", timeout)
        .await
        .is_ok_and(|l| l.contains(" h264_nvenc "));
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

/// Whether ffmpeg has zimg's `zscale` filter, checked once per process.
static ZSCALE: OnceCell<bool> = OnceCell::const_new();

/// How this machine's ffmpeg shrinks the blur layout's foreground: zimg's spline16 when its
/// filter list has `zscale`, else swscale's `area`, with a warning (the short is made all the
/// same, a little softer and slower). A listing that fails counts as no zscale: the encode
/// that follows reports what is wrong with ffmpeg.
pub async fn choose_shrink(timeout: Duration) -> Shrink {
    let has = *ZSCALE
        .get_or_init(|| async {
            let listed = listing("-filters", timeout)
                .await
                .is_ok_and(|l| lists(&l, "zscale"));
            if !listed {
                tracing::warn!(
                    "ffmpeg has no zscale filter (built without libzimg): the blur layout \
                     shrinks the source with swscale's area scaler instead"
                );
            }
            listed
        })
        .await;
    if has {
        Shrink::Spline16
    } else {
        Shrink::Area
    }
}

/// What `ffmpeg -hide_banner FLAG` lists (`-encoders`, `-filters`).
async fn listing(flag: &str, timeout: Duration) -> Result<String, RenderError> {
    let step = "listing encoders and filters";
    let out = run_tool("ffmpeg", &strings(&["-hide_banner", flag]), step, timeout).await?;
    if !out.status.success() {
        return Err(RenderError::Ffmpeg {
            step,
            detail: super::stderr_tail(&out),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether an `ffmpeg -filters` or `-encoders` listing has `name` (a line ` ..C zscale  V->V
/// …` or ` V....D libx264  libx264 H.264 …`).
fn lists(listing: &str, name: &str) -> bool {
    listing
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(name))
}

/// What the render job needs from this machine's ffmpeg build, for `hilite doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FfmpegBuild {
    /// The CPU encoder.
    pub libx264: bool,
    /// The `ass` filter (libass), which burns the captions.
    pub ass: bool,
    /// zimg's `zscale`, the blur foreground's shrink ([`choose_shrink`]).
    pub zscale: bool,
}

/// Ask ffmpeg for its encoders and filters.
pub async fn ffmpeg_build(timeout: Duration) -> Result<FfmpegBuild, RenderError> {
    let (encoders, filters) =
        tokio::try_join!(listing("-encoders", timeout), listing("-filters", timeout))?;
    Ok(FfmpegBuild {
        libx264: lists(&encoders, "libx264"),
        ass: lists(&filters, "ass"),
        zscale: lists(&filters, "zscale"),
    })
}

/// Everything the picture's encode needs.
pub struct EncodePlan<'a> {
    pub cut: Cut<'a>,
    pub layout: &'a Layout,
    pub shrink: Shrink,
    pub rate: Rate,
    pub burn: Option<&'a Burn<'a>>,
    pub out_fps: f64,
    pub encoder: Encoder,
    /// The folder the picture's files go to: `video.mp4`, or one `video-N.mp4` per part and
    /// `video-parts.txt`, their list.
    pub dir: &'a Path,
}

/// Encode the short's picture: trim, lay out, burn the captions, encode, in one part or in
/// several side by side ([`part_count`]). The sound is left out (`-an`), so the encode can
/// start before the sound is normalised and never waits for it.
///
/// libx264 at a constant quantiser has no bit-rate ceiling: the picture's busiest second is
/// measured, and a picture over `render.max_video_kbps` is encoded once more at CRF under the
/// ceiling, which the other rate controls hold from the start. The busiest second of what is
/// delivered is measured either way, for the report.
pub async fn encode(
    plan: &EncodePlan<'_>,
    cfg: &RenderConfig,
    timeout: Duration,
) -> Result<(Picture, VideoRate), RenderError> {
    let first = match (plan.encoder, cfg.x264_rate_control) {
        (Encoder::H264Nvenc, _) => RateControl::Cq,
        (Encoder::Libx264, X264RateControl::Qp) => RateControl::Qp,
        (Encoder::Libx264, X264RateControl::Crf) => RateControl::Crf,
    };
    let picture = encode_with(plan, cfg, first, timeout).await?;
    let peak_kbps = bitrate::peak_kbps(&picture, timeout).await?;
    if first != RateControl::Qp || peak_kbps <= cfg.max_video_kbps {
        let rate = VideoRate {
            rate_control: first,
            peak_kbps,
            qp_peak_kbps: None,
        };
        return Ok((picture, rate));
    }
    tracing::info!(
        peak_kbps,
        ceiling_kbps = cfg.max_video_kbps,
        "the picture at a constant quantiser is over render.max_video_kbps in its busiest \
         second; encoding it again at CRF under the ceiling"
    );
    let picture = encode_with(plan, cfg, RateControl::Crf, timeout).await?;
    let rate = VideoRate {
        rate_control: RateControl::Crf,
        peak_kbps: bitrate::peak_kbps(&picture, timeout).await?,
        qp_peak_kbps: Some(peak_kbps),
    };
    Ok((picture, rate))
}

/// The picture's encode with `control`: its parts side by side, joined by their list.
///
/// A part reads the source from its cut with ffmpeg's `-ss`, and `-itsoffset` puts back the
/// distance from the window's start: every part's frames then carry the timestamps one encode
/// of the whole window gives them, to the tick, so libass shows each caption on the same
/// frames. A `trim` in the graph keeps the part's frames, and each part's timestamps start
/// again from zero, frame `i` of the window landing on the output's frame `i`. The parts'
/// frames are one encode's frames, joined.
async fn encode_with(
    plan: &EncodePlan<'_>,
    cfg: &RenderConfig,
    control: RateControl,
    timeout: Duration,
) -> Result<Picture, RenderError> {
    let gop = (plan.out_fps * 2.0).round().max(1.0) as u32;
    let wanted = part_count(cfg, plan.encoder, plan.rate, plan.cut.duration);
    let cuts = cuts(plan.cut.duration, plan.out_fps, gop, wanted);
    let parts = cuts.len() - 1;
    // One part keeps ffmpeg's own threading; parts share the cores.
    let threads = (parts > 1).then(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / parts).max(1).to_string()
    });
    let mut files = Vec::with_capacity(parts);
    let mut encodes = Vec::with_capacity(parts);
    for (k, span) in cuts.windows(2).enumerate() {
        let file = if parts == 1 {
            plan.dir.join("video.mp4")
        } else {
            plan.dir.join(format!("video-{k}.mp4"))
        };
        let args = part_args(
            plan,
            cfg,
            control,
            gop,
            (span[0], span[1]),
            threads.as_deref(),
            &file,
        )?;
        encodes.push(async move { ffmpeg(&args, "encoding the short", timeout).await });
        files.push(file);
    }
    // The first failure ends the others: dropping a step kills its ffmpeg.
    futures::future::try_join_all(encodes).await?;
    let list = if parts > 1 {
        // Plain relative names, next to the list: the concat demuxer's safe mode takes them.
        let list = plan.dir.join("video-parts.txt");
        let text: String = files
            .iter()
            .filter_map(|f| f.file_name())
            .map(|name| format!("file '{}'\n", name.to_string_lossy()))
            .collect();
        tokio::fs::write(&list, text)
            .await
            .map_err(|e| RenderError::io(&list, e))?;
        Some(list)
    } else {
        None
    };
    let starts = cuts[..parts].iter().map(|&ms| ms as f64 / 1000.0).collect();
    Ok(Picture::new(files, starts, list))
}

/// One part's ffmpeg arguments: the window's frames from `span.0` to `span.1` ms into it.
fn part_args(
    plan: &EncodePlan<'_>,
    cfg: &RenderConfig,
    control: RateControl,
    gop: u32,
    span: (i64, i64),
    threads: Option<&str>,
    file: &Path,
) -> Result<Vec<String>, RenderError> {
    let mut args = Vec::new();
    if let Some(t) = threads {
        args.extend(["-threads".into(), t.into()]);
    }
    let graph = if plan.rate == Rate::Keep {
        args.extend(["-ss".into(), ms_secs(millis(plan.cut.start) + span.0)]);
        if span.0 > 0 {
            args.extend(["-itsoffset".into(), ms_secs(span.0)]);
        }
        args.extend(["-i".into(), plan.cut.source.display().to_string()]);
        let span = Span {
            start_ms: span.0,
            end_ms: span.1,
        };
        video_graph(plan.layout, plan.shrink, plan.rate, plan.burn, Some(&span))?
    } else {
        // A frame rate filter fills the window's length itself, the frames it repeats or
        // drops at the ends included: the window cut at the input, the output cut to it.
        args.extend(plan.cut.input());
        video_graph(plan.layout, plan.shrink, plan.rate, plan.burn, None)?
    };
    if let Some(t) = threads {
        args.extend(["-filter_threads".into(), t.into()]);
    }
    args.extend(["-filter_complex".into(), graph]);
    args.extend(strings(&["-map", "[vout]", "-an"]));
    args.extend(codec_args(control, cfg, gop));
    if let Some(t) = threads {
        args.extend(["-threads".into(), t.into()]);
    }
    if plan.rate != Rate::Keep {
        args.extend(["-t".into(), secs(plan.cut.duration)]);
    }
    args.push(file.display().to_string());
    Ok(args)
}

/// The encoder's options: the codec, its quality, the bit-rate ceiling, the GOP.
fn codec_args(control: RateControl, cfg: &RenderConfig, gop: u32) -> Vec<String> {
    let mut args = Vec::new();
    match control {
        RateControl::Qp | RateControl::Crf => {
            let quality = if control == RateControl::Qp {
                "-qp"
            } else {
                "-crf"
            };
            args.extend([
                "-c:v".into(),
                Encoder::Libx264.ffmpeg_name().into(),
                "-preset".into(),
                cfg.x264_preset.clone(),
                quality.into(),
                cfg.quality.to_string(),
            ]);
            if !cfg.x264_params.is_empty() {
                args.extend(["-x264-params".into(), cfg.x264_params.clone()]);
            }
        }
        RateControl::Cq => {
            args.extend(strings(&[
                "-c:v",
                Encoder::H264Nvenc.ffmpeg_name(),
                "-preset",
                "p5",
                "-rc",
                "vbr",
                "-b:v",
                "0",
                "-cq",
            ]));
            args.push(cfg.nvenc_quality.to_string());
        }
    }
    // The ceiling: a one-second buffer at the configured rate (VBV for x264, the same
    // options for NVENC). A constant quantiser takes none: `encode` checks its result.
    if control != RateControl::Qp {
        let max_rate = format!("{}k", cfg.max_video_kbps);
        args.extend([
            "-maxrate".into(),
            max_rate.clone(),
            "-bufsize".into(),
            max_rate,
        ]);
    }
    args.extend(strings(&["-profile:v", "high", "-flags", "+cgop", "-g"]));
    args.push(gop.to_string());
    args
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
    picture: &Picture,
    sound: &Path,
    output: &Path,
    timeout: Duration,
) -> Result<(), RenderError> {
    let mut args = picture.input();
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

/// A JPEG of the picture at `at` seconds, read from the part that holds it (the concat
/// demuxer would decode every part before it to get there).
pub async fn thumbnail(
    picture: &Picture,
    at: f64,
    output: &Path,
    timeout: Duration,
) -> Result<(), RenderError> {
    let (file, at) = picture.at(at);
    let mut args = vec![
        "-ss".into(),
        secs(at),
        "-i".into(),
        file.display().to_string(),
    ];
    args.extend([
        "-frames:v".into(),
        "1".into(),
        "-q:v".into(),
        "3".into(),
        output.display().to_string(),
    ]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The value after `flag` in an argument list.
    fn after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1).map(String::as_str)
    }

    #[test]
    fn a_name_is_found_in_a_listing_and_only_there() {
        let listing = " T.. zmq               N->N       Receive commands sent through a libzmq client.\n \
                       ..C zscale            V->V       Apply resizing, colorspace and bit depth conversion.\n";
        assert!(lists(listing, "zscale"));
        let without = " ... scale             V->V       Scale the input video size and/or convert the image format.\n \
                       ... scale2ref         VV->VV     Scale the input video size and/or convert the image format to the given reference.\n";
        assert!(!lists(without, "zscale"));
        assert!(!lists("", "zscale"));
        let encoders = " V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)\n \
                        V....D libx264rgb           libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 RGB (codec h264)\n";
        assert!(lists(encoders, "libx264"));
        assert!(!lists(
            &encoders.replace(" libx264 ", " libx265 "),
            "libx264"
        ));
    }

    #[test]
    fn each_rate_control_gets_its_quality_setting_and_the_ceiling_where_it_takes_one() {
        let cfg = RenderConfig {
            quality: 27,
            nvenc_quality: 19,
            ..RenderConfig::default()
        };
        let qp = codec_args(RateControl::Qp, &cfg, 60);
        let crf = codec_args(RateControl::Crf, &cfg, 60);
        let nvenc = codec_args(RateControl::Cq, &cfg, 60);
        for (args, codec, flag, value) in [
            (&qp, "libx264", "-qp", "27"),
            (&crf, "libx264", "-crf", "27"),
            (&nvenc, "h264_nvenc", "-cq", "19"),
        ] {
            assert_eq!(after(args, "-c:v"), Some(codec), "{args:?}");
            assert_eq!(after(args, flag), Some(value), "{args:?}");
            let others = ["-qp", "-crf", "-cq"].into_iter().filter(|f| *f != flag);
            assert!(
                others.clone().all(|f| !args.iter().any(|a| a == f)),
                "{args:?}"
            );
            assert_eq!(after(args, "-g"), Some("60"));
            assert_eq!(after(args, "-profile:v"), Some("high"));
        }
        for args in [&qp, &crf] {
            assert_eq!(after(args, "-preset"), Some(cfg.x264_preset.as_str()));
            assert_eq!(after(args, "-x264-params"), Some("deblock=1:8x8dct=1"));
        }
        // libx264's VBV needs a rate control that plans bits: the constant quantiser's
        // ceiling is checked on what it encoded.
        assert!(
            !qp.iter().any(|a| a == "-maxrate" || a == "-bufsize"),
            "{qp:?}"
        );
        for args in [&crf, &nvenc] {
            assert_eq!(after(args, "-maxrate"), Some("16000k"));
            assert_eq!(after(args, "-bufsize"), Some("16000k"));
        }
    }
}
