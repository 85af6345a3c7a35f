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

build_release
bench_workdir admission
bench_header

bench_account
serve_and_pin
head -c "$((file_kib * 1024))" /dev/urandom >"$work/payload.bin"
echo "== server on 127.0.0.1:$port (pid $server_pid), idle RSS $(status_mib VmRSS) MiB"
echo "== flood: $stalled stalled + $garbage garbage connections; upload of $file_kib KiB; $reps reps"

results="$work/results.tsv" # spread rep upload_s ls_s rss_mib
: >"$results"
printf '%-8s %-4s %10s %8s %9s  %s\n' spread rep upload_s ls_s rss_MiB "flood"
for rep in $(seq 1 "$reps"); do
    for spread in $spreads; do
        flood_open "$stalled" "$garbage" "$spread"
        start=$EPOCHREALTIME
        upload_ok=ok
        "$sxfer" upload "$work/payload.bin" "$remote:run-$rep-$spread.bin" --fingerprint "$fingerprint" -q \
            2>"$work/client.err" || upload_ok="FAILED: $(head -n 1 "$work/client.err")"
        upload_s=$(since "$start")
        start=$EPOCHREALTIME
        "$sxfer" ls "$remote" --fingerprint "$fingerprint" -q >/dev/null 2>"$work/ls.err" \
            || upload_ok="${upload_ok#ok}; ls FAILED: $(head -n 1 "$work/ls.err")"
        ls_s=$(since "$start")
        rss_mib=$(status_mib VmRSS)
        flood_close
        printf '%-8s %-4s %10.3f %8.3f %9s  %s %s\n' "$spread" "$rep" "$upload_s" "$ls_s" "$rss_mib" \
            "$(tail -n 1 "$work/flood.out")" "$([[ $upload_ok == ok ]] || echo "$upload_ok")"
        [[ $upload_ok == ok ]] && printf '%s\t%s\t%s\t%s\t%s\n' "$spread" "$rep" "$upload_s" "$ls_s" "$rss_mib" >>"$results"
    done
done

echo "== medians (successful runs)"
for spread in $spreads; do
    col() { awk -F'\t' -v s="$spread" -v c="$1" '$1 == s { print $c }' "$results" | median; }
    runs=$(awk -F'\t' -v s="$spread" '$1 == s' "$results" | wc -l)
    echo "spread $spread: upload $(col 3) s, ls $(col 4) s, server RSS $(col 5) MiB ($runs of $reps runs succeeded)"
done
echo "== server VmHWM $(status_mib VmHWM) MiB; loadavg at end: $(cat /proc/loadavg)"
