#!/usr/bin/env bash
# End-to-end transfer benchmark on loopback: sxfer against scp and rsync,
# and one sxfer build against another, all in one run, contenders
# interleaved within every repetition.
#
#   bench/transfer.sh                         # the workspace's release build
#   A=old/sxfer B=new/sxfer bench/transfer.sh # two builds; ratios B/A
#
# Starts one `sxfer serve` per build (each with its own data directory and
# client home) and a private OpenSSH server (its own config, host key,
# client key and port in a temporary directory; the system's sshd is never
# touched or used), then times
#   * login only: sxfer (key, password) and ssh;
#   * one 64 MiB sxfer upload and download, to see whether client and server
#     memory stay flat in the file size;
#   * the CPU floor: the primitives a transfer cannot avoid, per GiB, on this
#     machine (sxfer/examples/floor.rs);
#   * a 1 GiB random file, upload and download: sxfer, scp (default cipher),
#     scp -c aes256-gcm@openssh.com; client + server CPU-s per GiB as a
#     multiple of the floor;
#   * 2,000 files of 4 KiB as one directory, upload and download:
#     sxfer upload -r / download -r, scp -r, rsync -a -e ssh;
#   * the same small-file and 512 MiB workloads through a userspace TCP
#     delay proxy (sxfer/examples/delay_proxy.rs) at 0 ms (its overhead,
#     against direct) and at DELAY_MS one-way (default 40 ms): time in round
#     trips for the small files, throughput for the 512 MiB file.
# Prints medians, spread, MiB/s, the client's max RSS, sxfer-speed /
# peer-speed (> 1 means sxfer is faster) and, with B, B/A for every row
# (< 1 means B is faster); the tables come from bench/transfer-report.awk.
# Results in docs/PERFORMANCE.md.
#
# Environment:
#   A, B            sxfer binaries to compare [A: the workspace's release
#                   build, which the script builds; B: none]
#   REPS=3          repetitions of every measurement (median reported)
#   BIG_MIB=1024    size of the large file
#   SMALL_COUNT=2000 SMALL_KIB=4   the small-file tree
#   FLAT_MIB=64     the smaller file for the memory check
#   DELAY_MS=40     one-way delay of the latency rows (RTT = 2 x DELAY_MS)
#   LAT_COUNT=1000 LAT_KIB=4 LAT_MIB=512   the latency workloads
#   LAT_REPS=$REPS  repetitions of the proxied rows
#   LAT_SCP_FILES_REPS=1  repetitions of scp -r at DELAY_MS (minutes each)
#   LAT_ATTEMPTS=1  attempts of a delayed row on a busy machine (see ATTEMPTS)
#   FLOOR_RUNS=5 FLOOR_MIB=256    the floor measurement
#   ATTEMPTS=4 OTHER_MAX=0.10     retries of a run that others' CPU disturbed
#   BENCH_TMPDIR    where the work directory goes [default: $TMPDIR or /tmp]
#   KEEP_WORK=1     keep the work directory (and logs) afterwards
#   PHASES="connect memory floor big files proxy latency"  which phases run
#
# Fairness: caches are left warm for everybody (nothing is dropped), but
# `sync` runs before every timed command so no contender pays for another's
# dirty pages. sxfer fsyncs what it writes (server blobs and database, and
# downloaded files) inside its timed run; scp and rsync do not fsync.
# Network: none, except apt-get when a tool is missing; cargo runs --offline.
# Everything listens on 127.0.0.1 only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

reps="${REPS:-3}"
big_mib="${BIG_MIB:-1024}"
small_count="${SMALL_COUNT:-2000}"
small_kib="${SMALL_KIB:-4}"
flat_mib="${FLAT_MIB:-64}"
delay_ms="${DELAY_MS:-40}"
lat_count="${LAT_COUNT:-1000}"
lat_kib="${LAT_KIB:-4}"
lat_mib="${LAT_MIB:-512}"
lat_reps="${LAT_REPS:-$reps}"
lat_scp_files_reps="${LAT_SCP_FILES_REPS:-1}"
floor_runs="${FLOOR_RUNS:-5}"
floor_mib="${FLOOR_MIB:-256}"
phases=" ${PHASES:-connect memory floor big files proxy latency} "
phase() { [[ "$phases" == *" $1 "* ]]; }

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# ---------------------------------------------------------------- tools
missing=()
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
{ command -v ssh && command -v scp && command -v ssh-keygen; } >/dev/null 2>&1 || missing+=(openssh-client)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
    echo "== installing ${missing[*]} (apt-get)"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi
[[ -d /run/sshd ]] || as_root mkdir -p /run/sshd

# ---------------------------------------------------------------- binaries
target_dir="$(cargo metadata --offline --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
if phase floor || phase proxy || phase latency; then
    echo "== building the bench examples floor and delay_proxy (release)"
    cargo build --offline --release -p sxfer --example floor --example delay_proxy
fi
if [[ -z "${A:-}" ]]; then
    echo "== building sxfer (release)"
    cargo build --offline --release -p sxfer
    A="$target_dir/release/sxfer"
fi
ids=(A)
[[ -n "${B:-}" ]] && ids+=(B)
declare -A sx_src=([A]="$A" [B]="${B:-}")
for id in "${ids[@]}"; do
    [[ -x "${sx_src[$id]}" ]] || { echo "$id=${sx_src[$id]} is not an executable" >&2; exit 1; }
done
# label ID: the contender's name in the tables.
label() { if ((${#ids[@]} == 1)); then echo sxfer; else echo "sxfer-$1"; fi; }
ref="$(label A)"

# ---------------------------------------------------------------- work dir
base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
work="$(mktemp -d "$base/sxfer-bench.XXXXXX")"
# ext4 without a journal scans recently deleted inodes on every file
# creation (docs/PERFORMANCE.md, "Small-file downloads"): say so, since it
# dominates the small-file rows.
work_dev="$(findmnt -no SOURCE -T "$work" 2>/dev/null || true)"
if [[ "$(findmnt -no FSTYPE -T "$work" 2>/dev/null)" == ext4 && -n "$work_dev" ]] \
    && ! ls /proc/fs/jbd2 2>/dev/null | grep -q "^$(basename "$work_dev")-"; then
    echo "== note: $work is on ext4 without a journal ($work_dev); small-file rows measure its inode allocator"
fi
declare -A sx_bin sx_home sx_data sx_pid sx_port sx_fp px_pid px_port
sshd_pid=""
cleanup() {
    local status=$?
    local pid
    for pid in "${sx_pid[@]}" "${px_pid[@]}" $sshd_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP_WORK:-}" == 1 ]]; then
        echo "== kept $work" >&2
    else
        rm -rf "$work"
    fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work"/{data,ssh,srv,dl,bin}
chmod 700 "$work/ssh"
# Copies, so a rebuild during the run cannot swap a binary under it.
for id in "${ids[@]}"; do
    mkdir -p "$work/bin/$id" "$work/home-$id"
    chmod 700 "$work/home-$id"
    cp "${sx_src[$id]}" "$work/bin/$id/sxfer"
    sx_bin[$id]="$work/bin/$id/sxfer" sx_home[$id]="$work/home-$id" sx_data[$id]="$work/sxfer-data-$id"
done
floor_bin="" proxy_bin=""
if phase floor || phase proxy || phase latency; then
    cp "$target_dir/release/examples/floor" "$target_dir/release/examples/delay_proxy" "$work/bin/"
    floor_bin="$work/bin/floor" proxy_bin="$work/bin/delay_proxy"
fi

results="$work/results.tsv" # workload contender rep wall rss other noisy ours client server proxy
workloads="$work/workloads.tsv" # workload bytes files
: >"$results"
: >"$workloads"
workload() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$workloads"; }

me="$(id -un)"
password="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
wait_port() { # port pid
    local i
    for i in $(seq 1 100); do
        port_free "$1" || return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- machine
echo "== date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "== cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), nproc $(nproc)," \
    "memory $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "== kernel: $(uname -r); work dir $work on $(df -T "$work" | awk 'NR == 2 { print $2 }')"
for id in "${ids[@]}"; do
    echo "== $id = ${sx_src[$id]}: $("${sx_bin[$id]}" --version), sha256 $(sha256sum "${sx_bin[$id]}" | cut -c 1-12)"
done
echo "== $(ssh -V 2>&1); $(rsync --version | head -n 1)"
echo "== loadavg at start: $(cat /proc/loadavg)"

# ---------------------------------------------------------------- data
echo "== creating ${big_mib} MiB, ${flat_mib} MiB and ${lat_mib} MiB random files," \
    "${small_count} x ${small_kib} KiB and ${lat_count} x ${lat_kib} KiB files"
phase big && head -c "$((big_mib << 20))" /dev/urandom >"$work/data/big.bin"
phase memory && head -c "$((flat_mib << 20))" /dev/urandom >"$work/data/flat.bin"
make_tree() { # dir count kib
    mkdir "$1"
    head -c "$(($2 * $3 << 10))" /dev/urandom | (cd "$1" && split -a 5 -d -b "$(($3 << 10))" - f)
    [[ "$(find "$1" -type f | wc -l)" -eq "$2" ]]
}
phase files && make_tree "$work/data/small" "$small_count" "$small_kib"
if phase proxy || phase latency; then
    head -c "$((lat_mib << 20))" /dev/urandom >"$work/data/lat.bin"
    make_tree "$work/data/lat" "$lat_count" "$lat_kib"
fi
sync
busy="$( { head -n 1 /proc/stat; sleep 3; head -n 1 /proc/stat; } | awk '
    { busy[NR] = $2 + $3 + $4 + $7 + $8; all[NR] = busy[NR] + $5 + $6 }
    END { printf "%.0f", 100 * (busy[2] - busy[1]) / (all[2] - all[1]) }')"
echo "== machine busy before the runs: ${busy}% of all CPUs (others' builds make runs noisy; see \"other\" below)"

# ---------------------------------------------------------------- sshd
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$work/ssh/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$work/ssh/client"
cp "$work/ssh/client.pub" "$work/ssh/authorized_keys"
ssh_port=""
for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 40000))
    if port_free "$candidate"; then ssh_port="$candidate"; break; fi
done
[[ -n "$ssh_port" ]] || { echo "no free port" >&2; exit 1; }
cat >"$work/ssh/sshd_config" <<EOF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $work/ssh/host_ed25519
AuthorizedKeysFile $work/ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PidFile $work/ssh/sshd.pid
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -t -f "$work/ssh/sshd_config"
/usr/sbin/sshd -D -f "$work/ssh/sshd_config" -E "$work/ssh/sshd.log" &
sshd_pid=$!
wait_port "$ssh_port" "$sshd_pid" || { cat "$work/ssh/sshd.log" >&2; echo "sshd did not start" >&2; exit 1; }

ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR
    -i "$work/ssh/client")
ssh -p "$ssh_port" "${ssh_opts[@]}" "$me@127.0.0.1" true \
    || { cat "$work/ssh/sshd.log" >&2; echo "cannot log in to the private sshd" >&2; exit 1; }
echo "== private sshd on 127.0.0.1:$ssh_port (pid $sshd_pid), user $me"

# ---------------------------------------------------------------- sxfer serve
export SXFER_PASSWORD="$password"
start_server() { # ID
    local id="$1" log="$work/serve-$1.log" i
    local run=(env SXFER_HOME="${sx_home[$id]}" "${sx_bin[$id]}")
    "${run[@]}" user add bench --data-dir "${sx_data[$id]}" >/dev/null
    # sxfer logs in with the same ed25519 key as ssh (like for like: a password
    # login adds one argon2id hash, ~40 ms here; "connect+pw" times that too).
    "${run[@]}" user key add bench "$work/ssh/client.pub" --data-dir "${sx_data[$id]}" >/dev/null
    "${run[@]}" serve --data-dir "${sx_data[$id]}" --listen 127.0.0.1:0 2>"$log" &
    sx_pid[$id]=$!
    for ((i = 0; i < 100; i++)); do
        grep -q '^host key ' "$log" 2>/dev/null && break
        kill -0 "${sx_pid[$id]}" 2>/dev/null || break
        sleep 0.1
    done
    sx_port[$id]="$(sed -n 's/^sxfer server listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")"
    sx_fp[$id]="$(sed -n 's/^host key [^ ]* \(SHA256:[^ ]*\)$/\1/p' "$log")"
    if [[ -z "${sx_port[$id]}" || -z "${sx_fp[$id]}" ]]; then
        cat "$log" >&2
        echo "sxfer serve ($id) did not start" >&2
        exit 1
    fi
    sx_use "$id"
    "${SX[@]}" ls "$SXR" "${SXF[@]}" >/dev/null # pins the host key in its home
    echo "== $(label "$id") serve on 127.0.0.1:${sx_port[$id]} (pid ${sx_pid[$id]}), host key ${sx_fp[$id]}"
}
# sx_use ID [PORT]: SX = the command, SXR = the remote (through PORT if
# given: a proxy), SXF = the flags; SXF_PW = the flags for a password login.
sx_use() {
    SX=(env SXFER_HOME="${sx_home[$1]}" "${sx_bin[$1]}")
    SXR="bench@127.0.0.1:${2:-${sx_port[$1]}}"
    SXF=(--fingerprint "${sx_fp[$1]}" -q -i "$work/ssh/client")
    SXF_PW=(--fingerprint "${sx_fp[$1]}" -q)
}
for id in "${ids[@]}"; do start_server "$id"; done

# ---------------------------------------------------------------- proxies
# start_proxy NAME TARGET_PORT DELAY_MS: px_port[NAME] forwards to TARGET_PORT.
start_proxy() {
    local out="$work/proxy-$1.out" i
    # Above the contenders' priority (when allowed), so that on a busy machine
    # its timers fire on time: the proxy stands for the network, not for work.
    nice -n -10 "$proxy_bin" --to "127.0.0.1:$2" --delay-ms "$3" >"$out" 2>"$work/proxy-$1.log" &
    px_pid[$1]=$!
    for ((i = 0; i < 100; i++)); do
        grep -q '^delay_proxy listening on ' "$out" 2>/dev/null && break
        kill -0 "${px_pid[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    px_port[$1]="$(sed -n 's/^delay_proxy listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")"
    [[ -n "${px_port[$1]}" ]] || { cat "$work/proxy-$1.log" >&2; echo "delay_proxy $1 did not start" >&2; exit 1; }
}
if phase proxy || phase latency; then
    for d in 0 "$delay_ms"; do
        for id in "${ids[@]}"; do start_proxy "$id-$d" "${sx_port[$id]}" "$d"; done
        start_proxy "ssh-$d" "$ssh_port" "$d"
    done
    echo "== delay proxies (0 ms and $delay_ms ms one-way) in front of every server; alone, $lat_mib MiB:"
    for d in 0 "$delay_ms"; do
        nice -n -10 "$proxy_bin" --self-test "$lat_mib" --delay-ms "$d" 2>&1 | tee -a "$work/proxy-self-test.out" \
            | sed 's/^/   /'
    done
fi
# The measured round trip through the delayed proxy (median), else 2 x DELAY_MS.
rtt_ms=""
[[ -f "$work/proxy-self-test.out" ]] && rtt_ms="$(sed -n "s/^self-test: delay ${delay_ms}\(\.0\)\{0,1\} ms one-way: RTT min [0-9.]* \/ median \([0-9.]*\) .*/\2/p" \
    "$work/proxy-self-test.out" 2>/dev/null | tail -n 1)"
rtt_ms="${rtt_ms:-$((2 * delay_ms))}"

# ---------------------------------------------------------------- helpers
# CPU ticks (1/CLK_TCK s): the whole machine (user+nice+system+irq+softirq),
# and given processes including their reaped children (sshd's sessions).
clk_tck="$(getconf CLK_TCK)"
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
proc_ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }')" || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# Until sshd has reaped its session processes, their CPU is in nobody's count.
settle() {
    local i
    for ((i = 0; i < 300; i++)); do
        pgrep -P "$sshd_pid" >/dev/null || return 0
        sleep 0.01
    done
}

# timed WORKLOAD CONTENDER REP PREPARE COMMAND...: PREPARE (a shell function
# or `true`) runs untimed before each attempt; @ATTEMPT@ in COMMAND becomes
# the attempt number.
# Records wall seconds (ns clock), the client's max RSS (largest process of
# its tree, KiB), CPU seconds of the client (user+sys), of the servers
# (every sxfer serve and the private sshd with its sessions; idle ones add
# nothing) and of the delay proxies, and "other" CPU: what the machine
# burnt beyond all those (another build, say). A run where others took more
# than OTHER_MAX of one core (default 10%) plus 0.1 s (kernel threads doing
# our own I/O count as "other" too) is repeated, up to ATTEMPTS times
# (default 4); the last attempt counts, marked if still noisy.
other_max="${OTHER_MAX:-0.10}"
attempts_max="${ATTEMPTS:-4}"
attempt=0
timed() {
    local workload="$1" contender="$2" rep="$3" prepare="$4"
    shift 4
    local t0 t1 m0 m1 s0 s1 p0 p1 wall rss user sys other ours client server proxy noisy command arg
    for ((attempt = 1; attempt <= attempts_max; attempt++)); do
        command=()
        for arg in "$@"; do command+=("${arg//@ATTEMPT@/$attempt}"); done
        "$prepare"
        sync
        settle
        m0="$(machine_ticks)" s0="$(proc_ticks "${sx_pid[@]}" "$sshd_pid")" p0="$(proc_ticks "${px_pid[@]}")"
        t0="$(date +%s%N)"
        if ! /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" "${command[@]}" >"$work/cmd.out" 2>&1; then
            echo "FAILED: $workload / $contender: ${command[*]}" >&2
            cat "$work/cmd.out" >&2
            exit 1
        fi
        t1="$(date +%s%N)"
        settle
        m1="$(machine_ticks)" s1="$(proc_ticks "${sx_pid[@]}" "$sshd_pid")" p1="$(proc_ticks "${px_pid[@]}")"
        read -r _ rss user sys < <(tail -n 1 "$work/time.out")
        wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
        client="$(awk -v u="$user" -v y="$sys" 'BEGIN { printf "%.2f", u + y }')"
        server="$(awk -v s="$((s1 - s0))" -v hz="$clk_tck" 'BEGIN { printf "%.2f", s / hz }')"
        proxy="$(awk -v s="$((p1 - p0))" -v hz="$clk_tck" 'BEGIN { printf "%.2f", s / hz }')"
        ours="$(awk -v c="$client" -v s="$server" 'BEGIN { printf "%.2f", c + s }')"
        other="$(awk -v m="$((m1 - m0))" -v hz="$clk_tck" -v o="$ours" -v p="$proxy" \
            'BEGIN { x = m / hz - o - p; printf "%.2f", x < 0 ? 0 : x }')"
        noisy="$(awk -v o="$other" -v w="$wall" -v x="$other_max" 'BEGIN { print (o > x * w + 0.1 ? "*" : "") }')"
        printf '   %-24s %-14s rep %s  %8.3f s  %7d KiB  cpu %5.2f s%s  other cpu %5.2f s%s\n' "$workload" \
            "$contender" "$rep" "$wall" "$rss" "$ours" "$([[ "$proxy" == 0.00 ]] || echo "  proxy $proxy s")" \
            "$other" "${noisy:+  (busy machine, attempt $attempt)}"
        [[ -n "$noisy" && "$attempt" -lt "$attempts_max" ]] || break
        sleep 5
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$contender" "$rep" "$wall" "$rss" "$other" \
        "$noisy" "$ours" "$client" "$server" "$proxy" >>"$results"
}

server_hwm() { awk '/^VmHWM/ { print $2 }' "/proc/${sx_pid[$1]}/status"; }
# Linux resets VmHWM to the current RSS on "5" (since 4.0); false if not allowed.
server_hwm_reset() {
    local id
    for id in "${ids[@]}"; do { echo 5 >"/proc/${sx_pid[$id]}/clear_refs"; } 2>/dev/null || return 1; done
}
hwm_resets=yes
declare -A hwm_flat hwm_big hwm_small
hwm_note() { # PHASE-ARRAY-NAME
    local -n into="$1"
    local id
    for id in "${ids[@]}"; do into[$id]="$(server_hwm "$id")"; done
}
hwm_text() { # PHASE-ARRAY-NAME
    local -n from="$1"
    local id out=""
    for id in "${ids[@]}"; do out+="${out:+, }$(label "$id") ${from[$id]:--} KiB"; done
    echo "$out"
}

# rotate N ITEMS...: the contenders take turns going first.
rotate() {
    local n="$1"
    shift
    local items=("$@") i
    for ((i = 0; i < ${#items[@]}; i++)); do
        echo "${items[(i + n) % ${#items[@]}]}"
    done
}
# The contenders: every sxfer build (as "sx:ID"), then the peers.
with_peers() { local id; for id in "${ids[@]}"; do echo "sx:$id"; done; printf '%s\n' "$@"; }

big="$work/data/big.bin"
small="$work/data/small"
big_label="${big_mib} MiB"
[[ "$big_mib" -eq 1024 ]] && big_label="1 GiB"
ssh_to="$me@127.0.0.1"
# ssh_via PORT: scp_gcm, scp_def and ssh_cmd for the sshd at PORT.
ssh_via() {
    scp_gcm=(scp -q -c aes256-gcm@openssh.com -P "$1" "${ssh_opts[@]}")
    scp_def=(scp -q -P "$1" "${ssh_opts[@]}")
    ssh_cmd="ssh -p $1 ${ssh_opts[*]}"
}
ssh_via "$ssh_port"
dest=""
fresh_dest() { rm -rf "$dest"; mkdir -p "$dest"; }

# ---------------------------------------------------------------- baseline
if phase connect; then
echo "== connection setup (login only), 5 runs"
for i in 1 2 3 4 5; do
    for id in "${ids[@]}"; do
        sx_use "$id"
        timed "connect+auth" "$(label "$id")" "$i" true "${SX[@]}" ls "$SXR" "${SXF[@]}"
        timed "connect+pw" "$(label "$id")" "$i" true "${SX[@]}" ls "$SXR" "${SXF_PW[@]}"
    done
    timed "connect+auth" ssh "$i" true ssh -p "$ssh_port" "${ssh_opts[@]}" "$ssh_to" true
done
fi

# ---------------------------------------------------------------- memory: small file first
if phase memory; then
echo "== memory check: ${flat_mib} MiB with sxfer (server peaks reset before)"
workload "${flat_mib} MiB upload" "$((flat_mib << 20))" 1
workload "${flat_mib} MiB download" "$((flat_mib << 20))" 1
server_hwm_reset || hwm_resets=no
for id in "${ids[@]}"; do
    sx_use "$id"
    dest="$work/dl/flat"
    timed "${flat_mib} MiB upload" "$(label "$id")" 1 true "${SX[@]}" upload "$work/data/flat.bin" "$SXR:flat.bin" "${SXF[@]}"
    timed "${flat_mib} MiB download" "$(label "$id")" 1 fresh_dest "${SX[@]}" download "$SXR:flat.bin" "$dest" "${SXF[@]}"
    cmp "$work/data/flat.bin" "$dest/flat.bin"
    rm -rf "$dest"
done
hwm_note hwm_flat
echo "   server VmHWM after the ${flat_mib} MiB runs: $(hwm_text hwm_flat)"
fi

# ---------------------------------------------------------------- CPU floor
floor_out="$work/floor.out"
: >"$floor_out"
if phase floor; then
echo "== CPU floor: the primitives a transfer cannot avoid, per GiB ($floor_runs runs of $floor_mib MiB)"
"$floor_bin" --runs "$floor_runs" --mib "$floor_mib" | tee "$floor_out" | grep -v '^result' | sed 's/^/   /'
# Not in the floor, for reading it: what the kernel here takes to write
# into the page cache (a copy the floor counts at memcpy speed). Three new
# files of BIG_MIB, kept until the last is written, so later ones need
# pages that were not just freed: on a VM whose host backs guest memory on
# first touch (or takes freed memory back), those cost far more.
pc_runs=""
for i in 1 2 3; do
    /usr/bin/time -f '%S' -o "$work/time.out" dd if=/dev/zero of="$work/pagecache$i.bin" bs=1M count="$big_mib" \
        status=none
    pc_runs+="${pc_runs:+ }$(awk -v s="$(tail -n 1 "$work/time.out")" -v m="$big_mib" 'BEGIN { printf "%.2f", s * 1024 / m }')"
done
rm -f "$work"/pagecache*.bin # before writeback: no disk traffic left behind
echo "   kernel: writing $big_mib MiB into the page cache (dd, 3 new files in a row, not synced)," \
    "sys CPU-s per GiB: $pc_runs"
printf 'result\tkernel\tpage-cache write\t%s\t%s\t%s\n' "$(tr ' ' '\n' <<<"$pc_runs" | sort -n | sed -n 2p)" \
    "$(tr ' ' '\n' <<<"$pc_runs" | sort -n | head -n 1)" "$(tr ' ' '\n' <<<"$pc_runs" | sort -n | tail -n 1)" >>"$floor_out"
fi

# ---------------------------------------------------------------- large file
if phase big; then
echo "== $big_label: upload then download, $reps repetitions, contenders rotating"
workload "$big_label upload" "$((big_mib << 20))" 1
workload "$big_label download" "$((big_mib << 20))" 1
server_hwm_reset || hwm_resets=no
mapfile -t contenders < <(with_peers scp scp-aes256gcm)
for ((rep = 1; rep <= reps; rep++)); do
    mapfile -t order < <(rotate $((rep - 1)) "${contenders[@]}")
    for who in "${order[@]}"; do
        dest="$work/srv/${who#sx:}"
        case "$who" in
        sx:*) # the same name every time: an upload replaces the previous one
            sx_use "${who#sx:}"
            timed "$big_label upload" "$(label "${who#sx:}")" "$rep" true "${SX[@]}" upload "$big" "$SXR:big.bin" "${SXF[@]}" ;;
        scp)
            timed "$big_label upload" scp "$rep" fresh_dest "${scp_def[@]}" "$big" "$ssh_to:$dest/big.bin" ;;
        scp-aes256gcm)
            timed "$big_label upload" scp-aes256gcm "$rep" fresh_dest "${scp_gcm[@]}" "$big" "$ssh_to:$dest/big.bin" ;;
        esac
        [[ "$who" == sx:* || "$rep" -gt 1 ]] || cmp "$big" "$dest/big.bin"
        rm -rf "$dest"
    done
    for who in "${order[@]}"; do
        dest="$work/dl/${who#sx:}"
        case "$who" in
        sx:*)
            sx_use "${who#sx:}"
            timed "$big_label download" "$(label "${who#sx:}")" "$rep" fresh_dest "${SX[@]}" download "$SXR:big.bin" "$dest" "${SXF[@]}" ;;
        scp)
            timed "$big_label download" scp "$rep" fresh_dest "${scp_def[@]}" "$ssh_to:$big" "$dest/big.bin" ;;
        scp-aes256gcm)
            timed "$big_label download" scp-aes256gcm "$rep" fresh_dest "${scp_gcm[@]}" "$ssh_to:$big" "$dest/big.bin" ;;
        esac
        [[ "$rep" -gt 1 ]] || cmp "$big" "$dest/big.bin"
        rm -rf "$dest"
    done
done
hwm_note hwm_big
echo "   server VmHWM after the $big_label runs: $(hwm_text hwm_big)"
fi

# ---------------------------------------------------------------- small files
# tree_runs WORKLOAD-PREFIX TREE SRC-NAME REP SXPORT-SUFFIX SSHPORT CONTENDERS...:
# one repetition of a directory upload and download, contenders in the given
# order. sxfer reaches server ID through ${px_port[ID-SUFFIX]} if SUFFIX is
# set; scp and rsync go to SSHPORT. The download source is SRC-NAME on each
# sxfer server and TREE locally for the peers.
tree_runs() {
    local prefix="$1" tree="$2" src="$3" rep="$4" via="$5" port="$6" who id name
    shift 6
    ssh_via "$port"
    for who in "$@"; do
        dest="$work/srv/${who#sx:}"
        case "$who" in
        sx:*) # a fresh remote directory per run, like scp and rsync get
            id="${who#sx:}"
            sx_use "$id" ${via:+"${px_port[$id-$via]}"}
            name="${prefix// /_}.$rep.@ATTEMPT@/"
            timed "$prefix upload" "$(label "$id")" "$rep" true "${SX[@]}" upload -r "$tree" "$SXR:$name" "${SXF[@]}" ;;
        scp)
            timed "$prefix upload" "scp -r" "$rep" fresh_dest "${scp_def[@]}" -r "$tree" "$ssh_to:$dest/" ;;
        rsync)
            timed "$prefix upload" "rsync -e ssh" "$rep" fresh_dest rsync -a -e "$ssh_cmd" "$tree" "$ssh_to:$dest/" ;;
        esac
        [[ "$who" == sx:* || "$rep" -gt 1 ]] || diff -r "$tree" "$dest/$(basename "$tree")"
        rm -rf "$dest"
    done
    for who in "$@"; do
        dest="$work/dl/${who#sx:}"
        case "$who" in
        sx:*)
            id="${who#sx:}"
            sx_use "$id" ${via:+"${px_port[$id-$via]}"}
            timed "$prefix download" "$(label "$id")" "$rep" fresh_dest "${SX[@]}" download -r "$SXR:$src" "$dest" "${SXF[@]}" ;;
        scp)
            timed "$prefix download" "scp -r" "$rep" fresh_dest "${scp_def[@]}" -r "$ssh_to:$tree" "$dest/" ;;
        rsync)
            timed "$prefix download" "rsync -e ssh" "$rep" fresh_dest rsync -a -e "$ssh_cmd" "$ssh_to:$tree" "$dest/" ;;
        esac
        [[ "$rep" -gt 1 ]] || diff -r "$tree" "$dest/$(basename "$tree")"
        rm -rf "$dest"
    done
}

if phase files; then
echo "== ${small_count} x ${small_kib} KiB files as a directory, upload then download, $reps repetitions, contenders rotating"
workload "files upload" "$((small_count * small_kib << 10))" "$small_count"
workload "files download" "$((small_count * small_kib << 10))" "$small_count"
server_hwm_reset || hwm_resets=no
mapfile -t contenders < <(with_peers scp rsync)
# The download source: the same tree, stored once on each side (untimed).
for id in "${ids[@]}"; do sx_use "$id"; "${SX[@]}" upload -r "$small" "$SXR:dl-src/" "${SXF[@]}"; done
for ((rep = 1; rep <= reps; rep++)); do
    mapfile -t order < <(rotate $((rep - 1)) "${contenders[@]}")
    tree_runs files "$small" dl-src/small "$rep" "" "$ssh_port" "${order[@]}"
done
hwm_note hwm_small
# The trees sxfer uploaded come back identical (not timed).
for id in "${ids[@]}"; do
    sx_use "$id"
    mkdir -p "$work/dl/small"
    "${SX[@]}" download -r "$SXR:files.1.1/small" "$work/dl/small" "${SXF[@]}"
    diff -r "$small" "$work/dl/small/small"
    rm -rf "$work/dl/small"
done
echo "   server VmHWM after the small-file runs: $(hwm_text hwm_small)"
fi

# ---------------------------------------------------------------- through the delay proxy
# The latency workloads: LAT_COUNT small files and one LAT_MIB file, up and
# down. SUFFIX "" = direct, "p0" = through the proxy at 0 ms, "${delay_ms}ms".
lat_tree="$work/data/lat"
lat_file="$work/data/lat.bin"
lat_prefix() { echo "${lat_count} files${1:+ $1}"; }
lat_big() { echo "${lat_mib} MiB${1:+ $1}"; }
lat_setup_done=""
lat_setup() {
    [[ -z "$lat_setup_done" ]] || return 0
    local id
    for id in "${ids[@]}"; do # the download sources (untimed, direct)
        sx_use "$id"
        "${SX[@]}" upload -r "$lat_tree" "$SXR:lat-src/" "${SXF[@]}"
        "${SX[@]}" upload "$lat_file" "$SXR:lat.bin" "${SXF[@]}"
    done
    lat_setup_done=1
}
# file_runs SUFFIX REP VIA SSHPORT CONTENDERS...: the LAT_MIB file up and down.
file_runs() {
    local suffix="$1" rep="$2" via="$3" port="$4" who id w
    shift 4
    ssh_via "$port"
    w="$(lat_big "$suffix")"
    for who in "$@"; do
        dest="$work/srv/${who#sx:}"
        case "$who" in
        sx:*)
            id="${who#sx:}"
            sx_use "$id" ${via:+"${px_port[$id-$via]}"}
            timed "$w upload" "$(label "$id")" "$rep" true "${SX[@]}" upload "$lat_file" "$SXR:lat.bin" "${SXF[@]}" ;;
        scp)
            timed "$w upload" scp "$rep" fresh_dest "${scp_def[@]}" "$lat_file" "$ssh_to:$dest/lat.bin" ;;
        rsync)
            timed "$w upload" "rsync -e ssh" "$rep" fresh_dest rsync -a -e "$ssh_cmd" "$lat_file" "$ssh_to:$dest/" ;;
        esac
        [[ "$who" == sx:* || "$rep" -gt 1 ]] || cmp "$lat_file" "$dest/lat.bin"
        rm -rf "$dest"
    done
    for who in "$@"; do
        dest="$work/dl/${who#sx:}"
        case "$who" in
        sx:*)
            id="${who#sx:}"
            sx_use "$id" ${via:+"${px_port[$id-$via]}"}
            timed "$w download" "$(label "$id")" "$rep" fresh_dest "${SX[@]}" download "$SXR:lat.bin" "$dest" "${SXF[@]}" ;;
        scp)
            timed "$w download" scp "$rep" fresh_dest "${scp_def[@]}" "$ssh_to:$lat_file" "$dest/lat.bin" ;;
        rsync)
            timed "$w download" "rsync -e ssh" "$rep" fresh_dest rsync -a -e "$ssh_cmd" "$ssh_to:$lat_file" "$dest/" ;;
        esac
        [[ "$rep" -gt 1 ]] || cmp "$lat_file" "$dest/lat.bin"
        rm -rf "$dest"
    done
}
lat_workloads() { # SUFFIX
    local dir
    for dir in upload download; do
        workload "$(lat_prefix "$1") $dir" "$((lat_count * lat_kib << 10))" "$lat_count"
        workload "$(lat_big "$1") $dir" "$((lat_mib << 20))" 1
    done
}

# link_runs KIND LINK REP WHO: one contender's runs of KIND (tree or file)
# over LINK: "direct", "p0" (the proxy at 0 ms) or "delay" (DELAY_MS).
lat="${delay_ms}ms"
link_runs() {
    local kind="$1" link="$2" rep="$3" who="$4" suffix via port attempts_saved="$attempts_max"
    case "$link" in
    direct) suffix="" via="" port="$ssh_port" ;;
    p0) suffix=p0 via=0 port="${px_port[ssh-0]}" ;;
    delay) # these runs wait on the clock more than on the CPU: LAT_ATTEMPTS (1) only
        suffix="$lat" via="$delay_ms" port="${px_port[ssh-$delay_ms]}" attempts_max="${LAT_ATTEMPTS:-1}" ;;
    esac
    if [[ "$kind" == tree ]]; then
        tree_runs "$(lat_prefix "$suffix")" "$lat_tree" lat-src/lat "$rep" "$via" "$port" "$who"
    else
        file_runs "$suffix" "$rep" "$via" "$port" "$who"
    fi
    attempts_max="$attempts_saved"
}

# Direct, through the proxy at 0 ms and at DELAY_MS, back to back for each
# contender, so that the ratios between them are paired in time.
if phase proxy || phase latency; then
links=()
phase proxy && links+=(direct p0)
phase latency && links+=(delay)
echo "== through the delay proxy (${links[*]}; delay = ${delay_ms} ms one-way, RTT ${rtt_ms} ms measured):" \
    "${lat_count} x ${lat_kib} KiB files and one ${lat_mib} MiB file, $lat_reps repetitions" \
    "$(phase latency && echo "(scp -r delayed: $lat_scp_files_reps)")"
lat_setup
phase proxy && { lat_workloads ""; lat_workloads p0; }
if phase latency; then
    lat_workloads "$lat"
    attempts_saved="$attempts_max"
    attempts_max="${LAT_ATTEMPTS:-1}"
    for i in 1 2 3; do
        for id in "${ids[@]}"; do
            sx_use "$id" "${px_port[$id-$delay_ms]}"
            timed "connect+auth $lat" "$(label "$id")" "$i" true "${SX[@]}" ls "$SXR" "${SXF[@]}"
        done
        timed "connect+auth $lat" ssh "$i" true ssh -p "${px_port[ssh-$delay_ms]}" "${ssh_opts[@]}" "$ssh_to" true
    done
    attempts_max="$attempts_saved"
fi
mapfile -t contenders < <(with_peers scp rsync)
for ((rep = 1; rep <= lat_reps; rep++)); do
    mapfile -t order < <(rotate $((rep - 1)) "${contenders[@]}")
    for who in "${order[@]}"; do
        for link in "${links[@]}"; do
            # scp -r pays several round trips per file: minutes at 40 ms.
            [[ "$who" == scp && "$link" == delay && "$rep" -gt "$lat_scp_files_reps" ]] && continue
            link_runs tree "$link" "$rep" "$who"
        done
    done
    for who in "${order[@]}"; do
        for link in "${links[@]}"; do link_runs file "$link" "$rep" "$who"; done
    done
done
fi
echo "== verified: every tool's copy is byte-identical (cmp / diff -r)"

# ---------------------------------------------------------------- report
echo
export ref reps delay_ms big_label rtt_ms
awk -f bench/transfer-report.awk -v section=main "$workloads" "$results"
if ((${#ids[@]} > 1)); then
    echo
    awk -f bench/transfer-report.awk -v section=ab -v b="$(label B)" "$workloads" "$results"
fi
if phase floor && phase big; then
    echo
    awk -f bench/transfer-report.awk -v section=floor "$floor_out" "$workloads" "$results"
fi
if phase proxy; then
    echo
    awk -f bench/transfer-report.awk -v section=proxy -v lat_count="$lat_count" -v lat_mib="$lat_mib" "$workloads" "$results"
fi
if phase latency; then
    echo
    awk -f bench/transfer-report.awk -v section=latency -v lat_count="$lat_count" -v lat_mib="$lat_mib" \
        "$workloads" "$results"
fi

rss_of() { awk -F '\t' -v w="$1" -v c="$2" '$1 == w && $2 == c && $5 + 0 > m { m = $5 } END { print m + 0 }' "$results"; }
med_of() {
    awk -F '\t' -v w="$1" -v c="$2" '$1 == w && $2 == c { print $4 }' "$results" | sort -n \
        | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v p="$(med_of "$1" "$2")" -v s="$(med_of "$1" "$ref")" 'BEGIN { if (s > 0) printf "%.2f", p / s; else printf "-" }'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r == "-" ? "not run" : r >= g ? "met" : "MISSED") }'; }

echo
phase memory && phase big && for id in "${ids[@]}"; do
    l="$(label "$id")"
    echo "== memory (KiB), $l: client max RSS ${flat_mib} MiB -> $big_label:" \
        "upload $(rss_of "${flat_mib} MiB upload" "$l") -> $(rss_of "$big_label upload" "$l")," \
        "download $(rss_of "${flat_mib} MiB download" "$l") -> $(rss_of "$big_label download" "$l")"
done
phase memory && echo "== memory (KiB): server VmHWM after ${flat_mib} MiB: $(hwm_text hwm_flat); after $big_label x $reps:" \
    "$(hwm_text hwm_big); after small files: $(hwm_text hwm_small) (peaks reset between phases: $hwm_resets)"
flat_ok=met
for id in "${ids[@]}"; do
    for pair in "upload" "download"; do
        a="$(rss_of "${flat_mib} MiB $pair" "$(label "$id")")" b="$(rss_of "$big_label $pair" "$(label "$id")")"
        # Flat: the large file may cost at most 25% or 8 MiB more, whichever is larger.
        awk -v a="$a" -v b="$b" 'BEGIN { exit !(b <= a + (a / 4 > 8192 ? a / 4 : 8192)) }' || flat_ok=MISSED
    done
    if [[ "$hwm_resets" == yes && -n "${hwm_flat[$id]:-}" && -n "${hwm_big[$id]:-}" ]]; then
        awk -v a="${hwm_flat[$id]}" -v b="${hwm_big[$id]}" 'BEGIN { exit !(b <= a + (a / 4 > 8192 ? a / 4 : 8192)) }' \
            || flat_ok=MISSED
    fi
done
if ! phase memory || ! phase big; then flat_ok="not run"; fi
files="$(ratio "files upload" "scp -r")"
down_scp="$(ratio "files download" "scp -r")" down_rsync="$(ratio "files download" "rsync -e ssh")"
echo
echo "== goals (ratios within this run, $ref against the peers)"
echo "   ${small_count} files download >= 5x scp -r:       ${down_scp}x  $(verdict "$down_scp" 5)"
echo "   ${small_count} files download >= 3x rsync -e ssh: ${down_rsync}x  $(verdict "$down_rsync" 3)"
echo "   ${small_count} files upload (earlier goal >= 10x scp -r): ${files}x"
echo "   CPU <= 1.3x the floor, latency and B/A rows: see the tables above"
echo "   memory flat in file size (client and server): $flat_ok"
echo "== loadavg at end: $(cat /proc/loadavg)"
