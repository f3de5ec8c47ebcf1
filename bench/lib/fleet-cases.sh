# shellcheck shell=bash
# bench/fleet's nodes and cases. The primary publishes one release per measurement (fleet_release); every
# depsync peer in use runs the primary's newest release before it (catch_up, untimed), so each measured
# pull goes from one release to the next.
#
# The release: `depsync-testgen mutate DIR release-change --bytes B`: 10 edited XML files, one new CApp of
# B bytes (random, incompressible), the largest other CApp deleted (the previous release's, after the
# first), so the tree keeps its size.


PRI_SSH_PORT=22
PRI_HTTPS=""
PROXIED=0
TIMER_PIDS=()
RELEASE_SEED=100
RELEASES_SINCE_GC=0
GC_EVERY=6

P_DIR() { printf '%s/primary/server' "$WORK"; }
P_CONF() { printf '%s/primary/depsync.conf' "$WORK"; }
peer_conf() { printf '%s/peers/%d/conf' "$WORK" "$1"; }

# record_value FILE KEY: the value of KEY in a depsync state record (key=value lines), without forking.
record_value() {
    local k v
    [[ -r $1 ]] || return 1
    while IFS='=' read -r k v; do
        if [[ $k == "$2" ]]; then
            printf '%s' "$v"
            return 0
        fi
    done <"$1"
    return 1
}
primary_release() { record_value "$WORK/primary/state/published" release; }
peer_release() { record_value "$WORK/peers/$1/state/deployed" release; }

servers_start() {
    sshd_in primary "${NET_PREFIX}pri"
    lighttpd_in primary "${NET_PREFIX}pri" primary "$WORK"
    sshd_in mirror "${NET_PREFIX}mir"
    lighttpd_in mirror "${NET_PREFIX}mir" mirror "$WORK"
    local k
    for ((k = 1; k <= MAX_N; k++)); do sshd_in peers "$(peer_ns "$k")"; done
    wait_port "${NET_PREFIX}pri" 127.0.0.1 22
    wait_port "${NET_PREFIX}pri" 127.0.0.1 443
    wait_port "${NET_PREFIX}mir" 127.0.0.1 22
    wait_port "${NET_PREFIX}mir" 127.0.0.1 443
    for ((k = 1; k <= MAX_N; k++)); do wait_port "$(peer_ns "$k")" 127.0.0.1 22; done
}

# profile_apply lan|wan: shapes the links and starts (wan) or stops (lan) the delay proxies.
PROXY_PIDS=()
profile_apply() {
    local pid k specs=()
    for pid in "${PROXY_PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    PROXY_PIDS=()
    if [[ $1 == lan ]]; then
        PROFILE_RATE=1gbit PROFILE_RTT_MS=0.5 PROXIED=0
        shape_links "$MAX_N" 1gbit
        PRI_SSH_PORT=22 PRI_HTTPS=""
    else
        PROFILE_RATE=100mbit PROFILE_RTT_MS=20 PROXIED=1
        shape_links "$MAX_N" 100mbit
        for ((k = 1; k <= MAX_N; k++)); do specs+=("127.0.0.1:$((40000 + k))=$(peer_ip "$k"):22"); done
        delay_proxy_in "${NET_PREFIX}pri" 10 0.0.0.0:2222=127.0.0.1:22 0.0.0.0:8443=127.0.0.1:443 "${specs[@]}"
        PROXY_PIDS+=("$LAST_PID")
        delay_proxy_in "${NET_PREFIX}mir" 10 0.0.0.0:2222=127.0.0.1:22 0.0.0.0:8443=127.0.0.1:443
        PROXY_PIDS+=("$LAST_PID")
        PRI_SSH_PORT=2222 PRI_HTTPS=":8443"
    fi
    known_hosts_write "$MAX_N" "$PROXIED"
    # What a peer sees: the TLS handshake (two round trips through the proxy) and a 4 MiB download.
    local probe
    probe=$(ip netns exec "$(peer_ns 1)" curl -s -o /dev/null --cacert "$FLEET_CA" \
        -w '%{time_appconnect} %{speed_download}' "https://$PRIMARY_IP$PRI_HTTPS/probe.bin")
    note "- profile $1: links shaped to $PROFILE_RATE (tc tbf, both directions); a peer's TLS handshake with the primary took $(awk '{ printf "%.1f ms", $1 * 1000 }' <<<"$probe"), a 4 MiB download over https ran at $(awk '{ printf "%.0f Mbit/s", $2 * 8 / 1e6 }' <<<"$probe")"
}

# --- nodes --------------------------------------------------------------------------------------------

remote_url() { # KIND
    case $1 in
        local) printf '%s/primary/releases.git' "$WORK" ;;
        ssh) printf 'ssh://root@%s:%s%s/primary/releases.git' "$PRIMARY_IP" "$PRI_SSH_PORT" "$WORK" ;;
        https) printf 'https://%s%s/git/primary/releases.git' "$PRIMARY_IP" "$PRI_HTTPS" ;;
        mirror) printf 'https://%s%s/git/mirror/releases.git' "$MIRROR_IP" "$PRI_HTTPS" ;;
    esac
}

# set_remote KIND N: peers 1..N fetch from there.
set_remote() {
    local url k
    url=$(remote_url "$1")
    for ((k = 1; k <= $2; k++)); do
        sed -i "s|^remote = .*|remote = \"$url\"|" "$(peer_conf "$k")"
    done
}

nodes_setup() {
    say "primary, mirror and $MAX_N peers (untimed)"
    mkdir -p "$WORK/primary" "$WORK/peers" "$WORK/mirror"
    cp -a "$TREE" "$(P_DIR)"
    head -c 4194304 /dev/urandom >"$FLEET_TMP/https/docroot/probe.bin"
    "$DEPSYNC" -q -c "$(P_CONF)" init primary --dir "$(P_DIR)" --repo "$WORK/primary/releases.git" \
        --state "$WORK/primary/state" --node primary >>"$LOG_DIR/setup.log" 2>&1 || die "init primary failed"
    printf 'ssh_key = "%s"\nknown_hosts = "%s"\n' "$FLEET_HOME/.ssh/id_ed25519" \
        "$FLEET_HOME/.ssh/known_hosts" >>"$(P_CONF)"
    chmod 600 "$(P_CONF)"
    "$DEPSYNC" -q -c "$(P_CONF)" publish -m "fleet: initial" >>"$LOG_DIR/setup.log" 2>&1 || die "first publish failed"
    # The mirror: a bare repository with the primary's serving settings (init primary sets them).
    git init -q --bare "$WORK/mirror/releases.git"
    local key
    for key in pack.window pack.compression core.compression core.bigFileThreshold; do
        git --git-dir="$WORK/primary/releases.git" config --get "$key" >/dev/null &&
            git --git-dir="$WORK/mirror/releases.git" config "$key" \
                "$(git --git-dir="$WORK/primary/releases.git" config --get "$key")"
    done
    note "- mirror: a bare repository with the primary's settings ($(git --git-dir="$WORK/mirror/releases.git" config --get-regexp '^(pack|core)\.(window|compression|bigfilethreshold)' | tr '\n' ' '))"
    local k
    for ((k = 1; k <= MAX_N; k++)); do
        mkdir -p "$WORK/peers/$k"
        "$DEPSYNC" -q -c "$(peer_conf "$k")" init peer --dir "$WORK/peers/$k/dir" --remote "$(remote_url local)" \
            --state "$WORK/peers/$k/state" --node "peer$k" >>"$LOG_DIR/setup.log" 2>&1 || die "init peer $k failed"
        printf 'ssh_key = "%s"\nknown_hosts = "%s"\nca_file = "%s"\n' "$FLEET_HOME/.ssh/id_ed25519" \
            "$FLEET_HOME/.ssh/known_hosts" "$FLEET_CA" >>"$(peer_conf "$k")"
        chmod 600 "$(peer_conf "$k")"
    done
    catch_up "$MAX_N"
    if [[ " $CASES $WAN_CASES " == *" rsync "* ]]; then
        # The rsync nodes share the files of one copy (hard links): rsync replaces a file it updates by a
        # renamed temp file, so a node's update never shows in another's. (Not linked to the primary's
        # directory: the release change edits files there in place.)
        mkdir -p "$WORK/rsync"
        cp -a "$(P_DIR)" "$WORK/rsync-base"
        for ((k = 1; k <= MAX_N; k++)); do cp -al "$WORK/rsync-base" "$WORK/rsync/$k"; done
    fi
    local n
    for n in $FLEET_NS; do
        : >"$WORK/nodes-$n.txt"
        : >"$WORK/nodes-list-$n.txt"
        for ((k = 1; k <= n; k++)); do
            printf 'root@node%d %s\n' "$k" "$(peer_conf "$k")" >>"$WORK/nodes-$n.txt"
            printf 'node%d %s/rsync/%d\n' "$k" "$WORK" "$k" >>"$WORK/nodes-list-$n.txt"
        done
    done
}

# catch_up N: every peer 1..N on the primary's newest release, fetched over a local path (untimed, no
# network, no server), four at a time.
# A peer on the newest release that has not pulled since the last gc still holds the history before the
# cut (PEER_GC: the gc count at its last catch-up): it pulls too.
declare -A PEER_GC
GC_COUNT=0
catch_up() {
    local n=$1 want k lagging=()
    want=$(primary_release)
    set_remote local "$n"
    for ((k = 1; k <= n; k++)); do
        [[ $(peer_release "$k") == "$want" && ${PEER_GC[$k]:-0} == "$GC_COUNT" ]] || lagging+=("$k")
    done
    ((${#lagging[@]})) || return 0
    printf '%s\n' "${lagging[@]}" | xargs -P 4 -I{} "$DEPSYNC" -q --wait 600 -c "$WORK/peers/{}/conf" pull \
        >>"$LOG_DIR/catch-up.log" 2>&1
    for k in "${lagging[@]}"; do
        [[ $(peer_release "$k") == "$want" ]] || die "peer $k did not reach r$want (see $LOG_DIR/catch-up.log)"
        PEER_GC[$k]=$GC_COUNT
    done
}

# maybe_gc: every GC_EVERY releases, `depsync gc --keep 1` on the primary, so that the peers' fetched
# copies (which follow the cut and prune at their next pull) do not grow by a CApp per release.
maybe_gc() {
    ((RELEASES_SINCE_GC >= GC_EVERY)) || return 0
    primary_gc
}
primary_gc() {
    "$DEPSYNC" -q -c "$(P_CONF)" gc --keep 1 --keep-days 0 >>"$LOG_DIR/gc.log" 2>&1 ||
        say "  warning: gc failed (see $LOG_DIR/gc.log)"
    RELEASES_SINCE_GC=0
    GC_COUNT=$((GC_COUNT + 1))
}

# mirror_on / mirror_off: the primary pushes every release to the mirror (over ssh) while on. When it is
# turned on, the mirror gets the history so far by plain git push (untimed), so that the measured
# publish pushes one release. --prune deletes the tags of releases a gc dropped, as docs/operations.md
# asks of a mirror's administrator: peers fetch every release tag their remote advertises, so a mirror
# keeping them makes every peer fetch the dropped releases again.
mirror_on() {
    grep -q '^mirror = ' "$(P_CONF)" && return 0
    local url="ssh://root@$MIRROR_IP:22$WORK/mirror/releases.git"
    in_ns publish "${NET_PREFIX}pri" git --git-dir="$WORK/primary/releases.git" push -q --force --prune \
        "$url" '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' >>"$LOG_DIR/mirror.log" 2>&1 ||
        die "cannot push to the mirror (see $LOG_DIR/mirror.log)"
    printf 'mirror = "%s"\n' "$url" >>"$(P_CONF)"
}
mirror_off() { sed -i '/^mirror = /d' "$(P_CONF)"; }

# --- measurements -------------------------------------------------------------------------------------

declare -A CPU0 CPU1
cpu_snapshot() { # ARRAY-NAME
    local -n into=$1
    local g
    for g in $CG_GROUPS; do into[$g]=$(cg_usage_us "$g"); done
}
cpu_delta() { bc <<<"scale=3; (${CPU1[$1]} - ${CPU0[$1]}) / 1000000"; }

now_us() { local t=$EPOCHREALTIME; printf '%s' "${t/./}"; }
secs() { bc <<<"scale=3; $1 / 1000000"; } # microseconds -> seconds

# nap_init: a FIFO this shell holds open for reading and writing, so nothing ever arrives on it: `read -t`
# on it sleeps without starting a process.
nap_init() {
    mkfifo "$FLEET_TMP/nap" && exec {NAP_FD}<>"$FLEET_TMP/nap"
}

# wait_converged N RELEASE T0_US TIMEOUT_S: polls peers 1..N's deployed records (every 50 ms, no forks)
# until all run RELEASE. Sets ARRIVALS (seconds after T0 per peer, sorted) and CONV_OK.
wait_converged() {
    local n=$1 want=$2 t0=$3 limit=$(($4 * 1000000)) k left arrived=() t
    local -a at
    left=$n
    while ((left > 0)); do
        t=$(now_us)
        for ((k = 1; k <= n; k++)); do
            [[ -n ${at[k]:-} ]] && continue
            if [[ $(peer_release "$k") == "$want" ]]; then
                at[k]=$((t - t0))
                ((left--))
            fi
        done
        ((left == 0)) && break
        if ((t - t0 > limit)); then
            CONV_OK=0
            ARRIVALS=""
            return 1
        fi
        read -r -t 0.05 -u "$NAP_FD"
    done
    for ((k = 1; k <= n; k++)); do arrived+=("${at[k]}"); done
    ARRIVALS=$(printf '%s\n' "${arrived[@]}" | sort -n | tr '\n' ' ')
    CONV_OK=1
}

# arrival_stats: "FIRST MEDIAN LAST" in seconds from ARRIVALS.
arrival_stats() {
    awk '{ n = NF; printf "%.3f %.3f %.3f", $1 / 1e6, (n % 2 ? $((n + 1) / 2) : ($(n / 2) + $(n / 2 + 1)) / 2) / 1e6, $n / 1e6 }' <<<"$ARRIVALS"
}

# new_release: applies the next release change to the primary's directory, waits the 0.3 s bench/run
# waits (publish waits for files changed within 200 ms), and publishes it in the primary's namespace
# (cgroup publish: a configured mirror is pushed to from there). Sets PUB_WALL, RELEASE.
new_release() {
    local change t
    RELEASE_SEED=$((RELEASE_SEED + 1))
    change=$("$TESTGEN" mutate "$(P_DIR)" release-change --seed "$RELEASE_SEED" --bytes "$CAPP_BYTES") ||
        die "the release change failed"
    [[ -n ${NOTED_CHANGE:-} ]] || { note "- the release (first one): $change"; NOTED_CHANGE=1; }
    sleep 0.3
    t=$(now_us)
    in_ns publish "${NET_PREFIX}pri" "$DEPSYNC" -c "$(P_CONF)" publish -m "fleet: release $RELEASE_SEED" \
        >>"$LOG_DIR/publish.log" 2>&1 || die "publish failed (see $LOG_DIR/publish.log)"
    T0=$(now_us)
    PUB_WALL=$(secs $((T0 - t)))
    RELEASE=$(primary_release)
    RELEASES_SINCE_GC=$((RELEASES_SINCE_GC + 1))
}

# Raw results, one line per measurement (tab-separated):
#   case profile n rep converge_s first_s median_s publish_s primary_cpu_s trigger_cpu_s mirror_cpu_s
#   peers_cpu_s net_cpu_s publish_cpu_s primary_tx_bytes mirror_tx_bytes pulls status note
fleet_record() { # CASE PROFILE N REP STATUS NOTE [PULLS]
    local stats="? ? ?"
    [[ -n ${ARRIVALS:-} ]] && stats=$(arrival_stats)
    local first median last
    read -r first median last <<<"$stats"
    [[ -n ${CONVERGE_S:-} ]] && last=$CONVERGE_S
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" \
        "$last" "$first" "$median" "${PUB_WALL:-?}" "$(cpu_delta primary)" "$(cpu_delta trigger)" \
        "$(cpu_delta mirror)" "$(cpu_delta peers)" "$(cpu_delta net)" "$(cpu_delta publish)" \
        $((TX1_PRI - TX0_PRI)) $((TX1_MIR - TX0_MIR)) "${7:-$3}" "$5" "$6" >>"$RAW"
    say "  $1 | $2 | N=$3 | rep $4: $5, all peers after $last s (first $first, median $median), publish $PUB_WALL s; primary CPU $(cpu_delta primary) s + trigger $(cpu_delta trigger) s, mirror $(cpu_delta mirror) s, peers $(cpu_delta peers) s, proxy $(cpu_delta net) s; primary sent $(((TX1_PRI - TX0_PRI) / 1048576)) MiB, mirror $(((TX1_MIR - TX0_MIR) / 1048576)) MiB"
}

counters_begin() {
    cpu_snapshot CPU0
    TX0_PRI=$(tx_bytes "${NET_PREFIX}pri")
    TX0_MIR=$(tx_bytes "${NET_PREFIX}mir")
}
counters_end() {
    cpu_snapshot CPU1
    TX1_PRI=$(tx_bytes "${NET_PREFIX}pri")
    TX1_MIR=$(tx_bytes "${NET_PREFIX}mir")
}

# verify_peers CASE DIR...: each must hold exactly the primary's tree.
verify_peers() {
    local c=$1 d out
    shift
    for d in "$@"; do
        out=$(diff -rq --no-dereference "$(P_DIR)" "$d" 2>&1 | head -n 3)
        if [[ -n $out ]]; then
            note "- $c: $d differs from the primary: $(tr '\n' ';' <<<"$out")"
            say "  WARNING: $c: $d differs from the primary"
        fi
    done
}

# case_cluster KIND PROFILE N REP: KIND ssh, https or mirror; every peer started at once by
# `depsync cluster pull` on the primary.
case_cluster() {
    local kind=$1 profile=$2 n=$3 rep=$4 status=ok why="" trig log="$LOG_DIR/cluster-$1-$2-$3-$4.log" k
    maybe_gc
    catch_up "$n"
    if [[ $kind == mirror ]]; then mirror_on; else mirror_off; fi
    if [[ $kind == aftergc ]]; then
        # The first pull after a gc cut: every commit id changed, so the peers share none with the primary.
        # One more release first (untimed, the peers brought to it), so that the gc has one to drop.
        new_release
        catch_up "$n"
        primary_gc
        for ((k = 1; k <= n; k++)); do PEER_GC[$k]=$GC_COUNT; done
        kind=ssh
    fi
    set_remote "$kind" "$n"
    CONVERGE_S=""
    counters_begin
    new_release
    in_ns trigger "${NET_PREFIX}pri" "$DEPSYNC" -c "$(P_CONF)" cluster pull --nodes "$WORK/nodes-$n.txt" \
        --remote-command "$DEPSYNC" --node-timeout 900 >"$log" 2>&1 &
    trig=$!
    wait_converged "$n" "$RELEASE" "$T0" 900 || { status=fail why="not converged in 900 s"; }
    wait "$trig" || { status=fail why=${why:-"cluster pull: $(tail -n 1 "$log")"}; }
    counters_end
    fleet_record "$1" "$profile" "$n" "$rep" "$status" "$why"
    verify_peers "$1/$profile/N=$n" "$WORK/peers/1/dir" "$WORK/peers/$n/dir"
    [[ $kind == mirror ]] && mirror_off
}

# The vendor's script, as its documentation ships it: one rsync per line of nodes-list.txt, in sequence.
# (Every node of the bench shares one file system, so each line also names that node's folder.)
RSYNC_SCRIPT='while read -r node dest; do rsync -a --delete -e ssh "$1/" "$node:$dest/" || exit; done <"$2"'

case_rsync() {
    local profile=$1 n=$2 rep=$3 status=ok why="" t1
    maybe_gc
    mirror_off
    counters_begin
    new_release
    ARRIVALS=""
    in_ns trigger "${NET_PREFIX}pri" bash -c "$RSYNC_SCRIPT" _ "$(P_DIR)" "$WORK/nodes-list-$n.txt" \
        >"$LOG_DIR/rsync-$profile-$n-$rep.log" 2>&1 || { status=fail why="rsync: $(tail -n 1 "$LOG_DIR/rsync-$profile-$n-$rep.log")"; }
    t1=$(now_us)
    CONVERGE_S=$(secs $((t1 - T0)))
    counters_end
    fleet_record rsync "$profile" "$n" "$rep" "$status" "$why"
    CONVERGE_S=""
    verify_peers "rsync/$profile/N=$n" "$WORK/rsync/1" "$WORK/rsync/$n"
}

# --- peers on their own timers ------------------------------------------------------------------------

# The shipped timer (examples/systemd/depsync-pull.timer) runs `depsync -q pull` every INTERVAL seconds
# with a random delay of up to JITTER; a peer's phase depends on when it booted. Simulated per peer by a
# loop in its namespace: a random first wait in [0, INTERVAL), then every INTERVAL seconds
# `depsync -q pull --jitter JITTER`. Each pull appends "END_TIME EXIT" to the peer's pulls file.
TIMER_LOOP='
phase=$1 interval_us=$(($2 * 1000000)) jitter=$3 depsync=$4 conf=$5 pulls=$6
sleep "$phase"
next=${EPOCHREALTIME/./}
while :; do
    "$depsync" -q -c "$conf" pull --jitter "$jitter" >/dev/null 2>&1
    echo "${EPOCHREALTIME/./} $?" >>"$pulls"
    next=$((next + interval_us))
    wait_us=$((next - ${EPOCHREALTIME/./}))
    ((wait_us > 0)) && sleep "$((wait_us / 1000000)).$(printf %06d $((wait_us % 1000000)))"
done'

timers_start() { # N
    local n=$1 k phase
    RANDOM=$((4242 + n))
    for ((k = 1; k <= n; k++)); do
        phase=$(bc <<<"scale=3; ($RANDOM * 32768 + $RANDOM) % ($INTERVAL * 1000) / 1000")
        : >"$WORK/peers/$k/pulls"
        bg_in_ns peers "$(peer_ns "$k")" /dev/null bash -c "$TIMER_LOOP" _ "$phase" "$INTERVAL" "$JITTER" \
            "$DEPSYNC" "$(peer_conf "$k")" "$WORK/peers/$k/pulls"
        TIMER_PIDS+=("$LAST_PID")
    done
}

# Stops the loops (a pull under way finishes by itself; catch-up pulls wait for its lock).
timers_stop() {
    local pid
    for pid in "${TIMER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${TIMER_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    TIMER_PIDS=()
}

# pulls_between N FROM_US TO_US: pulls the peers' timers ended in that window.
pulls_between() {
    local k total=0 c
    for ((k = 1; k <= $1; k++)); do
        c=$(awk -v a="$2" -v b="$3" '$1 >= a && $1 < b { c++ } END { print c + 0 }' "$WORK/peers/$k/pulls")
        total=$((total + c))
    done
    echo "$total"
}

# case_timers KIND PROFILE N: the no-op window (one INTERVAL from the start of the timers, every peer up to
# date: about one pull per peer; the pulls that ended in it are counted), then one release, converged
# when every timer has pulled it.
case_timers() {
    local kind=$1 profile=$2 n=$3 status=ok why="" t_a t_b pulls
    maybe_gc
    catch_up "$n"
    mirror_off
    set_remote "$kind" "$n"
    timers_start "$n"
    CONVERGE_S=""
    ARRIVALS=""
    PUB_WALL="?"
    counters_begin
    t_a=$(now_us)
    sleep "$INTERVAL"
    t_b=$(now_us)
    counters_end
    pulls=$(pulls_between "$n" "$t_a" "$t_b")
    CONVERGE_S=$(secs $((t_b - t_a)))
    fleet_record "noop-$kind" "$profile" "$n" 1 ok "" "$pulls"
    CONVERGE_S=""

    counters_begin
    new_release
    wait_converged "$n" "$RELEASE" "$T0" $((2 * INTERVAL + JITTER + 300)) || { status=fail why="not converged"; }
    counters_end
    fleet_record "timers-$kind" "$profile" "$n" 1 "$status" "$why"
    timers_stop
    verify_peers "timers-$kind/$profile/N=$n" "$WORK/peers/1/dir" "$WORK/peers/$n/dir"
}

# run_profile PROFILE FIRST: every case and N of one profile, in the order of --cases (timers and aftergc
# only in the first profile).
run_profile() {
    local profile=$1 first=$2 c t n rep cases=$CASES
    [[ $profile == wan ]] && cases=$WAN_CASES
    for c in $cases; do
        if [[ $c == timers ]]; then
            ((first)) || continue
            for t in ssh https; do
                say "timers-$t, $profile, N=$MAX_N (about $((2 * INTERVAL + JITTER)) s)"
                case_timers "$t" "$profile" "$MAX_N"
            done
            continue
        fi
        if [[ $c == aftergc ]]; then
            ((first)) || continue
            n=${FLEET_NS%% *}
            say "aftergc, $profile, N=$n"
            case_cluster aftergc "$profile" "$n" 1
            continue
        fi
        for n in $FLEET_NS; do
            for ((rep = 1; rep <= REPS; rep++)); do
                say "$c, $profile, N=$n, rep $rep"
                if [[ $c == rsync ]]; then case_rsync "$profile" "$n" "$rep"; else case_cluster "$c" "$profile" "$n" "$rep"; fi
            done
        done
    done
}

note() { printf '%s\n' "$*" >>"$NOTES"; }
