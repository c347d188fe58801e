#!/usr/bin/env bash
# `make demo`: HiLite on this machine with the embedded backend (SQLite and a folder), in a
# fresh ./demo-data. It writes a configuration, trusts an editor, adds a publishing account,
# starts `hilite serve` on a free port, asks its health endpoint, shows the status and the
# records, and stops the server with SIGTERM. Every line it prints comes from the real binary.
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

step "Build the hilite binary"
show cargo build --quiet -p hilite-cli
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

step "Done"
echo "The demo's data stays in ./$demo; look again with: $hilite --config $config status"
