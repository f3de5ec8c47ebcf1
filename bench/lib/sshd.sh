# shellcheck shell=bash
# The benchmark's own sshd on 127.0.0.1 and the client side that talks to it.
#
# sshd_start DIR   creates DIR/{host key, authorized_keys, sshd_config, home/.ssh/...}, starts
#                  /usr/sbin/sshd in the foreground (-D) as a child of this shell and waits until
#                  `ssh benchnode true` succeeds. Sets SSHD_PID, SSH_PORT, BENCH_HOME (a HOME
#                  whose .ssh/ has the client key, a config with Host benchnode, and known_hosts)
#                  and BENCH_BIN: a folder to put first in PATH whose `ssh` runs the real ssh with
#                  that config (OpenSSH reads ~/.ssh/config from the passwd entry, not from $HOME),
#                  so the vendor's literal `rsync -e ssh` and git's default ssh find the bench node.
# sshd_stop        stops that sshd (by its pid only).
# sshd_serving_ticks  CPU clock ticks spent so far by the sshd listener and every connection it
#                  has reaped (utime+stime+cutime+cstime): the serving side of ssh transfers.

SSHD_PID=""
SSH_PORT=""
BENCH_HOME=""
BENCH_BIN=""

sshd_start() {
    local dir=$1 attempt port
    mkdir -p "$dir/home/.ssh"
    chmod 700 "$dir/home/.ssh"
    ssh-keygen -q -t ed25519 -N '' -C depsync-bench-host -f "$dir/ssh_host_ed25519_key"
    ssh-keygen -q -t ed25519 -N '' -C depsync-bench-client -f "$dir/home/.ssh/id_ed25519"
    cp "$dir/home/.ssh/id_ed25519.pub" "$dir/authorized_keys"
    # sshd refuses to start without its privilege separation folder (normally made by its service).
    [[ -d /run/sshd ]] || mkdir -p -m 0755 /run/sshd

    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then continue; fi
        # SetEnv SHLVL=1: bash skips the account's ~/.bashrc for commands sshd runs, which would otherwise
        # add the account's shell start-up (seconds for a pyenv init) to every ssh measurement.
        cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/ssh_host_ed25519_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
MaxStartups 100:30:200
MaxSessions 100
LogLevel ERROR
SetEnv SHLVL=1
CONF
        as_subreaper /usr/sbin/sshd -D -e -f "$dir/sshd_config" \
            -o "PidFile=$dir/sshd.pid" -o UsePAM=no -o StrictModes=no \
            2>>"$dir/sshd.log" 9>&- &
        SSHD_PID=$!
        SSH_PORT=$port
        BENCH_HOME="$dir/home"
        BENCH_BIN="$dir/bin"
        _sshd_write_client "$dir"
        local i
        for i in $(seq 50); do
            if ! kill -0 "$SSHD_PID" 2>/dev/null; then break; fi
            if "$BENCH_BIN/ssh" benchnode true 2>>"$dir/ssh-client.log"; then
                return 0
            fi
            sleep 0.1
        done
        sshd_stop
    done
    echo "cannot start sshd on 127.0.0.1 (see $dir/sshd.log)" >&2
    return 1
}

# as_subreaper CMD...: execs CMD (same pid) as a child subreaper, so that descendants orphaned by an
# abrupt disconnect (the session process of a client that closes the transport without closing
# the channel) are re-parented to CMD and reaped by it, and their CPU still ends up in CMD's
# cutime/cstime. Without perl or on an unknown architecture it execs CMD as it is.
as_subreaper() {
    local nr=""
    case $(uname -m) in
        x86_64) nr=157 ;;  # SYS_prctl
        aarch64) nr=167 ;;
    esac
    if [[ -n $nr ]] && command -v perl >/dev/null 2>&1; then
        # PR_SET_CHILD_SUBREAPER = 36; the setting survives execve.
        exec perl -e 'syscall('"$nr"', 36, 1, 0, 0, 0) == 0 or die "prctl: $!\n"; exec { $ARGV[0] } @ARGV or die "exec: $!\n"' "$@"
    fi
    exec "$@"
}

_sshd_write_client() {
    local dir=$1
    {
        printf '[127.0.0.1]:%s ' "$SSH_PORT"
        cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub"
    } >"$dir/home/.ssh/known_hosts"
    cat >"$dir/home/.ssh/config" <<CONF
Host benchnode 127.0.0.1
    HostName 127.0.0.1
    Port $SSH_PORT
    User root
    IdentityFile $dir/home/.ssh/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $dir/home/.ssh/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
CONF
    chmod 600 "$dir/home/.ssh/config"
    mkdir -p "$dir/bin"
    printf '#!/bin/sh\nexec /usr/bin/ssh -F %q "$@"\n' "$dir/home/.ssh/config" >"$dir/bin/ssh"
    chmod 755 "$dir/bin/ssh"
}

sshd_stop() {
    if [[ -n $SSHD_PID ]] && kill -0 "$SSHD_PID" 2>/dev/null; then
        kill "$SSHD_PID" 2>/dev/null
        wait "$SSHD_PID" 2>/dev/null
    fi
    SSHD_PID=""
}

sshd_serving_ticks() {
    # Fields after "pid (comm) ": state is $1, so utime..cstime are $12..$15.
    sed 's/^.*) //' "/proc/$SSHD_PID/stat" | awk '{ print $12 + $13 + $14 + $15 }'
}

# Waits (up to 5 s) until every connection of the listener has ended and been reaped, so that
# sshd_serving_ticks includes their CPU.
sshd_wait_idle() {
    local i
    for i in $(seq 100); do
        [[ -z $(ps -o pid= --ppid "$SSHD_PID" 2>/dev/null) ]] && return 0
        sleep 0.05
    done
    return 1
}
