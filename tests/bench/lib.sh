# shellcheck shell=bash
# SC2016: the `bash -c` probes are single-quoted on purpose (arguments come
# in as $0, $1). SC2034: some variables set here are read by the scripts.
# SC2153: THREADS, START_TIMEOUT and the like are set by the scripts.
# SC2317: cleanup runs from the EXIT trap.
# shellcheck disable=SC2016,SC2034,SC2153,SC2317
#
# lib.sh: shell functions shared by the benchmark scripts in tests/bench/.
# It is sourced, not run:
#
#   SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   . "$SCRIPT_DIR/lib.sh"
#
# It defines functions only, except for WRK_PID (the wrk run in progress)
# and, once bench_tmpdir has run, TMP. The caller sets START_TIMEOUT and
# THREADS before using wait_ready and run_wrk, and may define
# stop_servers, which the EXIT trap calls before removing TMP.

# ---------------------------------------------------------------- messages

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}
# usage: the comment block of the running script from "# Usage:" up to
# "# Other environment", without the comment marks.
usage() { sed -n '/^# Usage:/,/^# Other environment/{/^# Other environment/d;s/^# \{0,1\}//;p}' "$0"; }

is_uint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# ---------------------------------------------------------------- processes

# alive PID: the process exists and is not a zombie (a server that exited
# stays a zombie until this shell reaps it, and `kill -0` still succeeds).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# children PID: the direct children of PID, one per line, sorted.
children() { pgrep -P "$1" | sort -n || true; }

# cpu_ticks PID...: the user plus system CPU time the processes have used
# so far, in clock ticks (CLK_TCK a second); a process gone counts 0.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
    local pid stat f sum=0
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        read -ra f <<<"${stat##*) }" # fields from the 3rd: utime is the 14th, stime the 15th
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}

# cpu_us_per_request TICKS REQUESTS: microseconds of CPU per request.
cpu_us_per_request() {
    awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }'
}

# rss_kb PID: VmRSS of PID in kB, or "?" when it cannot be read.
rss_kb() {
    awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print "?" }' "/proc/$1/status" 2>/dev/null || echo "?"
}

# rss_line NAME MASTER_PID: "- NAME: N workers: a kB (pid p), ... (mean m kB,
# total t kB); master x kB", the workers being the children of MASTER_PID.
rss_line() {
    local name=$1 master=$2 pid list=() sum=0 n=0 kb
    while read -r pid; do
        [[ -n $pid ]] || continue
        kb=$(rss_kb "$pid")
        list+=("$kb kB (pid $pid)")
        [[ $kb == "?" ]] || { sum=$((sum + kb)); n=$((n + 1)); }
    done < <(children "$master")
    local mean="?"
    if ((n)); then mean=$((sum / n)); fi
    local joined
    joined=$(printf '%s, ' "${list[@]}")
    printf -- '- %s: %d workers: %s (mean %s kB, total %s kB); master %s kB\n' \
        "$name" "${#list[@]}" "${joined%, }" "$mean" "$sum" "$(rss_kb "$master")"
}

# stop_server PID EXE WORKER_PID...: SIGTERM the master and wait up to 10 s,
# then SIGKILL; afterwards SIGKILL any recorded worker still running the
# same executable (only possible if the master itself was killed).
stop_server() {
    local pid=$1 exe=$2 i w
    shift 2
    [[ -n $pid ]] || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    wait "$pid" 2>/dev/null || true
    for w in "$@"; do
        if alive "$w" && [[ $(readlink "/proc/$w/exe" 2>/dev/null) == "$exe" ]]; then
            kill -KILL "$w" 2>/dev/null || true
        fi
    done
}

# ---------------------------------------------------------------- network

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

# http_status PORT PATH: the status code of one plain GET, or nothing.
http_status() {
    timeout 2 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$1" >&3
        read -r _ code _ <&3 && printf "%s\n" "$code"
    ' "$1" "$2" 2>/dev/null || true
}

# wait_ready NAME PID PORT LOGFILE PATH WORKERS: wait until the server
# answers 200 to GET PATH and has forked WORKERS children (0 for a single
# process); fail if it exits or takes longer than START_TIMEOUT seconds.
wait_ready() {
    local name=$1 pid=$2 port=$3 logfile=$4 path=$5 workers=$6 i code="" n=0
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ! alive "$pid"; then
            tail -n 20 "$logfile" >&2 || true
            die "$name exited during start-up (log above)"
        fi
        [[ $code == 200 ]] || code=$(http_status "$port" "$path")
        if [[ $code == 200 ]]; then
            if ((workers == 0)); then return 0; fi
            n=$(children "$pid" | wc -l)
            if ((n >= workers)); then return 0; fi
        fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    if ((workers == 0)); then
        die "$name not ready after ${START_TIMEOUT}s (status '${code:-none}'; log above)"
    fi
    die "$name not ready after ${START_TIMEOUT}s (status '${code:-none}', $n of $workers workers; log above)"
}

# ---------------------------------------------------------------- tools

# find_nginx: set NGINX_BIN (unless already set) from PATH or /usr/sbin.
find_nginx() {
    [[ -n $NGINX_BIN ]] && return 0
    NGINX_BIN=$(command -v nginx || true)
    if [[ -z $NGINX_BIN && -x /usr/sbin/nginx ]]; then NGINX_BIN=/usr/sbin/nginx; fi
    [[ -n $NGINX_BIN ]]
}

# require_wrk_nginx: wrk and nginx come from Debian packages; install them
# (as root) only when missing, and set NGINX_BIN and NGINX_EXE.
require_wrk_nginx() {
    if ! command -v wrk >/dev/null || ! find_nginx; then
        ((EUID == 0)) || die "wrk or nginx is missing; install them with: apt-get install -y wrk nginx-light"
        log "installing wrk and nginx-light"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y wrk nginx-light >&2 ||
            { apt-get update >&2 && apt-get install -y wrk nginx-light >&2; } ||
            die "apt-get install wrk nginx-light failed"
        command -v wrk >/dev/null || die "wrk is still missing"
        find_nginx || die "nginx is still missing"
    fi
    local tool
    for tool in pgrep timeout awk; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    [[ -x $NGINX_BIN ]] || die "nginx binary not executable: $NGINX_BIN"
    NGINX_EXE=$(readlink -f "$NGINX_BIN")
}

# tool_versions: set ORC_VERSION (from ORCHESITY_BIN), NGX_VERSION,
# WRK_VERSION, COMMIT (of REPO_ROOT) and CPU for the report header.
tool_versions() {
    ORC_VERSION=$("$ORCHESITY_BIN" -v 2>&1 || true)
    ORC_VERSION=${ORC_VERSION%%$'\n'*}
    NGX_VERSION=$("$NGINX_BIN" -v 2>&1 || true)
    NGX_VERSION=${NGX_VERSION#nginx version: }
    WRK_VERSION=$(wrk -v 2>&1 || true) # wrk -v exits 1
    WRK_VERSION=${WRK_VERSION%%$'\n'*}
    WRK_VERSION=${WRK_VERSION%% Copyright*}
    COMMIT=$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
}

# ---------------------------------------------------------------- cleanup

WRK_PID=""

# bench_tmpdir: create TMP and install the traps. On exit, normal or not,
# cleanup stops wrk, calls stop_servers if the script defines it, and
# removes TMP; the exit status is kept.
bench_tmpdir() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/orchesity-bench.XXXXXX")
    chmod 755 "$TMP" # nginx workers may run as another user when started as root
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cleanup() {
    local rc=$?
    trap - EXIT
    if [[ -n $WRK_PID ]]; then # timeout passes the signal on to wrk
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    if declare -F stop_servers >/dev/null; then stop_servers; fi
    if [[ -n ${TMP:-} ]]; then rm -rf "$TMP"; fi
    exit "$rc"
}

# ---------------------------------------------------------------- nginx

# nginx_prepare TEMPLATE PREFIX PORT WORKERS [SED_EXPR...]: write
# PREFIX/nginx.conf from TEMPLATE (@PREFIX@, @WORKERS@, @PORT@ and any
# further sed expressions), PREFIX/temp_paths.conf for the temp paths
# compiled into this nginx, set NGX_ARGS and have nginx check the result.
nginx_prepare() {
    local template=$1 prefix=$2 port=$3 workers=$4 m
    shift 4
    local sed_args=(-e "s|@PREFIX@|$prefix|g" -e "s|@WORKERS@|$workers|g" -e "s|@PORT@|$port|g")
    for m in "$@"; do sed_args+=(-e "$m"); done
    mkdir -p "$prefix/logs" "$prefix/temp"
    sed "${sed_args[@]}" "$template" >"$prefix/nginx.conf"
    local ngx_v
    ngx_v=$("$NGINX_BIN" -V 2>&1)
    {
        echo "client_body_temp_path $prefix/temp/client_body;"
        for m in proxy fastcgi uwsgi scgi; do # only modules built into this nginx
            [[ $ngx_v == *"--without-http_${m}_module"* ]] || echo "${m}_temp_path $prefix/temp/$m;"
        done
    } >"$prefix/temp_paths.conf"
    NGX_ARGS=(-p "$prefix/" -c "$prefix/nginx.conf")
    # -e (nginx >= 1.19.5) keeps start-up messages out of the system error log.
    local ngx_help
    ngx_help=$("$NGINX_BIN" -h 2>&1 || true)
    if [[ $ngx_help == *"-e filename"* ]]; then NGX_ARGS+=(-e "$prefix/logs/error.log"); fi
    "$NGINX_BIN" -t -q "${NGX_ARGS[@]}" >"$prefix/logs/stderr.log" 2>&1 || {
        cat "$prefix/logs/stderr.log" >&2
        die "nginx rejected its configuration"
    }
}

# ---------------------------------------------------------------- wrk

# run_wrk URL CONNECTIONS SECONDS OUTFILE [WRK_ARG...]: one bounded
# `wrk --latency` run with THREADS threads (capped at the connections). It
# runs in the background so that a signal to the script is handled at once
# (bash defers traps until a foreground command ends); cleanup stops it.
run_wrk() {
    local url=$1 conns=$2 secs=$3 out=$4 threads=$THREADS rc=0
    shift 4
    ((threads <= conns)) || threads=$conns # wrk needs connections >= threads
    timeout -k 5 $((secs + 30)) wrk --latency -t "$threads" -c "$conns" -d "${secs}s" --timeout 2s \
        "$@" "$url" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    return "$rc"
}

# parse_wrk FILE: "rps p50_ms p99_ms connect read write timeout non2xx
# requests", or status 1 if the output lacks the rate or the percentiles.
parse_wrk() {
    awk '
        function ms(v, n, u) {
            n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") return n / 1000
            if (u == "ms") return n
            if (u == "s") return n * 1000
            if (u == "m") return n * 60000
            return -1
        }
        / requests in / { reqs = $1 }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Socket errors:/ {
            gsub(/,/, "")
            for (i = 1; i < NF; i++) {
                if ($i == "connect") c = $(i + 1); if ($i == "read") r = $(i + 1)
                if ($i == "write") w = $(i + 1); if ($i == "timeout") t = $(i + 1)
            }
        }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%s %s %s %d %d %d %d %d %d\n", rps, p50, p99, c, r, w, t, bad, reqs
        }' "$1"
}

# first_bin REL: <repo>/REL if executable, else <repo>/build/REL if
# executable, else <repo>/REL (for the error message).
first_bin() {
    local c
    for c in "$REPO_ROOT/$1" "$REPO_ROOT/build/$1"; do
        if [[ -x $c ]]; then
            printf '%s\n' "$c"
            return
        fi
    done
    printf '%s\n' "$REPO_ROOT/$1"
}

# list_problems: the FAIL and warning lines of the report, if any.
list_problems() {
    if ((${#FAILURES[@]} + ${#WARNINGS[@]})); then
        echo
        for m in "${FAILURES[@]}"; do echo "- FAIL: $m"; done
        for m in "${WARNINGS[@]}"; do echo "- warning: $m"; done
    fi
}

# publish_report WHAT: prints $REPORT, copies it to $OUT, and exits 1 when
# FAILURES holds anything (WHAT introduces them), else 0.
publish_report() {
    cat "$REPORT"
    if [[ -n $OUT ]]; then
        cp "$REPORT" "$OUT" || die "cannot write $OUT"
        log "report written to $OUT"
    fi
    if ((${#FAILURES[@]})); then
        log "$1"
        printf 'bench:   %s\n' "${FAILURES[@]}" >&2
        exit 1
    fi
    exit 0
}

# ---------------------------------------------------------------- databases

# free_port: a TCP port free on 127.0.0.1 now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# as_postgres CMD...: CMD as the postgres user when run as root (PostgreSQL
# refuses to run as root).
as_postgres() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# bench_postgres_start: a private PostgreSQL under TMP on a free loopback port
# with a database "bench"; sets PG_DATA and PG_PORT. bench_postgres_stop
# stops it (call it from stop_servers).
bench_postgres_start() {
    local bindir
    bindir=$(pg_config --bindir)
    PG_PORT=$(free_port)
    mkdir -p "$TMP/pg"
    [[ $(id -u) -eq 0 ]] && chown postgres "$TMP/pg"
    PG_DATA=$TMP/pg/data
    as_postgres "$bindir/initdb" -D "$PG_DATA" -A trust -U postgres >/dev/null
    as_postgres "$bindir/pg_ctl" -D "$PG_DATA" -l "$TMP/pg/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $TMP/pg" start >/dev/null
    psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE bench" >/dev/null
}
bench_postgres_stop() {
    if [[ -n ${PG_DATA:-} ]]; then
        as_postgres "$(pg_config --bindir)/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------- settings
# What every benchmark shares; the environment (and each script's options)
# override these defaults.
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
OUT=${OUT:-}
START_TIMEOUT=${START_TIMEOUT:-10}
ORCHESITY_BIN=${ORCHESITY_BIN:-$(first_bin orchesity)}
