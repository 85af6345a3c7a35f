#!/usr/bin/env bash
# The Python client (clients/python) against the Rust client, in the same
# run: one MIB MiB upload each to one `sxfer serve` on loopback, REPS
# times, interleaved, default suite (aes-256-gcm); the medians and the
# ratio. Then one Python upload under cProfile, to say where its time goes.
#
#   bench/python_client.sh          # REPS=3 MIB=1024
#
# Needs the venv of scripts/install-test-deps.sh (target/py-venv).
# Environment: REPS, MIB, BENCH_TMPDIR, KEEP_WORK=1. Loopback only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=bench/lib.sh
source bench/lib.sh

reps="${REPS:-3}"
mib="${MIB:-1024}"
python="$root/target/py-venv/bin/python"
[[ -x "$python" ]] || { echo "no $python: run scripts/install-test-deps.sh first" >&2; exit 1; }

echo "== building sxfer (release)"
cargo build --offline --release -p sxfer --bin sxfer
sxfer="$root/target/release/sxfer"

base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
work="$(mktemp -d "$base/sxfer-python.XXXXXX")"
server_pid=""
cleanup() {
    local status=$?
    [[ -n "$server_pid" ]] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
    if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "== kept $work" >&2; else rm -rf "$work"; fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_header
export SXFER_HOME="$work/home" SXFER_PASSWORD="bench-password-0123"
"$sxfer" user add bench --data-dir "$work/data" >/dev/null
start_server "$work/data" "$work/serve.log"
head -c "$((mib << 20))" /dev/urandom >"$work/file.bin"
cat >"$work/upload.py" <<PY
import sys, sxfer_client
with sxfer_client.connect("127.0.0.1", $port, user="bench", password="$SXFER_PASSWORD",
                          fingerprint="$fingerprint", known_hosts="$work/py_known_hosts") as c:
    c.upload(sys.argv[1], sys.argv[2])
PY
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

printf '%-4s %12s %12s %14s\n' rep rust_MiB/s python_MiB/s python/rust
for rep in $(seq 1 "$reps"); do
    start="$(now)"
    "$sxfer" upload "$work/file.bin" "bench@127.0.0.1:$port:rust-$rep.bin" --fingerprint "$fingerprint" >/dev/null 2>&1
    rust_s="$(secs "$start" "$(now)")"
    start="$(now)"
    "$python" "$work/upload.py" "$work/file.bin" "python-$rep.bin"
    python_s="$(secs "$start" "$(now)")"
    awk -v mib="$mib" -v r="$rust_s" -v p="$python_s" -v rep="$rep" \
        'BEGIN { printf "%-4s %12.0f %12.0f %14.2f\n", rep, mib / r, mib / p, r / p }' | tee -a "$work/rows"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-4s %12s %12s %14s\n' med "$(awk '{ print $2 }' "$work/rows" | median)" \
    "$(awk '{ print $3 }' "$work/rows" | median)" "$(awk '{ print $4 }' "$work/rows" | median)"
echo "== python/rust spread: $(awk '{ print $4 }' "$work/rows" | sort -n | sed -n '1p;$p' | paste -sd' ' | sed 's/ /../')"

echo "== where the Python client's time goes (cProfile, one upload, top 12 by own time)"
"$python" -m cProfile -s tottime "$work/upload.py" "$work/file.bin" profiled.bin 2>&1 | sed -n '1,22p'
echo "== loadavg at end: $(cat /proc/loadavg)"
