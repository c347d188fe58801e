//! A libx264 encode cut in parts, each encoded by its own ffmpeg side by side, joins into the
//! short one encode makes: the same frames, keyframes where one encode puts them, and each
//! caption on the same frames.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encode_in_two_parts_is_the_short_one_encode_makes() {
    let dir = tempfile::tempdir().unwrap();
    let src = landscape_speech(dir.path());
    let fake = FakeTranscribe::start(known_words()).await;
    // 4 s windows, 120 frames in two GOPs of 60: the second part starts with frame 60 (2.0 s),
    // while the word "a" (1.95-2.05 s) is highlighted, so its caption starts in one part and
    // ends in the other. One window starts on a source frame; the other 0.7 frame before one.
    for (start, end) in [(1.0, 5.0), (1.01, 5.01)] {
        let job = input(&src, Some((start, end)), LayoutKind::Blur);
        let mut shorts = Vec::new();
        for parts in [1, 2] {
            let cfg = RenderConfig {
                encode_parts: parts,
                ..config()
            };
            let out = render(
                &job,
                &cfg,
                &*api_transcriber(&fake, Some(API_KEY)),
                &dir.path().join(format!("{start}-{parts}")),
            )
            .await
            .expect("render");
            assert_eq!(out.report.encode_parts, parts as usize);
            let p = ffprobe(&out.short);
            let v = stream(&p, "video");
            assert_eq!(v["profile"], "High");
            assert!(
                (num(&v["duration"]) - 4.0).abs() <= 1.0 / 30.0 + 1e-6,
                "{parts} parts from {start} s: the video lasts {}",
                v["duration"]
            );
            shorts.push((out.short, out.thumbnail));
        }
        let [(short_one, thumb_one), (short_two, thumb_two)] = &shorts[..] else {
            unreachable!()
        };

        let (one, two) = (video_frames(short_one), video_frames(short_two));
        let keys = |frames: &[VideoFrame]| -> Vec<usize> {
            (0..frames.len()).filter(|&i| frames[i].key).collect()
        };
        assert_eq!(
            (one.len(), keys(&one)),
            (120, vec![0, 60]),
            "from {start} s"
        );
        assert_eq!(
            (two.len(), keys(&two)),
            (120, vec![0, 60]),
            "from {start} s"
        );
        for (i, f) in two.iter().enumerate() {
            assert!(
                (f.pts - i as f64 / 30.0).abs() < 1e-3,
                "from {start} s: frame {i} at {} s",
                f.pts
            );
        }

        // Frame by frame, the two shorts differ only by the encoders' rounding (a caption one
        // frame early or late, or a part off by a frame, is a difference of 20-odd dB).
        let (worst, db) = frame_psnr(short_one, short_two)
            .into_iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(
            db > 35.0,
            "from {start} s: frame {worst} differs by {db:.1} dB"
        );
        // The thumbnail (the middle, 2.0 s: the second part's first frame) is the same frame.
        let thumbs = frame_psnr(thumb_one, thumb_two);
        assert!(
            thumbs.len() == 1 && thumbs[0] > 30.0,
            "thumbnails: {thumbs:?} dB"
        );
    }
    assert_eq!(fake.accepted().len(), 4, "refused: {:?}", fake.refused());
}

struct VideoFrame {
    pts: f64,
    key: bool,
}

/// The short's video frames in order, as ffprobe decodes them.
fn video_frames(path: &Path) -> Vec<VideoFrame> {
    video_csv(path, "frame=pts_time,key_frame")
        .iter()
        .map(|l| {
            let mut f = l.split(',');
            let key = f.next() == Some("1");
            let pts = f.next().and_then(|t| t.parse().ok()).expect("a pts");
            VideoFrame { pts, key }
        })
        .collect()
}

/// The PSNR of each frame of `b` against the same frame of `a`, in dB (identical frames
/// read as 100).
fn frame_psnr(a: &Path, b: &Path) -> Vec<f64> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(a)
        .arg("-i")
        .arg(b)
        .args(["-lavfi", "[0:v][1:v]psnr=stats_file=-", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("psnr_avg:")))
        .map(|v| {
            if v == "inf" {
                100.0
            } else {
                v.parse().unwrap()
            }
        })
        .collect()
}
