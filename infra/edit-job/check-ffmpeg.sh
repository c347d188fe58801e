#!/usr/bin/env bash
# Check that this machine's ffmpeg can run the render job (shared/src/render): the encoders,
# filters and muxer options its commands use. The edit-job image runs it at build time and
# `make lint-docker` runs it natively, so CI and the image are held to the same list.
# REQUIRE_NVENC=1 also requires h264_nvenc (the image, whose ffmpeg must have it; CI's may not
# have a GPU but Debian's and Ubuntu's ffmpeg list it all the same).
set -euo pipefail

ffmpeg=${FFMPEG:-ffmpeg}
command -v "$ffmpeg" >/dev/null || { echo "check-ffmpeg: $ffmpeg not found" >&2; exit 1; }
encoders=$("$ffmpeg" -hide_banner -encoders 2>/dev/null)
filters=$("$ffmpeg" -hide_banner -filters 2>/dev/null)
missing=()
# encode.rs: the CPU encoder, the GPU one, AAC-LC sound, the JPEG thumbnail, the WAV for speech;
# loudness.rs: the float WAV the sound is decoded into once.
need_encoders=(libx264 aac mjpeg pcm_s16le pcm_f32le)
[ "${REQUIRE_NVENC:-0}" = 1 ] && need_encoders+=(h264_nvenc)
for e in "${need_encoders[@]}"; do
    grep -qE "^ [A-Z.]{6} $e " <<<"$encoders" || missing+=("encoder $e")
done
# layout.rs (layouts and captions through libass, an encode part's frames trimmed and their
# times restarted; zscale, zimg's scaler, shrinks the blur layout's foreground: the job falls
# back to swscale without it, slower, so CI and the image must have it), loudness.rs (ebur128
# measures, a gain and a peak limiter apply; a silent track passes as it is).
for f in split scale zscale crop boxblur pad vstack setsar fps format ass trim setpts ebur128 aformat aresample volume alimiter anull; do
    grep -qE "^ [A-Z.]{3} $f " <<<"$filters" || missing+=("filter $f")
done
# encode.rs: the parts of an encode are joined through the concat demuxer.
demuxers=$("$ffmpeg" -hide_banner -demuxers 2>/dev/null)
grep -qE "^ D[ E] concat " <<<"$demuxers" || missing+=("demuxer concat")
if [ ${#missing[@]} -gt 0 ]; then
    echo "check-ffmpeg: $ffmpeg lacks: ${missing[*]}" >&2
    exit 1
fi

# A one-second render with the job's output options: High profile, closed GOP, captions burned
# by libass, AAC-LC at 48 kHz, the index at the front.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/c.ass" <<'ASS'
[Script Info]
ScriptType: v4.00+
PlayResX: 1080
PlayResY: 1920

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,DejaVu Sans,80,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,1,0,0,0,100,100,0,0,1,4,0,2,60,60,300,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,check
ASS
"$ffmpeg" -hide_banner -nostdin -loglevel error -y \
    -f lavfi -i testsrc2=size=320x180:rate=30:duration=1 -f lavfi -i sine=duration=1 \
    -filter_complex "[0:v]zscale=w=640:h=360:filter=spline16,scale=1080:1920:force_original_aspect_ratio=increase,crop=1080:1920,setsar=1,ass=filename=$work/c.ass,format=yuv420p[vout]" \
    -map '[vout]' -map 1:a -c:v libx264 -preset ultrafast -qp 20 -x264-params deblock=1:8x8dct=1 -profile:v high -g 60 -flags +cgop \
    -c:a aac -profile:a aac_low -b:a 160k -ar 48000 -ac 2 -movflags +faststart "$work/out.mp4"
# -profile:v only caps the profile: x264 writes the lowest one its tools need, and ultrafast's
# own tools make Constrained Baseline. The job's options must make it High.
profile=$("${FFPROBE:-ffprobe}" -v error -select_streams v:0 -show_entries stream=profile -of csv=p=0 "$work/out.mp4")
[ "$profile" = High ] || { echo "check-ffmpeg: the test render is H.264 $profile, not High" >&2; exit 1; }
echo "check-ffmpeg: $("$ffmpeg" -hide_banner -version | head -n1 | cut -d' ' -f1-3) has what the render job uses"
