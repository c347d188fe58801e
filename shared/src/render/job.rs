//! The render job, top to bottom: probe the source, transcribe the window's speech while its
//! loudness is measured, write the captions, encode the short with its layout, take the
//! thumbnail, measure the result, and write the report. Everything goes to one output folder;
//! the caller decides where the files are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::captions::{build_captions, to_ass, to_srt, LineRules};
use super::encode::{self, EncodePlan, Encoder};
use super::layout::{video_graph, Burn, Layout, HEIGHT, WIDTH};
use super::loudness::{self, Loudness, Normalised};
use super::probe::{probe, MediaInfo};
use super::settings::{LayoutKind, RenderConfig, SplitRegions};
use super::transcribe::{Transcriber, Transcript};
use super::RenderError;
use crate::domain::Window;

/// One render.
#[derive(Debug, Clone)]
pub struct RenderInput {
    pub source: PathBuf,
    /// The part of the source to keep; `None` keeps all of it.
    pub window: Option<Window>,
    pub layout: LayoutKind,
    pub split: SplitRegions,
    /// Twitch delivered the editor's portrait version.
    pub source_is_portrait: bool,
    /// Forced language, else detected.
    pub language: Option<String>,
    /// The moment for the thumbnail, in seconds into the window; `None` takes the middle,
    /// where the analyze stage centres the window on the clip's loudest moment.
    pub peak_secs: Option<f64>,
}

/// The files written, by name, in the output folder.
pub const SHORT: &str = "short.mp4";
pub const SRT: &str = "captions.srt";
pub const ASS: &str = "captions.ass";
pub const THUMBNAIL: &str = "thumbnail.jpg";
pub const REPORT: &str = "report.json";

#[derive(Debug, Clone)]
pub struct RenderOutputs {
    pub short: PathBuf,
    pub srt: PathBuf,
    pub ass: PathBuf,
    pub thumbnail: PathBuf,
    pub report_file: PathBuf,
    pub report: RenderReport,
}

/// What the job did, saved as `report.json` beside the short.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderReport {
    pub encoder: Encoder,
    pub layout: String,
    pub transcriber: String,
    pub source: MediaInfo,
    pub window: Window,
    pub output_fps: f64,
    /// Milliseconds per step, by step name.
    pub timings_ms: BTreeMap<String, u64>,
    /// The first loudness pass on the window and how the sound was normalised.
    pub sound: Normalised,
    pub output_loudness: Loudness,
    pub captions: usize,
    pub transcript: Transcript,
}

/// Run the job, writing into `out_dir` (created when missing).
pub async fn render(
    input: &RenderInput,
    cfg: &RenderConfig,
    transcriber: &dyn Transcriber,
    out_dir: &Path,
) -> Result<RenderOutputs, RenderError> {
    let step = Duration::from_secs(cfg.step_timeout_secs);
    let style = cfg.style().ok_or_else(|| {
        RenderError::Settings(format!(
            "render.caption_style {:?} is not a preset",
            cfg.caption_style
        ))
    })?;
    tokio::fs::create_dir_all(out_dir)
        .await
        .map_err(|e| RenderError::io(out_dir, e))?;
    let work = tempfile::Builder::new()
        .prefix("hilite-render-")
        .tempdir()
        .map_err(|e| RenderError::io(Path::new("temporary folder"), e))?;
    let mut timings = BTreeMap::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str| {
        timings.insert(name.to_string(), clock.elapsed().as_millis() as u64);
        clock = Instant::now();
    };

    let info = probe(&input.source, step).await?;
    let window = fit_window(input.window, &info)?;
    let (start, duration) = (window.start_secs, window.duration_secs());
    lap("probe");

    // Speech and loudness read the same window; they run side by side.
    let wav = work.path().join("speech.wav");
    let speech = async {
        encode::extract_speech(&input.source, start, duration, &wav, step).await?;
        Ok::<_, RenderError>(
            transcriber
                .transcribe(&wav, input.language.as_deref())
                .await?,
        )
    };
    let sound = work.path().join("sound.wav");
    let (transcript, normalised) = tokio::join!(
        speech,
        loudness::normalise(&input.source, start, duration, cfg, &sound, step)
    );
    let (transcript, normalised) = (transcript?, normalised?);
    lap("transcribe_and_normalise_sound");

    let rules = LineRules::for_style(style, &cfg.safe_area, WIDTH);
    let words: Vec<_> = transcript
        .words
        .iter()
        .filter(|w| w.start < duration)
        .cloned()
        .collect();
    let captions = build_captions(&words, &rules);
    let paths = Outputs::new(out_dir);
    write(&paths.srt, to_srt(&captions)).await?;
    let ass_text = to_ass(&captions, style, &cfg.safe_area, (WIDTH, HEIGHT), &rules);
    write(&paths.ass, ass_text.clone()).await?;
    // libass reads a private copy in the work folder, whose path is always filter-safe.
    let ass_work = work.path().join(ASS);
    write(&ass_work, ass_text).await?;
    lap("captions");

    let encoder = encode::choose_encoder(cfg.encoder, step).await?;
    let layout = Layout::choose(input.layout, input.split, &info, input.source_is_portrait);
    let capped = info.fps > f64::from(cfg.max_fps) + 0.01;
    let out_fps = if capped {
        f64::from(cfg.max_fps)
    } else {
        info.fps
    };
    let burn = Burn {
        ass: &ass_work,
        fonts_dir: &cfg.fonts_dir,
    };
    let graph = video_graph(
        &layout,
        capped.then_some(cfg.max_fps),
        (!captions.is_empty()).then_some(&burn),
    )?;
    // Encode to the work folder and move into place, so a half-written short never sits at
    // the output path.
    let short_work = work.path().join(SHORT);
    let plan = EncodePlan {
        source: &input.source,
        start,
        duration,
        video_graph: graph,
        audio: &sound,
        out_fps,
        encoder,
        output: &short_work,
    };
    encode::encode(&plan, cfg, step).await?;
    lap("encode");

    let at = input
        .peak_secs
        .unwrap_or(duration / 2.0)
        .clamp(0.0, (duration - 0.1).max(0.0));
    encode::thumbnail(&short_work, at, &paths.thumbnail, step).await?;
    lap("thumbnail");
    let output_loudness = loudness::loudness(&short_work, step).await?;
    lap("verify_loudness");
    tokio::fs::copy(&short_work, &paths.short)
        .await
        .map_err(|e| RenderError::io(&paths.short, e))?;

    let report = RenderReport {
        encoder,
        layout: layout.name().into(),
        transcriber: transcriber.name().into(),
        source: info,
        window,
        output_fps: out_fps,
        timings_ms: timings,
        sound: normalised,
        output_loudness,
        captions: captions.len(),
        transcript,
    };
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| RenderError::Settings(format!("report: {e}")))?;
    write(&paths.report_file, json).await?;
    tracing::info!(
        encoder = encoder.ffmpeg_name(),
        layout = layout.name(),
        lufs = output_loudness.integrated_lufs,
        "short rendered"
    );
    Ok(RenderOutputs {
        short: paths.short,
        srt: paths.srt,
        ass: paths.ass,
        thumbnail: paths.thumbnail,
        report_file: paths.report_file,
        report,
    })
}

struct Outputs {
    short: PathBuf,
    srt: PathBuf,
    ass: PathBuf,
    thumbnail: PathBuf,
    report_file: PathBuf,
}

impl Outputs {
    fn new(dir: &Path) -> Self {
        Self {
            short: dir.join(SHORT),
            srt: dir.join(SRT),
            ass: dir.join(ASS),
            thumbnail: dir.join(THUMBNAIL),
            report_file: dir.join(REPORT),
        }
    }
}

async fn write(path: &Path, text: String) -> Result<(), RenderError> {
    tokio::fs::write(path, text)
        .await
        .map_err(|e| RenderError::io(path, e))
}

/// The window inside the source. A window ending a little past the end (rounding in the
/// analysis) is cut to the end; one outside the source is refused.
fn fit_window(window: Option<Window>, info: &MediaInfo) -> Result<Window, RenderError> {
    let d = info.duration_secs;
    let w = window.unwrap_or(Window {
        start_secs: 0.0,
        end_secs: d,
    });
    let fitted = Window {
        start_secs: w.start_secs.max(0.0),
        end_secs: w.end_secs.min(d),
    };
    if !(w.start_secs.is_finite() && w.end_secs.is_finite())
        || w.end_secs > d + 0.5
        || fitted.duration_secs() < 0.5
    {
        return Err(RenderError::BadWindow {
            start: w.start_secs,
            end: w.end_secs,
            duration: d,
        });
    }
    Ok(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(d: f64) -> MediaInfo {
        MediaInfo {
            width: 1920,
            height: 1080,
            fps: 30.0,
            rotation: 0,
            duration_secs: d,
            video_codec: "h264".into(),
            audio_codec: "aac".into(),
        }
    }

    #[test]
    fn a_window_past_the_end_is_cut_and_one_outside_is_refused() {
        let w = fit_window(
            Some(Window {
                start_secs: 2.0,
                end_secs: 10.2,
            }),
            &info(10.0),
        )
        .unwrap();
        assert_eq!((w.start_secs, w.end_secs), (2.0, 10.0));
        assert!(matches!(
            fit_window(
                Some(Window {
                    start_secs: 12.0,
                    end_secs: 20.0
                }),
                &info(10.0)
            ),
            Err(RenderError::BadWindow { .. })
        ));
        assert_eq!(fit_window(None, &info(7.5)).unwrap().end_secs, 7.5);
    }
}
