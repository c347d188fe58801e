//! The short's frame, length, loudness and word-by-word captions, and the platform button
//! areas the captions keep out of.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_is_portrait_full_length_loudness_normalised_and_captioned_word_by_word() {
    let dir = tempfile::tempdir().unwrap();
    let src = landscape_speech(dir.path());
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

    assert_loudness(&out.short, &cfg, 1.0).await;

    // The report says what ran.
    let report: Value = serde_json::from_slice(&std::fs::read(&out.report_file).unwrap()).unwrap();
    assert_eq!(report["encoder"], "libx264");
    assert_eq!(report["layout"], "blur");
    assert_eq!(report["transcript"]["words"].as_array().unwrap().len(), 7);
    assert!(report["timings_ms"]["encode"].as_u64().is_some());
    // The burst's peaks leave room for a plain gain.
    assert_eq!(report["sound"]["method"], "linear", "{}", report["sound"]);
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

/// A quiet clip with a bang: the gain that brings the speech to the target would push the bang
/// far over the ceiling, so a limiter holds it, and the loudness it takes away is made up
/// before the sound is encoded, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bang_is_limited_and_the_loudness_still_meets_the_target_in_one_encode() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "bang.mp4",
        Source {
            width: 320,
            height: 180,
            fps: 30,
            secs: 5,
            sound: Sound::QuietSpeechAndBang,
        },
    );
    let cfg = config();
    let out = render(
        &input(&src, None, LayoutKind::Blur),
        &cfg,
        &NoCaptions,
        &dir.path().join("out"),
    )
    .await
    .expect("render");

    let report: Value = serde_json::from_slice(&std::fs::read(&out.report_file).unwrap()).unwrap();
    let sound = &report["sound"];
    assert_eq!(sound["method"], "limited", "{sound}");
    // A plain gain to the target would have put the bang this far over the ceiling the
    // sound aims at (half a dB under the configured one).
    let measured = |k: &str| sound["measured_input"][k].as_f64().unwrap();
    let peak_after_gain = measured("input_tp") + cfg.loudness_lufs - measured("input_i");
    let over = peak_after_gain - (cfg.true_peak_db - 0.5);
    assert!(over > 6.0, "the bang is only {over} dB over: {sound}");
    assert_eq!(sound["encodes"], 1, "{sound}");

    assert_loudness(&out.short, &cfg, 0.5).await;
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

/// The short, measured with `ebur128`, is within `lufs_tolerance` LU of the configured loudness
/// and at or under the configured true-peak ceiling.
async fn assert_loudness(short: &Path, cfg: &RenderConfig, lufs_tolerance: f64) {
    let loud = hilite::render::loudness::loudness(short, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        (loud.integrated_lufs - cfg.loudness_lufs).abs() <= lufs_tolerance,
        "integrated {} LUFS",
        loud.integrated_lufs
    );
    assert!(
        loud.true_peak_dbtp <= cfg.true_peak_db,
        "true peak {} dBTP",
        loud.true_peak_dbtp
    );
}
