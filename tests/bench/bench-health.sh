#!/usr/bin/env bash
# SC2016: the `bash -c` probes are single-quoted on purpose (arguments come
# in as $0, $1). SC2317: cleanup and stop_server run from the EXIT trap.
# shellcheck disable=SC2016,SC2317
#
# bench-health.sh: throughput, latency and memory of GET /api/health/live,
# Orchesity against an nginx baseline, measured in one run on one machine.
#
# Both servers listen on loopback with the same number of worker processes.
# nginx answers `return 200 '{"status":"alive"}'` from a private prefix
# directory (see nginx.conf.in). For each connection count wrk loads the
# gateway, then nginx, with `wrk --latency`; the script prints a Markdown
# table of requests/s, the orchesity/nginx ratio and p50/p99 latency, then
# the resident memory (VmRSS) of each server's workers after the load.
#
# Usage: tests/bench/bench-health.sh [options]
#
#   -w, --workers N        worker processes for both servers   (WORKERS, 2)
#   -d, --duration S       seconds per measured wrk run        (DURATION, 5)
#   -c, --connections L    connection counts, "1 16 64" or 1,16,64
#                                                              (CONNECTIONS)
#   -t, --threads N        wrk threads, capped at the connections (THREADS, 2)
#       --warmup S         warm-up seconds per server, 0 = none (WARMUP, 1)
#       --orc-port P       gateway port                        (ORC_PORT, 18081)
#       --nginx-port P     nginx port                          (NGINX_PORT, 18082)
#   -o, --out FILE         also write the report to FILE       (OUT)
#   -h, --help             print this help
#
# Other environment: ORCHESITY_BIN (default: <repo>/orchesity), NGINX_BIN
# (default: nginx from PATH or /usr/sbin/nginx), START_TIMEOUT (seconds to
# wait for a server to answer, 10).
#
# Exit status: 0 on success; 1 if a server fails to start or dies, a gateway
# worker is replaced during the load, wrk fails, or wrk reports socket errors
# or non-2xx/3xx responses from the gateway (the report lists them; the same
# from nginx is only a warning); 2 on a usage error.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

WORKERS=${WORKERS:-2}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-1}
ORC_PORT=${ORC_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
OUT=${OUT:-}
START_TIMEOUT=${START_TIMEOUT:-10}
ORCHESITY_BIN=${ORCHESITY_BIN:-$REPO_ROOT/orchesity}
NGINX_BIN=${NGINX_BIN:-}

HEALTH_PATH=/api/health/live

# ---------------------------------------------------------------- helpers

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}
usage() { sed -n '/^# Usage:/,/^# Other environment/{/^# Other environment/d;s/^# \{0,1\}//;p}' "$0"; }

is_uint() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

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

# rss_kb PID: VmRSS of PID in kB, or "?" when it cannot be read.
rss_kb() {
    awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print "?" }' "/proc/$1/status" 2>/dev/null || echo "?"
}

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

# ---------------------------------------------------------------- options

while (($#)); do
    case $1 in
    -w | --workers) WORKERS=${2-}; shift ;;
    -d | --duration) DURATION=${2-}; shift ;;
    -c | --connections) CONNECTIONS=${2-}; shift ;;
    -t | --threads) THREADS=${2-}; shift ;;
    --warmup) WARMUP=${2-}; shift ;;
    --orc-port) ORC_PORT=${2-}; shift ;;
    --nginx-port) NGINX_PORT=${2-}; shift ;;
    -o | --out) OUT=${2-}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) log "unknown option: $1"; usage >&2; exit 2 ;;
    esac
    shift
done

read -r -a CONN_LIST <<<"${CONNECTIONS//,/ }"
((${#CONN_LIST[@]})) || { log "no connection counts given"; exit 2; }
for v in "$WORKERS" "$DURATION" "$THREADS" "$ORC_PORT" "$NGINX_PORT" "$START_TIMEOUT" "${CONN_LIST[@]}"; do
    is_uint "$v" || { log "not a positive integer: '$v'"; exit 2; }
done
[[ $WARMUP =~ ^[0-9]+$ ]] || { log "not a number of seconds: WARMUP='$WARMUP'"; exit 2; }
((ORC_PORT <= 65535 && NGINX_PORT <= 65535)) || { log "port out of range"; exit 2; }
((ORC_PORT != NGINX_PORT)) || { log "ORC_PORT and NGINX_PORT must differ"; exit 2; }
MAX_CONN=$(printf '%s\n' "${CONN_LIST[@]}" | sort -n | tail -n 1)

# ---------------------------------------------------------------- tools

# wrk and nginx come from Debian packages; install them only when missing.
find_nginx() {
    [[ -n $NGINX_BIN ]] && return 0
    NGINX_BIN=$(command -v nginx || true)
    if [[ -z $NGINX_BIN && -x /usr/sbin/nginx ]]; then NGINX_BIN=/usr/sbin/nginx; fi
    [[ -n $NGINX_BIN ]]
}
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
for tool in pgrep timeout awk; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x $NGINX_BIN ]] || die "nginx binary not executable: $NGINX_BIN"
[[ -x $ORCHESITY_BIN ]] || die "gateway binary not found: $ORCHESITY_BIN (build it with 'make' in $REPO_ROOT, or set ORCHESITY_BIN)"
ORCHESITY_BIN=$(readlink -f "$ORCHESITY_BIN")
NGINX_EXE=$(readlink -f "$NGINX_BIN")

# ---------------------------------------------------------------- cleanup

TMP=$(mktemp -d "${TMPDIR:-/tmp}/orchesity-bench.XXXXXX")
chmod 755 "$TMP" # nginx workers may run as another user when started as root
ORC_PID="" NGX_PID="" WRK_PID=""
ORC_WORKER_PIDS=() NGX_WORKER_PIDS=()

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

cleanup() {
    local rc=$?
    trap - EXIT
    if [[ -n $WRK_PID ]]; then # timeout passes the signal on to wrk
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    stop_server "$ORC_PID" "$ORCHESITY_BIN" "${ORC_WORKER_PIDS[@]}"
    stop_server "$NGX_PID" "$NGINX_EXE" "${NGX_WORKER_PIDS[@]}"
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- servers

# wait_ready NAME PID PORT LOGFILE: wait until the server answers 200 on the
# health path and has forked all its workers; fail if it exits or is slow.
wait_ready() {
    local name=$1 pid=$2 port=$3 logfile=$4 i code="" n=0
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ! alive "$pid"; then
            tail -n 20 "$logfile" >&2 || true
            die "$name exited during start-up (log above)"
        fi
        [[ $code == 200 ]] || code=$(http_status "$port" "$HEALTH_PATH")
        if [[ $code == 200 ]]; then
            n=$(children "$pid" | wc -l)
            if ((n >= WORKERS)); then return 0; fi
        fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    die "$name not ready after ${START_TIMEOUT}s (status '${code:-none}', $n of $WORKERS workers; log above)"
}

for port in "$ORC_PORT" "$NGINX_PORT"; do
    ! port_open "$port" || die "127.0.0.1:$port is already in use (set ORC_PORT / NGINX_PORT)"
done

# The gateway: foreground master, loopback only, no access log.
log "starting orchesity ($ORCHESITY_BIN) on 127.0.0.1:$ORC_PORT with $WORKERS workers"
HOST=127.0.0.1 PORT=$ORC_PORT ORCHESITY_WORKERS=$WORKERS ORCHESITY_ACCESS_LOG=off \
    "$ORCHESITY_BIN" </dev/null 2>"$TMP/orchesity.log" &
ORC_PID=$!
wait_ready orchesity "$ORC_PID" "$ORC_PORT" "$TMP/orchesity.log"
mapfile -t ORC_WORKER_PIDS < <(children "$ORC_PID")

# nginx: non-daemon master in a temporary prefix with its own configuration.
NGX_PREFIX=$TMP/nginx
mkdir -p "$NGX_PREFIX/logs" "$NGX_PREFIX/temp"
sed -e "s|@PREFIX@|$NGX_PREFIX|g" -e "s|@WORKERS@|$WORKERS|g" -e "s|@PORT@|$NGINX_PORT|g" \
    "$SCRIPT_DIR/nginx.conf.in" >"$NGX_PREFIX/nginx.conf"
NGX_V=$("$NGINX_BIN" -V 2>&1)
{
    echo "client_body_temp_path $NGX_PREFIX/temp/client_body;"
    for m in proxy fastcgi uwsgi scgi; do # only modules built into this nginx
        [[ $NGX_V == *"--without-http_${m}_module"* ]] || echo "${m}_temp_path $NGX_PREFIX/temp/$m;"
    done
} >"$NGX_PREFIX/temp_paths.conf"
NGX_ARGS=(-p "$NGX_PREFIX/" -c "$NGX_PREFIX/nginx.conf")
# -e (nginx >= 1.19.5) keeps start-up messages out of the system error log.
NGX_HELP=$("$NGINX_BIN" -h 2>&1 || true)
if [[ $NGX_HELP == *"-e filename"* ]]; then NGX_ARGS+=(-e "$NGX_PREFIX/logs/error.log"); fi
"$NGINX_BIN" -t -q "${NGX_ARGS[@]}" >"$NGX_PREFIX/logs/stderr.log" 2>&1 || {
    cat "$NGX_PREFIX/logs/stderr.log" >&2
    die "nginx rejected its configuration"
}
log "starting nginx ($NGINX_BIN) on 127.0.0.1:$NGINX_PORT with $WORKERS workers"
"$NGINX_BIN" "${NGX_ARGS[@]}" </dev/null >>"$NGX_PREFIX/logs/stderr.log" 2>&1 &
NGX_PID=$!
wait_ready nginx "$NGX_PID" "$NGINX_PORT" "$NGX_PREFIX/logs/error.log"
mapfile -t NGX_WORKER_PIDS < <(children "$NGX_PID")

# ---------------------------------------------------------------- load

# run_wrk PORT CONNECTIONS SECONDS OUTFILE: one bounded wrk run. It runs in
# the background so that a signal to this script is handled at once (bash
# defers traps until a foreground command ends); cleanup stops it.
run_wrk() {
    local port=$1 conns=$2 secs=$3 out=$4 threads=$THREADS rc=0
    ((threads <= conns)) || threads=$conns # wrk needs connections >= threads
    timeout -k 5 $((secs + 30)) wrk --latency -t "$threads" -c "$conns" -d "${secs}s" --timeout 2s \
        "http://127.0.0.1:$port$HEALTH_PATH" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    return "$rc"
}

# parse_wrk FILE: "rps p50_ms p99_ms connect read write timeout non2xx".
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
            printf "%s %s %s %d %d %d %d %d\n", rps, p50, p99, c, r, w, t, bad
        }' "$1"
}

declare -A RPS P50 P99
FAILURES=() WARNINGS=()

# measure NAME PORT CONNECTIONS: run wrk, store its figures, note errors.
measure() {
    local name=$1 port=$2 conns=$3 out="$TMP/wrk-$1-c$3.txt" line
    local rps p50 p99 ec er ew et bad
    log "wrk: $name, $conns connections, ${DURATION}s"
    if ! run_wrk "$port" "$conns" "$DURATION" "$out" || ! line=$(parse_wrk "$out"); then
        cat "$out" >&2
        die "wrk failed against $name with $conns connections (output above)"
    fi
    read -r rps p50 p99 ec er ew et bad <<<"$line"
    RPS[$name:$conns]=$rps P50[$name:$conns]=$p50 P99[$name:$conns]=$p99
    if ((ec + er + ew + et + bad)); then
        local msg="$name, $conns connections: socket errors connect $ec, read $er, write $ew, timeout $et; non-2xx/3xx responses $bad"
        if [[ $name == orchesity ]]; then FAILURES+=("$msg"); else WARNINGS+=("$msg"); fi
    fi
}

if ((WARMUP > 0)); then
    log "warm-up: ${WARMUP}s per server, $MAX_CONN connections"
    run_wrk "$ORC_PORT" "$MAX_CONN" "$WARMUP" "$TMP/warmup-orchesity.txt" || die "warm-up against orchesity failed"
    run_wrk "$NGINX_PORT" "$MAX_CONN" "$WARMUP" "$TMP/warmup-nginx.txt" || die "warm-up against nginx failed"
fi

# The two servers take turns at each connection count, so that both see the
# same machine state (CPU frequency, other load) as closely as possible.
for c in "${CONN_LIST[@]}"; do
    measure orchesity "$ORC_PORT" "$c"
    alive "$ORC_PID" || die "orchesity master exited during the load (log: $(tail -n 5 "$TMP/orchesity.log"))"
    measure nginx "$NGINX_PORT" "$c"
    alive "$NGX_PID" || die "nginx master exited during the load"
done

# A worker that crashed under load would have been replaced by the master.
mapfile -t orc_now < <(children "$ORC_PID")
if [[ ${orc_now[*]} != "${ORC_WORKER_PIDS[*]}" ]]; then
    FAILURES+=("orchesity workers changed during the load: ${ORC_WORKER_PIDS[*]} -> ${orc_now[*]:-none}")
    ORC_WORKER_PIDS+=("${orc_now[@]}")
fi

# ---------------------------------------------------------------- report

# rss_line NAME MASTER_PID: "NAME: N workers: a kB, b kB (mean m kB); master x kB"
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

ORC_VERSION=$("$ORCHESITY_BIN" -v 2>&1 || true)
ORC_VERSION=${ORC_VERSION%%$'\n'*}
NGX_VERSION=$("$NGINX_BIN" -v 2>&1 || true)
NGX_VERSION=${NGX_VERSION#nginx version: }
WRK_VERSION=$(wrk -v 2>&1 || true) # wrk -v exits 1
WRK_VERSION=${WRK_VERSION%%$'\n'*}
WRK_VERSION=${WRK_VERSION%% Copyright*}
COMMIT=$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)

REPORT=$TMP/report.md
{
    echo "## GET $HEALTH_PATH: orchesity vs nginx"
    echo
    echo "- $ORC_VERSION (commit $COMMIT), $NGX_VERSION, $WRK_VERSION"
    echo "- $(uname -srm), $(nproc) CPUs${CPU:+ ($CPU)}"
    echo "- $WORKERS workers each, loopback, wrk --latency -t $THREADS (capped at the connections), ${DURATION}s per run, ${WARMUP}s warm-up"
    echo
    echo "| connections | orchesity rps | nginx rps | ratio (orchesity/nginx) | orchesity p50 | orchesity p99 | nginx p50 | nginx p99 |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${CONN_LIST[@]}"; do
        awk -v c="$c" -v orps="${RPS[orchesity:$c]}" -v nrps="${RPS[nginx:$c]}" \
            -v o50="${P50[orchesity:$c]}" -v o99="${P99[orchesity:$c]}" \
            -v n50="${P50[nginx:$c]}" -v n99="${P99[nginx:$c]}" 'BEGIN {
                ratio = nrps > 0 ? sprintf("%.2f", orps / nrps) : "n/a"
                printf "| %d | %.0f | %.0f | %s | %.3f ms | %.3f ms | %.3f ms | %.3f ms |\n",
                    c, orps, nrps, ratio, o50, o99, n50, n99
            }'
    done
    echo
    echo "RSS after the load (VmRSS from /proc/<pid>/status):"
    echo
    rss_line orchesity "$ORC_PID"
    rss_line nginx "$NGX_PID"
    if ((${#FAILURES[@]} + ${#WARNINGS[@]})); then
        echo
        for m in "${FAILURES[@]}"; do echo "- FAIL: $m"; done
        for m in "${WARNINGS[@]}"; do echo "- warning: $m"; done
    fi
} >"$REPORT"

cat "$REPORT"
if [[ -n $OUT ]]; then
    cp "$REPORT" "$OUT" || die "cannot write $OUT"
    log "report written to $OUT"
fi

if ((${#FAILURES[@]})); then
    log "the gateway had errors under load:"
    printf 'bench:   %s\n' "${FAILURES[@]}" >&2
    exit 1
fi
exit 0
