# The tables of bench/transfer.sh, from its results file.
#
#   awk -f bench/transfer-report.awk -v section=S [-v ...] FILES...
#
# section=main     WORKLOADS RESULTS: every row, medians and spread
# section=ab       WORKLOADS RESULTS, -v b=LABEL: B/A for every row
# section=floor    FLOOR-OUT WORKLOADS RESULTS: CPU-s per GiB against the floor
# section=proxy    WORKLOADS RESULTS, -v lat_count -v lat_mib: proxy at 0 ms vs direct
# section=latency  WORKLOADS RESULTS, -v lat_count -v lat_mib: the delayed rows
#
# ENVIRON: ref (the reference sxfer label), reps, delay_ms, big_label.
# RESULTS columns: workload contender rep wall rss other noisy ours client
# server proxy. WORKLOADS columns: workload bytes files.

function sort_list(list, v,    n, i, j, t) {
    n = split(list, v, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n
}
function med(list,    n, v) {
    n = sort_list(list, v)
    if (n == 0) return ""
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function lo(list,    n, v) { n = sort_list(list, v); return n ? v[1] : "" }
function hi(list,    n, v) { n = sort_list(list, v); return n ? v[n] : "" }
# (max - min) / median, in percent: the spread over repetitions.
function spread(list,    m) {
    m = med(list)
    return m > 0 ? sprintf("%.0f%%", 100 * (hi(list) - lo(list)) / m) : "-"
}
function has(w, c) { return (w SUBSEP c) in wall }
function add(arr, key, value) { arr[key] = (key in arr) ? arr[key] " " value : value }
function mib_s(w, seconds) { return bytes[w] > 0 && seconds > 0 ? bytes[w] / 1048576 / seconds : 0 }

BEGIN {
    FS = "\t"
    ref = ENVIRON["ref"]
    # The round trip through the delayed proxy as measured alone (its timers
    # add ~1-3 ms to 2 x delay), else 2 x delay.
    rtt = (ENVIRON["rtt_ms"] != "" ? ENVIRON["rtt_ms"] : 2 * ENVIRON["delay_ms"]) / 1000
    lat = ENVIRON["delay_ms"] "ms"
    gib = 1073741824
}
FNR == 1 { file++ }
# The floor example's output (section=floor, first file).
section == "floor" && file == 1 {
    if ($1 == "result") { floor[$2, $3] = $4; floor_lo[$2, $3] = $5; floor_hi[$2, $3] = $6 }
    next
}
(section == "floor" && file == 2) || (section != "floor" && file == 1) {
    bytes[$1] = $2; files[$1] = $3
    next
}
{
    key = $1 SUBSEP $2
    if (!(key in wall)) { order[++count] = key; if (!($1 in seen)) { seen[$1] = 1; worder[++wcount] = $1 } }
    add(wall, key, $4); add(cpu, key, $8); add(client, key, $9); add(server, key, $10); add(proxy, key, $11)
    at[key, $3] = $4; cpu_at[key, $3] = $8
    if ($5 + 0 > rss[key] + 0) rss[key] = $5
    if ($6 + 0 > other[key] + 0) other[key] = $6
    if ($7 != "") noisy[key] = "*"
}

END {
    if (section == "main") main_table()
    else if (section == "ab") ab_table()
    else if (section == "floor") floor_table()
    else if (section == "proxy") proxy_table()
    else if (section == "latency") latency_table()
}

function main_table(    k, p, m, rate, ratio) {
    print "== results: median of " ENVIRON["reps"] " (wall seconds; RSS = the client's max)"
    printf "| %-24s | %-13s | %8s | %7s | %7s | %6s | %8s | %-29s | %6s | %10s |\n", "workload", "contender", "median s", \
        "MiB/s", "RSS MiB", "CPU s", "other s", "runs s", "spread", "sxfer/peer"
    printf "|:%s|:%s|%s:|%s:|%s:|%s:|%s:|:%s|%s:|%s:|\n", "-------------------------", "--------------", "---------", \
        "--------", "--------", "-------", "---------", "------------------------------", "-------", "-----------"
    for (k = 1; k <= count; k++) {
        split(order[k], p, SUBSEP)
        m = med(wall[order[k]])
        rate = mib_s(p[1], m) > 0 ? sprintf("%7.1f", mib_s(p[1], m)) : sprintf("%7s", "-")
        ratio = "-"
        if (p[2] !~ /^sxfer/ && has(p[1], ref)) ratio = sprintf("%.2fx", m / med(wall[p[1], ref]))
        printf "| %-24s | %-13s | %8.3f | %s | %7.1f | %6.2f | %7.2f%1s | %-29s | %6s | %10s |\n", p[1], p[2], m, rate, \
            rss[order[k]] / 1024, med(cpu[order[k]]), other[order[k]], noisy[order[k]], wall[order[k]], \
            spread(wall[order[k]]), ratio
    }
    print "(sxfer/peer = peer median / " ref " median: above 1 sxfer is faster. CPU s = median CPU of client + server"
    print " per run. spread = (slowest - fastest) / median over the repetitions. other s = most CPU anything else used"
    print " during one run; * = a run stayed noisy after all attempts. Proxied rows: CPU s excludes the proxy.)"
}

# B/A per row: ratio of medians, and the range of the per-repetition ratios
# (A and B ran next to each other in every repetition, so those are paired).
function ab_table(    i, w, ka, kb, r, ratios, n, lo_r, hi_r, tag, ca, cb) {
    print "== " b " against " ref ": time B/A (below 1: B is faster), paired within each repetition"
    printf "| %-24s | %8s | %8s | %6s | %-13s | %7s | %7s | %6s | %-12s |\n", "workload", "A s", "B s", "B/A", \
        "per rep B/A", "A CPU s", "B CPU s", "CPU B/A", "verdict"
    printf "|:%s|%s:|%s:|%s:|:%s|%s:|%s:|%s:|:%s|\n", "-------------------------", "---------", "---------", "-------", \
        "--------------", "--------", "--------", "-------", "-------------"
    for (i = 1; i <= wcount; i++) {
        w = worder[i]
        if (!has(w, ref) || !has(w, b)) continue
        ka = w SUBSEP ref; kb = w SUBSEP b
        ratios = ""
        for (r = 1; r <= 100; r++) if (((ka, r) in at) && ((kb, r) in at) && at[ka, r] > 0) \
            ratios = ratios (ratios == "" ? "" : " ") sprintf("%.3f", at[kb, r] / at[ka, r])
        n = split(ratios, tmp, " ")
        lo_r = lo(ratios); hi_r = hi(ratios)
        tag = n < 2 ? "one run" : hi_r < 1 ? "B faster" : lo_r > 1 ? "B slower" : "within noise"
        ca = med(cpu[ka]); cb = med(cpu[kb])
        printf "| %-24s | %8.3f | %8.3f | %6.3f | %5.3f..%-6.3f | %7.2f | %7.2f | %7s | %-12s |\n", w, med(wall[ka]), \
            med(wall[kb]), med(wall[kb]) / med(wall[ka]), lo_r, hi_r, ca, cb, (ca > 0 ? sprintf("%.3f", cb / ca) : "-"), tag
    }
    print "(verdict: \"B faster\" / \"B slower\" only when every repetition agrees; the machine is shared and noisy.)"
}

function floor_table(    d, w, c, k, g, total, cl, sv, dir) {
    if (!(("floor", "upload") in floor)) { print "== CPU floor: not measured"; return }
    print "== CPU per GiB against the floor (floor measured in this run; CPU = median over the repetitions)"
    printf "   floor, CPU-s per GiB, client + server: upload %.3f (client %.3f, server %.3f; runs %.3f..%.3f)," \
        " download %.3f (client %.3f, server %.3f; runs %.3f..%.3f)\n", floor["floor", "upload"], \
        floor["floor", "upload-client"], floor["floor", "upload-server"], floor_lo["floor", "upload"], \
        floor_hi["floor", "upload"], floor["floor", "download"], floor["floor", "download-client"], \
        floor["floor", "download-server"], floor_lo["floor", "download"], floor_hi["floor", "download"]
    printf "| %-18s | %-13s | %9s | %9s | %9s | %9s | %-26s |\n", "workload", "contender", "CPU-s/GiB", "client", \
        "server", "x floor", "x floor client / server"
    printf "|:%s|:%s|%s:|%s:|%s:|%s:|:%s|\n", "-------------------", "--------------", "----------", "----------", \
        "----------", "----------", "---------------------------"
    for (d = 1; d <= 2; d++) {
        dir = d == 1 ? "upload" : "download"
        w = ENVIRON["big_label"] " " dir
        if (!(w in bytes)) continue
        g = bytes[w] / gib
        for (k = 1; k <= count; k++) {
            split(order[k], c, SUBSEP)
            if (c[1] != w) continue
            total = med(cpu[order[k]]) / g; cl = med(client[order[k]]) / g; sv = med(server[order[k]]) / g
            if (c[2] ~ /^sxfer/)
                printf "| %-18s | %-13s | %9.2f | %9.2f | %9.2f | %8.2fx | %11.2fx / %-11s |\n", w, c[2], total, cl, sv, \
                    total / floor["floor", dir], cl / floor["floor", dir "-client"], \
                    sprintf("%.2fx", sv / floor["floor", dir "-server"])
            else
                printf "| %-18s | %-13s | %9.2f | %9.2f | %9.2f | %9s | %-26s |\n", w, c[2], total, cl, sv, "-", \
                    "(no digest, no at-rest)"
        }
    }
    print "(CPU = user + sys of the client and of the server from /proc; the floor is the sum of the primitives'"
    print " single-thread CPU cost, each measured in the floor example; goal of issue 10: <= 1.3x)"
    if (("kernel", "page-cache write") in floor)
        printf "(not in the floor: the kernel here took %.2f..%.2f CPU-s per GiB to write new files into the page" \
            " cache; the floor counts that copy at memcpy's %.2f)\n", floor_lo["kernel", "page-cache write"], \
            floor_hi["kernel", "page-cache write"], floor["primitive", "memory copy"]
}

function proxy_table(    bi, d, base, dir, wd, wp, k, c, key, kp, m0, m1, pc) {
    print "== delay proxy overhead at 0 ms: the same runs direct and through the proxy (p0/direct: 1 = no overhead)"
    printf "| %-24s | %-13s | %9s | %9s | %9s | %-17s | %11s | %13s |\n", "workload", "contender", "direct s", \
        "proxy s", "p0/direct", "per rep p0/direct", "proxy CPU s", "proxy CPU/GiB"
    printf "|:%s|:%s|%s:|%s:|%s:|:%s|%s:|%s:|\n", "-------------------------", "--------------", "----------", \
        "----------", "----------", "------------------", "------------", "--------------"
    for (bi = 1; bi <= 2; bi++) for (d = 1; d <= 2; d++) {
        base = bi == 1 ? lat_count " files" : lat_mib " MiB"
        dir = d == 1 ? "upload" : "download"
        wd = base " " dir; wp = base " p0 " dir
        for (k = 1; k <= count; k++) {
            split(order[k], c, SUBSEP)
            if (c[1] != wd || !has(wp, c[2])) continue
            key = order[k]; kp = wp SUBSEP c[2]
            m0 = med(wall[key]); m1 = med(wall[kp]); pc = med(proxy[kp])
            printf "| %-24s | %-13s | %9.3f | %9.3f | %9.3f | %-17s | %11.2f | %13s |\n", wd, c[2], m0, m1, m1 / m0, \
                paired(key, kp), pc, (bi == 2 ? sprintf("%.2f", pc / (bytes[wp] / gib)) : "-")
        }
    }
    print "(proxy CPU s: the proxy process's user + sys per run, median. The proxy adds two copies and a hop"
    print " through user space; on 2 shared cores it also competes for CPU with client and server.)"
}
# "lo..hi" of at[kb, r] / at[ka, r] over the repetitions.
function paired(ka, kb,    r, ratios) {
    ratios = ""
    for (r = 1; r <= 100; r++) if (((ka, r) in at) && ((kb, r) in at) && at[ka, r] > 0) \
        ratios = ratios (ratios == "" ? "" : " ") sprintf("%.3f", at[kb, r] / at[ka, r])
    return ratios == "" ? "-" : sprintf("%.3f..%.3f", lo(ratios), hi(ratios))
}

function latency_table(    k, c, w, m, bi, d, base, dir, wl, wp, m0, rate, rate0) {
    printf "== latency: %s one-way, through the delay proxy; RTT %.1f ms (measured through the proxy alone)\n", lat, \
        rtt * 1000
    print "   connect + login (key), round trips = median / RTT:"
    for (k = 1; k <= count; k++) {
        split(order[k], c, SUBSEP)
        if (c[1] != "connect+auth " lat) continue
        m = med(wall[order[k]])
        printf "     %-13s %7.3f s  = %5.1f RTT   (runs %s)\n", c[2], m, m / rtt, wall[order[k]]
    }
    printf "| %-24s | %-13s | %8s | %6s | %8s | %8s | %9s | %11s | %-23s |\n", "workload", "contender", "median s", \
        "spread", "time/RTT", "added RT", "MiB/s", "vs 0 ms", "runs s"
    printf "|:%s|:%s|%s:|%s:|%s:|%s:|%s:|%s:|:%s|\n", "-------------------------", "--------------", "---------", \
        "-------", "---------", "---------", "----------", "------------", "------------------------"
    for (bi = 1; bi <= 2; bi++) for (d = 1; d <= 2; d++) {
        base = bi == 1 ? lat_count " files" : lat_mib " MiB"
        dir = d == 1 ? "upload" : "download"
        wl = base " " lat " " dir; wp = base " p0 " dir
        for (k = 1; k <= count; k++) {
            split(order[k], c, SUBSEP)
            if (c[1] != wl) continue
            m = med(wall[order[k]])
            m0 = has(wp, c[2]) ? med(wall[wp, c[2]]) : ""
            rate = mib_s(wl, m); rate0 = m0 != "" ? mib_s(wl, m0) : 0
            printf "| %-24s | %-13s | %8.3f | %6s | %8.1f | %8s | %9.1f | %11s | %-23s |\n", wl, c[2], m, \
                spread(wall[order[k]]), m / rtt, m0 != "" ? sprintf("%.1f", (m - m0) / rtt) : "-", rate, \
                (rate0 > 0 ? sprintf("%.0f%%", 100 * rate / rate0) : "-"), wall[order[k]]
        }
    }
    print "(time/RTT: the whole run, login included, in round trips. added RT = (median here - median through the"
    print " proxy at 0 ms) / RTT: the round trips the delay cost. vs 0 ms: throughput here / through the proxy at"
    printf " 0 ms. A window of W bytes caps a stream at W / RTT: at %.1f ms, 8 MiB allows %.0f MiB/s, 2 MiB %.0f MiB/s.)\n", \
        rtt * 1000, 8 / rtt, 2 / rtt
}
