#!/usr/bin/env bash
# The relay's splice on loopback: MIB MiB from one client to another through
# `sxfer serve`'s relay (`examples/relay_pipe.rs`: pair by nameplate, then
# raw bytes), against the same bytes over one plain loopback TCP connection,
# and the server's CPU time per relayed GiB (it should only copy).
#
#   bench/relay.sh                 # REPS=3 MIB=1024
#
# The CPU figure is the server's utime + stime (from /proc/PID/stat) across
# one relayed run, pairing included, divided by the GiB relayed. Both
# figures are raw bytes: the peers' own SXFR/1 session inside the relay
# (sealing, hashing, disk) costs the peers, not the relay.
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

echo "== building sxfer and the relay_pipe example (release)"
cargo build --offline --release -p sxfer --bin sxfer --example relay_pipe
target="$(cargo metadata --offline --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
sxfer="$target/sxfer"
pipe="$target/examples/relay_pipe"

bench_workdir relay

bench_header

mkdir -p "$work/home"
export SXFER_HOME="$work/home" SXFER_PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
"$sxfer" user add bench --data-dir "$work/data" >/dev/null
start_server "$work/data" "$work/serve.log" --relay accounts

ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
hz="$(getconf CLK_TCK)"
seconds_of() { sed -n 's/^[0-9]* MiB in \([0-9.]*\) s$/\1/p'; }

printf '%-4s %12s %12s %14s %16s\n' rep direct_MiB/s relay_MiB/s relay/direct server_cpu_s/GiB
for rep in $(seq 1 "$reps"); do
    direct_s="$("$pipe" direct "$mib" | seconds_of)"
    before="$(ticks)"
    relay_s="$("$pipe" "bench@127.0.0.1:$port" "$fingerprint" "$mib" | seconds_of)"
    after="$(ticks)"
    awk -v mib="$mib" -v d="$direct_s" -v r="$relay_s" -v t="$((after - before))" -v hz="$hz" -v rep="$rep" \
        'BEGIN { printf "%-4s %12.0f %12.0f %14.2f %16.3f\n", rep, mib / d, mib / r, d / r, t / hz / (mib / 1024) }'
done
echo "== loadavg at end: $(cat /proc/loadavg)"
