# shellcheck shell=bash
# bench/fleet's machine facts, results.md and results.png (the fleet plot).

fleet_machine_facts() {
    {
        printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf -- '- machine: %s CPUs (%s), %s MB memory, kernel %s\n' "$(nproc)" \
            "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)" \
            "$(free -m | awk '/^Mem:/ { print $2 }')" "$(uname -sr)"
        printf -- '- load average at the start: %s (the peers, the servers and the proxies all share these CPUs)\n' \
            "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf -- '- depsync: %s, built from %s\n' "$("$DEPSYNC" --version 2>/dev/null)" "$BUILT_FROM"
        printf -- '- tools: %s; %s; %s; %s; %s\n' "$(git --version)" "$(rsync --version | head -n 1)" \
            "$(ssh -V 2>&1)" "$(/usr/sbin/lighttpd -v 2>&1 | head -n 1)" "$(python3 --version 2>&1)"
        printf -- '- tree (depsync-testgen large, scale %s, seed 1): %s\n' "$SCALE" "$(tree_facts "$TREE")"
        printf -- '- release: 10 edited XML files, one new CApp of %s bytes, the largest other CApp deleted\n' "$CAPP_BYTES"
        printf -- '- peers: %s; profiles: %s; repetitions: %s (medians); timers: every %s s, jitter %s s\n' \
            "$FLEET_NS" "$PROFILES" "$REPS" "$INTERVAL" "$JITTER"
        printf -- '- CPU accounting: cgroup %s per role\n' "$CG_KIND"
    } >"$FACTS"
}

fleet_report() {
    local md="$OUT/results.md" table noop
    table=$(mktemp) noop=$(mktemp)
    awk -F'\t' -v table_out="$table" -v noop_out="$noop" -v conv_dat="$OUT/chart-converge.dat" \
        -v cpu_dat="$OUT/chart-cpu.dat" -f "$BENCH_DIR/lib/fleet-report.awk" "$RAW"
    local title
    title="depsync fleet benchmark, $(sed -n 's/^- date: //p' "$FACTS" 2>/dev/null)"
    gnuplot -e "dir='$OUT'; out='$OUT/results.png'; title='$title'" "$BENCH_DIR/lib/fleet-chart.gp" \
        >"$OUT/gnuplot.log" 2>&1 || say "gnuplot failed (see $OUT/gnuplot.log)"
    {
        echo "# depsync fleet benchmark results"
        echo
        cat "$FACTS" 2>/dev/null
        echo
        echo "## One release to every peer"
        echo
        cat "$table"
        echo
        cat <<'EOF'
*all peers*: seconds from `depsync publish` returning until the last peer's deployed record names the new
release (polled every 50 ms), or until the rsync script ended; *first* and *median*: the same for the first
and the median peer. *primary CPU*: what the primary's servers spent (sshd and git-upload-pack, or lighttpd and
git http-backend: their cgroup), plus what ran on the primary to start the peers (`depsync cluster pull` and its
ssh clients; for rsync, the script's rsync and ssh processes: all of the vendor's cost is there); *per peer*:
that sum divided by N. *mirror CPU*: the mirror's servers. *peers CPU*: every peer process (they share this
machine's CPUs with the servers: see the README). *egress*: bytes the primary's (mirror's) link sent.
*publish*: the publish's wall time (with a mirror, it includes the push).
EOF
        if [[ -s $noop ]]; then
            echo
            echo "## The no-op cycle: peers on their timers, nothing to fetch"
            echo
            cat "$noop"
        fi
        if [[ -s $NOTES ]]; then
            echo
            echo "## Notes from this run"
            echo
            cat "$NOTES"
        fi
        echo
        echo "![fleet](results.png)"
    } >"$md"
    rm -f "$table" "$noop"
    echo "results: $md"
    echo "chart:   $OUT/results.png"
}
