//! An encode cut in parts: how many, where the cuts fall, and the picture the parts make.
//!
//! libx264 on a machine with a few cores leaves some of them idle: ffmpeg runs the filter
//! graph on one thread and x264's frame threads wait on one another, so one encode kept the
//! 2 cores of `make bench` 88 % busy. Parts of the window encoded by their own ffmpeg side
//! by side, one thread each, keep the cores busy, and a stream copy joins them
//! (`encode::encode` runs them).

use std::path::{Path, PathBuf};

use super::encode::Encoder;
use super::layout::Rate;
use super::millis;
use super::settings::RenderConfig;

/// The shortest part `encode::encode` cuts a libx264 encode into when it picks the number itself
/// (`render.encode_parts = 0`). Each part decodes the source again from the keyframe before
/// its cut (Twitch puts one every 2 s) and starts its own look-ahead: at 10 s that is a few
/// per cent of the part's work.
pub const MIN_PART_SECS: f64 = 10.0;

/// How many parts the encode is cut into: `render.encode_parts`, or one per core when it is
/// 0. NVENC is one hardware unit: it gets one part. So does a source whose frame rate the
/// graph changes (`Rate::Cap`, `Rate::Raise`): its `fps` filter fills the window's ends
/// itself, which a cut would move.
pub fn part_count(cfg: &RenderConfig, encoder: Encoder, rate: Rate, duration: f64) -> u32 {
    if encoder != Encoder::Libx264 || rate != Rate::Keep {
        return 1;
    }
    match cfg.encode_parts {
        0 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            cores.min((duration / MIN_PART_SECS) as u32).max(1)
        }
        n => n,
    }
}

/// The window cut into at most `parts` pieces, as offsets from its start in milliseconds
/// (the first is 0, the last the window's length). Cuts fall on the output's GOP boundaries,
/// so the parts' keyframes are where one encode puts them: the window's frame `i` is the
/// first at or after `i / fps` seconds, and a cut at `i / fps` starts a part with it. Each
/// part, the last included, is at least one GOP long, which bounds what the parts' bit-rate
/// buffers add (`RenderConfig::max_video_kbps`).
pub(crate) fn cuts(duration: f64, fps: f64, gop: u32, parts: u32) -> Vec<i64> {
    let frames = (duration * fps - 1e-6).ceil().max(1.0) as u64;
    // Whole GOPs: the last part too lasts one at least.
    let gops = (frames / u64::from(gop)).max(1);
    let n = u64::from(parts).clamp(1, gops);
    let mut cuts = vec![0];
    for k in 1..n {
        let first_frame = ((k * gops) as f64 / n as f64).round() * f64::from(gop);
        cuts.push(millis(first_frame / fps));
    }
    cuts.push(millis(duration));
    cuts
}

/// The encoded picture: one file, or the parts of an encode cut in pieces, which ffmpeg's
/// concat demuxer reads one after the other through their list.
#[derive(Debug)]
pub struct Picture {
    files: Vec<PathBuf>,
    /// Where each file starts in the window, in seconds.
    starts: Vec<f64>,
    list: Option<PathBuf>,
}

impl Picture {
    /// The picture in `files`, which start `starts` seconds into the window; `list` is the
    /// concat demuxer's list of them when there are several.
    pub(crate) fn new(files: Vec<PathBuf>, starts: Vec<f64>, list: Option<PathBuf>) -> Self {
        Self {
            files,
            starts,
            list,
        }
    }

    /// ffmpeg's arguments to read the picture as one video.
    pub fn input(&self) -> Vec<String> {
        match &self.list {
            Some(list) => vec![
                "-f".into(),
                "concat".into(),
                "-i".into(),
                list.display().to_string(),
            ],
            None => vec!["-i".into(), self.files[0].display().to_string()],
        }
    }

    /// The file that holds the picture at `at` seconds, and where in it.
    pub(crate) fn at(&self, at: f64) -> (&Path, f64) {
        let k = self.starts.iter().rposition(|&s| s <= at).unwrap_or(0);
        (&self.files[k], (at - self.starts[k]).max(0.0))
    }

    /// Each file, and where it starts in the window in seconds.
    pub(crate) fn files_and_starts(&self) -> impl Iterator<Item = (&Path, f64)> {
        self.files
            .iter()
            .map(PathBuf::as_path)
            .zip(self.starts.iter().copied())
    }

    /// How many parts the encode was cut into.
    pub fn parts(&self) -> usize {
        self.files.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{ms_secs, secs};

    #[test]
    fn cuts_fall_on_gops_and_cover_the_window() {
        // 60 s at 30 fps, GOPs of 60 frames: the second part starts with frame 900 (30 s).
        assert_eq!(cuts(60.0, 30.0, 60, 2), vec![0, 30_000, 60_000]);
        // Three parts of a 59.5 s window at 29.97 fps: 29 whole GOPs, cut at GOPs 10 and 19
        // (frames 600 and 1140, 20.02 s and 38.038 s).
        assert_eq!(
            cuts(59.5, 30_000.0 / 1001.0, 60, 3),
            vec![0, 20_020, 38_038, 59_500]
        );
        // A part, the last too, is at least one GOP: a 4 s window makes two parts at most,
        // a 3 s window one.
        assert_eq!(cuts(4.0, 30.0, 60, 8), vec![0, 2_000, 4_000]);
        assert_eq!(cuts(3.0, 30.0, 60, 8), vec![0, 3_000]);
        assert_eq!(cuts(3.0, 30.0, 60, 1), vec![0, 3_000]);
        assert_eq!(cuts(0.5, 30.0, 60, 4), vec![0, 500]);
    }

    #[test]
    fn a_moment_is_read_from_the_part_that_holds_it() {
        let one = Picture::new(vec!["/w/video.mp4".into()], vec![0.0], None);
        assert_eq!(one.input(), ["-i", "/w/video.mp4"]);
        assert_eq!(one.at(12.5), (Path::new("/w/video.mp4"), 12.5));
        let two = Picture::new(
            vec!["/w/video-0.mp4".into(), "/w/video-1.mp4".into()],
            vec![0.0, 30.0],
            Some("/w/video-parts.txt".into()),
        );
        assert_eq!(two.input(), ["-f", "concat", "-i", "/w/video-parts.txt"]);
        assert_eq!(two.at(29.9).0, Path::new("/w/video-0.mp4"));
        assert_eq!(two.at(30.0), (Path::new("/w/video-1.mp4"), 0.0));
        assert_eq!(two.at(45.5), (Path::new("/w/video-1.mp4"), 15.5));
        assert_eq!(two.parts(), 2);
    }

    #[test]
    fn only_a_libx264_encode_at_the_source_rate_is_cut_in_parts() {
        let auto = RenderConfig::default();
        let four = RenderConfig {
            encode_parts: 4,
            ..RenderConfig::default()
        };
        assert_eq!(part_count(&four, Encoder::Libx264, Rate::Keep, 60.0), 4);
        assert_eq!(part_count(&four, Encoder::H264Nvenc, Rate::Keep, 60.0), 1);
        assert_eq!(part_count(&four, Encoder::Libx264, Rate::Cap(60), 60.0), 1);
        assert_eq!(
            part_count(&four, Encoder::Libx264, Rate::Raise(30), 60.0),
            1
        );
        // By itself: one per core, each at least MIN_PART_SECS long.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        assert_eq!(part_count(&auto, Encoder::Libx264, Rate::Keep, 9.9), 1);
        assert_eq!(
            part_count(&auto, Encoder::Libx264, Rate::Keep, 600.0),
            cores.min(60)
        );
        assert_eq!(
            part_count(&auto, Encoder::Libx264, Rate::Keep, 25.0),
            cores.min(2)
        );
    }

    #[test]
    fn milliseconds_are_written_as_ffmpeg_reads_seconds() {
        assert_eq!(ms_secs(29_983), "29.983");
        assert_eq!(ms_secs(5), "0.005");
        assert_eq!(ms_secs(0), "0.000");
        assert_eq!(millis(1.2345), millis(secs(1.2345).parse().unwrap()));
        assert_eq!(millis(20.0), 20_000);
    }
}
