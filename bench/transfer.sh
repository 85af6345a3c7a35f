#!/usr/bin/env bash
# End-to-end transfer benchmark on loopback: sxfer against scp and rsync,
# all in one run, contenders interleaved within every repetition.
#
#   bench/transfer.sh
#
# Starts `sxfer serve` and a private OpenSSH server (its own config, host
# key, client key and port in a temporary directory; the system's sshd is
# never touched or used), then times
#   * a 1 GiB random file, upload and download: sxfer, scp (default cipher),
#     scp -c aes256-gcm@openssh.com;
#   * 2,000 files of 4 KiB as one directory, upload and download:
#     sxfer upload -r / download -r, scp -r, rsync -a -e ssh;
#   * one 64 MiB sxfer upload and download, to see whether client and server
#     memory stay flat in the file size.
# Prints medians, MiB/s, the client's max RSS and sxfer-speed / peer-speed
# (> 1 means sxfer is faster). Results in docs/PERFORMANCE.md ("## Transfers").
#
# Environment:
#   REPS=3          repetitions of every measurement (median reported)
#   BIG_MIB=1024    size of the large file
#   SMALL_COUNT=2000 SMALL_KIB=4   the small-file tree
#   FLAT_MIB=64     the smaller file for the memory check
#   BENCH_TMPDIR    where the work directory goes [default: $TMPDIR or /tmp]
#   KEEP_WORK=1     keep the work directory (and logs) afterwards
#   PHASES="connect memory big files"   which phases run (all by default)
#
# Fairness: caches are left warm for everybody (nothing is dropped), but
# `sync` runs before every timed command so no contender pays for another's
# dirty pages. sxfer fsyncs what it writes (server blobs and database, and
# downloaded files) inside its timed run; scp and rsync do not fsync.
# Network: none, except apt-get when a tool is missing; cargo runs --offline.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

reps="${REPS:-3}"
big_mib="${BIG_MIB:-1024}"
small_count="${SMALL_COUNT:-2000}"
small_kib="${SMALL_KIB:-4}"
flat_mib="${FLAT_MIB:-64}"
phases=" ${PHASES:-connect memory big files} "
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

echo "== building sxfer (release)"
cargo build --offline --release -p sxfer
sxfer="$(cargo metadata --offline --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/sxfer"
[[ -x "$sxfer" ]] || { echo "no binary at $sxfer" >&2; exit 1; }

# ---------------------------------------------------------------- work dir
base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
work="$(mktemp -d "$base/sxfer-bench.XXXXXX")"
sxfer_pid="" sshd_pid=""
cleanup() {
    local status=$?
    local pid
    for pid in $sxfer_pid $sshd_pid; do
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

mkdir -p "$work"/{data,ssh,srv,dl,home}
chmod 700 "$work/ssh" "$work/home"
results="$work/results.tsv" # workload contender rep seconds rss_kib other_cpu noisy our_cpu
: >"$results"

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
echo "== $("$sxfer" --version); $(ssh -V 2>&1); $(rsync --version | head -n 1)"
echo "== loadavg at start: $(cat /proc/loadavg)"

# ---------------------------------------------------------------- data
echo "== creating ${big_mib} MiB and ${flat_mib} MiB random files, ${small_count} x ${small_kib} KiB files"
head -c "$((big_mib << 20))" /dev/urandom >"$work/data/big.bin"
head -c "$((flat_mib << 20))" /dev/urandom >"$work/data/flat.bin"
mkdir "$work/data/small"
head -c "$((small_count * small_kib << 10))" /dev/urandom \
    | (cd "$work/data/small" && split -a 5 -d -b "$((small_kib << 10))" - f)
[[ "$(find "$work/data/small" -type f | wc -l)" -eq "$small_count" ]]
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
ssh_cmd="ssh -p $ssh_port ${ssh_opts[*]}"
ssh -p "$ssh_port" "${ssh_opts[@]}" "$me@127.0.0.1" true \
    || { cat "$work/ssh/sshd.log" >&2; echo "cannot log in to the private sshd" >&2; exit 1; }
echo "== private sshd on 127.0.0.1:$ssh_port (pid $sshd_pid), user $me"

# ---------------------------------------------------------------- sxfer serve
export SXFER_HOME="$work/home" SXFER_PASSWORD="$password"
"$sxfer" user add bench --data-dir "$work/sxfer-data" >/dev/null
# sxfer logs in with the same ed25519 key as ssh (like for like: a password
# login adds one argon2id hash, ~50 ms here; "connect+pw" times that too).
"$sxfer" user key add bench "$work/ssh/client.pub" --data-dir "$work/sxfer-data" >/dev/null
"$sxfer" serve --data-dir "$work/sxfer-data" --listen 127.0.0.1:0 2>"$work/serve.log" &
sxfer_pid=$!
for _ in $(seq 1 100); do
    grep -q '^host key ' "$work/serve.log" 2>/dev/null && break
    kill -0 "$sxfer_pid" 2>/dev/null || break
    sleep 0.1
done
sxfer_port="$(sed -n 's/^sxfer server listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/serve.log")"
fingerprint="$(sed -n 's/^host key [^ ]* \(SHA256:[^ ]*\)$/\1/p' "$work/serve.log")"
if [[ -z "$sxfer_port" || -z "$fingerprint" ]]; then
    cat "$work/serve.log" >&2
    echo "sxfer serve did not start" >&2
    exit 1
fi
sx="bench@127.0.0.1:$sxfer_port"
sxflags=(--fingerprint "$fingerprint" -q -i "$work/ssh/client")
sxflags_pw=(--fingerprint "$fingerprint" -q)
"$sxfer" ls "$sx" "${sxflags[@]}" >/dev/null   # pins the host key in $SXFER_HOME
echo "== sxfer serve on 127.0.0.1:$sxfer_port (pid $sxfer_pid), host key $fingerprint"

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
# its tree, KiB) and "other" CPU: what the machine burnt beyond this client,
# sxfer serve and the private sshd (another build, say). A run where others
# took more than OTHER_MAX of one core (default 10%) plus 0.1 s (kernel
# threads doing our own I/O count as "other" too) is repeated, up to
# ATTEMPTS times (default 4); the last attempt counts, marked if still noisy.
other_max="${OTHER_MAX:-0.10}"
attempts_max="${ATTEMPTS:-4}"
attempt=0
timed() {
    local workload="$1" contender="$2" rep="$3" prepare="$4"
    shift 4
    local t0 t1 m0 m1 s0 s1 wall rss user sys other ours noisy command arg
    for ((attempt = 1; attempt <= attempts_max; attempt++)); do
        command=()
        for arg in "$@"; do command+=("${arg//@ATTEMPT@/$attempt}"); done
        "$prepare"
        sync
        settle
        m0="$(machine_ticks)" s0="$(proc_ticks "$sxfer_pid" "$sshd_pid")"
        t0="$(date +%s%N)"
        if ! /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" "${command[@]}" >"$work/cmd.out" 2>&1; then
            echo "FAILED: $workload / $contender: ${command[*]}" >&2
            cat "$work/cmd.out" >&2
            exit 1
        fi
        t1="$(date +%s%N)"
        settle
        m1="$(machine_ticks)" s1="$(proc_ticks "$sxfer_pid" "$sshd_pid")"
        read -r _ rss user sys < <(tail -n 1 "$work/time.out")
        wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')"
        other="$(awk -v m="$((m1 - m0))" -v s="$((s1 - s0))" -v u="$user" -v y="$sys" -v hz="$clk_tck" \
            'BEGIN { o = (m - s) / hz - u - y; printf "%.2f", o < 0 ? 0 : o }')"
        ours="$(awk -v s="$((s1 - s0))" -v u="$user" -v y="$sys" -v hz="$clk_tck" 'BEGIN { printf "%.2f", s / hz + u + y }')"
        noisy="$(awk -v o="$other" -v w="$wall" -v x="$other_max" 'BEGIN { print (o > x * w + 0.1 ? "*" : "") }')"
        printf '   %-22s %-14s rep %s  %8.3f s  %7d KiB  cpu %5.2f s  other cpu %5.2f s%s\n' "$workload" "$contender" \
            "$rep" "$wall" "$rss" "$ours" "$other" "${noisy:+  (busy machine, attempt $attempt)}"
        [[ -n "$noisy" && "$attempt" -lt "$attempts_max" ]] || break
        sleep 5
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$contender" "$rep" "$wall" "$rss" "$other" "$noisy" "$ours" \
        >>"$results"
}

server_hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$sxfer_pid/status"; }
# Linux resets VmHWM to the current RSS on "5" (since 4.0); false if not allowed.
server_hwm_reset() { { echo 5 >"/proc/$sxfer_pid/clear_refs"; } 2>/dev/null; }
hwm_resets=yes

# rotate N ITEMS...: the contenders take turns going first.
rotate() {
    local n="$1"
    shift
    local items=("$@") i
    for ((i = 0; i < ${#items[@]}; i++)); do
        echo "${items[(i + n) % ${#items[@]}]}"
    done
}

big="$work/data/big.bin"
small="$work/data/small"
big_label="${big_mib} MiB"
[[ "$big_mib" -eq 1024 ]] && big_label="1 GiB"
ssh_to="$me@127.0.0.1"
scp_gcm=(scp -q -c aes256-gcm@openssh.com -P "$ssh_port" "${ssh_opts[@]}")
scp_def=(scp -q -P "$ssh_port" "${ssh_opts[@]}")
dest=""
fresh_dest() { rm -rf "$dest"; mkdir -p "$dest"; }

# ---------------------------------------------------------------- baseline
if phase connect; then
echo "== connection setup (login only), 5 runs"
for i in 1 2 3 4 5; do
    timed "connect+auth" sxfer "$i" true "$sxfer" ls "$sx" "${sxflags[@]}"
    timed "connect+pw" sxfer "$i" true "$sxfer" ls "$sx" "${sxflags_pw[@]}"
    timed "connect+auth" ssh "$i" true ssh -p "$ssh_port" "${ssh_opts[@]}" "$ssh_to" true
done
fi

# ---------------------------------------------------------------- memory: small file first
hwm_flat=- hwm_big=- hwm_small=-
if phase memory; then
echo "== memory check: ${flat_mib} MiB with sxfer (server peak reset before)"
server_hwm_reset || hwm_resets=no
fresh_flat() { rm -rf "$work/dl/flat"; mkdir -p "$work/dl/flat"; }
timed "${flat_mib} MiB upload" sxfer 1 true "$sxfer" upload "$work/data/flat.bin" "$sx:flat.bin" "${sxflags[@]}"
timed "${flat_mib} MiB download" sxfer 1 fresh_flat "$sxfer" download "$sx:flat.bin" "$work/dl/flat" "${sxflags[@]}"
cmp "$work/data/flat.bin" "$work/dl/flat/flat.bin"
rm -rf "$work/dl/flat"
hwm_flat="$(server_hwm)"
echo "   server VmHWM after the ${flat_mib} MiB runs: $hwm_flat KiB"
fi

# ---------------------------------------------------------------- large file
if phase big; then
echo "== $big_label: upload then download, $reps repetitions, contenders rotating"
server_hwm_reset || hwm_resets=no
contenders=(sxfer scp scp-aes256gcm)
for ((rep = 1; rep <= reps; rep++)); do
    mapfile -t order < <(rotate $((rep - 1)) "${contenders[@]}")
    for who in "${order[@]}"; do
        dest="$work/srv/$who"
        case "$who" in
        sxfer) # the same name every time: an upload replaces the previous one
            timed "$big_label upload" sxfer "$rep" true "$sxfer" upload "$big" "$sx:big.bin" "${sxflags[@]}" ;;
        scp)
            timed "$big_label upload" scp "$rep" fresh_dest "${scp_def[@]}" "$big" "$ssh_to:$dest/big.bin" ;;
        scp-aes256gcm)
            timed "$big_label upload" scp-aes256gcm "$rep" fresh_dest "${scp_gcm[@]}" "$big" "$ssh_to:$dest/big.bin" ;;
        esac
        [[ "$who" == sxfer || "$rep" -gt 1 ]] || cmp "$big" "$dest/big.bin"
        rm -rf "$dest"
    done
    for who in "${order[@]}"; do
        dest="$work/dl/$who"
        case "$who" in
        sxfer)
            timed "$big_label download" sxfer "$rep" fresh_dest "$sxfer" download "$sx:big.bin" "$dest" "${sxflags[@]}" ;;
        scp)
            timed "$big_label download" scp "$rep" fresh_dest "${scp_def[@]}" "$ssh_to:$big" "$dest/big.bin" ;;
        scp-aes256gcm)
            timed "$big_label download" scp-aes256gcm "$rep" fresh_dest "${scp_gcm[@]}" "$ssh_to:$big" "$dest/big.bin" ;;
        esac
        [[ "$rep" -gt 1 ]] || cmp "$big" "$dest/big.bin"
        rm -rf "$dest"
    done
done
hwm_big="$(server_hwm)"
echo "   server VmHWM after the $big_label runs: $hwm_big KiB"
fi

# ---------------------------------------------------------------- small files
if phase files; then
echo "== ${small_count} x ${small_kib} KiB files as a directory, upload then download, $reps repetitions, contenders rotating"
server_hwm_reset || hwm_resets=no
contenders=(sxfer scp rsync)
# The download source: the same tree, stored once on each side (untimed).
"$sxfer" upload -r "$small" "$sx:dl-src/" "${sxflags[@]}"
for ((rep = 1; rep <= reps; rep++)); do
    mapfile -t order < <(rotate $((rep - 1)) "${contenders[@]}")
    for who in "${order[@]}"; do
        dest="$work/srv/$who"
        case "$who" in
        sxfer) # a fresh remote directory per run, like scp and rsync get
            timed "files upload" sxfer "$rep" true "$sxfer" upload -r "$small" "$sx:s$rep.@ATTEMPT@/" "${sxflags[@]}" ;;
        scp)
            timed "files upload" "scp -r" "$rep" fresh_dest "${scp_def[@]}" -r "$small" "$ssh_to:$dest/" ;;
        rsync)
            timed "files upload" "rsync -e ssh" "$rep" fresh_dest rsync -a -e "$ssh_cmd" "$small" "$ssh_to:$dest/" ;;
        esac
        [[ "$who" == sxfer || "$rep" -gt 1 ]] || diff -r "$small" "$dest/small"
        rm -rf "$dest"
    done
    for who in "${order[@]}"; do
        dest="$work/dl/$who"
        case "$who" in
        sxfer)
            timed "files download" sxfer "$rep" fresh_dest "$sxfer" download -r "$sx:dl-src/small" "$dest" "${sxflags[@]}" ;;
        scp)
            timed "files download" "scp -r" "$rep" fresh_dest "${scp_def[@]}" -r "$ssh_to:$small" "$dest/" ;;
        rsync)
            timed "files download" "rsync -e ssh" "$rep" fresh_dest rsync -a -e "$ssh_cmd" "$ssh_to:$small" "$dest/" ;;
        esac
        [[ "$rep" -gt 1 ]] || diff -r "$small" "$dest/small"
        rm -rf "$dest"
    done
done
hwm_small="$(server_hwm)"
# The trees sxfer uploaded come back identical (not timed).
mkdir -p "$work/dl/small"
"$sxfer" download -r "$sx:s1.1/small" "$work/dl/small" "${sxflags[@]}"
diff -r "$small" "$work/dl/small/small"
rm -rf "$work/dl/small"
echo "   server VmHWM after the small-file runs: $hwm_small KiB"
fi
echo "== verified: every tool's copy is byte-identical (cmp / diff -r)"

# ---------------------------------------------------------------- report
echo
echo "== results: median of $reps (wall seconds; RSS = the client's max)"
awk -F '\t' -v small_bytes="$((small_count * small_kib << 10))" -v big_bytes="$((big_mib << 20))" \
    -v flat_bytes="$((flat_mib << 20))" -v flat_mib="$flat_mib" '
function median(key,    n, i, j, t, v) {
    n = split(times[key], v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
    key = $1 SUBSEP $2
    if (!(key in times)) { order[++count] = key; times[key] = $4 } else times[key] = times[key] " " $4
    if ($5 + 0 > rss[key] + 0) rss[key] = $5
    if ($6 + 0 > other[key] + 0) other[key] = $6
    if ($7 != "") noisy[key] = "*"
    cpu[key] = cpu[key] + $8; runs[key]++
}
END {
    printf "| %-18s | %-13s | %8s | %7s | %7s | %6s | %9s | %-29s | %10s |\n", "workload", "contender", "median s", "MiB/s", "RSS MiB", "CPU s", "other s", "runs s", "sxfer/peer"
    printf "|:%s|:%s|%s:|%s:|%s:|%s:|%s:|:%s|%s:|\n", "-------------------", "--------------", "---------", "--------", "--------", "-------", "----------", "------------------------------", "-----------"
    for (k = 1; k <= count; k++) {
        split(order[k], p, SUBSEP)
        m = median(order[k])
        bytes = p[1] ~ /^files/ ? small_bytes : p[1] ~ "^" flat_mib " MiB" ? flat_bytes : p[1] ~ /upload|download/ ? big_bytes : 0
        rate = bytes > 0 && m > 0 ? sprintf("%7.1f", bytes / 1048576 / m) : sprintf("%7s", "-")
        ratio = "-"
        if (p[2] != "sxfer" && (p[1] SUBSEP "sxfer") in times) ratio = sprintf("%.2fx", m / median(p[1] SUBSEP "sxfer"))
        printf "| %-18s | %-13s | %8.3f | %s | %7.1f | %6.2f | %8.2f%1s | %-29s | %10s |\n", p[1], p[2], m, rate, rss[order[k]] / 1024, cpu[order[k]] / runs[order[k]], other[order[k]], noisy[order[k]], times[order[k]], ratio
    }
    print "(sxfer/peer = peer median / sxfer median: above 1 sxfer is faster. CPU s = mean CPU of client + server per run."
    print " other s = most CPU anything else used during one run; * = a run stayed noisy after all attempts)"
}' "$results"

rss_of() { awk -F '\t' -v w="$1" -v c="$2" '$1 == w && $2 == c && $5 + 0 > m { m = $5 } END { print m + 0 }' "$results"; }
med_of() {
    awk -F '\t' -v w="$1" -v c="$2" '$1 == w && $2 == c { print $4 }' "$results" | sort -n \
        | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v p="$(med_of "$1" "$2")" -v s="$(med_of "$1" sxfer)" 'BEGIN { if (s > 0) printf "%.2f", p / s; else printf "-" }'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r == "-" ? "not run" : r >= g ? "met" : "MISSED") }'; }

echo
echo "== memory (KiB): client max RSS ${flat_mib} MiB -> $big_label:" \
    "upload $(rss_of "${flat_mib} MiB upload" sxfer) -> $(rss_of "$big_label upload" sxfer)," \
    "download $(rss_of "${flat_mib} MiB download" sxfer) -> $(rss_of "$big_label download" sxfer)"
echo "== memory (KiB): server VmHWM after ${flat_mib} MiB $hwm_flat, after $big_label x $reps $hwm_big," \
    "after small files $hwm_small (peaks reset between phases: $hwm_resets)"
flat_ok=met
for pair in "upload" "download"; do
    a="$(rss_of "${flat_mib} MiB $pair" sxfer)" b="$(rss_of "$big_label $pair" sxfer)"
    # Flat: the large file may cost at most 25% or 8 MiB more, whichever is larger.
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(b <= a + (a / 4 > 8192 ? a / 4 : 8192)) }' || flat_ok=MISSED
done
if ! phase memory || ! phase big; then
    flat_ok="not run"
elif [[ "$hwm_resets" == yes ]]; then
    awk -v a="$hwm_flat" -v b="$hwm_big" 'BEGIN { exit !(b <= a + (a / 4 > 8192 ? a / 4 : 8192)) }' || flat_ok=MISSED
fi
up="$(ratio "$big_label upload" scp-aes256gcm)" down="$(ratio "$big_label download" scp-aes256gcm)"
files="$(ratio "files upload" "scp -r")" files_down="$(ratio "files download" "scp -r")"
echo
echo "== goals (ratios within this run)"
echo "   $big_label upload   >= 2.5x scp aes256-gcm: ${up}x  $(verdict "$up" 2.5)"
echo "   $big_label download >= 2.5x scp aes256-gcm: ${down}x  $(verdict "$down" 2.5)"
echo "   ${small_count} files upload >= 10x scp -r:       ${files}x  $(verdict "$files" 10)"
echo "   ${small_count} files download (no goal) vs scp -r: ${files_down}x"
echo "   memory flat in file size (client and server): $flat_ok"
echo "== loadavg at end: $(cat /proc/loadavg)"
