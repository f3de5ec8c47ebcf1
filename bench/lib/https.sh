# shellcheck shell=bash
# An https git server on 127.0.0.1 for the primary-CPU case: lighttpd with git-http-backend as CGI,
# a certificate from a throw-away CA. Optional: without lighttpd the https rows read n/a.
#
# https_start DIR ROOT  serves the repositories under ROOT at https://127.0.0.1:PORT/git/<path>.
#                       Sets HTTPS_PID, HTTPS_PORT, HTTPS_CA; or HTTPS_UNAVAILABLE (why) and returns 1.
# https_stop            stops that lighttpd (by its pid only).
# https_serving_ticks   CPU ticks of lighttpd and every CGI it has reaped (utime+stime+cutime+cstime).

HTTPS_PID=""
HTTPS_PORT=""
HTTPS_CA=""
HTTPS_UNAVAILABLE=""

https_start() {
    local dir=$1 root=$2 path package port attempt
    for path in /usr/sbin/lighttpd:lighttpd /usr/lib/lighttpd/mod_openssl.so:lighttpd-mod-openssl \
        /usr/lib/git-core/git-http-backend:git /usr/bin/openssl:openssl; do
        package=${path#*:}
        path=${path%%:*}
        if [[ ! -e $path ]]; then
            HTTPS_UNAVAILABLE="$path is missing (apt-get install $package)"
            return 1
        fi
    done
    mkdir -p "$dir/docroot"
    # mbedTLS (Debian's libgit2) matches certificate names against DNS names only: name the IP both ways.
    if ! {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/ca.key" \
            -out "$dir/ca.crt" -days 2 -subj "/CN=depsync bench CA" &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/server.key" \
                -out "$dir/server.csr" -subj "/CN=127.0.0.1" &&
            printf 'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext" &&
            openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
                -out "$dir/server.crt" -days 2 -extfile "$dir/server.ext" &&
            cat "$dir/server.crt" "$dir/server.key" >"$dir/server.pem"
    } >"$dir/openssl.log" 2>&1; then
        HTTPS_UNAVAILABLE="cannot make a certificate (see $dir/openssl.log)"
        return 1
    fi
    chmod 600 "$dir/server.pem"
    HTTPS_CA="$dir/ca.crt"

    for attempt in 1 2 3 4 5; do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then continue; fi
        cat >"$dir/lighttpd.conf" <<CONF
server.modules = ("mod_openssl", "mod_cgi", "mod_setenv", "mod_alias")
server.document-root = "$dir/docroot"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$dir/error.log"
ssl.engine = "enable"
ssl.pemfile = "$dir/server.pem"
ssl.openssl.ssl-conf-cmd = ("MinProtocol" => "TLSv1.2")
alias.url = ("/git/" => "/usr/lib/git-core/git-http-backend/")
\$HTTP["url"] =~ "^/git/" {
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "$root", "GIT_HTTP_EXPORT_ALL" => "1")
}
CONF
        /usr/sbin/lighttpd -D -f "$dir/lighttpd.conf" >>"$dir/lighttpd.out" 2>&1 9>&- &
        HTTPS_PID=$!
        HTTPS_PORT=$port
        local i
        for i in $(seq 50); do
            kill -0 "$HTTPS_PID" 2>/dev/null || break
            if curl -s -o /dev/null --cacert "$HTTPS_CA" "https://127.0.0.1:$port/" 2>/dev/null; then
                return 0
            fi
            sleep 0.1
        done
        https_stop
    done
    HTTPS_UNAVAILABLE="lighttpd did not start (see $dir/error.log)"
    return 1
}

https_stop() {
    if [[ -n $HTTPS_PID ]] && kill -0 "$HTTPS_PID" 2>/dev/null; then
        kill "$HTTPS_PID" 2>/dev/null
        wait "$HTTPS_PID" 2>/dev/null
    fi
    HTTPS_PID=""
    HTTPS_PORT=""
}

https_serving_ticks() {
    sed 's/^.*) //' "/proc/$HTTPS_PID/stat" | awk '{ print $12 + $13 + $14 + $15 }'
}

# Waits (up to 5 s) until lighttpd has reaped every CGI it started.
https_wait_idle() {
    local i
    for i in $(seq 100); do
        [[ -z $(ps -o pid= --ppid "$HTTPS_PID" 2>/dev/null) ]] && return 0
        sleep 0.05
    done
    return 1
}
