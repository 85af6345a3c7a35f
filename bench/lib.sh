# Shared by the bench scripts (source it): the run header, a work directory
# and one `sxfer serve` on 127.0.0.1:0.

# The date, commit, CPU and load, for the top of a report. Uses $sxfer.
bench_header() {
    echo "== date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "== cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc); $("$sxfer" --version)"
    echo "== loadavg at start: $(cat /proc/loadavg)"
}

# start_server DATA_DIR LOG [SERVE_FLAG...]: start `$sxfer serve` in the
# background and wait until it prints its host key; sets server_pid, port
# and fingerprint, or exits with its log. SERVER_ENV="VAR=value ..." is
# the server's extra environment only (e.g. MALLOC_ARENA_MAX=2, LD_PRELOAD).
start_server() {
    local data="$1" log="$2"
    local -a env_prefix=()
    shift 2
    [[ -n "${SERVER_ENV:-}" ]] && read -ra env_prefix <<<"env $SERVER_ENV"
    "${env_prefix[@]}" "$sxfer" serve --data-dir "$data" --listen 127.0.0.1:0 "$@" 2>"$log" &
    server_pid=$!
    for _ in $(seq 1 100); do
        grep -q '^host key ' "$log" 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    port="$(sed -n 's/^sxfer server listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")"
    fingerprint="$(sed -n 's/^host key [^ ]* \(SHA256:[^ ]*\)$/\1/p' "$log")"
    [[ -n "$port" && -n "$fingerprint" ]] || { cat "$log" >&2; echo "sxfer serve did not start" >&2; exit 1; }
}

# build_release: build `sxfer` and the flood tool (release, offline); sets
# sxfer (or $BIN) and flood, and raises the descriptor limit for floods.
build_release() {
    echo "== building sxfer and the flood tool (release)"
    cargo build --offline --release -p sxfer --bin sxfer --example flood
    local target
    target="$(cargo metadata --offline --format-version 1 --no-deps \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
    sxfer="${BIN:-$target/sxfer}"
    flood="$target/examples/flood"
    [[ -x "$sxfer" && -x "$flood" ]] || { echo "missing $sxfer or $flood" >&2; exit 1; }
    # Each flood connection is a descriptor here; the server raises its own limit.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# bench_workdir NAME: make $work, and on exit stop the flood, the server and
# any pid in $bench_pids, then remove $work (unless KEEP_WORK=1).
bench_workdir() {
    local base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
    work="$(mktemp -d "$base/sxfer-$1.XXXXXX")"
    server_pid="" flood_pid="" bench_pids=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}
bench_cleanup() {
    local status=$?
    local pid
    exec 7>&- 2>/dev/null || true
    for pid in $bench_pids $flood_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "== kept $work" >&2; else rm -rf "$work"; fi
    return "$status"
}

# bench_account: a user `bench` in $work/data with a random password
# (exported as SXFER_PASSWORD, the client's home in $work/home).
bench_account() {
    mkdir -p "$work/home"
    export SXFER_HOME="$work/home" SXFER_PASSWORD="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    "$sxfer" user add bench --data-dir "$work/data" >/dev/null
}

# serve_and_pin [SERVE_FLAG...]: start_server on $work/data, set $remote and
# pin the host key in the client's known hosts with one `sxfer ls`.
serve_and_pin() {
    start_server "$work/data" "$work/serve.log" "$@"
    remote="bench@127.0.0.1:$port"
    "$sxfer" ls "$remote" --fingerprint "$fingerprint" -q >/dev/null
}

# stop_server: SIGTERM the server and wait for it.
stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# status_kib FIELD: the server's /proc status field (VmRSS, VmHWM) in KiB.
status_kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$server_pid/status"; }
# status_mib FIELD: the same in MiB.
status_mib() { echo $(($(status_kib "$1") / 1024)); }

# since START: seconds since $EPOCHREALTIME was START, 3 decimals.
since() { awk -v now="$EPOCHREALTIME" -v start="$1" 'BEGIN { printf "%.3f", now - start }'; }

# median: the median of the numbers on stdin, or "-".
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }'; }
# spread: "min..max" of the numbers on stdin, or "-".
spread() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) print lo ".." hi; else print "-" }'; }

# flood_open STALLED GARBAGE SOURCES: start the flood tool against the
# server and wait until all its connections are open (fd 7 holds it open).
flood_open() {
    mkfifo "$work/flood.in"
    "$flood" "127.0.0.1:$port" "$1" "$2" "$3" <"$work/flood.in" >"$work/flood.out" &
    flood_pid=$!
    exec 7>"$work/flood.in"
    until grep -q '^ready' "$work/flood.out" 2>/dev/null; do
        kill -0 "$flood_pid" 2>/dev/null || { cat "$work/flood.out" >&2; echo "flood failed" >&2; exit 1; }
        sleep 0.05
    done
}

# flood_close: close the flood's connections and wait for it to exit; its
# summary is the last line of $work/flood.out.
flood_close() {
    exec 7>&-
    wait "$flood_pid" || true
    flood_pid=""
    rm -f "$work/flood.in"
}
