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
