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
# and fingerprint, or exits with its log.
start_server() {
    local data="$1" log="$2"
    shift 2
    "$sxfer" serve --data-dir "$data" --listen 127.0.0.1:0 "$@" 2>"$log" &
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

# bench_workdir NAME: set `work` to a new directory sxfer-NAME.XXXXXX under
# BENCH_TMPDIR (or TMPDIR, /tmp), removed on exit unless KEEP_WORK=1, and
# stop the server of start_server on exit too.
bench_workdir() {
    work="$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/sxfer-$1.XXXXXX")"
    server_pid=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local status=$?
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ "${KEEP_WORK:-}" == 1 ]]; then echo "== kept $work" >&2; else rm -rf "$work"; fi
    return "$status"
}
