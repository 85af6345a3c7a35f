#!/usr/bin/env bash
# A relayed peer transfer against a direct one, in the same run, on
# loopback: MIB MiB (one file) with `sxfer send`/`sxfer receive` directly
# (the receiver listening, fingerprint mode) and through `sxfer serve`'s
# open relay with a short code (`--via`, the receiver `--relay-only` so the
# peers do not upgrade to a direct connection, PROTOCOL.md §13.10), and the
# relay server's CPU seconds per relayed GiB. Prints the median of each
# column and the spread (min..max) of the ratio.
#
#   bench/peer_relay.sh            # REPS=3 MIB=1024
#
# Times are wall clock from starting the connecting side to both sides
# exiting (logins, handshakes and the final fsync included). The server's
# CPU is its utime + stime (/proc/PID/stat) across one relayed run.
#
# Environment: REPS=3 MIB=1024, BENCH_TMPDIR, KEEP_WORK=1.
# Network: loopback only; cargo runs --offline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=bench/lib.sh
source bench/lib.sh

reps="${REPS:-3}"
mib="${MIB:-1024}"

echo "== building sxfer (release)"
cargo build --offline --release -p sxfer --bin sxfer
target="$(cargo metadata --offline --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
sxfer="$target/sxfer"

base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
work="$(mktemp -d "$base/sxfer-peer-relay.XXXXXX")"
server_pid=""
listener_pid=""
cleanup() {
    local status=$?
    for pid in "$listener_pid" "$server_pid"; do
        if [[ -n "$pid" ]]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "== kept $work" >&2; else rm -rf "$work"; fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_header

export HOME="$work/home" SXFER_HOME="$work/home/.sxfer"
mkdir -p "$HOME"
head -c "$((mib << 20))" /dev/urandom >"$work/file.bin"
start_server "$work/data" "$work/serve.log" --relay open
via=(--via "127.0.0.1:$port" --server-fingerprint "$fingerprint")

ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
hz="$(getconf CLK_TCK)"
now() { date +%s.%N; }
# wait_line FILE PATTERN: the first line of FILE matching PATTERN, once it is there.
wait_line() {
    for _ in $(seq 1 600); do
        grep -m1 "$2" "$1" 2>/dev/null && return 0
        kill -0 "$listener_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$1" >&2
    echo "no line $2 in $1" >&2
    exit 1
}

printf '%-4s %12s %12s %14s %16s\n' rep direct_MiB/s relay_MiB/s relay/direct server_cpu_s/GiB
for rep in $(seq 1 "$reps"); do
    rm -rf "$work/out" && mkdir -p "$work/out"
    "$sxfer" receive --listen 127.0.0.1:0 --yes --out "$work/out" --json >"$work/listen.out" 2>/dev/null &
    listener_pid=$!
    peer_fp="$(wait_line "$work/listen.out" '"fingerprint"' | sed 's/.*"fingerprint":"\([^"]*\)".*/\1/')"
    address="$(wait_line "$work/listen.out" '"listening"' | sed 's/.*"address":"\([^"]*\)".*/\1/')"
    start="$(now)"
    "$sxfer" send "$work/file.bin" "$address" --fingerprint "$peer_fp" >/dev/null 2>&1
    wait "$listener_pid"
    listener_pid=""
    direct_s="$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')"
    cmp -s "$work/file.bin" "$work/out/file.bin" || { echo "direct: the file differs" >&2; exit 1; }

    rm -rf "$work/out" && mkdir -p "$work/out"
    "$sxfer" send "$work/file.bin" "${via[@]}" --json >"$work/create.out" 2>/dev/null &
    listener_pid=$!
    code="$(wait_line "$work/create.out" '"code"' | sed 's/.*"code":"\([^"]*\)".*/\1/')"
    before="$(ticks)"
    start="$(now)"
    SXFER_CODE="$code" "$sxfer" receive "${via[@]}" --relay-only --yes --out "$work/out" >"$work/join.err" 2>&1
    grep -q "^relayed via " "$work/join.err" || { cat "$work/join.err" >&2; echo "the relayed run did not stay relayed" >&2; exit 1; }
    wait "$listener_pid"
    listener_pid=""
    relay_s="$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')"
    after="$(ticks)"
    cmp -s "$work/file.bin" "$work/out/file.bin" || { echo "relayed: the file differs" >&2; exit 1; }
    awk -v mib="$mib" -v d="$direct_s" -v r="$relay_s" -v t="$((after - before))" -v hz="$hz" -v rep="$rep" \
        'BEGIN { printf "%-4s %12.0f %12.0f %14.2f %16.3f\n", rep, mib / d, mib / r, d / r, t / hz / (mib / 1024) }' \
        | tee -a "$work/rows"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-4s %12s %12s %14s %16s\n' med \
    "$(awk '{ print $2 }' "$work/rows" | median)" "$(awk '{ print $3 }' "$work/rows" | median)" \
    "$(awk '{ print $4 }' "$work/rows" | median)" "$(awk '{ print $5 }' "$work/rows" | median)"
echo "== relay/direct spread: $(awk '{ print $4 }' "$work/rows" | sort -n | sed -n '1p;$p' | paste -sd' ' | sed 's/ /../')"
echo "== loadavg at end: $(cat /proc/loadavg)"
