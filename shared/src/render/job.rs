//! The render job: probe the source; then, side by side, (a) transcribe the window's speech,
//! write the captions and encode the picture with its layout and the captions burned, and (b)
//! normalise the window's loudness and encode the sound; then mux the two, take the
//! thumbnail, and write the report. Everything goes to one output folder; the caller decides
//! where the files are kept.
//!
//! Why two branches: the picture's encode is nearly all of the job's time, and the sound
//! needs nothing from it, so the loudness passes cost no time when they run beside it.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::bitrate::VideoRate;
use super::captions::{build_captions, to_ass, to_srt, LineRules};
use super::encode::{self, EncodePlan, Encoder};
use super::layout::{Burn, Layout, Rate, HEIGHT, WIDTH};
use super::loudness::{self, Loudness, Normalised};
use super::probe::{probe, MediaInfo};
use super::settings::{LayoutKind, RenderConfig, SplitRegions};
use super::transcribe::{Transcriber, Transcript};
use super::{Cut, RenderError};
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
    /// How many parts the picture's encode was cut into (`parts::part_count`).
    #[serde(default = "one")]
    pub encode_parts: usize,
    /// How the picture's bit rate was held, and its busiest second.
    pub video_rate: VideoRate,
    pub layout: String,
    pub transcriber: String,
    pub source: MediaInfo,
    pub window: Window,
    pub output_fps: f64,
    /// Milliseconds per step, by step name. `sound` runs beside `transcribe`, `captions` and
    /// `encode` (`transcribe_encode_and_sound` is the two branches together), `thumbnail`
    /// beside `mux`.
    pub timings_ms: BTreeMap<String, u64>,
    /// The first loudness pass on the window and how the sound was normalised.
    pub sound: Normalised,
    /// The short's sound as `ebur128` reads it: the AAC track the mux copied.
    pub output_loudness: Loudness,
    pub captions: usize,
    pub transcript: Transcript,
}

fn one() -> usize {
    1
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
    let work = crate::scratch::folder("hilite-render-")
        .map_err(|e| RenderError::io(Path::new("temporary folder"), e))?;
    let timings = Mutex::new(BTreeMap::new());

    let info = timed(&timings, "probe", probe(&input.source, step)).await?;
    let window = fit_window(input.window, &info)?;
    let cut = Cut {
        source: &input.source,
        start: window.start_secs,
        duration: window.duration_secs(),
    };
    let paths = Outputs::new(out_dir);
    let (out_fps, rate) = frame_rate(info.fps, cfg.max_fps);
    let layout = Layout::choose(input.layout, input.split, &info, input.source_is_portrait);

    // The sound (loudness passes, AAC) needs nothing from the picture: it runs beside the
    // transcription and the encode, off the path that decides how long the job takes.
    let sound = timed(&timings, "sound", async {
        let aac = work.path().join("sound.m4a");
        let normalised = loudness::normalise(cut, cfg, &aac, step).await?;
        // The mux copies this track as it is: its loudness is the short's.
        let delivered = normalised.result;
        Ok((normalised, aac, delivered))
    });
    let picture = async {
        let wav = work.path().join("speech.wav");
        let transcript = timed(&timings, "transcribe", async {
            encode::extract_speech(cut, &wav, step).await?;
            Ok(transcriber
                .transcribe(&wav, input.language.as_deref())
                .await?)
        })
        .await?;

        let started = Instant::now();
        let rules = LineRules::for_style(style, &cfg.safe_area, WIDTH);
        let words: Vec<_> = transcript
            .words
            .iter()
            .filter(|w| w.start < cut.duration)
            .cloned()
            .collect();
        let captions = build_captions(&words, &rules);
        write(&paths.srt, to_srt(&captions)).await?;
        let ass_text = to_ass(&captions, style, &cfg.safe_area, (WIDTH, HEIGHT), &rules);
        write(&paths.ass, ass_text.clone()).await?;
        // libass reads a private copy in the work folder, whose path is always filter-safe.
        let ass_work = work.path().join(ASS);
        write(&ass_work, ass_text).await?;
        record(&timings, "captions", started);

        let encoder = encode::choose_encoder(cfg.encoder, step).await?;
        let shrink = encode::choose_shrink(step).await;
        let burn = Burn {
            ass: &ass_work,
            fonts_dir: &cfg.fonts_dir,
        };
        let plan = EncodePlan {
            cut,
            layout: &layout,
            shrink,
            rate,
            burn: (!captions.is_empty()).then_some(&burn),
            out_fps,
            encoder,
            dir: work.path(),
        };
        let (picture, video_rate) =
            timed(&timings, "encode", encode::encode(&plan, cfg, step)).await?;
        Ok::<_, RenderError>((transcript, captions.len(), encoder, picture, video_rate))
    };
    // The first error ends both branches: dropping a step kills its ffmpeg.
    let started = Instant::now();
    let ((normalised, aac, output_loudness), (transcript, captions, encoder, picture, video_rate)) =
        tokio::try_join!(sound, picture)?;
    record(&timings, "transcribe_encode_and_sound", started);

    // Muxed in the work folder and copied into place, so a half-written short never sits at
    // the output path; the thumbnail comes from the encoded picture meanwhile.
    let short_work = work.path().join(SHORT);
    let at = input
        .peak_secs
        .unwrap_or(cut.duration / 2.0)
        .clamp(0.0, (cut.duration - 0.1).max(0.0));
    tokio::try_join!(
        timed(
            &timings,
            "mux",
            encode::mux(&picture, &aac, &short_work, step)
        ),
        timed(
            &timings,
            "thumbnail",
            encode::thumbnail(&picture, at, &paths.thumbnail, step)
        )
    )?;
    tokio::fs::copy(&short_work, &paths.short)
        .await
        .map_err(|e| RenderError::io(&paths.short, e))?;
    let timings = timings.into_inner().unwrap_or_else(|e| e.into_inner());

    let report = RenderReport {
        encoder,
        encode_parts: picture.parts(),
        video_rate,
        layout: layout.name().into(),
        transcriber: transcriber.name().into(),
        source: info,
        window,
        output_fps: out_fps,
        timings_ms: timings,
        sound: normalised,
        output_loudness,
        captions,
        transcript,
    };
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| RenderError::Settings(format!("report: {e}")))?;
    write(&paths.report_file, json).await?;
    tracing::info!(
        encoder = encoder.ffmpeg_name(),
        layout = layout.name(),
        lufs = output_loudness.integrated_lufs,
        peak_kbps = video_rate.peak_kbps,
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

/// Run one step and note how long it took under `name`.
async fn timed<T>(
    timings: &Mutex<BTreeMap<String, u64>>,
    name: &str,
    step: impl Future<Output = Result<T, RenderError>>,
) -> Result<T, RenderError> {
    let started = Instant::now();
    let out = step.await;
    record(timings, name, started);
    out
}

fn record(timings: &Mutex<BTreeMap<String, u64>>, name: &str, started: Instant) {
    let ms = started.elapsed().as_millis() as u64;
    // A poisoned lock only means another step panicked; its timings are still good.
    let mut map = timings.lock().unwrap_or_else(|e| e.into_inner());
    map.insert(name.to_string(), ms);
}

/// TikTok and Instagram Reels refuse a video under 23 fps
/// (<https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide>,
/// <https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media#reel-specifications>:
/// 23–60 fps).
const MIN_FPS: f64 = 23.0;
/// A source under [`MIN_FPS`] is raised to this rate, repeating frames: a common rate every
/// platform takes, and for a 15 fps source each frame shown exactly twice.
const RAISED_FPS: u32 = 30;

/// The short's frame rate and what the graph does to reach it: the source's when the
/// platforms take it, raised to [`RAISED_FPS`] under [`MIN_FPS`], capped at `max_fps`.
fn frame_rate(source_fps: f64, max_fps: u32) -> (f64, Rate) {
    if source_fps > f64::from(max_fps) + 0.01 {
        (f64::from(max_fps), Rate::Cap(max_fps))
    } else if source_fps < MIN_FPS - 0.01 {
        let raised = RAISED_FPS.min(max_fps);
        (f64::from(raised), Rate::Raise(raised))
    } else {
        (source_fps, Rate::Keep)
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

    #[test]
    fn a_slow_source_is_raised_to_30_fps_and_a_fast_one_capped() {
        assert_eq!(frame_rate(15.0, 60), (30.0, Rate::Raise(30)));
        assert_eq!(frame_rate(10.0, 25), (25.0, Rate::Raise(25)));
        assert_eq!(frame_rate(120.0, 60), (60.0, Rate::Cap(60)));
        for fps in [23.0, 29.97, 60.0] {
            assert_eq!(frame_rate(fps, 60), (fps, Rate::Keep));
        }
    }
}
