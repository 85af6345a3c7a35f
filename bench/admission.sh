#!/usr/bin/env bash
# Admission under load: with many stalled and garbage connections open, how
# long a real client takes to log in (password, production argon2id) and
# upload a file, and how much memory the server holds.
#
#   bench/admission.sh            # this tree's release binary
#   BIN=/path/to/sxfer bench/admission.sh   # another build (the flood tool is this tree's)
#
# For each repetition and each source spread, starts `examples/flood.rs`
# (STALLED connections that never send a byte, GARBAGE that send non-SXFR
# bytes and stay open; from 127.0.0.1, or spread over 127.0.0.1..SPREAD so
# the per-address cap does not apply), then times
#   * `sxfer upload` of a FILE_KIB file (connect, handshake, argon2id, data,
#     commit and fsync) and `sxfer ls`, each a fresh connection;
#   * the server's VmRSS while the flood is open, and VmHWM at the end.
# Prints every run and the medians. Targets (issue 10): upload < 2 s, RSS <
# 128 MiB with 500 stalled + 300 garbage connections.
#
# Environment:
#   REPS=5 STALLED=500 GARBAGE=300 FILE_KIB=1024 SPREADS="1 50"
#   BENCH_TMPDIR    where the work directory goes [default: $TMPDIR or /tmp]
#   KEEP_WORK=1     keep the work directory (and the server log)
# Network: loopback only; cargo runs --offline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=bench/lib.sh
source bench/lib.sh

reps="${REPS:-5}"
stalled="${STALLED:-500}"
garbage="${GARBAGE:-300}"
file_kib="${FILE_KIB:-1024}"
spreads="${SPREADS:-1 50}"

echo "== building sxfer and the flood tool (release)"
cargo build --offline --release -p sxfer --bin sxfer --example flood
target="$(cargo metadata --offline --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
sxfer="${BIN:-$target/sxfer}"
flood="$target/examples/flood"
[[ -x "$sxfer" && -x "$flood" ]] || { echo "missing $sxfer or $flood" >&2; exit 1; }

# Each flood connection is a descriptor here; the server raises its own limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
work="$(mktemp -d "$base/sxfer-admission.XXXXXX")"
server_pid="" flood_pid=""
cleanup() {
    local status=$?
    local pid
    exec 7>&- 2>/dev/null || true
    for pid in $flood_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "== kept $work" >&2; else rm -rf "$work"; fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_header

mkdir -p "$work/home"
export SXFER_HOME="$work/home" SXFER_PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
"$sxfer" user add bench --data-dir "$work/data" >/dev/null
start_server "$work/data" "$work/serve.log"
remote="bench@127.0.0.1:$port"
head -c "$((file_kib * 1024))" /dev/urandom >"$work/payload.bin"
"$sxfer" ls "$remote" --fingerprint "$fingerprint" -q >/dev/null # pins the key
since() { awk -v now="$EPOCHREALTIME" -v start="$1" 'BEGIN { printf "%.3f", now - start }'; }
status_kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$server_pid/status"; }
echo "== server on 127.0.0.1:$port (pid $server_pid), idle RSS $(($(status_kib VmRSS) / 1024)) MiB"
echo "== flood: $stalled stalled + $garbage garbage connections; upload of $file_kib KiB; $reps reps"

results="$work/results.tsv" # spread rep upload_s ls_s rss_mib
: >"$results"
printf '%-8s %-4s %10s %8s %9s  %s\n' spread rep upload_s ls_s rss_MiB "flood"
for rep in $(seq 1 "$reps"); do
    for spread in $spreads; do
        mkfifo "$work/flood.in"
        "$flood" "127.0.0.1:$port" "$stalled" "$garbage" "$spread" <"$work/flood.in" >"$work/flood.out" &
        flood_pid=$!
        exec 7>"$work/flood.in"
        until grep -q '^ready' "$work/flood.out" 2>/dev/null; do
            kill -0 "$flood_pid" 2>/dev/null || { cat "$work/flood.out" >&2; echo "flood failed" >&2; exit 1; }
            sleep 0.05
        done
        start=$EPOCHREALTIME
        upload_ok=ok
        "$sxfer" upload "$work/payload.bin" "$remote:run-$rep-$spread.bin" --fingerprint "$fingerprint" -q \
            2>"$work/client.err" || upload_ok="FAILED: $(head -n 1 "$work/client.err")"
        upload_s=$(since "$start")
        start=$EPOCHREALTIME
        "$sxfer" ls "$remote" --fingerprint "$fingerprint" -q >/dev/null 2>"$work/ls.err" \
            || upload_ok="${upload_ok#ok}; ls FAILED: $(head -n 1 "$work/ls.err")"
        ls_s=$(since "$start")
        rss_mib=$(($(status_kib VmRSS) / 1024))
        exec 7>&-
        wait "$flood_pid" || true
        flood_pid=""
        rm -f "$work/flood.in"
        printf '%-8s %-4s %10.3f %8.3f %9s  %s %s\n' "$spread" "$rep" "$upload_s" "$ls_s" "$rss_mib" \
            "$(tail -n 1 "$work/flood.out")" "$([[ $upload_ok == ok ]] || echo "$upload_ok")"
        [[ $upload_ok == ok ]] && printf '%s\t%s\t%s\t%s\t%s\n' "$spread" "$rep" "$upload_s" "$ls_s" "$rss_mib" >>"$results"
    done
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }'; }
echo "== medians (successful runs)"
for spread in $spreads; do
    col() { awk -F'\t' -v s="$spread" -v c="$1" '$1 == s { print $c }' "$results" | median; }
    runs=$(awk -F'\t' -v s="$spread" '$1 == s' "$results" | wc -l)
    echo "spread $spread: upload $(col 3) s, ls $(col 4) s, server RSS $(col 5) MiB ($runs of $reps runs succeeded)"
done
echo "== server VmHWM $(($(status_kib VmHWM) / 1024)) MiB; loadavg at end: $(cat /proc/loadavg)"
