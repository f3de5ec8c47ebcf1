# Turns bench/out/raw.tsv into the results table, the target verdicts and the chart data.
#
# Input lines: case tool series rep wall_s cpu_s rss_kb status note   (tab-separated)
# Variables (-v): targets_out  file for the targets table (markdown)
#                 summary_out  file for the plain-text ratios printed at the end of a run
#                 wall_dat rss_dat serve_dat   gnuplot data files
#                 rss_limit_kb 64 MB + the largest single file of the tree, in KB
# Stdout: the markdown results table.

BEGIN {
    FS = "\t"
    # id, title, metric compared, rule, target as the issue states it
    def("publish-initial", "initial publish", "wall", "ratio floor 2", "<= 2 x cp -a")
    def("publish-noop", "no-op publish", "wall", "net 0.015", "<= 15 ms")
    def("publish-incr", "incremental publish", "wall", "ratio git 0.5", "<= 0.5 x git add -A && git commit")
    def("pull-initial-local", "initial pull, local path", "wall", "ratio rsync 2", "<= 2 x rsync -a")
    def("pull-initial-ssh", "initial pull, ssh", "wall", "ratio rsync 1.5", "<= 1.5 x rsync over ssh")
    def("setup-gc", "depsync gc on the primary (once, for information)",
        "wall", "none", "")
    def("pull-initial-ssh-gc", "initial pull, ssh, repository packed by depsync gc", "wall", "ratio rsync 1.5",
        "<= 1.5 x rsync over ssh")
    def("pull-noop-local", "no-op pull, local path", "wall", "net 0.010", "<= 10 ms")
    def("pull-noop-ssh", "no-op pull, ssh", "wall", "ratio floor 1.2", "<= 1.2 x ssh host true")
    def("pull-incr-local", "incremental pull, local path", "wall", "none", "(none)")
    def("pull-incr-ssh", "incremental pull, ssh", "wall", "ratio rsync 1", "<= rsync over ssh")
    def("serve-noop-10", "primary CPU, no-op cycle of 10 peers (10k-file tree)", "cpu", "none",
        "does not grow with the tree (see --scale-run)")
    def("serve-noop-10-100k", "primary CPU, no-op cycle of 10 peers (100k-file tree)", "cpu",
        "growth serve-noop-10 1.2", "<= 1.2 x the 10k-file tree's")
    def("setup-10k", "scale run, 10k-file tree: first release (one run each)", "wall", "none", "")
    def("setup-100k", "scale run, 100k-file tree: first release (one run each)", "wall", "none", "")
}

function def(id, title, metric, rule, target) {
    ncase++
    case_id[ncase] = id
    case_title[id] = title
    case_metric[id] = metric
    case_rule[id] = rule
    case_target[id] = target
}

{
    key = $1 SUBSEP $2
    if (!(key in seen)) {
        seen[key] = 1
        ntools[$1]++
        tool_at[$1, ntools[$1]] = $2
        series[key] = $3
    }
    runs[key]++
    if ($8 == "ok") {
        k = ++ok[key]
        v_wall[key, k] = $5 + 0
        v_cpu[key, k] = $6 + 0
        v_rss[key, k] = $7 + 0
        v_srv[key, k] = $10 + 0
        if ($7 + 0 > peak_rss[key]) peak_rss[key] = $7 + 0
    } else {
        note[key] = $9
    }
}

function median(arr, key, n,    i, j, x, a) {
    if (n < 1) return -1
    for (i = 1; i <= n; i++) a[i] = arr[key, i]
    for (i = 2; i <= n; i++) {
        x = a[i]
        for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
        a[j + 1] = x
    }
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
}

function fmt_s(s) {
    if (s < 0) return "n/a"
    if (s < 1) return sprintf("%.1f ms", s * 1000)
    return sprintf("%.2f s", s)
}
function fmt_mb(kb) { return kb < 0 ? "n/a" : sprintf("%.1f MB", kb / 1024) }
function fmt_x(r) { return r < 0 ? "-" : (r < 10 ? sprintf("%.2fx", r) : sprintf("%.1fx", r)) }

# The compared value of a row: median wall or median CPU.
function metric(c, key) { return case_metric[c] == "cpu" ? m_cpu[key] : m_wall[key] }

# The baseline row of series s in case c: the first tool of that series.
function base_key(c, s,    i, key) {
    for (i = 1; i <= ntools[c]; i++) {
        key = c SUBSEP tool_at[c, i]
        if (series[key] == s && m_wall[key] >= 0) return key
    }
    return ""
}
function ratio(c, key, s,    b) {
    b = base_key(c, s)
    if (b == "" || m_wall[key] < 0 || metric(c, b) <= 0) return -1
    return metric(c, key) / metric(c, b)
}

# Chart label of a primary-CPU row.
function short_label(key,    t) {
    t = tool_of[key]
    if (series[key] == "depsync") return t ~ /local path/ ? "depsync, local path" : (t ~ /https/ ? "depsync, https" : "depsync, ssh")
    if (series[key] == "rsync") return "rsync job over ssh"
    if (series[key] == "git") return "git over ssh"
    if (series[key] == "floor") return "ssh host true (floor)"
    return t
}

# A 100k-tree row's CPU over the same tool's on the 10k tree; -1 when there is none.
function growth(key,    ref) {
    ref = "serve-noop-10" SUBSEP tool_of[key]
    if (!(ref in m_wall) || m_wall[ref] < 0 || m_cpu[ref] <= 0 || m_wall[key] < 0) return -1
    return m_cpu[key] / m_cpu[ref]
}

# Total CPU (the command's plus the sshd's) of a row over that of the baseline row of series s.
function cpu_ratio(c, key, s,    b, mine, theirs) {
    b = base_key(c, s)
    if (b == "" || m_wall[key] < 0) return -1
    mine = m_cpu[key] + m_srv[key]
    theirs = m_cpu[b] + m_srv[b]
    # Below /usr/bin/time's 10 ms steps on either side there is nothing to compare.
    if (theirs <= 0 || mine <= 0) return -1
    return mine / theirs
}

# The rule and target of a row: the case's, except for https serving on the 10k tree.
function rule_of(c, key) {
    if (c == "serve-noop-10" && tool_of[key] ~ /https/) return "ratio rsync 0.1"
    return case_rule[c]
}
function target_of(c, key) {
    if (c == "serve-noop-10" && tool_of[key] ~ /https/) return "over https <= 0.1 x rsync's per node"
    return case_target[c]
}

function verdict(c, key,    n, parts, r, v, b, net, ref) {
    n = split(rule_of(c, key), parts, " ")
    if (parts[1] == "none") return "-"
    if (m_wall[key] < 0) return "n/a (failed)"
    if (parts[1] == "ratio") {
        r = ratio(c, key, parts[2])
        if (r < 0) return "n/a (no " parts[2] " baseline)"
        return (r <= parts[3] + 0 ? "met" : "MISSED") sprintf(" (%s)", fmt_x(r))
    }
    if (parts[1] == "net") {
        # Net of the harness floor (spawning /usr/bin/time and timeout for an empty command).
        b = base_key(c, "floor")
        net = m_wall[key] - (b == "" ? 0 : m_wall[b])
        return (net <= parts[2] + 0 ? "met" : "MISSED") sprintf(" (%s; %s net of harness)", fmt_s(m_wall[key]), fmt_s(net))
    }
    if (parts[1] == "growth") {
        ref = parts[2] SUBSEP tool_of[key]
        if (!(ref in m_wall) || m_wall[ref] < 0 || metric(parts[2], ref) <= 0) return "n/a (no 10k run)"
        r = metric(c, key) / metric(parts[2], ref)
        return (r <= parts[3] + 0 ? "met" : "MISSED") sprintf(" (%s)", fmt_x(r))
    }
    return "?"
}

END {
    # Medians first: verdicts compare across cases.
    for (ci = 1; ci <= ncase; ci++) {
        c = case_id[ci]
        for (i = 1; i <= ntools[c]; i++) {
            key = c SUBSEP tool_at[c, i]
            tool_of[key] = tool_at[c, i]
            n = ok[key] + 0
            m_wall[key] = median(v_wall, key, n)
            m_cpu[key] = median(v_cpu, key, n)
            m_rss[key] = median(v_rss, key, n)
            m_srv[key] = median(v_srv, key, n)
        }
    }

    print "| case | tool | wall (median) | CPU user+sys | sshd CPU | peak RSS | x rsync | x git | x floor | total CPU x rsync / x git | target | verdict |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    printf "" > targets_out
    print "| target | measured | verdict |" >> targets_out
    print "|---|---|---|" >> targets_out
    for (ci = 1; ci <= ncase; ci++) {
        c = case_id[ci]
        if (ntools[c] == 0) continue
        for (i = 1; i <= ntools[c]; i++) {
            t = tool_at[c, i]
            key = c SUBSEP t
            label = t
            if (ok[key] + 0 < runs[key]) label = label sprintf(" (%d/%d ok)", ok[key] + 0, runs[key])
            if (m_wall[key] < 0) {
                printf "| %s | %s | n/a (%s) | | | | | | | | | |\n", case_title[c], label, note[key]
                if (series[key] == "depsync" && rule_of(c, key) != "none")
                    printf "| %s: %s | n/a (%s) | n/a |\n", case_title[c], target_of(c, key), note[key] >> targets_out
                continue
            }
            rx = rg = rf = cx = "-"
            tgt = vd = ""
            if (series[key] == "depsync" && c !~ /^setup-/) {
                rx = fmt_x(ratio(c, key, "rsync"))
                rg = fmt_x(ratio(c, key, "git"))
                # The serving floor is ssh's; an https row has none.
                rf = t ~ /https/ ? "-" : fmt_x(ratio(c, key, "floor"))
                if (c !~ /^serve/) cx = fmt_x(cpu_ratio(c, key, "rsync")) " / " fmt_x(cpu_ratio(c, key, "git"))
                tgt = target_of(c, key)
                vd = verdict(c, key)
                if (rule_of(c, key) != "none") {
                    printf "| %s: %s | %s | %s |\n", case_title[c], tgt, fmt_s(metric(c, key)), vd >> targets_out
                    printf "%-45s %-50s %s\n", case_title[c], tgt, vd >> summary_out
                }
                if (c !~ /^serve/ && c !~ /^setup-/)
                    printf "%-45s depsync %9s  x rsync %7s  x git %7s  x floor %7s  (total CPU x rsync / x git: %s)\n",
                        case_title[c], fmt_s(m_wall[key]), rx, rg, rf, cx >> summary_out
                if (c ~ /^serve/) {
                    printf "%-45s %-45s %s per peer  x rsync %7s  x git %7s\n", case_title[c], t,
                        fmt_s(m_cpu[key] / 10), rx, rg >> summary_out
                }
            }
            if (c == "serve-noop-10-100k" && series[key] != "depsync") {
                r = growth(key)
                if (r >= 0) vd = "for comparison: " fmt_x(r) " the 10k tree's"
            }
            if (series[key] == "depsync" && peak_rss[key] > max_rss) {
                max_rss = peak_rss[key]
                max_rss_at = case_title[c] ", " t
            }
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", case_title[c], label,
                fmt_s(m_wall[key]), fmt_s(m_cpu[key]), (m_srv[key] > 0 ? fmt_s(m_srv[key]) : "-"),
                fmt_mb(m_rss[key]), rx, rg, rf, cx, tgt, vd
        }
    }
    if (max_rss > 0) {
        vd = (max_rss <= rss_limit_kb ? "met" : "MISSED")
        printf "| peak RSS of any depsync command: <= 64 MB + the largest file (%s) | %s (%s) | %s |\n",
            fmt_mb(rss_limit_kb), fmt_mb(max_rss), max_rss_at, vd >> targets_out
        printf "%-45s %-50s %s (%s at %s)\n", "peak RSS, any depsync command", "<= " fmt_mb(rss_limit_kb),
            vd, fmt_mb(max_rss), max_rss_at >> summary_out
    }

    # Chart data: one line per case, columns depsync git gitpush rsync floor ("?" when absent).
    print "# case depsync git gitpush rsync floor" > wall_dat
    print "# case depsync git gitpush rsync floor" > rss_dat
    for (ci = 1; ci <= ncase; ci++) {
        c = case_id[ci]
        if (ntools[c] == 0 || c ~ /^serve/ || c ~ /^setup-/) continue
        lw = lr = "\"" case_title[c] "\""
        split("depsync git gitpush rsync floor", ss, " ")
        for (j = 1; j <= 5; j++) {
            b = base_key(c, ss[j])
            lw = lw " " (b == "" ? "?" : sprintf("%.6f", m_wall[b]))
            lr = lr " " (b == "" ? "?" : sprintf("%.1f", m_rss[b] / 1024))
        }
        print lw > wall_dat
        print lr > rss_dat
    }
    # Serving CPU per peer in ms: one line per tool, columns 10k 100k.
    print "# tool 10k 100k" > serve_dat
    for (i = 1; i <= ntools["serve-noop-10"]; i++) {
        t = tool_at["serve-noop-10", i]
        k1 = "serve-noop-10" SUBSEP t
        k2 = "serve-noop-10-100k" SUBSEP t
        v1 = (m_wall[k1] >= 0) ? sprintf("%.2f", m_cpu[k1] * 100) : "?"
        v2 = ((k2 in m_wall) && m_wall[k2] >= 0) ? sprintf("%.2f", m_cpu[k2] * 100) : "?"
        print "\"" short_label(k1) "\" " v1 " " v2 > serve_dat
    }
}
