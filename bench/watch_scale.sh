#!/usr/bin/env bash
# Publish cost under `depsync watch` against tree size (issue 18, item 3): a 10-edit publish triggered by
# the watcher on a 100,000-file tree against the same on a 10,000-file tree. Run by hand; timing only.
#
#   bench/watch_scale.sh DEPSYNC TESTGEN OUT [REPS]
#
# DEPSYNC, TESTGEN: built binaries (depsync, depsync-testgen). OUT: a scratch folder (trees and logs).
# Trees: the `large` profile at scale 0.01 (~10,000 files, small sizes), and ten of them side by side as
# tenants (~100,000 files). Per tree: init a primary, publish r1 by hand, start `depsync -v watch --settle 1`,
# then REPS times: append a line to 10 XML files, wait for the watcher's "publish took S s" log line (the
# publish's own duration, from the start of its scan to the end of its commit). For comparison, the same
# 10-edit publish run by hand (`depsync publish`, which reads the whole tree, as every watcher publish did
# before), timed from outside. Prints one tab-separated line per measurement, then medians and ratios.
set -euo pipefail
WATCH=${WATCH:-1} # WATCH=0: only the publish run by hand (a binary whose watcher logs no duration)
DEPSYNC=$(realpath "$1") TESTGEN=$(realpath "$2") OUT=$3 REPS=${4:-5}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

make_tree() { # NAME TENANTS
    local dir="$OUT/$1/tree" t
    [[ -d $dir ]] && return
    if (($2 == 1)); then
        "$TESTGEN" tree "$dir" --profile large --scale 0.01 --seed 1 >/dev/null
    else
        for ((t = 1; t <= $2; t++)); do
            "$TESTGEN" tree "$dir/tenants/$t" --profile large --scale 0.01 --seed "$t" >/dev/null
        done
    fi
}

edit_ten() { # LIST REP: ten files of the list, the next ten each time (from the top again at its end)
    local f n i
    n=$(wc -l <"$1")
    for ((i = 0; i < 10; i++)); do
        f=$(sed -n "$((($2 * 10 + i) % n + 1))p" "$1")
        printf '<!-- edit %s -->\n' "$2" >>"$f"
    done
}

run_case() { # NAME
    local name=$1 base="$OUT/$1" conf pid rep n files
    conf="$base/depsync.conf"
    rm -rf "$base/repo.git" "$base/state" "$conf" "$base/watch.log"
    "$DEPSYNC" -q -c "$conf" init primary --dir "$base/tree" --repo "$base/repo.git" --state "$base/state" \
        --node primary >/dev/null
    "$DEPSYNC" -q -c "$conf" publish -m r1 >/dev/null
    files=$(find "$base/tree" -type f | wc -l)
    find "$base/tree" -name '*.xml' | sort | awk 'NR % 97 == 1' >"$base/xml.list"
    # A publish run by hand (the whole tree read), as the watcher ran it before.
    for ((rep = 0; rep < REPS; rep++)); do
        edit_ten "$base/xml.list" "$rep"
        sleep 0.3
        /usr/bin/time -f '%e' -o "$base/time.out" "$DEPSYNC" -q -c "$conf" publish -m hand >/dev/null
        printf '%s\t%s\thand\t%s\t%s\n' "$name" "$files" "$rep" "$(cat "$base/time.out")"
    done
    ((WATCH)) || return 0
    "$DEPSYNC" -v -c "$conf" watch --settle 1 >/dev/null 2>"$base/watch.log" &
    pid=$!
    until grep -q 'publish took' "$base/watch.log"; do sleep 0.2; done
    for ((rep = REPS; rep < 2 * REPS; rep++)); do
        n=$(grep -c 'publish took' "$base/watch.log")
        edit_ten "$base/xml.list" "$rep"
        until (($(grep -c 'publish took' "$base/watch.log") > n)); do sleep 0.2; done
        printf '%s\t%s\twatch\t%s\t%s\n' "$name" "$files" "$((rep - REPS))" \
            "$(grep 'publish took' "$base/watch.log" | tail -1 | sed -E 's/.*publish took ([0-9.]+) s.*/\1/')"
    done
    kill "$pid"
    wait "$pid" || true
}

make_tree 10k 1
make_tree 100k 10
printf 'case\tfiles\tpublish\trep\tseconds\n'
{ run_case 10k; run_case 100k; } | tee "$OUT/raw.tsv"
printf '\nload average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
for kind in hand watch; do
    a=$(awk -F'\t' -v k=$kind '$1 == "10k" && $3 == k {print $5}' "$OUT/raw.tsv" | median)
    b=$(awk -F'\t' -v k=$kind '$1 == "100k" && $3 == k {print $5}' "$OUT/raw.tsv" | median)
    printf '%s publish, median of %s: 10k %s s, 100k %s s, ratio 100k/10k %s\n' "$kind" "$REPS" "$a" "$b" \
        "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}')"
done
