//! What is not a usable source: silence is kept silent, a file without audio or a corrupt one
//! is refused with its reason.

use super::*;

/// A sound track of digital silence has no loudness to normalise: it is delivered as it is,
/// with no gain (the absolute gate's −70 LUFS is no measurement to aim from).
#[tokio::test]
async fn a_silent_sound_track_is_kept_silent() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "quiet.mp4",
        Source {
            width: 320,
            height: 180,
            fps: 30,
            secs: 2,
            sound: Sound::Silence,
        },
    );
    let out = render(
        &input(&src, None, LayoutKind::Blur),
        &config(),
        &NoCaptions,
        &dir.path().join("out"),
    )
    .await
    .expect("a silent track is still a short");
    assert_eq!(out.report.sound.method, Method::Silent);
    assert_eq!(out.report.sound.measured_input, None);
    assert!(
        out.report.output_loudness.integrated_lufs <= -69.9,
        "{:?}",
        out.report.output_loudness
    );
}

#[tokio::test]
async fn a_source_without_audio_or_a_corrupt_file_is_refused_with_a_clear_reason() {
    let dir = tempfile::tempdir().unwrap();
    let silent = make_source(
        dir.path(),
        "mute.mp4",
        Source {
            width: 160,
            height: 90,
            fps: 10,
            secs: 1,
            sound: Sound::Absent,
        },
    );
    let err = render(
        &input(&silent, None, LayoutKind::Blur),
        &config(),
        &NoCaptions,
        dir.path(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RenderError::NoAudio), "{err}");
    assert!(
        err.is_permanent() && err.to_string().contains("no audio"),
        "{err}"
    );

    let corrupt = dir.path().join("corrupt.mp4");
    std::fs::write(
        &corrupt,
        b"\x00\x00\x00\x18ftypmp42 this is not a video at all",
    )
    .unwrap();
    let err = render(
        &input(&corrupt, None, LayoutKind::Blur),
        &config(),
        &NoCaptions,
        dir.path(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RenderError::Corrupt(_)) && err.is_permanent(),
        "{err}"
    );
    assert!(
        !dir.path().join("short.mp4").exists(),
        "nothing is written for a refused source"
    );
}
