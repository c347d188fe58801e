//! The render job: one clip's source and window in, a 1080×1920 short with word-timed captions
//! out, beside its SRT and ASS files, a thumbnail and a report. ffprobe and ffmpeg do the media
//! work as child processes (`tokio::process`, with a timeout on every step); a `Transcriber`
//! gives the words. This module knows files on the local disk only: fetching the source from
//! the media store and recording the outcome on the clip is the edit stage's work
//! (`pipeline::edit`).

pub mod bitrate;
pub mod captions;
pub mod encode;
pub mod job;
pub mod layout;
pub mod loudness;
pub mod parts;
pub mod probe;
pub mod settings;
pub mod transcribe;
#[cfg(feature = "whisper")]
pub mod whisper;

use std::process::Output;
use std::time::Duration;

pub use job::{render, RenderInput, RenderOutputs, RenderReport};
pub use settings::{LayoutKind, RenderConfig, TranscribeConfig};
pub use transcribe::{TranscribeError, Transcriber, Transcript};

/// How the render job failed. [`RenderError::is_permanent`] says whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0} is not installed or not on PATH; install ffmpeg (`make setup`)")]
    ToolMissing(&'static str),
    #[error("the source is not a readable video file: {0}")]
    Corrupt(String),
    #[error("the source has no video stream: it is not a video")]
    NoVideo,
    #[error("the source has no audio stream; a short needs the clip's sound (captions, loudness)")]
    NoAudio,
    #[error("the window {start:.2}–{end:.2} s does not fit the source's {duration:.2} s")]
    BadWindow { start: f64, end: f64, duration: f64 },
    #[error("ffmpeg failed while {step}: {detail}")]
    Ffmpeg { step: &'static str, detail: String },
    #[error("{step} took longer than {secs} s (render.step_timeout_secs)")]
    Timeout { step: &'static str, secs: u64 },
    #[error("transcription failed: {0}")]
    Transcribe(#[from] TranscribeError),
    #[error("render.encoder = \"nvenc\" but NVENC cannot encode here: {0}")]
    EncoderUnavailable(String),
    #[error("local file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("render settings: {0}")]
    Settings(String),
}

impl RenderError {
    /// A source that is not a video with sound, or a window outside it, never renders; the
    /// rest (a tool missing, a transcription server down, a timeout) may on a later try.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Corrupt(_)
            | Self::NoVideo
            | Self::NoAudio
            | Self::BadWindow { .. }
            | Self::Settings(_) => true,
            Self::Transcribe(e) => e.is_permanent(),
            _ => false,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Run `program` with `args` to completion within `timeout`, capturing its output. A non-zero
/// exit is returned as output, not as an error: each caller knows what it means.
pub(crate) async fn run_tool(
    program: &'static str,
    args: &[String],
    step: &'static str,
    timeout: Duration,
) -> Result<Output, RenderError> {
    tracing::debug!(program, step, args = ?args, "running");
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, child).await {
        Err(_) => Err(RenderError::Timeout {
            step,
            secs: timeout.as_secs(),
        }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(RenderError::ToolMissing(program))
        }
        Ok(Err(e)) => Err(RenderError::Ffmpeg {
            step,
            detail: format!("cannot start {program}: {e}"),
        }),
        Ok(Ok(out)) => Ok(out),
    }
}

/// The last lines of a tool's stderr: enough to see why it failed, never the whole log.
pub(crate) fn stderr_tail(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

/// Run ffmpeg and fail with its stderr's tail when it exits non-zero.
pub(crate) async fn ffmpeg(
    args: &[String],
    step: &'static str,
    timeout: Duration,
) -> Result<Output, RenderError> {
    let mut full = vec!["-hide_banner".to_string(), "-nostdin".into(), "-y".into()];
    full.extend_from_slice(args);
    let out = run_tool("ffmpeg", &full, step, timeout).await?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(RenderError::Ffmpeg {
            step,
            detail: stderr_tail(&out),
        })
    }
}

/// Seconds as ffmpeg reads them, to the millisecond.
pub(crate) fn secs(v: f64) -> String {
    format!("{v:.3}")
}

/// The milliseconds ffmpeg reads in [`secs`]`(v)`: the same rounding, so that times computed
/// in milliseconds and times written with `secs` agree to the millisecond.
pub(crate) fn millis(v: f64) -> i64 {
    let written: f64 = secs(v).parse().unwrap_or(v);
    (written * 1000.0).round() as i64
}

/// Milliseconds as ffmpeg reads seconds, exactly.
pub(crate) fn ms_secs(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    format!("{sign}{}.{:03}", ms.abs() / 1000, ms.abs() % 1000)
}

/// ffmpeg arguments from string literals.
pub(crate) fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The part of a source a render reads. Every pass over the source (speech, loudness, the
/// picture) opens it through [`Cut::input`], so they all read the same samples and frames.
#[derive(Debug, Clone, Copy)]
pub struct Cut<'a> {
    pub source: &'a std::path::Path,
    pub start: f64,
    pub duration: f64,
}

impl Cut<'_> {
    /// `-ss START -t DURATION -i SOURCE`: an input seeked to the window and cut to its length.
    pub(crate) fn input(&self) -> Vec<String> {
        vec![
            "-ss".into(),
            secs(self.start),
            "-t".into(),
            secs(self.duration),
            "-i".into(),
            self.source.display().to_string(),
        ]
    }
}
