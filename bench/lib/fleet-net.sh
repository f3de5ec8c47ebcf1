# shellcheck shell=bash
# bench/fleet's network, servers and accounting: network namespaces joined by a bridge, tc-shaped veth
# links, sshd and lighttpd (git http-backend) inside the namespaces, delay proxies for latency, and one
# cgroup per role for CPU.
#
#   switch ns  ${NS}sw: bridge br0; every other namespace has one veth link (eth0) to it
#   primary    ${NS}pri  10.88.0.1   sshd :22, lighttpd :443        cgroup primary
#   mirror     ${NS}mir  10.88.0.2   sshd :22, lighttpd :443        cgroup mirror
#   peer K     ${NS}pK   10.88.1.K   sshd :22 (the vendor's rsync target, and cluster pull's way in)
#                                                                   cgroup peers (every peer process)
#   delay proxies (profiles with latency)                           cgroup net
#   cluster pull, the rsync script (they run on the primary)        cgroup trigger
#
# A peer's link is shaped in both directions (tc tbf on both ends of its veth). The primary's and the
# mirror's own links are not shaped: each peer's link is the bottleneck of its transfer, and the servers'
# CPU is what is measured.
#
# Latency: the kernel may lack netem (no qdisc delays packets), so a profile with latency sends every
# connection through a user-space proxy (delay-proxy.py) in the server's namespace that holds each chunk
# half the round trip in each direction. TCP between peer and proxy still sees the short veth round trip,
# so slow start over a long round trip is not modelled; request/response round trips are.

NET_PREFIX=""
NET_NAMESPACES=()
NET_PIDS=()
CG_ROOT=""
CG_KIND=""
CG_GROUPS="primary mirror peers net trigger publish"
PRIMARY_IP=10.88.0.1
MIRROR_IP=10.88.0.2
peer_ip() { printf '10.88.1.%d' "$1"; }
peer_ns() { printf '%sp%d' "$NET_PREFIX" "$1"; }

# --- cgroups ------------------------------------------------------------------------------------------

# cg_init: a cgroup folder per role under a bench-owned parent. cgroup v2 (cpu.stat usage_usec, kept by
# every cgroup v2 without enabling a controller) where it is mounted, else v1 cpuacct.
cg_init() {
    local v2 v1
    v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
    v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuacct(,|$)/ { print $2; exit }' /proc/mounts)
    if [[ -n $v2 && -w $v2 ]]; then
        CG_ROOT="$v2/${NET_PREFIX}bench" CG_KIND=v2
    elif [[ -n $v1 && -w $v1 ]]; then
        CG_ROOT="$v1/${NET_PREFIX}bench" CG_KIND=v1
    else
        die "no writable cgroup v2 or cpuacct hierarchy: cannot account CPU per role"
    fi
    mkdir -p "$CG_ROOT" || die "cannot create $CG_ROOT"
    local g
    for g in $CG_GROUPS; do mkdir -p "$CG_ROOT/$g"; done
}

# cg_usage_us GROUP: CPU microseconds the group's processes (living and dead) have used.
cg_usage_us() {
    if [[ $CG_KIND == v2 ]]; then
        awk '$1 == "usage_usec" { print $2 }' "$CG_ROOT/$1/cpu.stat"
    else
        echo $(($(cat "$CG_ROOT/$1/cpuacct.usage") / 1000))
    fi
}

# in_ns GROUP NS CMD...: runs CMD in network namespace NS, its processes accounted to GROUP. The shell
# joins the cgroup before `ip netns exec` (which remounts /sys for the namespace) and execs it.
in_ns() {
    local group=$1 ns=$2
    shift 2
    bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" "${@:3}"' _ "$CG_ROOT/$group" "$ns" "$@"
}

# bg_in_ns GROUP NS LOG CMD...: in_ns in the background, as one process from start to end (each step
# execs the next), so that the pid kept for the cleanup is CMD's.
bg_in_ns() {
    local group=$1 ns=$2 log=$3
    shift 3
    bash -c 'echo $$ >"$1/cgroup.procs" && exec ip netns exec "$2" "${@:3}"' _ "$CG_ROOT/$group" "$ns" "$@" \
        >>"$log" 2>&1 9>&- &
    NET_PIDS+=($!)
    LAST_PID=$!
}

cg_cleanup() {
    [[ -n $CG_ROOT && -d $CG_ROOT ]] || return 0
    local g pid i
    # What the servers started and left behind (a session, a CGI) is still in the bench's cgroups.
    for i in 1 2 3 4 5 6 7 8 9 10; do
        local left=0
        for g in $CG_GROUPS; do
            for pid in $(cat "$CG_ROOT/$g/cgroup.procs" 2>/dev/null); do
                kill "$pid" 2>/dev/null
                left=1
            done
        done
        ((left)) || break
        sleep 0.2
    done
    for g in $CG_GROUPS; do rmdir "$CG_ROOT/$g" 2>/dev/null; done
    rmdir "$CG_ROOT" 2>/dev/null
}

# --- namespaces and links -----------------------------------------------------------------------------

ns_add() {
    ip netns add "$1" || die "cannot create network namespace $1"
    NET_NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# link_to_switch NS IP SWITCH_SIDE_NAME: a veth eth0 in NS with IP/16, its other end on the bridge.
link_to_switch() {
    local ns=$1 ip=$2 port=$3
    ip link add eth0 netns "$ns" type veth peer name "$port" netns "${NET_PREFIX}sw" ||
        die "cannot create the veth link of $ns"
    ip -n "${NET_PREFIX}sw" link set "$port" master br0 up
    ip -n "$ns" addr add "$ip/16" dev eth0
    ip -n "$ns" link set eth0 up
}

# net_start N: the switch, primary, mirror and N peer namespaces.
net_start() {
    local n=$1 k
    ns_add "${NET_PREFIX}sw"
    ip -n "${NET_PREFIX}sw" link add br0 type bridge || die "cannot create the bridge"
    ip -n "${NET_PREFIX}sw" link set br0 up
    ns_add "${NET_PREFIX}pri"
    link_to_switch "${NET_PREFIX}pri" "$PRIMARY_IP" pri
    ns_add "${NET_PREFIX}mir"
    link_to_switch "${NET_PREFIX}mir" "$MIRROR_IP" mir
    for ((k = 1; k <= n; k++)); do
        ns_add "$(peer_ns "$k")"
        link_to_switch "$(peer_ns "$k")" "$(peer_ip "$k")" "p$k"
    done
}

# shape_links N RATE: tbf at RATE on both ends of every peer link (replacing any earlier shaping). The
# bucket holds 1 ms of traffic (at least 64 KiB, a GSO packet) and the queue up to 20 ms.
shape_links() {
    local n=$1 rate=$2 k burst bits
    bits=$(rate_bits "$rate")
    burst=$((bits / 8 / 1000))
    ((burst < 65536)) && burst=65536
    for ((k = 1; k <= n; k++)); do
        tc -n "${NET_PREFIX}sw" qdisc replace dev "p$k" root tbf rate "$rate" burst "$burst" latency 20ms ||
            die "tc tbf failed on p$k"
        tc -n "$(peer_ns "$k")" qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 20ms ||
            die "tc tbf failed in $(peer_ns "$k")"
    done
}

rate_bits() {
    case $1 in
        *gbit) echo $((${1%gbit} * 1000000000)) ;;
        *mbit) echo $((${1%mbit} * 1000000)) ;;
        *) die "rate $1: use Nmbit or Ngbit" ;;
    esac
}

# tx_bytes NS: bytes sent on NS's link so far.
tx_bytes() { ip netns exec "$1" cat /sys/class/net/eth0/statistics/tx_bytes; }

net_stop() {
    local pid ns
    for pid in "${NET_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${NET_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    NET_PIDS=()
    for ns in "${NET_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    NET_NAMESPACES=()
}

# --- keys and servers ---------------------------------------------------------------------------------

# keys_make DIR: one host key for every bench sshd, one client key, and a HOME whose ssh config names
# every node. Sets FLEET_HOME, FLEET_BIN (an ssh wrapper passing that config: OpenSSH reads ~/.ssh/config
# from the passwd entry, not from $HOME).
keys_make() {
    local dir=$1
    mkdir -p "$dir/home/.ssh" "$dir/bin"
    chmod 700 "$dir/home/.ssh"
    ssh-keygen -q -t ed25519 -N '' -C depsync-fleet-host -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C depsync-fleet-client -f "$dir/home/.ssh/id_ed25519"
    cp "$dir/home/.ssh/id_ed25519.pub" "$dir/authorized_keys"
    FLEET_HOME="$dir/home"
    FLEET_BIN="$dir/bin"
    printf '#!/bin/sh\nexec /usr/bin/ssh -F %q "$@"\n' "$FLEET_HOME/.ssh/config" >"$FLEET_BIN/ssh"
    chmod 755 "$FLEET_BIN/ssh"
    [[ -d /run/sshd ]] || mkdir -p -m 0755 /run/sshd
    cat >"$dir/sshd_config" <<CONF
Port 22
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
MaxStartups 200:30:400
MaxSessions 100
LogLevel ERROR
CONF
}

# known_hosts_write N PROXIED: known_hosts for every address:port a client may use, and the ssh config
# naming the nodes node1..nodeN (the vendor's nodes-list.txt and the cluster nodes file use those names):
# straight to the peer, or through the primary's delay proxy at 127.0.0.1:40000+K.
known_hosts_write() {
    local n=$1 proxied=$2 key k
    key=$(cut -d' ' -f1,2 "$FLEET_TMP/host_key.pub")
    {
        printf '%s %s\n' "$PRIMARY_IP" "$key" "[$PRIMARY_IP]:2222" "$key" "$MIRROR_IP" "$key" \
            "[$MIRROR_IP]:2222" "$key"
        for ((k = 1; k <= n; k++)); do
            printf '%s %s\n' "$(peer_ip "$k")" "$key" "[127.0.0.1]:$((40000 + k))" "$key"
        done
    } >"$FLEET_HOME/.ssh/known_hosts"
    {
        for ((k = 1; k <= n; k++)); do
            if ((proxied)); then
                printf 'Host node%d\n    HostName 127.0.0.1\n    Port %d\n' "$k" $((40000 + k))
            else
                printf 'Host node%d\n    HostName %s\n    Port 22\n' "$k" "$(peer_ip "$k")"
            fi
        done
        cat <<CONF
Host *
    User root
    IdentityFile $FLEET_HOME/.ssh/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $FLEET_HOME/.ssh/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
CONF
    } >"$FLEET_HOME/.ssh/config"
    chmod 600 "$FLEET_HOME/.ssh/config"
}

# sshd_in GROUP NS: the bench sshd on port 22 of NS (foreground, a child of this shell). Every session
# runs root's login shell, and bash run by sshd reads ~/.bashrc: whatever this machine's root has there
# (a pyenv or conda set-up can take seconds) is not what a node's service account runs, so the sshd's
# private mount namespace (`ip netns exec` makes one) sees an empty file in its place.
sshd_in() {
    local rc
    rc="$(getent passwd root | cut -d: -f6)/.bashrc"
    [[ -f $FLEET_TMP/empty ]] || : >"$FLEET_TMP/empty"
    bg_in_ns "$1" "$2" "$FLEET_TMP/sshd.log" bash -c \
        '[[ ! -f $1 ]] || mount --bind "$2" "$1" || exit; exec /usr/sbin/sshd "${@:3}"' _ "$rc" "$FLEET_TMP/empty" \
        -D -e -f "$FLEET_TMP/sshd_config" -o "PidFile=none" -o UsePAM=no -o StrictModes=no
}

# https_make_cert DIR: a throw-away CA and a server certificate for the primary's and the mirror's
# addresses (named as IP and as DNS name: mbedTLS matches DNS names only).
https_make_cert() {
    local dir=$1
    mkdir -p "$dir/docroot"
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/ca.key" \
            -out "$dir/ca.crt" -days 2 -subj "/CN=depsync fleet bench CA" &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/server.key" \
                -out "$dir/server.csr" -subj "/CN=$PRIMARY_IP" &&
            printf 'subjectAltName=IP:%s,DNS:%s,IP:%s,DNS:%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' \
                "$PRIMARY_IP" "$PRIMARY_IP" "$MIRROR_IP" "$MIRROR_IP" >"$dir/server.ext" &&
            openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
                -out "$dir/server.crt" -days 2 -extfile "$dir/server.ext" &&
            cat "$dir/server.crt" "$dir/server.key" >"$dir/server.pem"
    } >"$dir/openssl.log" 2>&1 || die "cannot make a certificate (see $dir/openssl.log)"
    chmod 600 "$dir/server.pem"
    FLEET_CA="$dir/ca.crt"
}

# lighttpd_in GROUP NS NAME ROOT: lighttpd on port 443 of NS serving the repositories under ROOT at
# https://ADDRESS/git/<path> through git http-backend (CGI), as the e2e tests and bench/run serve it.
lighttpd_in() {
    local group=$1 ns=$2 name=$3 root=$4 dir="$FLEET_TMP/https"
    cat >"$dir/$name.conf" <<CONF
server.modules = ("mod_openssl", "mod_cgi", "mod_setenv", "mod_alias")
server.document-root = "$dir/docroot"
server.port = 443
server.errorlog = "$dir/$name-error.log"
server.max-connections = 1024
ssl.engine = "enable"
ssl.pemfile = "$dir/server.pem"
ssl.openssl.ssl-conf-cmd = ("MinProtocol" => "TLSv1.2")
alias.url = ("/git/" => "/usr/lib/git-core/git-http-backend/")
\$HTTP["url"] =~ "^/git/" {
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "$root", "GIT_HTTP_EXPORT_ALL" => "1")
}
CONF
    bg_in_ns "$group" "$ns" "$dir/$name.out" /usr/sbin/lighttpd -D -f "$dir/$name.conf"
}

# delay_proxy_in NS DELAY_MS SPEC...: delay-proxy.py in NS (cgroup net), waiting until it is ready.
delay_proxy_in() {
    local ns=$1 delay=$2 log
    shift 2
    log="$FLEET_TMP/proxy-$ns.log"
    : >"$log"
    bg_in_ns net "$ns" "$log" python3 -u "$BENCH_DIR/lib/delay-proxy.py" "$delay" "$@"
    local i
    for i in $(seq 100); do
        grep -q '^ready' "$log" && return 0
        kill -0 "$LAST_PID" 2>/dev/null || break
        sleep 0.05
    done
    die "the delay proxy in $ns did not start (see $log)"
}

# wait_port NS ADDRESS PORT: until something accepts connections there (5 s at most).
wait_port() {
    local i
    for i in $(seq 100); do
        ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing listens on $2:$3 in $1"
}
