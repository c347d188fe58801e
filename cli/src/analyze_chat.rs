//! `hilite analyze-chat FILE [--plot OUT.png]`: seed 001's chat hype on a chat log, without any
//! backend — the moments chat reacted to, highest hype first, and with `--plot` the hype
//! timeline with the moments shaded (the picture seed 001's users looked at). The algorithm is
//! `hilite::analysis::chat`, with its default settings; this module only reads, prints and
//! draws.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use hilite::analysis::chat::{analyze, ChatHype, ChatHypeConfig};
use hilite::analysis::chat_log::parse_log;
use plotters::prelude::*;

use crate::output::table;

#[derive(Debug, Args)]
pub struct AnalyzeChatArgs {
    /// A chat log: JSON lines (`{"offset_secs": 12.5, "text": "KEKW"}`) or plain
    /// `[hh:mm:ss] user: text` lines.
    pub file: PathBuf,
    /// Also draw the hype timeline as a PNG: the signal in blue, the peak threshold in red,
    /// the moments shaded, a grey line every ten minutes.
    #[arg(long, value_name = "OUT.png")]
    pub plot: Option<PathBuf>,
}

/// Analyse the log and return what to print.
pub fn run(args: AnalyzeChatArgs) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let messages =
        parse_log(&text).with_context(|| format!("{} is not a chat log", args.file.display()))?;
    let hype = analyze(&messages, &ChatHypeConfig::default())?;
    let rows: Vec<Vec<String>> = hype
        .moments
        .iter()
        .enumerate()
        .map(|(i, m)| {
            vec![
                (i + 1).to_string(),
                clock(m.start_secs),
                clock(m.peak_secs),
                clock(m.end_secs),
                format!("{:.0}", m.duration_secs()),
                format!("{:.0}", m.hype),
                format!("{:.1}", m.intensity),
            ]
        })
        .collect();
    let mut out = format!(
        "{} messages, {} moments\n",
        hype.messages,
        hype.moments.len()
    );
    if !rows.is_empty() {
        out += &table(&["#", "START", "PEAK", "END", "SECS", "HYPE", "STD"], &rows);
    }
    if let Some(path) = &args.plot {
        plot(&hype, path).with_context(|| format!("cannot draw {}", path.display()))?;
        out += &format!("timeline drawn to {}\n", path.display());
    }
    Ok(out)
}

/// h:mm:ss
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The timeline without any text, so no font library is needed: the numbers are printed.
fn plot(hype: &ChatHype, path: &Path) -> anyhow::Result<()> {
    let draw_err = |e: DrawingAreaErrorKind<_>| anyhow::anyhow!("{e}");
    let start = hype.origin_secs;
    let end = hype
        .time_of(hype.signal.len().saturating_sub(1))
        .max(start + 1.0);
    let top = hype
        .signal
        .iter()
        .copied()
        .fold(hype.threshold, f64::max)
        .max(1.0)
        * 1.05;
    let root = BitMapBackend::new(path, (1600, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .build_cartesian_2d(start..end, 0.0..top)
        .map_err(draw_err)?;
    let ten_minutes = (0..)
        .map(|k| (start / 600.0).ceil() * 600.0 + 600.0 * f64::from(k))
        .take_while(|t| *t <= end);
    chart
        .draw_series(
            ten_minutes
                .map(|t| PathElement::new(vec![(t, 0.0), (t, top)], RGBColor(220, 220, 220))),
        )
        .map_err(draw_err)?;
    chart
        .draw_series(hype.moments.iter().map(|m| {
            Rectangle::new(
                [(m.start_secs, 0.0), (m.end_secs, top)],
                RGBColor(255, 170, 0).mix(0.35).filled(),
            )
        }))
        .map_err(draw_err)?;
    let signal = hype
        .signal
        .iter()
        .enumerate()
        .map(|(i, v)| (hype.time_of(i), *v));
    chart
        .draw_series(LineSeries::new(signal, &BLUE))
        .map_err(draw_err)?;
    chart
        .draw_series(LineSeries::new(
            [(start, hype.threshold), (end, hype.threshold)],
            &RED,
        ))
        .map_err(draw_err)?;
    root.present().map_err(draw_err)?;
    Ok(())
}
