//! Audio signals of a clip: its AAC-LC track decoded in-process (symphonia's MP4 demuxer and AAC
//! decoder, so no ffmpeg in the Lambda), measured with the EBU R128 meter of the `ebur128`
//! crate: momentary loudness every 100 ms, integrated loudness, the share of sound against
//! silence, and loudness peaks.
//!
//! Every channel goes to the meter as it is (R128 weighs them itself), so a stereo clip reads
//! the loudness a listener hears. [`LoudnessMeter`] takes planar samples and can be fed without
//! any decoder, which is how the loudness arithmetic is tested on exact generated tones.
//!
//! Not here: what the loudness means for a clip's score or window (`score`, `window`).

use std::path::Path;

use ebur128::{EbuR128, Mode};
use symphonia::core::audio::{Audio, GenericAudioBufferRef};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use super::peaks::{local_maxima_above, suppress_neighbours};
use super::window::{LoudnessSeries, MOMENTARY_WINDOW_SECS};
use super::AudioConfig;

/// One loudness value every 100 ms: fine enough to trim words, coarse enough to stay cheap.
pub const HOP_SECS: f64 = 0.1;
/// The quietest value the series holds. R128's absolute gate is −70 LUFS; digital silence
/// (−∞) is stored as this so the series stays finite.
/// <https://tech.ebu.ch/docs/r/r128.pdf> (absolute gate).
pub const FLOOR_LUFS: f64 = -70.0;
/// More channels than a 7.1 layout is not a clip from Twitch.
pub const MAX_CHANNELS: usize = 8;

/// What the meter found in one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSignals {
    pub sample_rate: u32,
    pub channels: u32,
    /// Length of the decoded audio.
    pub duration_secs: f64,
    pub hop_secs: f64,
    /// Value `k`: momentary loudness (LUFS) of the 400 ms ending at `(k + 1) · hop_secs`,
    /// never below [`FLOOR_LUFS`].
    pub momentary_lufs: Vec<f64>,
    /// Integrated (programme) loudness; `None` when nothing passes the absolute gate.
    pub integrated_lufs: Option<f64>,
    /// The median momentary loudness of the hops above the silence gate: how loud the clip
    /// usually is when something is heard. `None` when nothing is.
    pub typical_lufs: Option<f64>,
    /// The loudest momentary value.
    pub max_momentary_lufs: f64,
    /// Share of hops above the silence gate (0–1).
    pub sound_ratio: f64,
    /// Local maxima above the peak threshold, loudest first, neighbours suppressed.
    pub peaks: Vec<LoudnessPeak>,
    /// The silence gate these values were computed with.
    pub silence_gate_lufs: f64,
}

impl AudioSignals {
    /// The series as `window` reads it.
    pub fn series(&self) -> LoudnessSeries<'_> {
        LoudnessSeries {
            hop_secs: self.hop_secs,
            momentary_lufs: &self.momentary_lufs,
            integrated_lufs: self.integrated_lufs,
            silence_gate_lufs: self.silence_gate_lufs,
        }
    }

    /// No measurable sound at all.
    pub fn is_silent(&self) -> bool {
        self.integrated_lufs.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoudnessPeak {
    /// The middle of the 400 ms the value covers, in seconds from the start.
    pub at_secs: f64,
    pub lufs: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot open the media file {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the media has no audio track; a clip without sound cannot be analysed")]
    NoAudioTrack,
    #[error("the media is not a readable MP4 file: {0}")]
    Unreadable(String),
    #[error("the audio codec is not supported (HiLite decodes AAC-LC): {0}")]
    UnsupportedCodec(String),
    #[error("the audio has {0} channels; at most 8 are supported")]
    TooManyChannels(usize),
    #[error("the audio track holds no decodable audio")]
    Empty,
    #[error("loudness measurement failed: {0}")]
    Meter(String),
}

/// Decode the audio track of the MP4 at `path` and measure it.
pub fn analyze_file(path: &Path, cfg: &AudioConfig) -> Result<AudioSignals, AudioError> {
    let file = std::fs::File::open(path).map_err(|source| AudioError::Open {
        path: path.display().to_string(),
        source,
    })?;
    analyze_media(Box::new(file), cfg)
}

/// Decode the audio track of an MP4 read from `source` and measure it.
pub fn analyze_media(
    source: Box<dyn MediaSource>,
    cfg: &AudioConfig,
) -> Result<AudioSignals, AudioError> {
    let stream = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp4");
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| AudioError::Unreadable(e.to_string()))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or(AudioError::NoAudioTrack)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(AudioError::NoAudioTrack)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| AudioError::UnsupportedCodec(e.to_string()))?;

    let mut meter: Option<LoudnessMeter> = None;
    // Reused for sample formats other than f32 (the AAC decoder gives f32 and needs no copy).
    let mut converted: Vec<Vec<f32>> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) | Err(DecodeError::ResetRequired) => break,
            // A truncated file: measure what arrived (Twitch's CDN can end a file early; the
            // loudness of what is there is still right).
            Err(DecodeError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(AudioError::Unreadable(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = match decoder.decode(&packet) {
            Ok(b) => b,
            // One corrupt packet costs its 21 ms of audio, not the clip.
            Err(DecodeError::DecodeError(_)) => continue,
            Err(e) => return Err(AudioError::Unreadable(e.to_string())),
        };
        let channels = buffer.spec().channels().count();
        let rate = buffer.spec().rate();
        let m = match &mut meter {
            Some(m) => m,
            None => meter.insert(LoudnessMeter::new(channels as u32, rate)?),
        };
        if channels != m.channels as usize {
            return Err(AudioError::Unreadable(
                "the channel layout changed mid-stream".into(),
            ));
        }
        match buffer {
            GenericAudioBufferRef::F32(buf) => {
                let mut planes: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
                for (i, slot) in planes.iter_mut().enumerate().take(channels) {
                    *slot = buf.plane(i).unwrap_or(&[]);
                }
                m.push_planar(&planes[..channels])?;
            }
            other => {
                other.copy_to_vecs_planar::<f32>(&mut converted);
                let mut planes: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
                for (slot, plane) in planes.iter_mut().zip(&converted) {
                    *slot = plane;
                }
                m.push_planar(&planes[..channels])?;
            }
        }
    }
    meter.ok_or(AudioError::Empty)?.finish(cfg)
}

/// EBU R128 measurement fed with planar samples, one momentary value per 100 ms hop.
pub struct LoudnessMeter {
    ebu: EbuR128,
    channels: u32,
    rate: u32,
    hop_frames: usize,
    /// Frames added since the last hop ended.
    pending: usize,
    frames: u64,
    momentary: Vec<f64>,
}

impl LoudnessMeter {
    pub fn new(channels: u32, rate: u32) -> Result<Self, AudioError> {
        if channels as usize > MAX_CHANNELS {
            return Err(AudioError::TooManyChannels(channels as usize));
        }
        if channels == 0 || rate == 0 {
            return Err(AudioError::Empty);
        }
        // Momentary and integrated only: sample/true peak and loudness range cost time for
        // nothing the analysis uses.
        let ebu = EbuR128::new(channels, rate, Mode::M | Mode::I)
            .map_err(|e| AudioError::Meter(e.to_string()))?;
        let hop_frames = ((rate as f64 * HOP_SECS).round() as usize).max(1);
        Ok(Self {
            ebu,
            channels,
            rate,
            hop_frames,
            pending: 0,
            frames: 0,
            momentary: Vec::new(),
        })
    }

    /// Add frames: one slice per channel, all of the same length.
    pub fn push_planar(&mut self, planes: &[&[f32]]) -> Result<(), AudioError> {
        let len = planes.first().map_or(0, |p| p.len());
        if planes.len() != self.channels as usize || planes.iter().any(|p| p.len() != len) {
            return Err(AudioError::Meter(
                "planes of unequal length or the wrong channel count".into(),
            ));
        }
        let mut at = 0;
        let mut chunk: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
        while at < len {
            let n = (self.hop_frames - self.pending).min(len - at);
            for (slot, plane) in chunk.iter_mut().zip(planes) {
                *slot = &plane[at..at + n];
            }
            self.ebu
                .add_frames_planar_f32(&chunk[..planes.len()])
                .map_err(|e| AudioError::Meter(e.to_string()))?;
            at += n;
            self.pending += n;
            self.frames += n as u64;
            if self.pending == self.hop_frames {
                self.close_hop()?;
            }
        }
        Ok(())
    }

    fn close_hop(&mut self) -> Result<(), AudioError> {
        let m = self
            .ebu
            .loudness_momentary()
            .map_err(|e| AudioError::Meter(e.to_string()))?;
        self.momentary.push(m.max(FLOOR_LUFS));
        self.pending = 0;
        Ok(())
    }

    /// The signals of everything added.
    pub fn finish(mut self, cfg: &AudioConfig) -> Result<AudioSignals, AudioError> {
        // A last partial hop counts once it holds half a hop.
        if self.pending * 2 >= self.hop_frames {
            self.close_hop()?;
        }
        if self.frames == 0 {
            return Err(AudioError::Empty);
        }
        let integrated = self
            .ebu
            .loudness_global()
            .map_err(|e| AudioError::Meter(e.to_string()))?;
        let integrated_lufs = integrated.is_finite().then_some(integrated);
        let momentary = self.momentary;
        let max_momentary_lufs = momentary.iter().copied().fold(FLOOR_LUFS, f64::max);
        let mut sound: Vec<f64> = momentary
            .iter()
            .copied()
            .filter(|&v| v > cfg.silence_gate_lufs)
            .collect();
        let sound_ratio = if momentary.is_empty() {
            0.0
        } else {
            sound.len() as f64 / momentary.len() as f64
        };
        sound.sort_by(f64::total_cmp);
        let typical_lufs = sound.get(sound.len() / 2).copied();
        let peaks = match typical_lufs {
            Some(typical) => {
                let threshold = cfg
                    .silence_gate_lufs
                    .max(typical + cfg.peak_above_typical_lu);
                let candidates = local_maxima_above(&momentary, threshold);
                let spacing = (cfg.peak_separation_secs / HOP_SECS).round() as usize;
                suppress_neighbours(&candidates, spacing)
                    .into_iter()
                    .map(|k| LoudnessPeak {
                        at_secs: ((k + 1) as f64 * HOP_SECS - MOMENTARY_WINDOW_SECS / 2.0).max(0.0),
                        lufs: momentary[k],
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        Ok(AudioSignals {
            sample_rate: self.rate,
            channels: self.channels,
            duration_secs: self.frames as f64 / self.rate as f64,
            hop_secs: HOP_SECS,
            momentary_lufs: momentary,
            integrated_lufs,
            typical_lufs,
            max_momentary_lufs,
            sound_ratio,
            peaks,
            silence_gate_lufs: cfg.silence_gate_lufs,
        })
    }
}

#[cfg(test)]
#[path = "audio_tests.rs"]
mod tests;
