#!/usr/bin/env bash
# Peak memory of a big drop (issue 12): one MIB MiB file (2 GiB by
# default) from alice to bob through `sxfer serve` on loopback, then bob's
# fetch. Prints the peak RSS of each client process and of the server
# during each phase, and checks on the way that the sender's temporary
# ciphertext is 0600 while it exists and gone afterwards, and that the
# fetched file is byte-identical.
#
#   bench/drop_memory.sh            # MIB=2048
#
# Client peaks are the process's ru_maxrss (= VmHWM at exit), read by a
# python wrapper through getrusage(RUSAGE_CHILDREN). The server's peak is
# its VmHWM (/proc/PID/status), reset before each phase (clear_refs 5).
#
# Environment: MIB=2048, BENCH_TMPDIR, KEEP_WORK=1, SXFER_BIN (a built binary:
# no build). Needs ~5×MIB of disk.
# Network: loopback only; cargo runs --offline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=bench/lib.sh
source bench/lib.sh

mib="${MIB:-2048}"

if [[ -n "${SXFER_BIN:-}" ]]; then
    sxfer="$SXFER_BIN"
else
    echo "== building sxfer (release)"
    cargo build --offline --release -p sxfer --bin sxfer
    target="$(cargo metadata --offline --format-version 1 --no-deps \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
    sxfer="$target/sxfer"
fi

base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
work="$(mktemp -d "$base/sxfer-drop-memory.XXXXXX")"
server_pid=""
cleanup() {
    local status=$?
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "== kept $work" >&2; else rm -rf "$work"; fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_header

# peak_kib CMD...: runs CMD, prints its peak RSS in KiB on fd 3; fails as CMD does.
peak_kib() {
    python3 -c '
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)' "$@" 2>&1 >/dev/null | tail -n 1
}
server_hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$server_pid/status"; }
reset_server_hwm() { echo 5 >"/proc/$server_pid/clear_refs"; }

for who in alice bob; do
    mkdir -p "$work/$who/.sxfer"
    "$sxfer" keygen -f "$work/$who/id" -C "$who" >/dev/null
    "$sxfer" user add "$who" --data-dir "$work/data" --no-password --key "$work/$who/id.pub" >/dev/null
done
echo "== $mib MiB of random bytes"
head -c "$((mib << 20))" /dev/urandom >"$work/file.bin"
start_server "$work/data" "$work/serve.log"
echo "== server on 127.0.0.1:$port (pid $server_pid), idle VmHWM $(($(server_hwm_kib) / 1024)) MiB"

# as WHO SXFER_ARGS...: the command line of sxfer run as WHO (own home, key, pin).
as() {
    local who="$1"
    shift
    cmd=(env HOME="$work/$who" SXFER_HOME="$work/$who/.sxfer" "$sxfer" "$@" -i "$work/$who/id" --fingerprint "$fingerprint")
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }

# Watch the sender's staging directory for the temporary ciphertext.
staging="$work/alice/.sxfer/drops"
(
    for _ in $(seq 1 6000); do
        found="$(find "$staging" -maxdepth 1 -name '.out-*.age' -printf '%m %s\n' 2>/dev/null | head -n 1 || true)"
        if [[ -n "$found" ]]; then echo "$found" >"$work/temp.seen"; break; fi
        sleep 0.1
    done
) &
watcher=$!

reset_server_hwm
start=$(date +%s.%N)
as alice drop "$work/file.bin" --to bob "alice@127.0.0.1:$port" -q
drop_kib="$(peak_kib "${cmd[@]}")"
drop_s="$(elapsed "$start")"
server_drop_kib="$(server_hwm_kib)"
wait "$watcher" || true
as alice drop status "alice@127.0.0.1:$port"
id="$("${cmd[@]}" | awk 'NR == 1 { print $1 }')"

reset_server_hwm
start=$(date +%s.%N)
as bob fetch "$id" "$work/out" --server "bob@127.0.0.1:$port" -q
fetch_kib="$(peak_kib "${cmd[@]}")"
fetch_s="$(elapsed "$start")"
server_fetch_kib="$(server_hwm_kib)"

cmp "$work/file.bin" "$work/out/file.bin" || { echo "the fetched file differs" >&2; exit 1; }
temp="$(cat "$work/temp.seen" 2>/dev/null || echo 'not seen')"
left="$(find "$staging" -maxdepth 1 -name '.out-*' | wc -l)"
as alice drop status "alice@127.0.0.1:$port"
status_line="$("${cmd[@]}" | sed -n 2p)"

printf '%-8s %10s %12s %16s\n' phase seconds client_MiB server_HWM_MiB
printf '%-8s %10.1f %12d %16d\n' drop "$drop_s" "$((drop_kib / 1024))" "$((server_drop_kib / 1024))"
printf '%-8s %10.1f %12d %16d\n' fetch "$fetch_s" "$((fetch_kib / 1024))" "$((server_fetch_kib / 1024))"
echo "== temporary ciphertext while dropping: mode+size '$temp' in $staging; left after: $left"
echo "== status after the fetch: $status_line"
echo "== loadavg at end: $(cat /proc/loadavg)"
