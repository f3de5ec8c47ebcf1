# shellcheck shell=bash
# Shared by bench/run: messages, the tool check, and timing one command.

say() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Checks every tool the harness runs; names the Debian packages of the missing ones.
check_tools() {
    local -A package=(
        [rsync]=rsync [sshd]=openssh-server [ssh]=openssh-client [ssh-keygen]=openssh-client
        [git]=git [gnuplot]=gnuplot-nox [/usr/bin/time]=time [cmake]=cmake [ss]=iproute2
        [timeout]=coreutils [bc]=bc
    )
    local tool missing=() packages=()
    for tool in rsync sshd ssh ssh-keygen git gnuplot /usr/bin/time cmake ss timeout bc; do
        if [[ $tool == sshd ]]; then
            [[ -x /usr/sbin/sshd ]] && continue
        elif command -v "$tool" >/dev/null 2>&1; then
            continue
        fi
        missing+=("$tool")
        packages+=("${package[$tool]}")
    done
    if ((${#missing[@]})); then
        die "missing tools: ${missing[*]} (install them with: apt-get install $(printf '%s\n' "${packages[@]}" | sort -u | tr '\n' ' '))"
    fi
}

# build_binaries: sets DEPSYNC, TESTGEN and BUILT_FROM from the options REV, WORKTREE, BUILD, BUILD_DIR,
# DEPSYNC, TESTGEN (see bench/run --help); builds into SHARED/build (or BUILD_DIR), logging to OUT/build.log.
build_binaries() {
    # Others edit src/ while this runs, so by default the committed code is built, not the working tree.
    local src_dir
    if ((WORKTREE)); then
        src_dir=$REPO_ROOT
        BUILD_DIR=${BUILD_DIR:-$REPO_ROOT/build-bench}
        BUILT_FROM="the working tree at $(git -C "$REPO_ROOT" rev-parse --short HEAD) ($(git -C "$REPO_ROOT" status --porcelain -- src | wc -l) modified files under src/)"
    else
        src_dir="$SHARED/src"
        BUILD_DIR=${BUILD_DIR:-$SHARED/build}
        REV_ID=$(git -C "$REPO_ROOT" rev-parse --verify "$REV^{commit}") || die "unknown revision $REV"
        BUILT_FROM="commit $(git -C "$REPO_ROOT" log -1 --format='%h (%cd, %s)' --date=format:'%Y-%m-%d %H:%M' "$REV_ID")"
    fi
    if ((BUILD)); then
        if ((!WORKTREE)); then
            say "exporting $REV ($REV_ID) to $src_dir"
            rm -rf "$SHARED/src.tmp"
            mkdir -p "$SHARED/src.tmp" "$src_dir"
            git -C "$REPO_ROOT" archive "$REV_ID" | tar -x -C "$SHARED/src.tmp" || die "cannot export $REV"
            # Only files that differ are replaced, so the build stays incremental.
            rsync -a --checksum --delete "$SHARED/src.tmp/" "$src_dir/" && rm -rf "$SHARED/src.tmp"
        fi
        say "building depsync from $BUILT_FROM in $BUILD_DIR"
        if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
            cmake -S "$src_dir" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >"$OUT/build.log" 2>&1 ||
                die "cmake configure failed (see $OUT/build.log)"
        fi
        cmake --build "$BUILD_DIR" --target depsync depsync-testgen -j "$(nproc)" >>"$OUT/build.log" 2>&1 ||
            die "build failed (see $OUT/build.log)"
    else
        BUILT_FROM="the binaries already in $BUILD_DIR"
    fi
    DEPSYNC=${DEPSYNC:-$BUILD_DIR/depsync}
    TESTGEN=${TESTGEN:-$BUILD_DIR/tests/depsync-testgen}
    [[ -x $DEPSYNC ]] || die "no depsync binary at $DEPSYNC"
    [[ -x $TESTGEN ]] || die "no depsync-testgen binary at $TESTGEN"
    DEPSYNC=$(realpath "$DEPSYNC")
    TESTGEN=$(realpath "$TESTGEN")
}

# Raw results, one line per repetition:
#   case  tool  series  rep  wall_s  cpu_s  rss_kb  status  note  server_cpu_s
# series groups the tools for ratios and the chart: depsync, git, gitpush, rsync, floor.
# server_cpu_s is what the bench sshd (the primary's side of an ssh transfer) spent meanwhile.
RAW=""

# measure CMD...: runs CMD under /usr/bin/time and a timeout of $CMD_TIMEOUT seconds, output to
# $M_LOG. Sets M_WALL (seconds, from the shell's microsecond clock: /usr/bin/time's %e has 10 ms
# steps), M_CPU (user+sys of CMD and the children it waited for), M_RSS (peak RSS in KB of the
# largest process in the tree), M_SERVER_CPU (seconds the bench sshd and its connections spent
# meanwhile: the serving side of ssh transfers, 0 for local commands), M_RC and M_NOTE (the last
# line of output when CMD failed).
M_LOG=/dev/null
measure() {
    local tf="$RUN_DIR/time.out" t0 t1 last user sys ticks0 ticks1
    sshd_wait_idle
    ticks0=$(sshd_serving_ticks)
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%e %U %S %M' -o "$tf" timeout --kill-after=10 "$CMD_TIMEOUT" "$@" >"$M_LOG" 2>&1
    M_RC=$?
    t1=$EPOCHREALTIME
    sshd_wait_idle || say "  warning: sshd connections still open after the command"
    ticks1=$(sshd_serving_ticks)
    M_SERVER_CPU=$(bc <<<"scale=2; ($ticks1 - $ticks0) / $CLK_TCK")
    M_WALL=$(bc <<<"scale=6; ($t1 - $t0) / 1")
    last=$(tail -n 1 "$tf")
    read -r _ user sys M_RSS <<<"$last"
    M_CPU=$(bc <<<"scale=2; $user + $sys")
    M_NOTE=""
    if ((M_RC != 0)); then
        if ((M_RC == 124 || M_RC == 137)); then
            M_NOTE="timed out after $CMD_TIMEOUT s"
        else
            M_NOTE=$(grep -v '^[[:space:]]*$' "$M_LOG" | tail -n 1 | tr '\t|' '  ' | cut -c1-300)
            [[ -n $M_NOTE ]] || M_NOTE="exit status $M_RC"
        fi
    fi
}

# record CASE TOOL SERIES REP: appends the last measurement to $RAW.
record() {
    local status=ok
    ((M_RC == 0)) || status=fail
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" \
        "$M_WALL" "$M_CPU" "$M_RSS" "$status" "$M_NOTE" "$M_SERVER_CPU" >>"$RAW"
    if [[ $status == ok ]]; then
        say "  $1 | $2 | rep $4: $(printf '%.3f' "$M_WALL") s wall, $M_CPU s cpu, $((M_RSS / 1024)) MB, sshd $M_SERVER_CPU s cpu"
    else
        say "  $1 | $2 | rep $4: FAILED: $M_NOTE"
    fi
}

# timed CASE TOOL SERIES REP CMD...: measure and record.
timed() {
    local c=$1 t=$2 s=$3 r=$4
    shift 4
    M_LOG="$LOG_DIR/${c}.${s}.${t//[^A-Za-z0-9_-]/_}.r$r.log"
    measure "$@"
    record "$c" "$t" "$s" "$r"
}
