//! `hilite process FILE|CLIP_ID`: render one input into a short and write the outputs to a
//! folder, the quickest way to try HiLite. A path renders that file (all of it, or the
//! `--start`/`--end` window); a clip id renders a recorded clip's source with the window the
//! analyze stage chose. Nothing in the state store changes: the edit stage does that.
//! Choosing the window of a file with the analyze stage is not wired here yet.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
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
    /// Start of the window in seconds (files only).
    #[arg(long)]
    pub start: Option<f64>,
    /// End of the window in seconds (files only).
    #[arg(long)]
    pub end: Option<f64>,
}

/// Render and return the lines to print.
pub async fn process(config: &Config, ports: &Ports, args: ProcessArgs) -> anyhow::Result<String> {
    let transcriber = transcribe::from_config(&config.transcribe)
        .context("cannot build the transcriber ([transcribe])")?;
    let work = tempfile_dir()?;
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
    if path.is_file() {
        if args.start.is_some() || args.end.is_some() {
            let start = args.start.unwrap_or(0.0);
            input.window = Some(Window {
                start_secs: start,
                end_secs: args.end.unwrap_or(f64::MAX),
            });
        }
    } else {
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
        input.source = work.join("source.mp4");
        ports.media.get_to_file(&key, &input.source).await?;
        input.window = clip.window;
        input.source_is_portrait = clip.media.source_is_portrait;
    }
    if let Some(w) = input.window.as_mut() {
        // An open end is cut to the source's end by the job.
        if w.end_secs == f64::MAX {
            w.end_secs =
                hilite::render::probe::probe(&input.source, std::time::Duration::from_secs(60))
                    .await?
                    .duration_secs;
        }
    }
    let out = render(&input, &config.render, &*transcriber, &args.out).await?;
    let _ = std::fs::remove_dir_all(&work);
    let r = &out.report;
    let timings: Vec<String> = r
        .timings_ms
        .iter()
        .map(|(k, v)| format!("{k} {v} ms"))
        .collect();
    Ok(format!(
        "short      {}\ncaptions   {} ({} captions)\nthumbnail  {}\nreport     {}\nencoder    {}  layout {}  loudness {:.1} LUFS / {:.1} dBTP\ntimings    {}\n",
        out.short.display(),
        out.srt.display(),
        r.captions,
        out.thumbnail.display(),
        out.report_file.display(),
        r.encoder.ffmpeg_name(),
        r.layout,
        r.output_loudness.integrated_lufs,
        r.output_loudness.true_peak_dbtp,
        timings.join(", ")
    ))
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hilite-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
