#!/usr/bin/env bash
# Issue 14's memory targets, measured against a release server:
#
#   close    CONNS stalled sockets (never a byte), from 127.0.0.1 and spread
#            over 127.0.0.1..N: the server's VmRSS while they are open, then
#            SETTLE s after they close. Targets: < 256 MiB open, < 64 MiB
#            a minute after. One server for all rounds, as a long-running
#            one sees them.
#   ls       LS_CONNS stalled sockets from 127.0.0.1 open while a real
#            `sxfer ls` logs in (password, production argon2id) and lists.
#            Target: < 1 s.
#   clients  CLIENTS concurrent `sxfer` processes, each uploading FILES small
#            files + one BIG_MIB file (`upload -r`) and downloading them again
#            (`download -r`, checked with cmp): the server's VmHWM (a fresh
#            server each round), its VmRSS at the end and SETTLE s later.
#            Target: VmHWM < 256 MiB.
#
#   bench/memory.sh
#   SERVER_ENV=MALLOC_ARENA_MAX=2 bench/memory.sh   # the server's environment only
#   SERVER_ENV=LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 bench/memory.sh
#   BIN=/path/to/sxfer bench/memory.sh     # another build (the flood tool is this tree's)
#
# Environment:
#   REPS=3 PHASES="close ls clients" CONNS=3000 SPREADS="1 250" SETTLE=60
#   LS_CONNS=1000 CLIENTS=200 FILES=20 SMALL_KIB=4 BIG_MIB=5
#   SERVE_FLAGS     extra `sxfer serve` flags, e.g. "--handshake-timeout 120"
#                   (200 password logins queue for argon2id on a busy machine)
#   BENCH_TMPDIR, KEEP_WORK=1 as in bench/admission.sh
# Network: loopback only; cargo runs --offline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=bench/lib.sh
source bench/lib.sh

reps="${REPS:-3}"
phases="${PHASES:-close ls clients}"
conns="${CONNS:-3000}"
spreads="${SPREADS:-1 250}"
settle="${SETTLE:-60}"
ls_conns="${LS_CONNS:-1000}"
clients="${CLIENTS:-200}"
files="${FILES:-20}"
small_kib="${SMALL_KIB:-4}"
big_mib="${BIG_MIB:-5}"

build_release
bench_workdir memory
bench_header
echo "== server environment: ${SERVER_ENV:-(none: glibc malloc, defaults)}; flags: ${SERVE_FLAGS:-(none)}"
bench_account
serve_and_pin --quota-bytes 1T ${SERVE_FLAGS:-}
echo "== server on 127.0.0.1:$port (pid $server_pid), idle RSS $(status_mib VmRSS) MiB"

results="$work/results.tsv" # phase key value
: >"$results"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }
summary() { # summary PHASE KEY UNIT [TARGET]: median, spread and pass/miss
    local values med verdict=""
    values="$(awk -F'\t' -v p="$1" -v k="$2" '$1 == p && $2 == k { print $3 }' "$results")"
    med="$(median <<<"$values")"
    [[ -n "${4:-}" ]] && verdict="  target < $4: $(awk -v m="$med" -v t="$4" \
        'BEGIN { print (m != "-" && m + 0 < t + 0) ? "pass" : "MISS" }')"
    printf '%-8s %-22s median %8s %s (%s; %d runs)%s\n' "$1" "$2" "$med" "$3" \
        "$(spread <<<"$values")" "$(grep -c . <<<"$values" || true)" "$verdict"
}

# settle_rss SECONDS: wait SECONDS, then print VmRSS in MiB.
settle_rss() {
    local until=$((SECONDS + $1))
    while ((SECONDS < until)); do sleep 1; done
    status_mib VmRSS
}

phase_close() {
    local rep spread open after
    echo "== close: $conns stalled sockets, RSS open and ${settle} s after close; $reps rounds"
    printf '%-6s %-4s %9s %12s  %s\n' spread rep open_MiB "after_MiB" flood
    for rep in $(seq 1 "$reps"); do
        for spread in $spreads; do
            flood_open "$conns" 0 "$spread"
            open=$(status_mib VmRSS)
            flood_close
            after=$(settle_rss "$settle")
            printf '%-6s %-4s %9s %12s  %s\n' "$spread" "$rep" "$open" "$after" "$(tail -n 1 "$work/flood.out")"
            record close "rss_open_spread$spread" "$open"
            record close "rss_after_spread$spread" "$after"
        done
    done
}

phase_ls() {
    local rep start ls_s
    echo "== ls: $ls_conns stalled sockets from 127.0.0.1 open, then a fresh \`sxfer ls\`; $reps reps"
    printf '%-4s %8s %9s  %s\n' rep ls_s rss_MiB flood
    for rep in $(seq 1 "$reps"); do
        flood_open "$ls_conns" 0 1
        start=$EPOCHREALTIME
        "$sxfer" ls "$remote" -q >/dev/null 2>"$work/ls.err" || { cat "$work/ls.err" >&2; echo "ls failed" >&2; exit 1; }
        ls_s=$(since "$start")
        printf '%-4s %8s %9s' "$rep" "$ls_s" "$(status_mib VmRSS)"
        flood_close
        printf '  %s\n' "$(tail -n 1 "$work/flood.out")"
        record ls ls_s "$ls_s"
    done
}

# client I REP: one client's upload and download, checked; exit status says.
client() {
    local dir="r$2/c$1" out="$work/down/$1"
    mkdir -p "$out"
    "$sxfer" upload -r "$work/src" "$remote:$dir" -q 2>"$out.err" \
        && "$sxfer" download -r "$remote:$dir" "$out" -q 2>>"$out.err" \
        && [[ "$(find "$out" -type f | wc -l)" == $((files + 1)) ]] \
        && cmp -s "$work/src/big.bin" "$(find "$out" -name big.bin)"
}

phase_clients() {
    local rep i pid failed start elapsed hwm end after
    mkdir -p "$work/src"
    for i in $(seq 1 "$files"); do head -c "$((small_kib * 1024))" /dev/urandom >"$work/src/small-$i.bin"; done
    head -c "$((big_mib * 1024 * 1024))" /dev/urandom >"$work/src/big.bin"
    echo "== clients: $clients concurrent clients, each $files x $small_kib KiB + $big_mib MiB up and down; fresh server per rep"
    printf '%-4s %8s %7s %9s %9s %12s\n' rep wall_s failed HWM_MiB end_MiB "after_MiB"
    for rep in $(seq 1 "$reps"); do
        stop_server
        serve_and_pin --quota-bytes 1T ${SERVE_FLAGS:-}
        rm -rf "$work/down"
        mkdir -p "$work/down"
        bench_pids=""
        start=$EPOCHREALTIME
        for i in $(seq 1 "$clients"); do
            client "$i" "$rep" &
            bench_pids+=" $!"
        done
        failed=0
        for pid in $bench_pids; do wait "$pid" || failed=$((failed + 1)); done
        bench_pids=""
        elapsed=$(since "$start")
        hwm=$(status_mib VmHWM)
        end=$(status_mib VmRSS)
        after=$(settle_rss "$settle")
        printf '%-4s %8s %7s %9s %9s %12s\n' "$rep" "$elapsed" "$failed" "$hwm" "$end" "$after"
        if ((failed > 0)); then
            echo "   first error: $(cat "$work"/down/*.err | head -n 1)"
            grep -m 5 -E ' (ERROR|WARN) ' "$work/serve.log" | sed 's/^/   server: /' || true
        fi
        record clients wall_s "$elapsed"
        record clients vmhwm "$hwm"
        record clients rss_end "$end"
        record clients rss_after "$after"
        record clients failed "$failed"
    done
}

for phase in $phases; do
    "phase_$phase"
    echo "   loadavg: $(cat /proc/loadavg)"
done

echo "== medians (min..max)"
for phase in $phases; do
    case $phase in
        close)
            for spread in $spreads; do
                summary close "rss_open_spread$spread" MiB 256
                summary close "rss_after_spread$spread" MiB 64
            done
            ;;
        ls) summary ls ls_s s 1 ;;
        clients)
            summary clients vmhwm MiB 256
            summary clients rss_end MiB
            summary clients rss_after MiB
            summary clients wall_s s
            summary clients failed errors 1
            ;;
    esac
done
echo "== loadavg at end: $(cat /proc/loadavg)"
