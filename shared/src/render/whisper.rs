//! whisper.cpp in-process through `whisper-rs` (cargo feature `whisper`; `cuda` for the GPU
//! image). The model is loaded once; each transcription runs on a blocking thread with its own
//! state. Word times come from whisper.cpp's token timestamps with one word per segment
//! (`max_len = 1`, `split_on_word`), the same as `whisper-cli -ml 1 -sow`. Tested on a
//! model generated at test time (`whisper_tests.rs`; `make test` runs them with the feature).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use super::captions::Word;
use super::transcribe::{TranscribeError, Transcriber, Transcript};

pub struct WhisperTranscriber {
    ctx: Arc<WhisperContext>,
}

impl WhisperTranscriber {
    /// Load a ggml model file (start-up: a missing or bad model is a setup error).
    pub fn load(model: &Path) -> Result<Self, TranscribeError> {
        if !model.is_file() {
            return Err(TranscribeError::Setup(format!(
                "whisper model {} not found; download a ggml model there or set transcribe.model_path",
                model.display()
            )));
        }
        // whisper.cpp prints to stderr unless hooked: its lines go to `tracing` instead.
        whisper_rs::install_logging_hooks();
        let ctx = WhisperContext::new_with_params(model, WhisperContextParameters::default())
            .map_err(|e| {
                TranscribeError::Setup(format!(
                    "cannot load whisper model {}: {e}",
                    model.display()
                ))
            })?;
        Ok(Self { ctx: Arc::new(ctx) })
    }
}

#[async_trait]
impl Transcriber for WhisperTranscriber {
    fn name(&self) -> &'static str {
        "whisper"
    }

    async fn transcribe(
        &self,
        wav: &Path,
        language: Option<&str>,
    ) -> Result<Transcript, TranscribeError> {
        let bytes = tokio::fs::read(wav)
            .await
            .map_err(|e| TranscribeError::Audio {
                path: wav.display().to_string(),
                message: e.to_string(),
            })?;
        let samples = pcm16_samples(&bytes).ok_or_else(|| TranscribeError::Audio {
            path: wav.display().to_string(),
            message: "not a 16-bit PCM WAV file".into(),
        })?;
        let ctx = self.ctx.clone();
        let language = language.map(str::to_string);
        tokio::task::spawn_blocking(move || run(&ctx, &samples, language.as_deref()))
            .await
            .map_err(|e| TranscribeError::Setup(format!("the whisper thread stopped: {e}")))?
    }
}

fn run(
    ctx: &WhisperContext,
    samples: &[f32],
    language: Option<&str>,
) -> Result<Transcript, TranscribeError> {
    let fail = |e: whisper_rs::WhisperError| TranscribeError::BadAnswer(format!("whisper: {e}"));
    let mut state = ctx.create_state().map_err(fail)?;
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    let language = language_for(ctx.is_multilingual(), language)?;
    params.set_language(Some(language));
    params.set_token_timestamps(true);
    params.set_max_len(1);
    params.set_split_on_word(true);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    params.set_n_threads(threads as i32);
    state.full(params, samples).map_err(fail)?;
    let mut words = Vec::new();
    for i in 0..state.full_n_segments() {
        let Some(seg) = state.get_segment(i) else {
            continue;
        };
        let text = seg.to_str_lossy().map_err(fail)?.trim().to_string();
        if text.is_empty() {
            continue;
        }
        words.push(Word {
            text,
            start: seg.start_timestamp() as f64 / 100.0,
            end: seg.end_timestamp() as f64 / 100.0,
        });
    }
    let language = whisper_rs::get_lang_str(state.full_lang_id_from_state()).map(str::to_string);
    let text = words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Transcript {
        language,
        text,
        words,
    })
}

/// The language whisper is told. An English-only model (`*.en`) detects no language: asked
/// to, whisper.cpp reports a random one. So it is told English, and a clip forced to another
/// language is refused, as that model cannot write it.
fn language_for(multilingual: bool, asked: Option<&str>) -> Result<&str, TranscribeError> {
    match (multilingual, asked) {
        (true, asked) => Ok(asked.unwrap_or("auto")),
        (false, None | Some("en")) => Ok("en"),
        (false, Some(other)) => Err(TranscribeError::Setup(format!(
            "the whisper model is English-only but language \"{other}\" is asked; \
             use a multilingual model (e.g. ggml-base.bin) for it"
        ))),
    }
}

/// The samples of the 16-bit PCM WAV the job writes, as floats. Hand-written because the file
/// is always ffmpeg's plain RIFF layout, which a dozen lines read: find the `data` chunk.
fn pcm16_samples(bytes: &[u8]) -> Option<Vec<f32>> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if id == b"data" {
            let end = body.checked_add(len)?.min(bytes.len());
            let pcm = &bytes[body..end];
            return Some(
                pcm.chunks_exact(2)
                    .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
                    .collect(),
            );
        }
        at = body.checked_add(len + (len & 1))?;
    }
    None
}

#[cfg(test)]
#[path = "whisper_tests.rs"]
mod tests;
