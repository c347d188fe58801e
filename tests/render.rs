//! The render job on generated fixtures (ffmpeg test pattern + espeak-ng speech + a loud
//! burst), transcribed by the strict fake transcription server: the short's frame, duration,
//! loudness and captions are measured on the output. Renders are kept to a few seconds: CI has
//! two cores.

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::fake_transcribe::{FakeTranscribe, Fault, API_KEY};
use hilite::domain::Window;
use hilite::render::captions::Word;
use hilite::render::loudness::Method;
use hilite::render::settings::{EncoderChoice, SplitRegions, TranscribeBackend};
use hilite::render::transcribe::{self, NoCaptions};
use hilite::render::{
    render, LayoutKind, RenderConfig, RenderError, RenderInput, TranscribeConfig, TranscribeError,
};
use secrecy::SecretString;
use serde_json::Value;

/// The words the fake server returns, in seconds from the window's start (the speech starts
/// 0.5 s into the window).
fn known_words() -> Vec<Word> {
    [
        ("Hello", 0.5, 0.9),
        ("there.", 0.9, 1.3),
        ("This", 1.6, 1.8),
        ("is", 1.8, 1.95),
        ("a", 1.95, 2.05),
        ("big", 2.05, 2.4),
        ("play!", 2.4, 2.9),
    ]
    .iter()
    .map(|&(t, s, e)| Word {
        text: t.into(),
        start: s,
        end: e,
    })
    .collect()
}

struct Source {
    width: u32,
    height: u32,
    fps: u32,
    secs: u32,
    audio: bool,
}

/// Generate a source clip: a test pattern, espeak-ng saying a known sentence from 1.5 s, and
/// a loud 1 kHz burst at 4 s (the true-peak limiter has something to do).
fn make_source(dir: &Path, name: &str, s: Source) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg(format!(
        "testsrc2=size={}x{}:rate={}:duration={}",
        s.width, s.height, s.fps, s.secs
    ));
    if s.audio {
        let speech = dir.join(format!("{name}.speech.wav"));
        let ok = Command::new("espeak-ng")
            .arg("-w")
            .arg(&speech)
            .arg("Hello there. This is a big play!")
            .status()
            .expect("espeak-ng (make setup)");
        assert!(ok.success());
        cmd.arg("-i").arg(&speech).args(["-f", "lavfi", "-i", "sine=frequency=1000:duration=0.4"]).args([
            "-filter_complex",
            "[1:a]adelay=1500:all=1,apad[s];[2:a]volume=12,adelay=4000:all=1,apad[b];[s][b]amix=inputs=2:normalize=0,aresample=48000[a]",
            "-map",
            "0:v",
            "-map",
            "[a]",
            "-c:a",
            "aac",
        ]);
    }
    cmd.args([
        "-t",
        &s.secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ])
    .arg(&out);
    assert!(
        cmd.status().expect("ffmpeg (make setup)").success(),
        "fixture {name}"
    );
    out
}

fn config() -> RenderConfig {
    // The production preset: `ultrafast` would drop to Constrained Baseline whatever the profile.
    RenderConfig {
        encoder: EncoderChoice::Auto,
        ..RenderConfig::default()
    }
}

fn input(source: &Path, window: Option<(f64, f64)>, layout: LayoutKind) -> RenderInput {
    RenderInput {
        source: source.to_path_buf(),
        window: window.map(|(a, b)| Window {
            start_secs: a,
            end_secs: b,
        }),
        layout,
        split: SplitRegions::default(),
        source_is_portrait: false,
        language: None,
        peak_secs: None,
    }
}

fn api_transcriber(
    fake: &FakeTranscribe,
    key: Option<&str>,
) -> std::sync::Arc<dyn transcribe::Transcriber> {
    let cfg = TranscribeConfig {
        backend: TranscribeBackend::Api,
        api_base: fake.api_base(),
        api_key: key.map(|k| SecretString::from(k.to_string())),
        request_timeout_secs: 10,
        ..TranscribeConfig::default()
    };
    transcribe::from_config(&cfg).expect("the API backend builds")
}

fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

fn stream<'a>(probe: &'a Value, kind: &str) -> &'a Value {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap()
}

fn num(v: &Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

/// One frame at `t` seconds as 8-bit grey pixels, row by row (1080 wide).
fn frame(path: &Path, t: f64) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-ss",
            &format!("{t:.3}"),
            "-i",
        ])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    assert_eq!(out.stdout.len(), 1080 * 1920, "one 1080x1920 frame");
    out.stdout
}

/// Pixels of `rows` that differ clearly (more than a fifth of the range) between two frames.
fn changed_pixels(a: &[u8], b: &[u8], rows: std::ops::Range<usize>) -> usize {
    let range = rows.start * 1080..rows.end * 1080;
    a[range.clone()]
        .iter()
        .zip(&b[range])
        .filter(|(x, y)| x.abs_diff(**y) > 50)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_is_portrait_full_length_loudness_normalised_and_captioned_word_by_word() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "landscape.mp4",
        Source {
            width: 640,
            height: 360,
            fps: 30,
            secs: 6,
            audio: true,
        },
    );
    let fake = FakeTranscribe::start(known_words()).await;
    let cfg = config();
    let job = input(&src, Some((1.0, 5.0)), LayoutKind::Blur);

    let out = render(
        &job,
        &cfg,
        &*api_transcriber(&fake, Some(API_KEY)),
        &dir.path().join("with"),
    )
    .await
    .expect("render");
    let plain = render(&job, &cfg, &NoCaptions, &dir.path().join("without"))
        .await
        .expect("render without captions");

    // The fake saw one well-formed request with the window's audio (16 kHz mono 16-bit: 4 s
    // is 128 000 bytes of samples).
    let seen = fake.accepted();
    assert_eq!(seen.len(), 1, "refused: {:?}", fake.refused());
    assert!(
        (128_000..130_000).contains(&seen[0].audio_bytes),
        "{} bytes",
        seen[0].audio_bytes
    );

    let p = ffprobe(&out.short);
    let (v, a) = (stream(&p, "video"), stream(&p, "audio"));
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1080), Some(1920))
    );
    assert_eq!(v["codec_name"], "h264");
    assert_eq!(v["profile"], "High");
    assert_eq!(
        (
            a["codec_name"].as_str(),
            a["sample_rate"].as_str(),
            a["profile"].as_str()
        ),
        (Some("aac"), Some("48000"), Some("LC"))
    );
    let frame_secs = 1.0 / 30.0;
    assert!(
        (num(&v["duration"]) - 4.0).abs() <= frame_secs + 1e-6,
        "video lasts {}",
        v["duration"]
    );
    assert!(
        (num(&a["duration"]) - 4.0).abs() <= frame_secs,
        "audio lasts {}",
        a["duration"]
    );
    assert!(
        (num(&v["start_time"]) - num(&a["start_time"])).abs() < frame_secs,
        "audio and video start apart"
    );

    let loud = hilite::render::loudness::loudness(&out.short, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        (loud.integrated_lufs + 14.0).abs() <= 1.0,
        "integrated {} LUFS",
        loud.integrated_lufs
    );
    assert!(
        loud.true_peak_dbtp <= -1.0,
        "true peak {} dBTP",
        loud.true_peak_dbtp
    );

    // The report says what ran.
    let report: Value = serde_json::from_slice(&std::fs::read(&out.report_file).unwrap()).unwrap();
    assert_eq!(report["encoder"], "libx264");
    assert_eq!(report["layout"], "blur");
    assert_eq!(report["transcript"]["words"].as_array().unwrap().len(), 7);
    assert!(report["timings_ms"]["encode"].as_u64().is_some());
    assert!(std::fs::read_to_string(&out.srt)
        .unwrap()
        .contains("Hello there."));
    let thumb = std::fs::read(&out.thumbnail).unwrap();
    assert_eq!(&thumb[..2], &[0xFF, 0xD8], "a JPEG");

    // At each word, the caption band differs from the render without captions; the top of
    // the frame, where no caption goes, does not.
    for w in known_words() {
        let t = (w.start + w.end) / 2.0;
        let (with, without) = (frame(&out.short, t), frame(&plain.short, t));
        // The "bold" style sits 30 % up from the bottom: two lines end at row 1344.
        let band = changed_pixels(&with, &without, 1100..1400);
        let top = changed_pixels(&with, &without, 0..600);
        assert!(
            band > 3000 && top < 100,
            "at {t}s: {band} caption pixels changed, {top} at the top"
        );
    }
}

/// The captions alone, drawn on a grey frame, leave the platform button areas untouched at
/// every word (exact pixels: no encoder in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_caption_pixel_falls_in_the_platform_button_area() {
    use hilite::render::captions::{build_captions, to_ass, LineRules};
    let cfg = RenderConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let mut words = known_words();
    // A long phrase and a long word, the cases that push text sideways.
    words.extend(
        [
            ("Unbelievably", 3.5, 4.0),
            ("extraordinary", 4.0, 4.5),
            ("Supercalifragilisticexpialidocious", 4.5, 5.0),
        ]
        .iter()
        .map(|&(t, s, e)| Word {
            text: t.into(),
            start: s,
            end: e,
        }),
    );
    for (name, style) in &cfg.caption_styles {
        let rules = LineRules::for_style(style, &cfg.safe_area, 1080);
        let ass = dir.path().join(format!("{name}.ass"));
        std::fs::write(
            &ass,
            to_ass(
                &build_captions(&words, &rules),
                style,
                &cfg.safe_area,
                (1080, 1920),
                &rules,
            ),
        )
        .unwrap();
        for w in &words {
            let t = (w.start + w.end) / 2.0;
            let out = Command::new("ffmpeg")
                .args([
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    "color=c=0x808080:s=1080x1920:r=10:d=6",
                    "-vf",
                ])
                .arg(format!(
                    "ass=filename={}:fontsdir={}",
                    ass.display(),
                    cfg.fonts_dir.display()
                ))
                .args([
                    "-ss",
                    &format!("{t:.2}"),
                    "-frames:v",
                    "1",
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "gray",
                    "-",
                ])
                .output()
                .unwrap();
            let px = out.stdout;
            assert_eq!(px.len(), 1080 * 1920);
            let background = px[0];
            let drawn = px.iter().filter(|&&p| p != background).count();
            assert!(drawn > 500, "style {name}: no caption drawn at {t}s");
            for (i, &p) in px.iter().enumerate() {
                let (x, y) = (i % 1080, i / 1080);
                let in_buttons = y >= 1536 || x >= 918;
                assert!(
                    !(in_buttons && p != background),
                    "style {name}: caption pixel at ({x},{y}) at {t}s"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crop_and_split_layouts_a_portrait_source_and_blur_of_any_shape_fill_the_frame() {
    let dir = tempfile::tempdir().unwrap();
    // The blur layout's bands are sized from the source's shape: 4:3 and 21:9 beside the 16:9
    // of the other tests.
    let [four_three, ultrawide] =
        [("4x3.mp4", 640, 480), ("21x9.mp4", 1260, 540)].map(|(name, width, height)| {
            make_source(
                dir.path(),
                name,
                Source {
                    width,
                    height,
                    fps: 30,
                    secs: 2,
                    audio: true,
                },
            )
        });
    let wide = make_source(
        dir.path(),
        "wide.mp4",
        Source {
            width: 480,
            height: 270,
            fps: 30,
            secs: 2,
            audio: true,
        },
    );
    let tall = make_source(
        dir.path(),
        "tall.mp4",
        Source {
            width: 270,
            height: 480,
            fps: 30,
            secs: 2,
            audio: true,
        },
    );
    let cfg = config();
    for (src, layout, expect) in [
        (&wide, LayoutKind::Crop, "crop"),
        (&wide, LayoutKind::Split, "split"),
        (&tall, LayoutKind::Split, "portrait"),
        (&four_three, LayoutKind::Blur, "blur"),
        (&ultrawide, LayoutKind::Blur, "blur"),
    ] {
        let out = render(
            &input(src, None, layout),
            &cfg,
            &NoCaptions,
            &dir.path().join(format!(
                "out-{}-{expect}",
                src.file_stem().unwrap().to_string_lossy()
            )),
        )
        .await
        .expect(expect);
        assert_eq!(out.report.layout, expect);
        let p = ffprobe(&out.short);
        let v = stream(&p, "video");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(1080), Some(1920)),
            "{expect}"
        );
        assert!(
            (num(&v["duration"]) - 2.0).abs() <= 1.0 / 30.0 + 1e-6,
            "{expect}: {}",
            v["duration"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_frame_rate_source_is_capped_at_60_fps() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "fast.mp4",
        Source {
            width: 320,
            height: 180,
            fps: 120,
            secs: 1,
            audio: true,
        },
    );
    let out = render(
        &input(&src, None, LayoutKind::Crop),
        &config(),
        &NoCaptions,
        dir.path(),
    )
    .await
    .expect("render");
    assert_eq!(
        stream(&ffprobe(&out.short), "video")["avg_frame_rate"],
        "60/1"
    );
    assert_eq!(out.report.output_fps, 60.0);
}

/// A 15 fps source (an old capture, a phone in power saving) is raised to 30 fps, repeating
/// frames, because TikTok and Instagram Reels refuse a video under 23 fps; the short still
/// lasts the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_under_23_fps_is_raised_to_a_rate_the_platforms_accept() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "slow.mp4",
        Source {
            width: 320,
            height: 180,
            fps: 15,
            secs: 3,
            audio: true,
        },
    );
    assert_eq!(stream(&ffprobe(&src), "video")["avg_frame_rate"], "15/1");
    let out = render(
        &input(&src, Some((0.5, 2.5)), LayoutKind::Blur),
        &config(),
        &NoCaptions,
        dir.path(),
    )
    .await
    .expect("render");
    let v = stream(&ffprobe(&out.short), "video").clone();
    let fps = v["avg_frame_rate"]
        .as_str()
        .and_then(|r| r.split_once('/'))
        .map(|(n, d)| n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap())
        .unwrap();
    assert!((23.0..=60.0).contains(&fps), "{fps} fps");
    assert_eq!(out.report.output_fps, fps);
    assert!(
        (num(&v["duration"]) - 2.0).abs() <= 1.0 / fps + 1e-6,
        "the short lasts {} s",
        v["duration"]
    );
    let frames: f64 = num(&v["nb_frames"]);
    assert!(
        (frames - 2.0 * fps).abs() <= 1.0,
        "{frames} frames for 2 s at {fps} fps"
    );
}

/// A 4K 60 fps source (a streamer's top quality) in the blur layout with captions: the short
/// is 1080×1920, keeps the 60 fps, lasts the window, and its captions are burned in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4k_60_fps_source_becomes_a_1080x1920_short_at_60_fps() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "uhd.mp4",
        Source {
            width: 3840,
            height: 2160,
            fps: 60,
            secs: 2,
            audio: true,
        },
    );
    let info = ffprobe(&src);
    assert_eq!(stream(&info, "video")["width"], 3840, "the fixture is 4K");
    let fake = FakeTranscribe::start(known_words()).await;
    let transcriber = api_transcriber(&fake, Some(API_KEY));
    let out = render(
        &input(&src, Some((0.5, 2.0)), LayoutKind::Blur),
        &config(),
        &*transcriber,
        dir.path(),
    )
    .await
    .expect("render");
    let v = stream(&ffprobe(&out.short), "video").clone();
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1080), Some(1920))
    );
    assert_eq!(v["avg_frame_rate"], "60/1");
    assert_eq!(out.report.output_fps, 60.0);
    assert!(
        (num(&v["duration"]) - 1.5).abs() <= 1.0 / 60.0 + 1e-6,
        "{}",
        v["duration"]
    );
    assert!(out.report.captions > 0, "the words became captions");
}

/// A sound track of digital silence has no loudness to normalise: it is delivered as it is,
/// with no gain (the absolute gate's −70 LUFS is no measurement to aim from).
#[tokio::test]
async fn a_silent_sound_track_is_kept_silent() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("quiet.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=320x180:rate=30:duration=2")
        .args(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "2"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ])
        .arg(&src)
        .status()
        .expect("ffmpeg (make setup)");
    assert!(ok.success());
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
            audio: false,
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

#[tokio::test]
async fn the_transcription_client_retries_server_errors_and_never_shows_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.5",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-c:a",
            "pcm_s16le",
        ])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(ok.success());
    let fake = FakeTranscribe::start(known_words()).await;

    // 500 then 429 with a short Retry-After, then the answer.
    fake.inject(Fault::ServerError);
    fake.inject(Fault::RateLimited {
        retry_after_secs: 1,
    });
    let t = api_transcriber(&fake, Some(API_KEY))
        .transcribe(&wav, Some("fr"))
        .await
        .expect("transcribed after retries");
    assert_eq!(t.words, known_words());
    assert_eq!(fake.accepted()[0].language.as_deref(), Some("fr"));

    // A wrong or missing key fails at once, permanently, without the key in the message.
    for key in [Some("sk-wrong-key-secret-value"), None] {
        let err = api_transcriber(&fake, key)
            .transcribe(&wav, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TranscribeError::Unauthorized) && err.is_permanent(),
            "{err}"
        );
        assert!(!format!("{err} {err:?}").contains("secret-value"));
    }
    assert_eq!(fake.refused().iter().filter(|(s, _)| *s == 401).count(), 2);
    assert_eq!(fake.accepted().len(), 1);
}

mod edit_stage {
    use std::sync::Arc;

    use harness::backends::TestBackend;
    use hilite::domain::{ClipId, ClipStatus, MediaKey, Stage};
    use hilite::pipeline::edit::{edit, Editor};
    use hilite::pipeline::{ClipMessage, StageError};
    use hilite::render::transcribe::NoCaptions;

    use super::*;

    /// An `analyzed` clip with its source stored, on the embedded backend.
    async fn analyzed_clip(backend: &TestBackend, id: &str, source: &Path) -> ClipId {
        let mut clip = harness::records::clip(id, "a clip", chrono::Utc::now());
        clip.status = ClipStatus::Analyzed;
        clip.window = Some(Window {
            start_secs: 0.0,
            end_secs: 1.5,
        });
        clip.media.source = Some(MediaKey::source(&clip.id));
        backend
            .ports
            .store
            .insert_clip_if_absent(&clip)
            .await
            .unwrap();
        backend
            .ports
            .media
            .put_file(&MediaKey::source(&clip.id), source, "video/mp4")
            .await
            .unwrap();
        clip.id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_analyzed_clip_is_edited_once_its_outputs_are_stored_and_its_source_is_then_deleted()
    {
        let backend = TestBackend::embedded(3).await;
        let dir = tempfile::tempdir().unwrap();
        let src = make_source(
            dir.path(),
            "clip.mp4",
            Source {
                width: 320,
                height: 180,
                fps: 30,
                secs: 2,
                audio: true,
            },
        );
        let id = analyzed_clip(&backend, "EditMe", &src).await;
        let editor = Editor::new(&backend.config, Ok(Arc::new(NoCaptions)));
        let msg = ClipMessage {
            clip_id: id.clone(),
        };

        edit(&backend.ports, &editor, &msg).await.expect("edited");
        let clip = backend.ports.store.get_clip(&id).await.unwrap().unwrap();
        assert_eq!(clip.status, ClipStatus::Edited);
        let m = &clip.media;
        for key in [
            &m.short,
            &m.captions_srt,
            &m.captions_ass,
            &m.thumbnail,
            &m.render_report,
        ] {
            let key = key.as_ref().expect("every output is recorded");
            // Without a transcript the caption files are stored empty.
            assert!(
                backend.ports.media.size(key).await.unwrap().is_some(),
                "{key} is stored"
            );
        }
        assert_eq!(
            m.short.as_ref().unwrap().as_str(),
            "shorts/EditMe/short.mp4"
        );
        assert!(
            backend
                .ports
                .media
                .size(m.short.as_ref().unwrap())
                .await
                .unwrap()
                .unwrap()
                > 10_000
        );
        assert_eq!(m.source, None);
        assert_eq!(
            backend
                .ports
                .media
                .size(&MediaKey::source(&id))
                .await
                .unwrap(),
            None,
            "the source is deleted"
        );

        // Redelivered: nothing happens, nothing fails.
        edit(&backend.ports, &editor, &msg)
            .await
            .expect("a redelivery is a no-op");
        assert_eq!(
            backend
                .ports
                .store
                .get_clip(&id)
                .await
                .unwrap()
                .unwrap()
                .updated_at,
            clip.updated_at
        );
    }

    #[tokio::test]
    async fn a_corrupt_source_fails_the_clip_at_once_and_keeps_its_media() {
        let backend = TestBackend::embedded(3).await;
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.mp4");
        std::fs::write(&bad, b"not a video").unwrap();
        let id = analyzed_clip(&backend, "Broken", &bad).await;
        let editor = Editor::new(&backend.config, Ok(Arc::new(NoCaptions)));

        let err = edit(
            &backend.ports,
            &editor,
            &ClipMessage {
                clip_id: id.clone(),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, StageError::Permanent(ref m) if m.contains("not a readable video")),
            "{err}"
        );
        let clip = backend.ports.store.get_clip(&id).await.unwrap().unwrap();
        assert_eq!(
            (clip.status, clip.failed_stage, clip.attempts.edit),
            (ClipStatus::Failed, Some(Stage::Edit), 1)
        );
        assert!(
            backend
                .ports
                .media
                .size(&MediaKey::source(&id))
                .await
                .unwrap()
                .is_some(),
            "the source is kept"
        );
    }

    #[tokio::test]
    async fn a_transcriber_that_cannot_be_built_counts_no_attempt() {
        let backend = TestBackend::embedded(3).await;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("unused.mp4");
        std::fs::write(&src, b"x").unwrap();
        let id = analyzed_clip(&backend, "NoWhisper", &src).await;
        let editor = Editor::new(
            &backend.config,
            Err("this build has no whisper backend".into()),
        );

        let err = edit(
            &backend.ports,
            &editor,
            &ClipMessage {
                clip_id: id.clone(),
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, StageError::Retryable(ref m) if m.contains("whisper")),
            "{err}"
        );
        let clip = backend.ports.store.get_clip(&id).await.unwrap().unwrap();
        assert_eq!((clip.status, clip.attempts.edit), (ClipStatus::Analyzed, 0));
    }
}
