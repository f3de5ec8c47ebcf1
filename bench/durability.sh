#!/usr/bin/env bash
# What publish's flush costs (issue 18, item 1): a 10-edit publish on a quiet file system and right after
# 1 GiB of unrelated data was written (no sync in between), and the initial publish against `cp -a`
# followed by `sync`. Medians of --reps repetitions; the load average is printed before and after, since
# the machine may be shared. Writes bench/out/durability/NAME/results.md (and raw.tsv);
# --name NAME (default run) keeps two binaries' runs apart.
#
#   bench/durability.sh [--depsync PATH] [--testgen PATH] [--reps N] [--scale S] [--name NAME]
#
# The binaries default to build/ (scripts/build). The tree is depsync-testgen's large profile (~10,000
# files, ~420 MB at scale 1), made once under bench/out/durability/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
DEPSYNC=$root/build/depsync
TESTGEN=$root/build/tests/depsync-testgen
REPS=5
SCALE=1
NAME=run
while (($#)); do
    case $1 in
        --depsync) DEPSYNC=$2; shift ;;
        --testgen) TESTGEN=$2; shift ;;
        --reps) REPS=$2; shift ;;
        --scale) SCALE=$2; shift ;;
        --name) NAME=$2; shift ;;
        *) echo "usage: $0 [--depsync PATH] [--testgen PATH] [--reps N] [--scale S] [--name NAME]" >&2; exit 2 ;;
    esac
    shift
done
BASE=$root/bench/out/durability
OUT=$BASE/$NAME
W=$OUT/work
TREE=$BASE/tree-$SCALE
RAW=$OUT/raw.tsv
mkdir -p "$OUT"
: >"$RAW"
say() { printf '%s durability: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

if [[ ! -d $TREE ]]; then
    say "generating the tree (scale $SCALE)"
    "$TESTGEN" tree "$TREE.tmp" --profile large --scale "$SCALE" --seed 1 >/dev/null
    mv "$TREE.tmp" "$TREE"
fi
LOAD_BEFORE=$(load)

# timed NAME REP CMD...: appends "NAME REP seconds" to raw.tsv.
timed() {
    local name=$1 rep=$2 t0 t1
    shift 2
    t0=$EPOCHREALTIME
    "$@" >>"$OUT/log" 2>&1
    t1=$EPOCHREALTIME
    printf '%s\t%s\t%s\n' "$name" "$rep" "$(bc <<<"scale=3; ($t1 - $t0) / 1")" | tee -a "$RAW" >&2
}

fresh_primary() {
    rm -rf "$W"
    mkdir -p "$W"
    cp -a "$TREE" "$W/dir"
    "$DEPSYNC" -q -c "$W/conf" init primary --dir "$W/dir" --repo "$W/repo.git" --state "$W/state" \
        --node primary >>"$OUT/log" 2>&1
    sync
}
publish() { "$DEPSYNC" -q -c "$W/conf" publish -m "$1"; }
copy_and_sync() { cp -a "$TREE" "$W/copy" && sync; }

for ((r = 1; r <= REPS; r++)); do
    fresh_primary
    timed initial_publish "$r" publish "r$r"
    sync
    timed cp_a_sync "$r" copy_and_sync
    rm -rf "$W/copy"
done
sync

# The 10-edit publish (the bench's standard change), alternately on a quiet file system and right after
# 1 GiB of unrelated data was written.
for ((r = 1; r <= REPS; r++)); do
    seed=$((1000 + 2 * r))
    for state in quiet dirty; do
        "$TESTGEN" mutate "$W/dir" standard-change --seed "$((seed++))" >/dev/null
        sleep 0.3  # publish waits for files changed in the last 200 ms
        sync
        if [[ $state == dirty ]]; then
            dd if=/dev/urandom of="$OUT/unrelated" bs=1M count=1024 status=none
        fi
        timed "edit_publish_$state" "$r" publish "edit $state $r"
        rm -f "$OUT/unrelated"
        sync
    done
done
LOAD_AFTER=$(load)

median() { awk -v n="$1" '$1 == n { print $3 }' "$RAW" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
verdict() { if (($(bc <<<"$1 <= $2"))); then echo met; else echo missed; fi; }
init=$(median initial_publish)
cpsync=$(median cp_a_sync)
quiet=$(median edit_publish_quiet)
dirty=$(median edit_publish_dirty)
r_dirty=$(bc <<<"scale=2; $dirty / $quiet")
r_init=$(bc <<<"scale=2; $init / $cpsync")
{
    echo "# publish durability: $(date -u +%Y-%m-%d)"
    echo
    echo "depsync $("$DEPSYNC" --version 2>/dev/null | head -n 1), tree $(find "$TREE" -type f | wc -l) files," \
        "$(du -sm "$TREE" | cut -f1) MB (scale $SCALE), $REPS repetitions, medians;" \
        "load average before $LOAD_BEFORE, after $LOAD_AFTER ($(nproc) CPUs)."
    echo
    echo "| case | median s |"
    echo "|---|---|"
    echo "| 10-edit publish, quiet file system | $quiet |"
    echo "| 10-edit publish, after 1 GiB of unrelated writes | $dirty |"
    echo "| initial publish | $init |"
    echo "| \`cp -a\` + \`sync\` | $cpsync |"
    echo
    echo "- 10-edit publish beside 1 GiB of unrelated dirty data: $r_dirty x quiet (target <= 1.2): $(verdict "$r_dirty" 1.2)"
    echo "- initial publish: $r_init x \`cp -a\` + \`sync\` (target <= 1.5): $(verdict "$r_init" 1.5)"
} >"$OUT/results.md"
cat "$OUT/results.md"
