"""The baseline of `make bench` for the render job: seed 000's edit, a MoviePy script that
overlays an SRT onto the clip and writes it with libx264, run from the benchmark's own venv
(target/bench-venv, made by `make bench`). MoviePy 2 draws text with Pillow, so no
ImageMagick is needed.

usage: render_moviepy.py SOURCE SRT OUTPUT FONT PRESET THREADS [X264_PARAMS]
"""

import os
import sys

from moviepy import CompositeVideoClip, TextClip, VideoFileClip
from moviepy.video.tools.subtitles import SubtitlesClip


def main() -> None:
    source, srt, output, font, preset, threads = sys.argv[1:7]
    x264_params = sys.argv[7] if len(sys.argv) > 7 else ""
    video = VideoFileClip(source)
    width = video.w

    def caption(text: str) -> TextClip:
        # White bold-looking text with a black outline, wrapped to 80 % of the width, like the
        # HiLite caption preset.
        return TextClip(
            font=font,
            text=text,
            font_size=64,
            color="white",
            stroke_color="black",
            stroke_width=4,
            method="caption",
            size=(int(width * 0.8), None),
        )

    subtitles = SubtitlesClip(srt, make_textclip=caption, encoding="utf-8")
    edited = CompositeVideoClip([video, subtitles.with_position(("center", 0.7), relative=True)])
    edited.write_videofile(
        output,
        codec="libx264",
        audio_codec="aac",
        preset=preset,
        threads=int(threads),
        ffmpeg_params=["-x264-params", x264_params] if x264_params else None,
        # MoviePy writes its temporary audio track into the working directory by default.
        temp_audiofile=os.path.join(os.path.dirname(os.path.abspath(output)), "moviepy-audio.m4a"),
        logger=None,
    )


if __name__ == "__main__":
    main()
