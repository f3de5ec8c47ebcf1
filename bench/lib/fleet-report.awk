# bench/fleet's raw.tsv -> the markdown tables (table_out, noop_out) and the chart data (conv_dat, cpu_dat).
# Columns: case profile n rep converge first median publish primary_cpu trigger_cpu mirror_cpu peers_cpu
#          net_cpu publish_cpu primary_tx mirror_tx pulls status note

function median(list,    a, n, i, j, t) {
    n = split(list, a, " ")
    if (n == 0) return "?"
    for (i = 2; i <= n; i++) {
        t = a[i] + 0
        for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
        a[j + 1] = t
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function num(x, fmt) { return x == "?" || x == "" ? "?" : sprintf(fmt, x) }
function label(c) {
    if (c == "ssh") return "depsync, ssh, cluster pull"
    if (c == "https") return "depsync, https, cluster pull"
    if (c == "mirror") return "depsync, https from a mirror, cluster pull"
    if (c == "rsync") return "vendor's rsync script (in sequence)"
    if (c == "timers-ssh") return "depsync, ssh, peers on timers"
    if (c == "timers-https") return "depsync, https, peers on timers"
    if (c == "aftergc") return "depsync, ssh, cluster pull, first release after a gc"
    return c
}

{
    key = $1 SUBSEP $2 SUBSEP $3
    if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
    if ($18 != "ok") { failed[key] = failed[key] (failed[key] ? "; " : "") $19; next }
    ok[key]++
    for (c = 5; c <= 17; c++) if ($c != "?") vals[key, c] = vals[key, c] " " $c
    if ($1 ~ /^(ssh|https|mirror|rsync)$/) { series[$1 "-" $2] = 1; ns[$3 + 0] = 1 }
}

END {
    print "| case | profile | N | all peers (s) | first (s) | median (s) | publish (s) | primary CPU (s) | per peer (ms) | mirror CPU (s) | peers CPU (s) | proxy CPU (s) | primary egress (MiB) | per peer (MiB) | mirror egress (MiB) | runs |" >table_out
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|" >table_out
    print "| peers on timers, nothing to fetch | profile | N | window (s) | pulls | primary CPU (s) | per pull (ms) | per peer per minute at the run's interval (ms) | primary egress (KiB) | per pull (KiB) |" >noop_out
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" >noop_out
    noops = 0
    for (i = 1; i <= keys; i++) {
        key = order[i]
        split(key, k, SUBSEP)
        for (c = 5; c <= 17; c++) m[c] = median(vals[key, c])
        runs = (ok[key] + 0) " ok" (key in failed ? ", failed: " failed[key] : "")
        if (!ok[key]) { for (c = 5; c <= 17; c++) m[c] = "?" }
        cpu = (m[9] == "?") ? "?" : m[9] + m[10]
        if (k[1] ~ /^noop-/) {
            noops++
            perpull = (cpu == "?" || m[17] + 0 == 0) ? "?" : cpu * 1000 / m[17]
            perpeer = (cpu == "?" || m[5] + 0 == 0) ? "?" : cpu * 1000 / k[3] / (m[5] / 60)
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", k[1] == "noop-ssh" ? "depsync over ssh" : "depsync over https",
                k[2], k[3], num(m[5], "%.1f"), m[17], num(cpu, "%.2f"), num(perpull, "%.1f"), num(perpeer, "%.1f"),
                num(m[15] == "?" ? "?" : m[15] / 1024, "%.0f"),
                num(m[15] == "?" || m[17] + 0 == 0 ? "?" : m[15] / 1024 / m[17], "%.1f") >noop_out
            continue
        }
        perpeer = (cpu == "?") ? "?" : cpu * 1000 / k[3]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label(k[1]), k[2], k[3],
            num(m[5], "%.2f"), num(m[6], "%.2f"), num(m[7], "%.2f"), num(m[8], "%.2f"), num(cpu, "%.2f"), num(perpeer, "%.0f"),
            num(m[11], "%.2f"), num(m[12], "%.1f"), num(m[13], "%.2f"),
            num(m[15] == "?" ? "?" : m[15] / 1048576, "%.1f"), num(m[15] == "?" ? "?" : m[15] / 1048576 / k[3], "%.1f"),
            num(m[16] == "?" ? "?" : m[16] / 1048576, "%.1f"), runs >table_out
        if (k[1] ~ /^(ssh|https|mirror|rsync)$/) { conv[k[1] "-" k[2], k[3] + 0] = m[5]; pcpu[k[1] "-" k[2], k[3] + 0] = cpu }
    }
    if (!noops) { close(noop_out); printf "" >noop_out }
    split("ssh-lan https-lan mirror-lan rsync-lan ssh-wan https-wan mirror-wan rsync-wan", names, " ")
    header = "# N"
    for (s = 1; s <= 8; s++) header = header " " names[s]
    print header >conv_dat
    print header >cpu_dat
    nn = 0
    for (n in ns) list[++nn] = n + 0
    for (i = 2; i <= nn; i++) { t = list[i]; for (j = i - 1; j >= 1 && list[j] > t; j--) list[j + 1] = list[j]; list[j + 1] = t }
    for (i = 1; i <= nn; i++) {
        n = list[i]
        lc = n
        lp = n
        for (s = 1; s <= 8; s++) {
            lc = lc " " (((names[s], n) in conv && conv[names[s], n] != "?") ? conv[names[s], n] : "?")
            lp = lp " " (((names[s], n) in pcpu && pcpu[names[s], n] != "?") ? pcpu[names[s], n] : "?")
        }
        print lc >conv_dat
        print lp >cpu_dat
    }
}
