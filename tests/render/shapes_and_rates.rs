//! Every layout and source shape fills the 1080×1920 frame; frame rates are capped at 60 and
//! raised to 23 or more; a 4K 60 fps source.

use super::*;

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
                    sound: Sound::Speech,
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
            sound: Sound::Speech,
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
            sound: Sound::Speech,
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
            sound: Sound::Speech,
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
            sound: Sound::Speech,
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
            sound: Sound::Speech,
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

/// Constant quality spends what a busy picture asks for; `max_video_kbps` holds the short
/// under a platform's bit-rate limit whatever the picture. The same source rendered at the
/// default ceiling is well over a low one, so the ceiling is what held the capped render down.
/// At a constant quantiser (the default) the ceiling is checked on the encoded picture, which
/// over it is encoded again at CRF under the ceiling; with `x264_rate_control = "crf"` the
/// first encode holds it. The report's busiest second is the short's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_video_bit_rate_stays_under_the_configured_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let src = make_source(
        dir.path(),
        "busy.mp4",
        Source {
            width: 1280,
            height: 720,
            fps: 30,
            secs: 4,
            sound: Sound::Speech,
        },
    );
    let kbps = |short: &Path| num(&stream(&ffprobe(short), "video")["bit_rate"]) / 1000.0;
    let render_with = |cfg: RenderConfig, name: &'static str| {
        let (src, out) = (src.clone(), dir.path().join(name));
        async move {
            render(
                &input(&src, None, LayoutKind::Blur),
                &cfg,
                &NoCaptions,
                &out,
            )
            .await
            .unwrap_or_else(|e| panic!("render {name}: {e}"))
        }
    };
    let free = render_with(config(), "free").await;
    let ceiling = 600;
    let capped = render_with(
        RenderConfig {
            max_video_kbps: ceiling,
            ..config()
        },
        "capped",
    )
    .await;
    let crf = render_with(
        RenderConfig {
            max_video_kbps: ceiling,
            x264_rate_control: X264RateControl::Crf,
            ..config()
        },
        "crf",
    )
    .await;

    let free_rate = free.report.video_rate;
    assert_eq!(
        (free_rate.rate_control, free_rate.qp_peak_kbps),
        (RateControl::Qp, None)
    );
    assert!(free_rate.peak_kbps <= RenderConfig::default().max_video_kbps);
    let (free_kbps, capped_kbps, crf_kbps) =
        (kbps(&free.short), kbps(&capped.short), kbps(&crf.short));
    assert!(
        free_kbps > 2.0 * f64::from(ceiling),
        "the picture must ask for more than the ceiling for this test to mean anything: {free_kbps} kb/s"
    );
    // Under the low ceiling, the constant quantiser's picture (the free one, to the byte) went
    // over and was encoded again; the CRF setting went straight to the ceiling.
    let capped_rate = capped.report.video_rate;
    assert_eq!(
        (capped_rate.rate_control, capped_rate.qp_peak_kbps),
        (RateControl::Crf, Some(free_rate.peak_kbps))
    );
    let crf_rate = crf.report.video_rate;
    assert_eq!(
        (crf_rate.rate_control, crf_rate.qp_peak_kbps),
        (RateControl::Crf, None)
    );
    // The encoder may start with its one-second buffer 90 % full: over 4 s, that is at most
    // 0.9 / 4 of the rate on top of it.
    let allowed = f64::from(ceiling) * (1.0 + 0.9 / 4.0);
    for (name, kbps) in [("capped", capped_kbps), ("crf", crf_kbps)] {
        assert!(
            kbps <= allowed,
            "{name}: {kbps} kb/s over a {ceiling} kb/s ceiling (at most {allowed} with the buffer)"
        );
    }
    for out in [&free, &capped, &crf] {
        let measured = busiest_second_kbps(&out.short);
        assert!(
            measured.abs_diff(out.report.video_rate.peak_kbps) <= 1,
            "the report says {} kb/s, the short's busiest second is {measured}",
            out.report.video_rate.peak_kbps
        );
    }
}

/// The most kilobits in the second from any video packet of `path`, counted here the slow way.
fn busiest_second_kbps(path: &Path) -> u32 {
    let packets: Vec<(f64, u64)> = video_csv(path, "packet=pts_time,size")
        .iter()
        .filter_map(|l| {
            let (t, size) = l.split_once(',')?;
            Some((t.parse().ok()?, size.trim().parse().ok()?))
        })
        .collect();
    assert!(!packets.is_empty(), "no packets in {}", path.display());
    let most = packets
        .iter()
        .map(|&(from, _)| {
            packets
                .iter()
                .filter(|&&(t, _)| t >= from && t < from + 0.999_999)
                .map(|&(_, size)| size)
                .sum::<u64>()
        })
        .max()
        .unwrap();
    (most * 8).div_ceil(1000) as u32
}
