//! Loudness arithmetic on exact generated samples, and decoding on MP4 files made by ffmpeg at
//! test time (never committed).

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

const RATE: u32 = 48_000;

/// Stereo samples: a 1 kHz sine whose amplitude follows `amplitude(t)`, for `secs`.
fn stereo_tone(secs: f64, amplitude: impl Fn(f64) -> f64) -> Vec<f32> {
    let n = (secs * RATE as f64) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            (amplitude(t) * (2.0 * PI * 1000.0 * t).sin()) as f32
        })
        .collect()
}

/// A 1 kHz sine in both channels at peak amplitude `10^(L/20)` reads `L` LUFS: the K-filter
/// is close to 0 dB at 1 kHz and the two channels add 3 dB to the sine's −3 dB mean square.
fn amplitude_for(lufs: f64) -> f64 {
    10f64.powf(lufs / 20.0)
}

fn measure(samples: &[f32]) -> AudioSignals {
    let mut meter = LoudnessMeter::new(2, RATE).unwrap();
    // Uneven chunks, as a decoder delivers them (AAC frames are 1024 samples).
    for chunk in samples.chunks(1024) {
        meter.push_planar(&[chunk, chunk]).unwrap();
    }
    meter.finish(&AudioConfig::default()).unwrap()
}

#[test]
fn a_minus_23_lufs_tone_reads_minus_23() {
    let s = measure(&stereo_tone(10.0, |_| amplitude_for(-23.0)));
    let integrated = s.integrated_lufs.unwrap();
    assert!((integrated + 23.0).abs() <= 0.5, "integrated {integrated}");
    // Once the 400 ms window is full, every momentary value reads the same.
    for (k, m) in s.momentary_lufs.iter().enumerate().skip(4) {
        assert!((m + 23.0).abs() <= 0.5, "hop {k}: {m}");
    }
    assert_eq!(s.momentary_lufs.len(), 100);
    assert!((s.duration_secs - 10.0).abs() < 1e-9);
    assert_eq!(s.sound_ratio, 1.0);
    assert!(
        s.peaks.is_empty(),
        "a steady tone has no peak: {:?}",
        s.peaks
    );
}

#[test]
fn silence_has_no_loudness_no_sound_and_no_peaks() {
    let s = measure(&vec![0.0; 5 * RATE as usize]);
    assert_eq!(s.integrated_lufs, None);
    assert!(s.is_silent());
    assert_eq!(s.sound_ratio, 0.0);
    assert!(s.momentary_lufs.iter().all(|&m| m == FLOOR_LUFS));
    assert!(s.peaks.is_empty());
}

#[test]
fn the_sound_ratio_is_the_share_of_hops_above_the_gate() {
    let s = measure(&stereo_tone(10.0, |t| {
        if t < 4.0 {
            amplitude_for(-20.0)
        } else {
            0.0
        }
    }));
    // 4 s of tone, plus the 0.3 s the 400 ms window trails behind it.
    assert!((s.sound_ratio - 0.43).abs() <= 0.02, "{}", s.sound_ratio);
}

#[test]
fn a_burst_is_a_peak_at_its_time_and_close_bursts_count_once() {
    let loud = |t: f64| {
        if (5.0..6.0).contains(&t) || (6.8..7.3).contains(&t) || (12.0..12.5).contains(&t) {
            amplitude_for(-8.0)
        } else {
            amplitude_for(-30.0)
        }
    };
    let s = measure(&stereo_tone(15.0, loud));
    let times: Vec<f64> = s.peaks.iter().map(|p| p.at_secs).collect();
    assert_eq!(times.len(), 2, "{:?}", s.peaks);
    assert!(times.iter().any(|t| (5.0..=6.0).contains(t)), "{times:?}");
    assert!(times.iter().any(|t| (12.0..=12.6).contains(t)), "{times:?}");
    assert!(
        s.peaks.iter().all(|p| (p.lufs + 8.0).abs() < 1.0),
        "{:?}",
        s.peaks
    );
}

#[test]
fn planes_of_unequal_length_are_refused() {
    let mut meter = LoudnessMeter::new(2, RATE).unwrap();
    assert!(matches!(
        meter.push_planar(&[&[0.0; 10], &[0.0; 9]]),
        Err(AudioError::Meter(_))
    ));
    assert!(matches!(
        LoudnessMeter::new(9, RATE),
        Err(AudioError::TooManyChannels(9))
    ));
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is needed for these tests (`make setup` installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 10 s stereo 48 kHz AAC-LC MP4 of a 1 kHz tone at −23 LUFS, with a small video track.
fn tone_mp4(dir: &Path) -> PathBuf {
    let path = dir.join("tone.mp4");
    let a = amplitude_for(-23.0);
    let expr = format!("aevalsrc={a}*sin(2*PI*1000*t)|{a}*sin(2*PI*1000*t):s=48000:d=10");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=15:duration=10",
        "-f",
        "lavfi",
        "-i",
        &expr,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-profile:a",
        "aac_low",
        "-b:a",
        "160k",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    path
}

#[test]
fn an_aac_mp4_made_by_ffmpeg_decodes_and_reads_minus_23() {
    let dir = tempfile::tempdir().unwrap();
    let s = analyze_file(&tone_mp4(dir.path()), &AudioConfig::default()).unwrap();
    let integrated = s.integrated_lufs.unwrap();
    assert!((integrated + 23.0).abs() <= 0.5, "integrated {integrated}");
    assert_eq!((s.sample_rate, s.channels), (48_000, 2));
    assert!((s.duration_secs - 10.0).abs() < 0.1, "{}", s.duration_secs);
}

#[test]
fn media_without_an_audio_track_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("video-only.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=15:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-an",
        path.to_str().unwrap(),
    ]);
    let err = analyze_file(&path, &AudioConfig::default()).unwrap_err();
    assert!(matches!(err, AudioError::NoAudioTrack), "{err:?}");
    assert!(err.to_string().contains("no audio track"), "{err}");
}

#[test]
fn a_file_that_is_not_media_or_not_there_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.mp4");
    std::fs::write(&path, b"these are not the samples you are looking for").unwrap();
    assert!(matches!(
        analyze_file(&path, &AudioConfig::default()),
        Err(AudioError::Unreadable(_))
    ));
    let err = analyze_file(&dir.path().join("missing.mp4"), &AudioConfig::default()).unwrap_err();
    assert!(
        matches!(err, AudioError::Open { .. }) && err.to_string().contains("missing.mp4"),
        "{err}"
    );
}
