//! The ffmpeg video filter graphs that turn a source picture into the 1080×1920 frame: `blur`,
//! `crop`, `split`, and plain scaling for a source already in portrait. Pure string building;
//! the graph reads `[0:v]` and writes `[vout]`, with the captions burned in last so they sit
//! over every layout alike.
//!
//! The blur layout scales the source once, to the frame's width: that picture is the
//! foreground. It is shrunk with zimg's spline16 (`zscale`) where ffmpeg has zimg, else with
//! swscale's `area` ([`Shrink`]). The background is cut from it to the frame's shape
//! (a crop only moves a pointer), shrunk to an eighth of the frame (135×240) with the cheapest
//! scaler and blurred there. Only the bands above and below the foreground show, so only they
//! are scaled up (bilinearly: a blurred picture loses nothing), and the three are stacked.
//! Upscaling the whole background and laying the foreground over it, as the first version
//! did, drew a third of the frame for nothing; blurring at full size and bicubic scaling
//! cost several times more (`make bench` measures the whole job).

use std::path::Path;

use super::probe::MediaInfo;
use super::settings::{LayoutKind, Region, SplitRegions};
use super::{ms_secs, RenderError};

pub const WIDTH: u32 = 1080;
pub const HEIGHT: u32 = 1920;
/// The blur layout's background is blurred at the frame's size divided by this.
const BLUR_SHRINK: u32 = 8;

/// What the graph draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// The foreground's height: the source scaled to the frame's width, even.
    Blur {
        foreground_height: u32,
    },
    Crop,
    Split(SplitRegions),
    /// The source is already portrait: scaled (and padded if its shape differs).
    Portrait,
}

impl Layout {
    /// The layout for a source: a portrait source is only scaled, whatever was asked.
    pub fn choose(
        kind: LayoutKind,
        split: SplitRegions,
        info: &MediaInfo,
        delivered_portrait: bool,
    ) -> Self {
        if info.is_portrait() || delivered_portrait {
            return Layout::Portrait;
        }
        match kind {
            LayoutKind::Blur => Layout::Blur {
                foreground_height: foreground_height(info),
            },
            LayoutKind::Crop => Layout::Crop,
            LayoutKind::Split => Layout::Split(split),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Layout::Blur { .. } => "blur",
            Layout::Crop => "crop",
            Layout::Split(_) => "split",
            Layout::Portrait => "portrait",
        }
    }
}

/// The height of a landscape (or square) source scaled to the frame's width, rounded to an
/// even number of lines (4:2:0 chroma needs it).
fn foreground_height(info: &MediaInfo) -> u32 {
    let h = f64::from(WIDTH) * f64::from(info.height) / f64::from(info.width.max(1));
    ((h / 2.0).round() as u32 * 2).clamp(2, HEIGHT)
}

/// How the blur layout fills the frame: the bands above and below the foreground (lines of
/// the frame), and the rows of the small blurred background each is scaled up from (its top
/// rows and its bottom rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlurBands {
    foreground: u32,
    top: u32,
    bottom: u32,
    top_rows: u32,
    bottom_rows: u32,
}

impl BlurBands {
    fn around(foreground_height: u32) -> Self {
        // The blur layout is only chosen for a source at least as wide as tall (a portrait one
        // is scaled), so the foreground is at most as tall as the frame is wide, the 9:16 cut
        // of its height fits its width, and each band has 420 lines or more.
        let foreground = foreground_height.clamp(2, WIDTH);
        let top = (HEIGHT - foreground) / 4 * 2;
        let bottom = HEIGHT - foreground - top;
        BlurBands {
            foreground,
            top,
            bottom,
            top_rows: top.div_ceil(BLUR_SHRINK),
            bottom_rows: bottom.div_ceil(BLUR_SHRINK),
        }
    }
}

/// How the blur layout shrinks the source to the foreground.
///
/// zimg's spline16 is both closer to the source and cheaper than swscale's `area`: on `make
/// bench`'s 1920×1080 clip, shrunk to 1080×608 and compared with a Lanczos shrink of the
/// clip's lossless frames, SSIM 0.9972 against 0.9959, for about 0.2 s less CPU in a 30 s
/// part of the render (2 % of it). zimg is an optional ffmpeg library
/// (`--enable-libzimg`, in Debian's and Ubuntu's ffmpeg, the image's included), so an
/// ffmpeg without it keeps `area` (`encode::choose_shrink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shrink {
    /// `zscale=…:filter=spline16`.
    Spline16,
    /// `scale=…:flags=area`: an average over each output pixel's footprint.
    Area,
}

impl Shrink {
    fn to(self, w: u32, h: u32) -> String {
        match self {
            Shrink::Spline16 => format!("zscale=w={w}:h={h}:filter=spline16"),
            Shrink::Area => format!("scale={w}:{h}:flags=area"),
        }
    }
}

/// What the graph does to the frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Keep,
    /// Drop frames down to this rate, first: the layout then works on the frames kept only.
    Cap(u32),
    /// Repeat frames up to this rate, after the layout (which then works on the source's
    /// frames only) and before the captions (so that they follow the output's frames).
    Raise(u32),
}

/// Captions to burn: the ASS file and the folder of fonts libass may use.
pub struct Burn<'a> {
    pub ass: &'a Path,
    pub fonts_dir: &'a Path,
}

/// The frames a graph keeps: those from `start_ms` to `end_ms` milliseconds into the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The whole video graph, `[0:v]` to `[vout]`. With a `span`, only the frames of that part of
/// the window: the input's timestamps are the window's (0 at its start), which the captions
/// follow, and the output's start again from 0 at the span's first frame. Without, every
/// frame of the input, as timed (a graph that changes the frame rate: its `fps` filter fills
/// the window's length itself).
pub fn video_graph(
    layout: &Layout,
    shrink: Shrink,
    rate: Rate,
    burn: Option<&Burn<'_>>,
    span: Option<&Span>,
) -> Result<String, RenderError> {
    let (w, h) = (WIDTH, HEIGHT);
    let trim = match span {
        Some(s) => format!(
            "[0:v]trim=start={}:end={},",
            ms_secs(s.start_ms),
            ms_secs(s.end_ms)
        ),
        None => "[0:v]".into(),
    };
    let input = match rate {
        Rate::Cap(fps) => format!("{trim}fps={fps},"),
        Rate::Keep | Rate::Raise(_) => trim,
    };
    let mut graph = match layout {
        Layout::Blur { foreground_height } => {
            let b = BlurBands::around(*foreground_height);
            let (fg, bw, bh) = (b.foreground, w / BLUR_SHRINK, h / BLUR_SHRINK);
            format!(
                "{input}{},setsar=1,split=2[bg][fg];\
                 [bg]crop=trunc(ih*{w}/{h}/2)*2:ih,scale={bw}:{bh}:flags=fast_bilinear,boxblur=4:2,split=2[b1][b2];\
                 [b1]crop={bw}:{}:0:0,scale={w}:{}:flags=fast_bilinear,setsar=1[top];\
                 [b2]crop={bw}:{}:0:{},scale={w}:{}:flags=fast_bilinear,setsar=1[bot];\
                 [top][fg][bot]vstack=inputs=3",
                shrink.to(w, fg),
                b.top_rows,
                b.top,
                b.bottom_rows,
                bh - b.bottom_rows,
                b.bottom
            )
        }
        Layout::Crop => {
            format!(
                "{input}scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1"
            )
        }
        Layout::Portrait => {
            format!("{input}scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1")
        }
        Layout::Split(s) => {
            // Even heights: 4:2:0 chroma needs them.
            let top = ((f64::from(h) * s.facecam_share / 2.0).round() as u32) * 2;
            let bottom = h - top;
            format!(
                "{input}split=2[cam][game];\
                 [cam]{},scale={w}:{top}:force_original_aspect_ratio=increase,crop={w}:{top},setsar=1[top];\
                 [game]{},scale={w}:{bottom}:force_original_aspect_ratio=increase,crop={w}:{bottom},setsar=1[bot];\
                 [top][bot]vstack=inputs=2",
                crop(&s.facecam),
                crop(&s.gameplay)
            )
        }
    };
    if let Rate::Raise(fps) = rate {
        graph.push_str(&format!(",fps={fps}"));
    }
    if let Some(b) = burn {
        graph.push_str(&format!(
            ",ass=filename={}:fontsdir={}",
            filter_path(b.ass)?,
            filter_path(b.fonts_dir)?
        ));
    }
    if span.is_some() {
        // The window's first frame can come up to a frame after its start; left there, ffmpeg
        // would fill the gap by showing it twice. From zero, the output's frame `i` is the
        // window's frame `i`, and one part's frames follow the other's with no gap.
        graph.push_str(",setpts=PTS-STARTPTS");
    }
    graph.push_str(",format=yuv420p[vout]");
    Ok(graph)
}

fn crop(r: &Region) -> String {
    // Even sizes and offsets, from the input's own size so any resolution works.
    format!(
        "crop=trunc(iw*{:.4}/2)*2:trunc(ih*{:.4}/2)*2:trunc(iw*{:.4}/2)*2:trunc(ih*{:.4}/2)*2",
        r.w, r.h, r.x, r.y
    )
}

/// A path inside a filter graph. ffmpeg's two levels of escaping (option values, then the
/// graph) make arbitrary paths fragile, so only plain characters are accepted: the job's own
/// working files always qualify, and a fonts folder that does not is a configuration error.
fn filter_path(p: &Path) -> Result<String, RenderError> {
    let s = p.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+".contains(c);
    if s.is_empty() || !s.chars().all(plain) {
        return Err(RenderError::Settings(format!(
            "path {s:?} cannot be used in an ffmpeg filter; use only letters, digits and / . _ - +"
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first ten seconds of a window.
    const WHOLE: Span = Span {
        start_ms: 0,
        end_ms: 10_000,
    };

    fn info(w: u32, h: u32) -> MediaInfo {
        MediaInfo {
            width: w,
            height: h,
            fps: 30.0,
            rotation: 0,
            duration_secs: 10.0,
            video_codec: "h264".into(),
            audio_codec: "aac".into(),
        }
    }

    #[test]
    fn a_portrait_source_is_only_scaled_whatever_the_layout() {
        let split = SplitRegions::default();
        assert_eq!(
            Layout::choose(LayoutKind::Split, split, &info(1080, 1920), false),
            Layout::Portrait
        );
        assert_eq!(
            Layout::choose(LayoutKind::Blur, split, &info(1920, 1080), true),
            Layout::Portrait
        );
        assert_eq!(
            Layout::choose(LayoutKind::Crop, split, &info(1920, 1080), false),
            Layout::Crop
        );
        let g = video_graph(
            &Layout::Portrait,
            Shrink::Spline16,
            Rate::Keep,
            None,
            Some(&WHOLE),
        )
        .unwrap();
        assert!(!g.contains("crop") && !g.contains("blur"), "{g}");
    }

    #[test]
    fn the_blur_background_is_cut_from_the_scaled_source_and_blurred_small() {
        let layout = Layout::choose(
            LayoutKind::Blur,
            SplitRegions::default(),
            &info(1920, 1080),
            false,
        );
        assert_eq!(
            layout,
            Layout::Blur {
                foreground_height: 608
            }
        );
        // The source is shrunk once, by zimg where ffmpeg has it, else by swscale.
        let g = video_graph(&layout, Shrink::Area, Rate::Keep, None, Some(&WHOLE)).unwrap();
        assert!(
            g.starts_with("[0:v]trim=start=0.000:end=10.000,scale=1080:608:flags=area,"),
            "{g}"
        );
        assert_eq!(g.matches("flags=area").count(), 1, "{g}");
        let zimg = video_graph(&layout, Shrink::Spline16, Rate::Keep, None, Some(&WHOLE)).unwrap();
        assert_eq!(
            zimg,
            g.replacen(
                "scale=1080:608:flags=area",
                "zscale=w=1080:h=608:filter=spline16",
                1
            )
        );
        let bg = g.split(';').nth(1).unwrap();
        assert!(
            bg.starts_with("[bg]crop=trunc(ih*1080/1920/2)*2:ih,scale=135:240:"),
            "{g}"
        );
        let blur = bg.find("boxblur").unwrap();
        assert!(bg.find("scale=135:240").unwrap() < blur, "{g}");
        // Only the bands around the foreground are scaled up: 656 + 608 + 656 lines, from
        // the small background's top and bottom 82 rows.
        assert!(
            g.contains("[b1]crop=135:82:0:0,scale=1080:656:")
                && g.contains("[b2]crop=135:82:0:158,scale=1080:656:"),
            "{g}"
        );
        assert!(!g.contains("scale=1080:1920"), "{g}");
        assert!(
            g.ends_with("[top][fg][bot]vstack=inputs=3,setpts=PTS-STARTPTS,format=yuv420p[vout]"),
            "{g}"
        );
    }

    #[test]
    fn the_blur_bands_fill_the_frame_for_any_landscape_shape() {
        let shapes = [
            (1920, 1080),
            (1280, 720),
            (1440, 1080),
            (2560, 1080),
            (3840, 2160),
            (853, 480),
            (1000, 1000),
        ];
        for (w, h) in shapes {
            let layout = Layout::choose(
                LayoutKind::Blur,
                SplitRegions::default(),
                &info(w, h),
                false,
            );
            let Layout::Blur { foreground_height } = layout else {
                panic!("{w}x{h} is not given the blur layout");
            };
            let b = BlurBands::around(foreground_height);
            assert_eq!(b.foreground, foreground_height, "{w}x{h}");
            assert_eq!(b.top + b.foreground + b.bottom, HEIGHT, "{w}x{h}: {b:?}");
            assert!(
                [b.foreground, b.top, b.bottom].iter().all(|x| x % 2 == 0),
                "{w}x{h}: {b:?}"
            );
            // Each band is scaled up from rows of the 240-row background that exist, enough
            // of them to cover it.
            let bh = HEIGHT / BLUR_SHRINK;
            assert!(
                b.top_rows * BLUR_SHRINK >= b.top && b.top_rows <= bh,
                "{w}x{h}: {b:?}"
            );
            assert!(
                b.bottom_rows * BLUR_SHRINK >= b.bottom && b.bottom_rows <= bh,
                "{w}x{h}: {b:?}"
            );
        }
    }

    #[test]
    fn frames_are_dropped_before_the_layout_and_repeated_after_it() {
        let b = Burn {
            ass: Path::new("/tmp/x/captions.ass"),
            fonts_dir: Path::new("/usr/share/fonts"),
        };
        let blur = Layout::Blur {
            foreground_height: 608,
        };
        let capped = video_graph(&blur, Shrink::Spline16, Rate::Cap(60), Some(&b), None).unwrap();
        assert!(capped.starts_with("[0:v]fps=60,zscale="), "{capped}");
        assert_eq!(capped.matches("fps=").count(), 1, "{capped}");
        let raised = video_graph(
            &Layout::Crop,
            Shrink::Spline16,
            Rate::Raise(30),
            Some(&b),
            None,
        )
        .unwrap();
        assert!(raised.starts_with("[0:v]scale="), "{raised}");
        // No trim, no new timestamps: the fps filter fills the window, ends included.
        assert!(
            !capped.contains("trim") && !raised.contains("setpts"),
            "{capped} {raised}"
        );
        let (fps, ass) = (
            raised.find(",fps=30,").unwrap(),
            raised.find("ass=").unwrap(),
        );
        assert!(fps < ass, "{raised}");
        assert!(!video_graph(
            &Layout::Crop,
            Shrink::Spline16,
            Rate::Keep,
            None,
            Some(&WHOLE)
        )
        .unwrap()
        .contains("fps="));
    }

    #[test]
    fn a_part_keeps_its_frames_and_starts_its_timestamps_again_after_the_captions() {
        let b = Burn {
            ass: Path::new("/tmp/x/captions.ass"),
            fonts_dir: Path::new("/usr/share/fonts"),
        };
        let part = Span {
            start_ms: 29_983,
            end_ms: 60_000,
        };
        let g = video_graph(
            &Layout::Crop,
            Shrink::Spline16,
            Rate::Keep,
            Some(&b),
            Some(&part),
        )
        .unwrap();
        assert!(g.starts_with("[0:v]trim=start=29.983:end=60.000,"), "{g}");
        // libass reads the window's timestamps; the part's file starts from zero.
        assert!(
            g.ends_with(":fontsdir=/usr/share/fonts,setpts=PTS-STARTPTS,format=yuv420p[vout]"),
            "{g}"
        );
    }

    #[test]
    fn split_heights_add_up_to_the_frame_and_are_even() {
        let g = video_graph(
            &Layout::Split(SplitRegions::default()),
            Shrink::Spline16,
            Rate::Keep,
            None,
            Some(&WHOLE),
        )
        .unwrap();
        assert!(
            g.contains("crop=1080:672") && g.contains("crop=1080:1248"),
            "{g}"
        );
    }

    #[test]
    fn captions_are_burned_last_with_the_fonts_folder() {
        let b = Burn {
            ass: Path::new("/tmp/x/captions.ass"),
            fonts_dir: Path::new("/usr/share/fonts"),
        };
        let g = video_graph(
            &Layout::Crop,
            Shrink::Spline16,
            Rate::Keep,
            Some(&b),
            Some(&WHOLE),
        )
        .unwrap();
        assert!(
            g.ends_with(
                ",ass=filename=/tmp/x/captions.ass:fontsdir=/usr/share/fonts,setpts=PTS-STARTPTS,format=yuv420p[vout]"
            ),
            "{g}"
        );
        let bad = Burn {
            ass: Path::new("/tmp/a:b'[c]"),
            fonts_dir: Path::new("/f"),
        };
        assert!(matches!(
            video_graph(
                &Layout::Crop,
                Shrink::Spline16,
                Rate::Keep,
                Some(&bad),
                Some(&WHOLE)
            ),
            Err(RenderError::Settings(_))
        ));
    }
}
