#!/usr/bin/env bash
# Record-layer throughput per suite (1 MiB records, seal and open in place),
# beside the raw provider primitive on the same buffers, and in the same run
# beside `openssl speed -evp` for the two suites OpenSSL has.
#
#   bench/record.sh [record_bench options, e.g. --seconds 1.5 --runs 5 --alignment]
#
# Environment: OPENSSL_SECONDS (default 3) per `openssl speed` run.
# Offline: builds with `cargo --offline`, needs nothing from the network.
# Results in docs/PERFORMANCE.md ("## Record layer").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

openssl_seconds="${OPENSSL_SECONDS:-3}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

echo "== date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "== rustc: $(rustc --version)"
echo "== building record_bench (release)"
cargo build --offline --release -p sxfer-proto --example record_bench
bin="$(cargo metadata --offline --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/examples/record_bench"

echo "== record_bench $*"
"$bin" "$@" | tee "$out"

# `openssl speed` prints, last, `<name> <N>k` in 1000s of bytes per second.
# It times encryption only, so it is compared with the seal columns.
openssl_gbps() {
    local line value
    line="$(openssl speed -evp "$1" -bytes 1048576 -seconds "$openssl_seconds" 2>/dev/null | tail -n 1)"
    value="${line##* }"
    value="${value%k}"
    awk -v k="$value" 'BEGIN { printf "%.4f", k * 1000 / 1e9 }'
}

echo
echo "== $(openssl version)"
echo "== openssl speed -evp <cipher> -bytes 1048576 -seconds $openssl_seconds (encrypt only)"
printf '| %-17s | %13s | %13s | %11s | %13s |\n' \
    "suite" "openssl seal" "sxfer record" "record/ossl" "raw/ossl"
printf '|:%s|%s:|%s:|%s:|%s:|\n' \
    "------------------" "--------------" "--------------" "------------" "--------------"
for cipher in aes-256-gcm chacha20-poly1305; do
    ossl="$(openssl_gbps "$cipher")"
    # result <suite> <record seal> <raw seal> <record open> <raw open>
    record="" raw=""
    read -r record raw < <(awk -F '\t' -v s="$cipher" '$1 == "result" && $2 == s { print $3, $4 }' "$out") || true
    if [[ -z "$record" ]]; then
        awk -v c="$cipher" -v o="$ossl" 'BEGIN {
            printf "| %-17s | %8.3f GB/s | %13s | %11s | %13s |\n", c, o, "(not run)", "", ""
        }'
        continue
    fi
    awk -v c="$cipher" -v o="$ossl" -v r="$record" -v w="$raw" 'BEGIN {
        printf "| %-17s | %8.3f GB/s | %8.3f GB/s | %11.3f | %13.3f |\n", c, o, r, r / o, w / o
    }'
done
echo "== loadavg at end: $(cat /proc/loadavg 2>/dev/null || echo '?')"
