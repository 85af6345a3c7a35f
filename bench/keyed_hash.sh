#!/usr/bin/env bash
# hmac-sha256-ctr (PROTOCOL.md §6.6) against the floor of its construction,
# with `openssl speed` in the same run, and end to end against the default
# suite.
#
#   bench/keyed_hash.sh            # REPS=5 MIB=512
#
# 1. Record: per rep, the suite's 1 MiB seal and open (examples/
#    keyed_hash_bench --cpu, ~RUN_SECONDS s each) and, right after, `openssl
#    speed -evp sha256 -bytes 16384` and `openssl speed -bytes 64 sha256`.
#    Both divide by the process's CPU time, not the wall clock, so other
#    load on the machine does not skew one against the other. "before" is
#    the suite as it was (one hmac::sign per keystream block, then the MAC
#    pass), from the same bench's keystream-sign and mac figures.
#    The floor: the keystream costs 2 SHA-256 compressions per 32 bytes and
#    the MAC 1 per 64, 5/64 compressions a byte, so with OpenSSL's long-
#    message rate R (bytes/s, 64 bytes a compression) floor = R / 5. A 64-byte
#    `openssl speed` message is 2 compressions (data + padding block) plus
#    init and final: that column is shown, and the floor it implies (ops/s x
#    2 compressions x 12.8 bytes) is lower. Ratios are taken within each rep.
# 2. End to end: an MIB MiB upload of random bytes to a local `sxfer serve`
#    (accepting the default suites and hmac-sha256-ctr), the client with
#    `--suites hmac-sha256-ctr` against the default suite, alternating which
#    goes first; wall clock from start to exit of `sxfer upload`, and the
#    CPU seconds per GiB of client + server (load-proof). The floor's own
#    CPU per GiB is one seal plus one open at the floor; its ratio to the
#    extra CPU hmac-sha256-ctr costs over the default suite says how close
#    the suite comes to its construction end to end.
#
# Prints every rep, then medians and min..max. The machine is shared: quote
# medians and the within-rep ratios.
#
# Environment: REPS=5 MIB=512 RUN_SECONDS=1, SXFER_BIN (an sxfer binary to use
# instead of building one, e.g. an older commit's, for a before/after),
# PARTS="record e2e", BENCH_TMPDIR, KEEP_WORK=1.
# Network: loopback only; cargo runs --offline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=bench/lib.sh
source bench/lib.sh

reps="${REPS:-5}"
mib="${MIB:-512}"
seconds="${RUN_SECONDS:-1}"
# `openssl speed -seconds` takes whole seconds.
ossl_seconds="$(awk -v s="$seconds" 'BEGIN { n = int(s + 0.5); print n < 1 ? 1 : n }')"
parts="${PARTS:-record e2e}"
part() { [[ " $parts " == *" $1 "* ]]; }

echo "== building sxfer and the keyed_hash_bench example (release)"
cargo build --offline --release -p sxfer --bin sxfer -p sxfer-proto --example keyed_hash_bench
target="$(cargo metadata --offline --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
sxfer="${SXFER_BIN:-$target/sxfer}"
khb="$target/examples/keyed_hash_bench"

bench_workdir keyed-hash

bench_header
echo "== $(openssl version); sxfer binary: $sxfer"

# median_spread < numbers: "median (min..max)".
median_spread() {
    sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f (%.3f..%.3f)", m, v[1], v[NR]
    }'
}
# column FILE N: the Nth tab-separated field of every line.
column() { awk -F '\t' -v n="$2" '{ print $n }' "$1"; }
# openssl_kbps ARGS...: the last figure `openssl speed` prints, in 1000s of bytes/s.
openssl_kbps() {
    local line
    line="$(openssl speed "$@" 2>/dev/null | tail -n 1)"
    line="${line##* }"
    echo "${line%k}"
}

record="$work/record.tsv" # rep seal open ossl_16k_GBps ossl_64_GBps floor seal/floor open/floor floor64
if part record; then
    : >"$record"
    echo
    echo "== 1. record: 1 MiB seal / open (GB/s = 10^9 B/s per CPU-second, as openssl speed) beside openssl speed sha256, $reps reps"
    printf '%-4s %8s %8s %14s %12s %8s %10s %10s %8s %12s\n' \
        rep seal open ossl_16KiB ossl_64B floor seal/floor open/floor before before/floor
    for rep in $(seq 1 "$reps"); do
        out="$("$khb" --cpu --runs 1 --seconds "$seconds" --only seal --only open --only keystream-sign --only mac)"
        seal="$(awk -F '\t' '$1 == "result" && $2 == "seal" { print $3 }' <<<"$out")"
        open="$(awk -F '\t' '$1 == "result" && $2 == "open" { print $3 }' <<<"$out")"
        # Before issue 14 a seal was the per-block hmac::sign keystream, then the MAC pass.
        before="$(awk -F '\t' '$1 == "result" { v[$2] = $3 } END { printf "%.4f", 1 / (1 / v["keystream-sign"] + 1 / v["mac"]) }' <<<"$out")"
        long="$(openssl_kbps -evp sha256 -bytes 16384 -seconds "$ossl_seconds")"
        short="$(openssl_kbps -bytes 64 -seconds "$ossl_seconds" sha256)"
        awk -v rep="$rep" -v s="$seal" -v o="$open" -v l="$long" -v sh="$short" -v b="$before" 'BEGIN {
            lg = l * 1000 / 1e9; shg = sh * 1000 / 1e9; f = lg / 5; f64 = shg / 64 * 2 * 12.8
            printf "%s\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.3f\t%.3f\t%.4f\t%.4f\t%.3f\n", \
                rep, s, o, lg, shg, f, s / f, o / f, f64, b, b / f
        }' >>"$record"
        tail -n 1 "$record" | awk -F '\t' '{
            printf "%-4s %8.3f %8.3f %14.3f %12.3f %8.3f %10.2f %10.2f %8.3f %12.2f\n", $1, $2, $3, $4, $5, $6, $7, $8, $10, $11
        }'
    done
    echo "   median (min..max) over $reps reps:"
    echo "   seal GB/s              $(column "$record" 2 | median_spread)"
    echo "   open GB/s              $(column "$record" 3 | median_spread)"
    echo "   openssl 16 KiB GB/s    $(column "$record" 4 | median_spread)"
    echo "   openssl 64 B GB/s      $(column "$record" 5 | median_spread)"
    echo "   floor GB/s (16 KiB/5)  $(column "$record" 6 | median_spread)"
    echo "   floor GB/s from 64 B   $(column "$record" 9 | median_spread)  (ops/s x 2 compressions x 12.8 B)"
    echo "   seal / floor           $(column "$record" 7 | median_spread)"
    echo "   open / floor           $(column "$record" 8 | median_spread)"
    echo "   before GB/s            $(column "$record" 10 | median_spread)  (keystream-sign then mac, as the suite was)"
    echo "   before / floor         $(column "$record" 11 | median_spread)"
fi

e2e="$work/e2e.tsv" # rep default_MBps hmac_MBps default_cpu_s hmac_cpu_s (client + server, per GiB)
if part e2e; then
    : >"$e2e"
    echo
    echo "== 2. end to end: $mib MiB upload to a local sxfer serve, hmac-sha256-ctr vs the default suite, $reps reps"
    mkdir -p "$work/home"
    export SXFER_HOME="$work/home" SXFER_PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    "$sxfer" user add bench --data-dir "$work/data" >/dev/null
    start_server "$work/data" "$work/serve.log" --suites aes-256-gcm,chacha20-poly1305,hmac-sha256-ctr
    remote="bench@127.0.0.1:$port"
    head -c "$((mib << 20))" /dev/urandom >"$work/payload.bin"
    "$sxfer" ls "$remote" --fingerprint "$fingerprint" -q >/dev/null 2>&1 # pins the key
    hz="$(getconf CLK_TCK)"
    server_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; }
    # upload SUITE-FLAGS...: one upload; prints its MB/s (10^6 B/s) and the
    # client + server CPU seconds per GiB (the client's from `times`: each
    # call runs in its own $(...) subshell, whose only child is this upload).
    upload() {
        local start=$EPOCHREALTIME before client
        before="$(server_ticks)"
        "$sxfer" upload "$work/payload.bin" "$remote:payload.bin" --fingerprint "$fingerprint" -q "$@"
        times >"$work/times" # in this shell: its children's user and system time, "0m0.81s 0m0.37s"
        client="$(tail -n 1 "$work/times")"
        awk -v now="$EPOCHREALTIME" -v start="$start" -v mib="$mib" -v c="$client" \
            -v st="$(($(server_ticks) - before))" -v hz="$hz" 'BEGIN {
                n = split(c, t, /[ms ]+/); cpu = t[1] * 60 + t[2] + t[3] * 60 + t[4]
                printf "%.1f\t%.3f", mib * 1048576 / (now - start) / 1e6, (cpu + st / hz) / (mib / 1024)
            }'
    }
    printf '%-4s %14s %12s %14s %16s %16s\n' rep default_MB/s hmac_MB/s hmac/default default_cpu_s/GiB hmac_cpu_s/GiB
    for rep in $(seq 1 "$reps"); do
        if ((rep % 2)); then
            default="$(upload)"
            hmac="$(upload --suites hmac-sha256-ctr)"
        else
            hmac="$(upload --suites hmac-sha256-ctr)"
            default="$(upload)"
        fi
        printf '%s\t%s\t%s\n' "$rep" "$default" "$hmac" | awk -F '\t' -v OFS='\t' '{ print $1, $2, $4, $3, $5 }' >>"$e2e"
        tail -n 1 "$e2e" | awk -F '\t' '{
            printf "%-4s %14.1f %12.1f %14.3f %16.2f %16.2f\n", $1, $2, $3, $3 / $2, $4, $5
        }'
    done
    echo "   median (min..max) over $reps reps:"
    echo "   default suite MB/s         $(column "$e2e" 2 | median_spread)"
    echo "   hmac-sha256-ctr MB/s       $(column "$e2e" 3 | median_spread)"
    echo "   hmac / default             $(awk -F '\t' '{ print $3 / $2 }' "$e2e" | median_spread)"
    echo "   default CPU-s/GiB          $(column "$e2e" 4 | median_spread)  (client + server)"
    echo "   hmac CPU-s/GiB             $(column "$e2e" 5 | median_spread)"
    if part record; then
        floor="$(column "$record" 6 | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
        # The construction's own CPU per GiB: one seal (client) + one open (server) at the floor.
        echo "   hmac e2e MB/s / floor      $(awk -F '\t' -v f="$floor" '{ print $3 / 1000 / f }' "$e2e" | median_spread)  (floor $floor GB/s, median of part 1)"
        echo "   floor CPU-s/GiB            $(awk -v f="$floor" 'BEGIN { printf "%.3f", 2 * 1.073741824 / f }')  (seal + open at the floor)"
        echo "   floor / (hmac - default) CPU $(awk -F '\t' -v f="$floor" '{ print 2 * 1.073741824 / f / ($5 - $4) }' "$e2e" | median_spread)  (1.0 = the suite costs exactly its construction end to end)"
    fi
fi
echo "== loadavg at end: $(cat /proc/loadavg)"
