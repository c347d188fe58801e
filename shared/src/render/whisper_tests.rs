//! whisper.cpp for real, on a model file written at test time and speech from espeak-ng.
//!
//! The model is a valid ggml whisper file (the layout `whisper_model_load` in whisper.cpp
//! reads: magic, eleven i32 hyper-parameters, the mel filters, the vocabulary, then named f16
//! or f32 tensors) with tiny dimensions. Its weights are random where they cannot change the
//! output and set where they must, so the decoder says a known sequence: each decoder block's
//! output projections are zero, which makes the block an identity, and the final layer norm
//! then sees the positional embedding, which points at the token wanted at each position. That
//! makes the answer checkable in CI without a real model (75 MB at least, and a network).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::WhisperTranscriber;
use crate::render::transcribe::{self, TranscribeError, Transcriber};
use crate::render::{settings::TranscribeBackend, TranscribeConfig};

// Hyper-parameters. `n_audio_ctx` stays at whisper's 1500 frames per 30 s window: whisper.cpp
// derives the timestamp precision (20 ms) from it. The vocabulary size is the multilingual one,
// which fixes the special token ids below (whisper.cpp's `whisper_vocab`).
const N_VOCAB: i32 = 51865;
const N_AUDIO_CTX: i32 = 1500;
const N_STATE: i32 = 16;
const N_HEAD: i32 = 2;
const N_LAYER: i32 = 1;
const N_TEXT_CTX: i32 = 448;
const N_MELS: i32 = 80;
const N_FFT: i32 = 201;
/// Text tokens written in the vocabulary (GPT-2's 50257); whisper.cpp names the rest itself.
const N_TEXT_TOKENS: i32 = 50257;

const EOT: i32 = 50257;
const LANG_EN: i32 = 50259;
/// `<|0.00|>`; timestamp k is `BEG + k`, in steps of 20 ms.
const BEG: i32 = 50364;
/// The words the model says, as GPT-2 style tokens with their leading space.
const WORDS: [(i32, &str); 3] = [(1000, " hey"), (1001, " there"), (1002, " friend")];
/// The segment ends at `<|1.00|>`, so each window moves on by one second.
const SEGMENT_END: i32 = BEG + 50;

/// What the decoder says at each position: the language at 0 (detection runs on `<|sot|>`
/// alone), then, after the prompt `<|sot|><|en|><|transcribe|>`, the sequence
/// `<|0.00|> hey there friend <|1.00|> <|eot|>`.
fn wanted_at(position: i32) -> Option<i32> {
    match position {
        0 => Some(LANG_EN),
        1 => None,
        2 => Some(BEG),
        3..=5 => Some(WORDS[(position - 3) as usize].0),
        6 => Some(SEGMENT_END),
        _ => Some(EOT),
    }
}

/// The embedding dimension a token owns (one-hot), for the tokens the model ever says.
fn dim_of(token: i32) -> Option<usize> {
    let said = [
        LANG_EN,
        BEG,
        WORDS[0].0,
        WORDS[1].0,
        WORDS[2].0,
        SEGMENT_END,
        EOT,
    ];
    said.iter().position(|&t| t == token)
}

/// A small deterministic generator for the weights that do not matter (no crate for a dozen
/// lines of xorshift).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    }
    fn fill(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// IEEE half precision by truncation, values too small for a normal half flushed to zero: enough
/// for fixture weights, and not worth a crate.
fn f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    assert!(exp < 31, "{x} does not fit an f16");
    sign | ((exp as u16) << 10) | ((bits & 0x7f_ffff) >> 13) as u16
}

struct ModelWriter {
    out: std::io::BufWriter<std::fs::File>,
}

impl ModelWriter {
    fn i32(&mut self, v: i32) {
        self.out.write_all(&v.to_le_bytes()).unwrap();
    }
    fn f32s(&mut self, v: &[f32]) {
        for x in v {
            self.out.write_all(&x.to_le_bytes()).unwrap();
        }
    }
    /// An f32 tensor (biases, norms, positional embeddings).
    fn tensor(&mut self, name: &str, dims: &[i32], data: &[f32]) {
        self.header(name, dims, data.len(), 0);
        self.f32s(data);
    }
    /// An f16 tensor: the weight matrices and convolutions of a model whose ftype is 1
    /// (whisper.cpp's CPU convolution takes f16 kernels only).
    fn matrix(&mut self, name: &str, dims: &[i32], data: &[f32]) {
        self.header(name, dims, data.len(), 1);
        for &x in data {
            self.out.write_all(&f16_bits(x).to_le_bytes()).unwrap();
        }
    }
    /// Tensor header: dims, name length, type (0 = f32, 1 = f16), the dims innermost first,
    /// the name.
    fn header(&mut self, name: &str, dims: &[i32], len: usize, ttype: i32) {
        assert_eq!(dims.iter().product::<i32>() as usize, len, "{name}");
        self.i32(dims.len() as i32);
        self.i32(name.len() as i32);
        self.i32(ttype);
        for &d in dims {
            self.i32(d);
        }
        self.out.write_all(name.as_bytes()).unwrap();
    }
}

/// Write the model; returns its path.
fn write_model(dir: &Path) -> PathBuf {
    let path = dir.join("ggml-test.bin");
    let mut w = ModelWriter {
        out: std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
    };
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let s = N_STATE;
    let su = s as usize;
    // "ggml" magic, then the hyper-parameters in whisper.cpp's order; ftype 1 is f16 weight
    // matrices with f32 biases and norms, like the published models.
    w.i32(0x6767_6d6c);
    for v in [
        N_VOCAB,
        N_AUDIO_CTX,
        s,
        N_HEAD,
        N_LAYER,
        N_TEXT_CTX,
        s,
        N_HEAD,
        N_LAYER,
        N_MELS,
        1,
    ] {
        w.i32(v);
    }
    // Mel filters: n_mel, n_fft, then the matrix.
    w.i32(N_MELS);
    w.i32(N_FFT);
    w.f32s(&vec![0.01; (N_MELS * N_FFT) as usize]);
    // Vocabulary: a length-prefixed byte string per text token. " " must exist (whisper.cpp
    // suppresses it at the start of a segment).
    w.i32(N_TEXT_TOKENS);
    for id in 0..N_TEXT_TOKENS {
        let word = match (id, WORDS.iter().find(|(t, _)| *t == id)) {
            (_, Some((_, text))) => (*text).to_string(),
            (220, None) => " ".to_string(),
            _ => format!("t{id}"),
        };
        w.i32(word.len() as i32);
        w.out.write_all(word.as_bytes()).unwrap();
    }

    // Encoder: random; whatever it computes, the decoder below ignores it.
    w.tensor(
        "encoder.positional_embedding",
        &[s, N_AUDIO_CTX],
        &noise.fill(su * N_AUDIO_CTX as usize),
    );
    w.matrix(
        "encoder.conv1.weight",
        &[3, N_MELS, s],
        &noise.fill(3 * N_MELS as usize * su),
    );
    w.tensor("encoder.conv1.bias", &[1, s], &noise.fill(su));
    w.matrix("encoder.conv2.weight", &[3, s, s], &noise.fill(3 * su * su));
    w.tensor("encoder.conv2.bias", &[1, s], &noise.fill(su));
    w.tensor("encoder.ln_post.weight", &[s], &vec![1.0; su]);
    w.tensor("encoder.ln_post.bias", &[s], &vec![0.0; su]);
    block(&mut w, &mut noise, "encoder.blocks.0", false);

    // Decoder: positional embeddings pointing at the wanted tokens, the token embedding
    // (tied to the output projection) one-hot for the tokens it says, zero for the rest.
    let mut pe = vec![0.0; su * N_TEXT_CTX as usize];
    for p in 0..N_TEXT_CTX {
        if let Some(d) = wanted_at(p).and_then(dim_of) {
            pe[p as usize * su + d] = 40.0;
        }
    }
    w.tensor("decoder.positional_embedding", &[s, N_TEXT_CTX], &pe);
    let mut te = vec![0.0; su * N_VOCAB as usize];
    for t in 0..N_VOCAB {
        if let Some(d) = dim_of(t) {
            te[t as usize * su + d] = 8.0;
        }
    }
    w.matrix("decoder.token_embedding.weight", &[s, N_VOCAB], &te);
    w.tensor("decoder.ln.weight", &[s], &vec![1.0; su]);
    w.tensor("decoder.ln.bias", &[s], &vec![0.0; su]);
    block(&mut w, &mut noise, "decoder.blocks.0", true);
    w.out.flush().unwrap();
    path
}

/// One transformer block: random inputs to each sub-layer, zero output projections (and
/// biases), so the residual stream passes through unchanged.
fn block(w: &mut ModelWriter, noise: &mut Noise, prefix: &str, cross: bool) {
    let s = N_STATE;
    let su = s as usize;
    let mut attention = |w: &mut ModelWriter, a: &str| {
        w.tensor(&format!("{prefix}.{a}_ln.weight"), &[s], &vec![1.0; su]);
        w.tensor(&format!("{prefix}.{a}_ln.bias"), &[s], &vec![0.0; su]);
        for m in ["query", "key", "value"] {
            w.matrix(
                &format!("{prefix}.{a}.{m}.weight"),
                &[s, s],
                &noise.fill(su * su),
            );
        }
        w.tensor(&format!("{prefix}.{a}.query.bias"), &[s], &noise.fill(su));
        w.tensor(&format!("{prefix}.{a}.value.bias"), &[s], &noise.fill(su));
        w.matrix(
            &format!("{prefix}.{a}.out.weight"),
            &[s, s],
            &vec![0.0; su * su],
        );
        w.tensor(&format!("{prefix}.{a}.out.bias"), &[s], &vec![0.0; su]);
    };
    attention(w, "attn");
    if cross {
        attention(w, "cross_attn");
    }
    w.tensor(&format!("{prefix}.mlp_ln.weight"), &[s], &vec![1.0; su]);
    w.tensor(&format!("{prefix}.mlp_ln.bias"), &[s], &vec![0.0; su]);
    w.matrix(
        &format!("{prefix}.mlp.0.weight"),
        &[s, 4 * s],
        &noise.fill(4 * su * su),
    );
    w.tensor(
        &format!("{prefix}.mlp.0.bias"),
        &[4 * s],
        &noise.fill(4 * su),
    );
    w.matrix(
        &format!("{prefix}.mlp.2.weight"),
        &[4 * s, s],
        &vec![0.0; 4 * su * su],
    );
    w.tensor(&format!("{prefix}.mlp.2.bias"), &[s], &vec![0.0; su]);
}

/// espeak-ng speech as the render job hands it over: 16 kHz mono PCM WAV. Returns its path
/// and length in seconds.
fn speech_wav(dir: &Path) -> (PathBuf, f64) {
    speech_wav_saying(
        dir,
        "Hey there, my friend. That was a great play, wasn't it?",
    )
}

fn speech_wav_saying(dir: &Path, sentence: &str) -> (PathBuf, f64) {
    let raw = dir.join("said.wav");
    let ok = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&raw)
        .arg(sentence)
        .status()
        .expect("espeak-ng (make setup installs it)");
    assert!(ok.success());
    let wav = dir.join("speech16k.wav");
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&raw)
        .args(["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"])
        .arg(&wav)
        .status()
        .expect("ffmpeg (make setup installs it)");
    assert!(ok.success());
    // 44-byte RIFF header, two bytes per sample.
    let secs = (std::fs::metadata(&wav).unwrap().len() - 44) as f64 / 32000.0;
    (wav, secs)
}

fn setup_error(r: Result<WhisperTranscriber, TranscribeError>) -> String {
    match r {
        Err(e @ TranscribeError::Setup(_)) => {
            assert!(e.is_permanent());
            e.to_string()
        }
        Err(e) => panic!("expected a setup error, got {e}"),
        Ok(_) => panic!("expected a setup error, the model loaded"),
    }
}

#[tokio::test]
async fn a_generated_model_transcribes_speech_into_words_timed_inside_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let (wav, secs) = speech_wav(dir.path());
    assert!(secs > 2.0, "the speech fixture is {secs} s");
    let cfg = TranscribeConfig {
        backend: TranscribeBackend::Whisper,
        model_path: model,
        ..TranscribeConfig::default()
    };
    let whisper = transcribe::from_config(&cfg).expect("the generated model loads");
    assert_eq!(whisper.name(), "whisper");

    let t = whisper.transcribe(&wav, None).await.unwrap();
    assert_eq!(t.language.as_deref(), Some("en"), "detected language");
    // The model's one segment, `<|0.00|> hey there friend <|1.00|>`, split into words with
    // token-level times: in order, inside the segment, inside the audio. (A segment closed by a
    // single timestamp ends the 30 s window, so it is said once.)
    let said: Vec<&str> = t.words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(said, ["hey", "there", "friend"]);
    let mut last_end = 0.0;
    for w in &t.words {
        assert!(
            w.start >= 0.0 && w.start <= w.end && w.end <= 1.0 + 0.02 && w.end <= secs,
            "word times outside the segment (0–1 s) or the {secs} s audio: {:?}",
            t.words
        );
        assert!(w.start + 0.02 >= last_end, "words overlap: {:?}", t.words);
        last_end = w.end;
    }
    assert!(last_end > 0.0, "the words have no duration: {:?}", t.words);
    assert_eq!(t.text, said.join(" "));

    // A forced language is used as given.
    let forced = whisper.transcribe(&wav, Some("de")).await.unwrap();
    assert_eq!(forced.language.as_deref(), Some("de"));
}

/// whisper.cpp with a trained model: OpenAI's tiny.en, which `make test` makes with
/// `scripts/whisper-model.py` (from PyPI packages pinned by hash) and names in
/// `WHISPER_TEST_MODEL`. A plain `cargo test` has no such model and says so; under CI the
/// model must be there.
#[tokio::test]
async fn a_trained_model_writes_what_was_said_with_word_times() {
    let Some(model) = std::env::var_os("WHISPER_TEST_MODEL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "WHISPER_TEST_MODEL is unset: CI runs `make test`, which makes the model and sets it"
        );
        eprintln!("no trained model: WHISPER_TEST_MODEL is unset (`make test` sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (wav, secs) = speech_wav_saying(
        dir.path(),
        "HiLite turns the best moments of your stream into shorts, with captions timed to every word.",
    );
    let whisper = WhisperTranscriber::load(Path::new(&model)).expect("the model loads");
    let t = whisper.transcribe(&wav, None).await.unwrap();
    assert_eq!(t.language.as_deref(), Some("en"), "an English-only model");

    let norm = |w: &str| {
        w.chars()
            .filter(|c| c.is_alphanumeric() || *c == '\'')
            .collect::<String>()
            .to_lowercase()
    };
    let heard: Vec<String> = t.words.iter().map(|w| norm(&w.text)).collect();
    // The sentence's plain words (a tiny model hears "HiLite" as "Highlight", and may make
    // "moments" and "shorts" singular), found in order in what was heard, one slip allowed.
    let said = [
        "turns", "the", "best", "of", "your", "with", "captions", "timed", "to", "every", "word",
    ];
    let mut from = 0;
    let mut found = 0;
    for word in said {
        if let Some(i) = heard[from..].iter().position(|h| h == word) {
            found += 1;
            from += i + 1;
        }
    }
    assert!(found >= 10, "heard {heard:?} for {said:?}");
    let mut last_end = 0.0;
    for w in &t.words {
        assert!(
            w.start >= 0.0 && w.start <= w.end && w.end <= secs + 0.05,
            "a word outside the {secs:.2} s audio: {:?}",
            t.words
        );
        assert!(w.start + 0.02 >= last_end, "words overlap: {:?}", t.words);
        last_end = w.end;
    }
    // The speech fills the audio: the words end in its last second, not at its start.
    assert!(
        last_end > secs - 1.0,
        "the words end at {last_end} s of {secs:.2} s: {:?}",
        t.words
    );
}

#[test]
fn an_english_only_model_is_told_english_and_refuses_other_languages() {
    use super::language_for;
    assert_eq!(language_for(true, None).unwrap(), "auto");
    assert_eq!(language_for(true, Some("fr")).unwrap(), "fr");
    assert_eq!(language_for(false, None).unwrap(), "en");
    assert_eq!(language_for(false, Some("en")).unwrap(), "en");
    let e = language_for(false, Some("fr")).unwrap_err();
    assert!(
        e.is_permanent() && e.to_string().contains("English-only"),
        "{e}"
    );
}

#[test]
fn a_missing_or_corrupt_model_is_a_setup_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.bin");
    let e = setup_error(WhisperTranscriber::load(&missing));
    assert!(
        e.contains("nowhere.bin") && e.contains("not found") && e.contains("model_path"),
        "{e}"
    );

    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"this is not a ggml file at all, just some text").unwrap();
    let e = setup_error(WhisperTranscriber::load(&garbage));
    assert!(
        e.contains("cannot load whisper model") && e.contains("garbage.bin"),
        "{e}"
    );

    // A download cut short: the header and vocabulary are fine, tensors are missing.
    let model = write_model(dir.path());
    let bytes = std::fs::read(&model).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = setup_error(WhisperTranscriber::load(&cut));
    assert!(e.contains("cannot load whisper model"), "{e}");
}

#[tokio::test]
async fn audio_that_is_not_pcm_wav_is_refused_before_inference() {
    let dir = tempfile::tempdir().unwrap();
    let whisper = WhisperTranscriber::load(&write_model(dir.path())).unwrap();
    let not_wav = dir.path().join("x.wav");
    std::fs::write(&not_wav, b"ID3 an mp3 perhaps").unwrap();
    let e = whisper.transcribe(&not_wav, None).await.unwrap_err();
    assert!(
        matches!(e, TranscribeError::Audio { .. }) && e.to_string().contains("16-bit PCM WAV"),
        "{e}"
    );
}
