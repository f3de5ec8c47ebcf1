# shellcheck shell=bash
# The benchmark's cases. Each phase leaves every node at the newest release, which is the state the
# next phase starts from; a repetition that needs another state (an empty peer, an empty repository)
# makes it first, outside the timed command.
#
# use_env NAME SRC_TREE   points the globals below at bench/out/work/NAME, copies SRC_TREE there
#                         (cp -a keeps the mtimes, so the tree looks settled to every tool).

use_env() {
    local name=$1
    W="$WORK_ROOT/$name"
    SRC="$W/primary/server"
    D_REPO="$W/primary/releases.git"
    D_PSTATE="$W/primary/depsync-state"
    D_PCONF="$W/primary/depsync.conf"
    G_PRIMARY="$W/primary/git-primary.git"
    G_REMOTE="$W/primary/git-remote.git"
    PEERS="$W/peers"
    SSH_BASE="ssh://root@127.0.0.1:$SSH_PORT"
}

make_env() {
    use_env "$1"
    rm -rf "$W"
    mkdir -p "$W/primary" "$PEERS"
    cp -a "$2" "$SRC"
}

# --- node set-up (never timed) -----------------------------------------------------------------

depsync_primary_init() {
    rm -rf "$D_REPO" "$D_PSTATE" "$D_PCONF"
    "$DEPSYNC" -q -c "$D_PCONF" init primary --dir "$SRC" --repo "$D_REPO" --state "$D_PSTATE" \
        --node primary >>"$LOG_DIR/setup.log" 2>&1
}

# depsync_peer_init NAME REMOTE: an empty peer PEERS/NAME/{dir,state,conf}. An ssh peer's config
# also names the bench's client key and known_hosts (a config naming a key must be private).
depsync_peer_init() {
    local p="$PEERS/$1"
    rm -rf "$p"
    mkdir -p "$p"
    "$DEPSYNC" -q -c "$p/conf" init peer --dir "$p/dir" --remote "$2" --state "$p/state" --node "$1" \
        >>"$LOG_DIR/setup.log" 2>&1
    if [[ $2 == ssh://* ]]; then
        printf 'ssh_key = "%s"\nknown_hosts = "%s"\n' "$BENCH_HOME/.ssh/id_ed25519" \
            "$BENCH_HOME/.ssh/known_hosts" >>"$p/conf"
        chmod 600 "$p/conf"
    fi
}

# Plain git on the primary: a repository whose work tree is the deployment directory (its git dir
# lives outside it, so rsync and depsync see the same tree), pushing to a bare repository that the
# git peers fetch from. Default configuration throughout: this is the plain-git baseline.
git_primary_init() {
    rm -rf "$G_PRIMARY" "$G_REMOTE"
    git init -q --bare -b main "$G_REMOTE"
    git init -q --bare -b main "$G_PRIMARY"
    git --git-dir="$G_PRIMARY" config core.bare false
    git --git-dir="$G_PRIMARY" config core.worktree "$SRC"
    git --git-dir="$G_PRIMARY" remote add origin "$G_REMOTE"
}

# git_peer_init NAME URL
git_peer_init() {
    local p="$PEERS/$1"
    rm -rf "$p"
    mkdir -p "$p"
    git init -q -b main "$p/dir"
    git -C "$p/dir" remote add origin "$2"
}

# --- the timed commands ---------------------------------------------------------------------------

GIT_COMMIT='git add -A && git commit -q -m "$1"'
# A no-op `git commit` exits 1 ("nothing to commit"); that outcome is the expected one here.
GIT_COMMIT_NOOP='git add -A && { git commit -q -m "$1" || git diff --cached --quiet; }'
GIT_PULL='cd "$1" && git fetch -q origin && git checkout -q -f -B main origin/main'
T_DEPSYNC_PUB="depsync publish"
T_GIT_COMMIT="git add -A && git commit"
T_GIT_PUSH="git push (to a bare repo)"
T_DEPSYNC_PULL="depsync pull"
T_GIT_PULL="git fetch && git checkout -f"
T_RSYNC_LOCAL="rsync -a --delete"
T_RSYNC_SSH="rsync --delete -a -e ssh"
T_CP="cp -a of the tree"
T_SSH="ssh host true"
T_TRUE="empty command (harness floor)"

git_commit_timed() { # CASE REP MESSAGE [noop]
    local script=$GIT_COMMIT
    [[ ${4:-} == noop ]] && script=$GIT_COMMIT_NOOP
    timed "$1" "$T_GIT_COMMIT" git "$2" env GIT_DIR="$G_PRIMARY" bash -c "$script" _ "$3"
}
git_push_timed() { timed "$1" "$T_GIT_PUSH" gitpush "$2" git --git-dir="$G_PRIMARY" push -q origin main; }
git_pull_timed() { timed "$1" "$T_GIT_PULL" git "$2" bash -c "$GIT_PULL" _ "$PEERS/$3/dir"; }
rsync_local_timed() { timed "$1" "$T_RSYNC_LOCAL" rsync "$2" rsync -a --delete "$SRC/" "$PEERS/rsync-local/dir/"; }
rsync_ssh_timed() {
    timed "$1" "$T_RSYNC_SSH" rsync "$2" rsync --delete -a -e ssh "$SRC/" "benchnode:$PEERS/rsync-ssh/dir/"
}
cp_timed() {
    rm -rf "$W/cp"
    timed "$1" "$T_CP" floor "$2" cp -a "$SRC" "$W/cp"
    rm -rf "$W/cp"
}

# Notes for results.md: what each case did, and any peer that ended up differing from the primary.
note() { printf '%s\n' "$*" >>"$NOTES"; }

# verify_peer CASE TOOL DIR: the peer must hold exactly the primary's tree (git's .git aside).
# Empty folders missing on a git peer are counted apart: git tracks no empty folders.
verify_peer() {
    local line diffs=() empty=0 where name
    while IFS= read -r line; do
        if [[ $line =~ ^Only\ in\ (.*):\ (.*)$ ]]; then
            where=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]}
            if [[ $where == "$SRC"* && -d "$where/$name" && -z $(ls -A "$where/$name") ]]; then
                ((empty++))
                continue
            fi
        fi
        diffs+=("$line")
    done < <(diff -rq --no-dereference -x .git "$SRC" "$3" 2>&1)
    if ((empty)); then
        note "- $1, $2: the peer lacks $empty empty folder(s) of the primary (a server keeps running apps removed from a missing folder)"
    fi
    if ((${#diffs[@]})); then
        note "- $1, $2: the peer differs from the primary after the last repetition (${#diffs[@]} differences): $(printf '%s; ' "${diffs[@]:0:3}")"
        say "  WARNING: $1 / $2: peer differs from the primary: ${diffs[0]}"
    fi
}

# --- phases ---------------------------------------------------------------------------------------

phase_publish_initial() {
    say "initial publish (${REPS} reps)"
    local r
    for ((r = 1; r <= REPS; r++)); do
        depsync_primary_init
        timed publish-initial "$T_DEPSYNC_PUB" depsync "$r" "$DEPSYNC" -q -c "$D_PCONF" publish -m "bench: initial"
        git_primary_init
        git_commit_timed publish-initial "$r" "bench: initial"
        git_push_timed publish-initial "$r"
        cp_timed publish-initial "$r"
    done
}

phase_publish_noop() {
    say "no-op publish (${REPS} reps)"
    local r
    for ((r = 1; r <= REPS; r++)); do
        timed publish-noop "$T_DEPSYNC_PUB" depsync "$r" "$DEPSYNC" -q -c "$D_PCONF" publish -m "bench: no-op"
        git_commit_timed publish-noop "$r" "bench: no-op" noop
        timed publish-noop "$T_TRUE" floor "$r" true
    done
}

phase_pull_initial() {
    say "initial pull, local path and ssh (${REPS} reps)"
    local r
    for ((r = 1; r <= REPS; r++)); do
        depsync_peer_init depsync-local "$D_REPO"
        timed pull-initial-local "$T_DEPSYNC_PULL" depsync "$r" "$DEPSYNC" -q -c "$PEERS/depsync-local/conf" pull
        git_peer_init git-local "$G_REMOTE"
        git_pull_timed pull-initial-local "$r" git-local
        rm -rf "$PEERS/rsync-local"
        mkdir -p "$PEERS/rsync-local"
        rsync_local_timed pull-initial-local "$r"
        cp_timed pull-initial-local "$r"

        depsync_peer_init depsync-ssh "$SSH_BASE$D_REPO"
        timed pull-initial-ssh "$T_DEPSYNC_PULL" depsync "$r" "$DEPSYNC" -q -c "$PEERS/depsync-ssh/conf" pull
        git_peer_init git-ssh "$SSH_BASE$G_REMOTE"
        git_pull_timed pull-initial-ssh "$r" git-ssh
        rm -rf "$PEERS/rsync-ssh"
        mkdir -p "$PEERS/rsync-ssh"
        rsync_ssh_timed pull-initial-ssh "$r"
        timed pull-initial-ssh "$T_SSH" floor "$r" ssh benchnode true
    done
    verify_all pull-initial
}

phase_pull_noop() {
    say "no-op pull, local path and ssh (${REPS} reps)"
    local r
    for ((r = 1; r <= REPS; r++)); do
        timed pull-noop-local "$T_DEPSYNC_PULL" depsync "$r" "$DEPSYNC" -q -c "$PEERS/depsync-local/conf" pull
        git_pull_timed pull-noop-local "$r" git-local
        rsync_local_timed pull-noop-local "$r"
        timed pull-noop-local "$T_TRUE" floor "$r" true

        timed pull-noop-ssh "$T_DEPSYNC_PULL" depsync "$r" "$DEPSYNC" -q -c "$PEERS/depsync-ssh/conf" pull
        git_pull_timed pull-noop-ssh "$r" git-ssh
        rsync_ssh_timed pull-noop-ssh "$r"
        timed pull-noop-ssh "$T_SSH" floor "$r" ssh benchnode true
    done
}

# depsync publish waits while a file changed in the last 200 ms may still be growing (it never
# publishes a half-written file). A deploy pipeline copies its files and then calls the hook, so the
# harness lets this long pass between applying the change and the timed publishes, for every tool
# alike: otherwise each depsync figure would be that wait.
CHANGE_SETTLE=0.3

# Each repetition applies the next standard change to the primary's tree (10 edited XML files, one
# new 256 KB CApp, one deleted file), lets CHANGE_SETTLE seconds pass (untimed), publishes it with
# each tool and pulls it on each peer, so every timed step goes from the previous release to the next.
phase_incremental() {
    say "incremental publish and pull (${REPS} reps)"
    local r change
    for ((r = 1; r <= REPS; r++)); do
        change=$("$TESTGEN" mutate "$SRC" standard-change --seed "$((1000 + r))")
        say "  standard change $r: $change"
        [[ $r == 1 ]] && note "- standard change (rep 1): $change; ${CHANGE_SETTLE} s pass before the timed publishes"
        sleep "$CHANGE_SETTLE"
        timed publish-incr "$T_DEPSYNC_PUB" depsync "$r" "$DEPSYNC" -q -c "$D_PCONF" publish -m "bench: change $r"
        git_commit_timed publish-incr "$r" "bench: change $r"
        git_push_timed publish-incr "$r"

        timed pull-incr-local "$T_DEPSYNC_PULL" depsync "$r" "$DEPSYNC" -q -c "$PEERS/depsync-local/conf" pull
        git_pull_timed pull-incr-local "$r" git-local
        rsync_local_timed pull-incr-local "$r"

        timed pull-incr-ssh "$T_DEPSYNC_PULL" depsync "$r" "$DEPSYNC" -q -c "$PEERS/depsync-ssh/conf" pull
        git_pull_timed pull-incr-ssh "$r" git-ssh
        rsync_ssh_timed pull-incr-ssh "$r"
        timed pull-incr-ssh "$T_SSH" floor "$r" ssh benchnode true
    done
    verify_all pull-incr
}

verify_all() {
    verify_peer "$1" "depsync, local path" "$PEERS/depsync-local/dir"
    verify_peer "$1" "depsync, ssh" "$PEERS/depsync-ssh/dir"
    verify_peer "$1" "git, local path" "$PEERS/git-local/dir"
    verify_peer "$1" "git, ssh" "$PEERS/git-ssh/dir"
    verify_peer "$1" "rsync, local" "$PEERS/rsync-local/dir"
    verify_peer "$1" "rsync, ssh" "$PEERS/rsync-ssh/dir"
}

# After every other phase: `depsync gc` keeping every release packs the primary's repository into one
# pack (archives stored, other objects deflated at level 1). It runs once, recorded for information
# (case setup-gc), then fresh ssh peers pull from the packed repository, rsync over ssh beside them.
GC_ARGS=(gc --keep 1000000 --keep-days 0)
T_DEPSYNC_GC="depsync gc --keep 1000000 --keep-days 0 (once)"

phase_pull_initial_gc() {
    say "depsync gc on the primary, then initial pull over ssh from the packed repository (${REPS} reps)"
    timed setup-gc "$T_DEPSYNC_GC" depsync 1 "$DEPSYNC" -c "$D_PCONF" "${GC_ARGS[@]}"
    ((M_RC == 0)) || note "- depsync gc failed: $M_NOTE"
    note "- depsync gc: $(grep -v '^[[:space:]]*$' "$M_LOG" | awk 'NR > 1 { printf "; " } { printf "%s", $0 }') (objects/pack: $(find "$D_REPO/objects/pack" -name '*.pack' | wc -l) pack(s), $(find "$D_REPO/objects" -mindepth 2 -path '*/objects/[0-9a-f][0-9a-f]/*' -type f | wc -l) loose objects left)"
    local r
    for ((r = 1; r <= REPS; r++)); do
        depsync_peer_init depsync-ssh "$SSH_BASE$D_REPO"
        timed pull-initial-ssh-gc "$T_DEPSYNC_PULL" depsync "$r" "$DEPSYNC" -q -c "$PEERS/depsync-ssh/conf" pull
        rm -rf "$PEERS/rsync-ssh"
        mkdir -p "$PEERS/rsync-ssh"
        rsync_ssh_timed pull-initial-ssh-gc "$r"
        timed pull-initial-ssh-gc "$T_SSH" floor "$r" ssh benchnode true
    done
    verify_peer pull-initial-ssh-gc "depsync, ssh" "$PEERS/depsync-ssh/dir"
    verify_peer pull-initial-ssh-gc "rsync, ssh" "$PEERS/rsync-ssh/dir"
}

# The primary's CPU for one no-op cycle of 10 peers. Every peer is already at the newest release;
# a no-op request costs the server the same whichever up-to-date peer sends it, so one peer per
# tool sends the 10 requests. Serving CPU is measured where the primary spends it:
# - over ssh (depsync, git): the bench sshd and everything it ran for those connections
#   (git-upload-pack or whatever depsync's transport starts), from /proc/<sshd>/stat;
# - depsync with a local path: the pulling processes themselves (they read the repository in-process);
# - rsync over ssh, the vendor's cron job: the primary runs rsync and ssh, so their own CPU.
SERVE_PEERS=10
T_SERVE_DS_SSH="depsync pull x10 over ssh: sshd CPU"
T_SERVE_DS_LOCAL="depsync pull x10, local path: pullers' CPU"
T_SERVE_GIT_SSH="git fetch+checkout x10 over ssh: sshd CPU"
T_SERVE_RSYNC="rsync --delete -a -e ssh x10: primary's rsync+ssh CPU"
T_SERVE_SSH="ssh host true x10: sshd CPU"
T_SERVE_DS_HTTPS="depsync pull x10 over https: lighttpd CPU"

# Runs CMD... SERVE_PEERS times, stopping at the first failure (an argv, so that it can be timed).
SERVE_LOOP='for ((i = 0; i < $1; i++)); do "${@:2}" || exit; done'
LOOP=(bash -c "$SERVE_LOOP" _ "$SERVE_PEERS")

# serve_over_sshd CASE TOOL SERIES REP CMD...: like timed, but the CPU recorded is the sshd's.
serve_over_sshd() {
    local c=$1 t=$2 s=$3 r=$4
    shift 4
    M_LOG="$LOG_DIR/${c}.${s}.${t//[^A-Za-z0-9_-]/_}.r$r.log"
    measure "$@"
    M_CPU=$M_SERVER_CPU
    record "$c" "$t" "$s" "$r"
}

# An https peer of the current tree, brought to the newest release (untimed). Returns 1 when there
# is no https server.
https_peer_setup() {
    [[ -n $HTTPS_PORT ]] || return 1
    depsync_peer_init depsync-https "https://127.0.0.1:$HTTPS_PORT/git/${W#"$WORK_ROOT"/}/primary/releases.git"
    printf 'ca_file = "%s"\n' "$HTTPS_CA" >>"$PEERS/depsync-https/conf"
    "$DEPSYNC" -q -c "$PEERS/depsync-https/conf" pull >>"$LOG_DIR/setup.log" 2>&1 ||
        say "  warning: the https peer's first pull failed: $(tail -n 1 "$LOG_DIR/setup.log")"
    return 0
}

# serve_over_https CASE TOOL SERIES REP CMD...: like timed, but the CPU recorded is lighttpd's
# (git-http-backend included: lighttpd reaps its CGIs).
serve_over_https() {
    local c=$1 t=$2 s=$3 r=$4 before after
    shift 4
    M_LOG="$LOG_DIR/${c}.${s}.${t//[^A-Za-z0-9_-]/_}.r$r.log"
    https_wait_idle
    before=$(https_serving_ticks)
    measure "$@"
    https_wait_idle || say "  warning: CGIs still running after the cycle"
    after=$(https_serving_ticks)
    M_CPU=$(bc <<<"scale=2; ($after - $before) / $CLK_TCK")
    record "$c" "$t" "$s" "$r"
}

# record_unavailable CASE TOOL SERIES REP WHY: a row that reads n/a (WHY).
record_unavailable() {
    M_WALL=0 M_CPU=0 M_RSS=0 M_SERVER_CPU=0 M_RC=1 M_NOTE=$5
    record "$1" "$2" "$3" "$4"
}

phase_serve() { # CASE
    local c=$1 r https=0
    say "primary CPU for a no-op cycle of $SERVE_PEERS peers ($c, ${REPS} reps)"
    https_peer_setup && https=1
    for ((r = 1; r <= REPS; r++)); do
        if ((https)); then
            serve_over_https "$c" "$T_SERVE_DS_HTTPS" depsync "$r" \
                "${LOOP[@]}" "$DEPSYNC" -q -c "$PEERS/depsync-https/conf" pull
        else
            record_unavailable "$c" "$T_SERVE_DS_HTTPS" depsync "$r" "${HTTPS_UNAVAILABLE:-no https server}"
        fi
        serve_over_sshd "$c" "$T_SERVE_DS_SSH" depsync "$r" \
            "${LOOP[@]}" "$DEPSYNC" -q -c "$PEERS/depsync-ssh/conf" pull
        timed "$c" "$T_SERVE_DS_LOCAL" depsync "$r" \
            "${LOOP[@]}" "$DEPSYNC" -q -c "$PEERS/depsync-local/conf" pull
        serve_over_sshd "$c" "$T_SERVE_GIT_SSH" git "$r" \
            "${LOOP[@]}" bash -c "$GIT_PULL" _ "$PEERS/git-ssh/dir"
        timed "$c" "$T_SERVE_RSYNC" rsync "$r" \
            "${LOOP[@]}" rsync --delete -a -e ssh "$SRC/" "benchnode:$PEERS/rsync-ssh/dir/"
        serve_over_sshd "$c" "$T_SERVE_SSH" floor "$r" "${LOOP[@]}" ssh benchnode true
    done
}

# For --scale-run: bring a tree's primary and peers to the first release, one run each (recorded in
# case setup-LABEL for information), so that phase_serve can run on it.
phase_serve_setup() { # LABEL
    local c="setup-$1"
    say "setting up the $1 tree: $(find "$SRC" -type f | wc -l) files"
    depsync_primary_init
    timed "$c" "$T_DEPSYNC_PUB" depsync 1 "$DEPSYNC" -q -c "$D_PCONF" publish -m "bench: initial ($1)"
    git_primary_init
    git_commit_timed "$c" 1 "bench: initial ($1)"
    git_push_timed "$c" 1
    depsync_peer_init depsync-local "$D_REPO"
    timed "$c" "$T_DEPSYNC_PULL (local path, initial)" depsync 1 \
        "$DEPSYNC" -q -c "$PEERS/depsync-local/conf" pull
    depsync_peer_init depsync-ssh "$SSH_BASE$D_REPO"
    timed "$c" "$T_DEPSYNC_PULL (ssh, initial)" depsync 1 "$DEPSYNC" -q -c "$PEERS/depsync-ssh/conf" pull
    git_peer_init git-ssh "$SSH_BASE$G_REMOTE"
    git_pull_timed "$c" 1 git-ssh
    mkdir -p "$PEERS/rsync-ssh"
    rsync_ssh_timed "$c" 1
}
