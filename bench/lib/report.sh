# shellcheck shell=bash
# Machine facts, results.md, results.png and the ratios printed at the end of a run.

# tree_facts DIR: "N files, M folders (E empty), B MB, largest file L MB"
tree_facts() {
    local files folders empty bytes largest
    files=$(find "$1" -type f | wc -l)
    folders=$(find "$1" -mindepth 1 -type d | wc -l)
    empty=$(find "$1" -mindepth 1 -type d -empty | wc -l)
    bytes=$(find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }')
    largest=$(largest_file_bytes "$1")
    printf '%s files, %s folders (%s empty), %.1f MB, largest file %.1f MB' "$files" "$folders" \
        "$empty" "$(bc <<<"scale=1; $bytes / 1048576")" "$(bc <<<"scale=1; $largest / 1048576")"
}

largest_file_bytes() { find "$1" -type f -printf '%s\n' | sort -n | tail -n 1; }

write_machine_facts() {
    TREE_FACTS=$(tree_facts "$TREE")
    local fs
    {
        printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf -- '- machine: %s CPUs (%s), %s MB memory, kernel %s\n' "$(nproc)" \
            "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)" \
            "$(free -m | awk '/^Mem:/ { print $2 }')" "$(uname -sr)"
        fs=$(findmnt -n -o FSTYPE,OPTIONS -T "$OUT" 2>/dev/null || df -T "$OUT" | awk 'NR == 2 { print $2 }')
        printf -- '- file system of the work folders: %s' "$fs"
        # Online discard makes every unlink or truncate that frees blocks wait for the device.
        [[ $fs == *discard* ]] && printf ' (mounted with `discard`: freeing blocks waits for the device)'
        echo
        printf -- '- load average at the start: %s (other work on the machine shows up as noise)\n' \
            "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf -- '- depsync: %s, built from %s\n' "$("$DEPSYNC" --version 2>/dev/null)" "$BUILT_FROM"
        printf -- '- tools: %s; %s; %s; %s\n' "$(git --version)" "$(rsync --version | head -n 1)" \
            "$(ssh -V 2>&1)" "$(gnuplot --version)"
        printf -- '- tree (depsync-testgen large, scale %s, seed 1): %s\n' "$SCALE" "$TREE_FACTS"
        [[ -n $TREE_100K ]] && printf -- '- scale-run tree (10 tenants x large at scale %s): %s\n' \
            "$(bc <<<"scale=4; $SCALE / 10")" "$(tree_facts "$TREE_100K")"
        printf -- '- repetitions: %s (medians reported); page cache warm (nothing is dropped between runs)\n' "$REPS"
    } >"$FACTS"
    largest_file_bytes "$TREE" >"$OUT/largest-file-bytes"
}

write_report() {
    local md="$OUT/results.md" table targets summary largest
    table=$(mktemp) targets=$(mktemp) summary=$(mktemp)
    largest=$(cat "$OUT/largest-file-bytes" 2>/dev/null || echo 0)
    awk -v targets_out="$targets" -v summary_out="$summary" \
        -v wall_dat="$OUT/chart-wall.dat" -v rss_dat="$OUT/chart-rss.dat" -v serve_dat="$OUT/chart-serve.dat" \
        -v rss_limit_kb="$(( 64 * 1024 + largest / 1024 ))" \
        -f "$BENCH_DIR/lib/report.awk" "$RAW" >"$table"

    local title
    title="depsync benchmark, $(sed -n 's/^- date: //p' "$FACTS" 2>/dev/null)"
    local cases
    cases=$(grep -vc '^#' "$OUT/chart-wall.dat")
    gnuplot -e "dir='$OUT'; out='$OUT/results.png'; title='$title'; cases=$((cases > 0))" "$BENCH_DIR/lib/chart.gp" \
        >"$OUT/gnuplot.log" 2>&1 || say "gnuplot failed (see $OUT/gnuplot.log)"

    {
        echo "# depsync benchmark results"
        echo
        cat "$FACTS" 2>/dev/null
        echo
        echo "## Targets (issue 6)"
        echo
        cat "$targets"
        echo
        echo "## All measurements"
        echo
        cat "$table"
        echo
        cat <<'EOF'
How to read it: every figure is the median of the repetitions. *wall* is measured by the shell's
microsecond clock around `/usr/bin/time timeout ... CMD` (the empty-command rows show that floor);
*CPU* is user+sys of the command and its children (for the primary-CPU cases: the CPU the primary
spends serving, see below); *sshd CPU* is what the bench sshd and everything it ran for the
command's connections spent (the primary's side of an ssh transfer, from /proc/<sshd>/stat);
*peak RSS* is the largest process of the command's tree. `x rsync`, `x git`
and `x floor` divide depsync's figure (wall; CPU for the primary-CPU cases) by the first rsync, git and
floor row of the same case; *total CPU* compares the command's CPU plus the sshd's, which is less
disturbed than wall time when other work shares the machine. The floors: `cp -a` of the tree for local copies, `ssh host true` for ssh,
the empty command for no-op cases. The ms targets are judged net of the harness floor.

Cases: the initial publish starts from an empty repository each repetition (state folder removed);
the initial pull from an empty peer (folder, state and config removed and `init peer` run again); the
no-op cases run with everything at the newest release; each incremental repetition applies the next
standard change (`depsync-testgen mutate DIR standard-change --seed 1000+rep`: 10 edited XML files,
one new 256 KB CApp, one deleted XML file) to the primary's tree, lets 0.3 s pass untimed (depsync
publish waits while a file changed in the last 200 ms may still be growing; a deploy pipeline copies
and then calls the hook), then times each tool's publish and each peer's pull of that change. After
all other cases, `depsync gc --keep 1000000 --keep-days 0` runs once on the primary (every release
kept, the repository packed into one pack: archives stored, other objects at zlib level 1; its time
is the informational gc row), then fresh ssh peers pull from the packed repository, rsync over ssh
beside them. rsync runs `rsync -a --delete` locally (so it deletes, like a sync) and the vendor's
`rsync --delete -a -e ssh` to a node over the bench sshd. git uses default settings:
a repository whose work tree is the deployment directory, `git push` to a bare repository, peers
running `git fetch` then `git checkout -f`. Primary CPU for a no-op cycle of 10 peers: over ssh, the
CPU of the bench sshd and everything it ran for those connections (from /proc/<sshd>/stat, after all
were reaped); with a local path, the pulling depsync processes; for rsync, the primary's rsync and ssh.
EOF
        if [[ -s $NOTES ]]; then
            echo
            echo "## Notes from this run"
            echo
            cat "$NOTES"
        fi
        echo
        echo "![results](results.png)"
    } >"$md"

    echo
    echo "== depsync against the baselines (median; ratios = depsync / baseline) =="
    cat "$summary"
    echo
    echo "results: $md"
    echo "chart:   $OUT/results.png"
    rm -f "$table" "$targets" "$summary"
}
