//! `hilite process FILE|CLIP_ID`: analyze and render one input and write the outputs to a
//! folder, the quickest way to try HiLite. A path is analysed like the analyze stage does it
//! (its audio measured, the window around the sound chosen, the loudest moment kept for the
//! thumbnail) unless `--start`/`--end` set the window, then rendered. A clip id renders a
//! recorded clip's source with the window the analyze stage chose, analysing it here when it
//! has none yet. Nothing in the state store changes: the pipeline's stages do that.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use hilite::analysis::audio;
use hilite::analysis::window::{best_window, WindowRefusal};
use hilite::analysis::AnalysisConfig;
use hilite::backend::Ports;
use hilite::config::Config;
use hilite::domain::{ClipId, Window};
use hilite::render::{render, transcribe, LayoutKind, RenderInput};

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// A video file, or the id of a recorded clip.
    #[arg(value_name = "FILE|CLIP_ID")]
    pub input: String,
    /// blur, crop or split (default: render.layout).
    #[arg(long)]
    pub layout: Option<LayoutKind>,
    /// Where the short, its captions, thumbnail and report are written.
    #[arg(long, value_name = "DIR", default_value = "./hilite-out")]
    pub out: PathBuf,
    /// Start of the window in seconds (files only; skips the analysis).
    #[arg(long)]
    pub start: Option<f64>,
    /// End of the window in seconds (files only; skips the analysis).
    #[arg(long)]
    pub end: Option<f64>,
}

/// What the analysis chose for a source.
struct Chosen {
    window: Window,
    /// The loudest moment, in seconds into the window.
    peak_secs: Option<f64>,
    how: String,
}

/// Analyze, render, and return the lines to print.
pub async fn process(config: &Config, ports: &Ports, args: ProcessArgs) -> anyhow::Result<String> {
    let transcriber = transcribe::from_config(&config.transcribe)
        .context("cannot build the transcriber ([transcribe])")?;
    let work =
        hilite::scratch::folder("hilite-process-").context("cannot create a temporary folder")?;
    let path = Path::new(&args.input);
    let mut input = RenderInput {
        source: path.to_path_buf(),
        window: None,
        layout: args.layout.unwrap_or(config.render.layout),
        split: config.render.split,
        source_is_portrait: false,
        language: Some(config.transcribe.language.clone()).filter(|l| !l.is_empty()),
        peak_secs: None,
    };
    let how;
    if path.is_file() {
        if args.start.is_some() || args.end.is_some() {
            let start = args.start.unwrap_or(0.0);
            let end = match args.end {
                Some(end) => end,
                // An open end is the source's end.
                None => {
                    hilite::render::probe::probe(path, std::time::Duration::from_secs(60))
                        .await?
                        .duration_secs
                }
            };
            input.window = Some(Window {
                start_secs: start,
                end_secs: end,
            });
            how = "window    set by --start/--end".to_string();
        } else {
            let chosen = choose(path, &config.analysis).await?;
            input.window = Some(chosen.window);
            input.peak_secs = chosen.peak_secs;
            how = chosen.how;
        }
    } else {
        if args.start.is_some() || args.end.is_some() {
            bail!("--start and --end apply to files; a clip uses the window its analysis chose");
        }
        let Ok(id) = ClipId::parse(args.input.clone()) else {
            bail!("{} is neither a file nor a clip id", args.input);
        };
        let clip = ports
            .store
            .get_clip(&id)
            .await?
            .with_context(|| format!("no file and no clip named {}", args.input))?;
        let key =
            clip.media.source.clone().with_context(|| {
                format!("clip {id} has no source media (status {})", clip.status)
            })?;
        input.source = work.path().join("source.mp4");
        ports.media.get_to_file(&key, &input.source).await?;
        input.source_is_portrait = clip.media.source_is_portrait;
        match clip.window {
            Some(w) => {
                input.window = Some(w);
                how = format!("window    {} (the analyze stage's)", span(&w));
            }
            None => {
                let chosen = choose(&input.source, &config.analysis).await?;
                input.window = Some(chosen.window);
                input.peak_secs = chosen.peak_secs;
                how = chosen.how;
            }
        }
    }
    let out = render(&input, &config.render, &*transcriber, &args.out).await?;
    let r = &out.report;
    let timings: Vec<String> = r
        .timings_ms
        .iter()
        .map(|(k, v)| format!("{k} {v} ms"))
        .collect();
    Ok(format!(
        "{how}\nshort     {}\ncaptions  {} ({} captions)\nthumbnail {}\nreport    {}\nencoder   {} ({}, busiest second {:.1} Mb/s)  layout {}  loudness {:.1} LUFS / {:.1} dBTP\ntimings   {}\n",
        out.short.display(),
        out.srt.display(),
        r.captions,
        out.thumbnail.display(),
        out.report_file.display(),
        r.encoder.ffmpeg_name(),
        r.video_rate.rate_control.name(),
        f64::from(r.video_rate.peak_kbps) / 1000.0,
        r.layout,
        r.output_loudness.integrated_lufs,
        r.output_loudness.true_peak_dbtp,
        timings.join(", ")
    ))
}

/// The analyze stage's measurement and window choice (`analysis::audio`, `analysis::window`)
/// on a local file. A source shorter than the shortest window is rendered whole; a silent one
/// is refused, as the stage skips it.
async fn choose(path: &Path, cfg: &AnalysisConfig) -> anyhow::Result<Chosen> {
    let file = path.to_path_buf();
    let audio_cfg = cfg.audio.clone();
    let signals = tokio::task::spawn_blocking(move || audio::analyze_file(&file, &audio_cfg))
        .await
        .context("the audio analysis did not finish")?
        .with_context(|| {
            format!(
                "cannot analyse {}; pass --start and --end to render it without analysis",
                path.display()
            )
        })?;
    if signals.is_silent() || signals.sound_ratio < cfg.min_sound_ratio {
        bail!(
            "{} is silent: the analysis finds no sound to cut around (pass --start and --end to render it anyway)",
            path.display()
        );
    }
    let (window, note) = match best_window(&signals.series(), signals.duration_secs, &cfg.window) {
        Ok(w) => (w, "chosen by the analysis".to_string()),
        Err(WindowRefusal::TooShort { min_secs, .. }) => (
            Window {
                start_secs: 0.0,
                end_secs: signals.duration_secs,
            },
            format!("all of it: shorter than the {min_secs:.0} s shortest window"),
        ),
    };
    let peak = signals
        .peaks
        .first()
        .map(|p| p.at_secs)
        .filter(|&t| t >= window.start_secs && t <= window.end_secs);
    let how = match peak {
        Some(t) => format!(
            "window    {} {note}; loudest at {t:.1} s ({:.1} LUFS)",
            span(&window),
            signals.max_momentary_lufs
        ),
        None => format!("window    {} {note}", span(&window)),
    };
    Ok(Chosen {
        window,
        peak_secs: peak.map(|t| t - window.start_secs),
        how,
    })
}

fn span(w: &Window) -> String {
    format!("{:.1}–{:.1} s", w.start_secs, w.end_secs)
}
