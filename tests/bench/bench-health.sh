#!/usr/bin/env bash
# SC2317: stop_servers runs from the EXIT trap (see lib.sh).
# shellcheck disable=SC2317
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
# Other environment: ORCHESITY_BIN (default: <repo>/orchesity, else <repo>/build/orchesity), NGINX_BIN
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
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"

CONNECTIONS=${CONNECTIONS:-"1 16 64"}
WARMUP=${WARMUP:-1}
ORC_PORT=${ORC_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
NGINX_BIN=${NGINX_BIN:-}

HEALTH_PATH=/api/health/live

# ---------------------------------------------------------------- helpers

# log, die, usage, alive, children, rss_kb, rss_line, port_open, wait_ready,
# run_wrk, parse_wrk, ... (shared with the other benchmarks)

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

require_wrk_nginx
[[ -x $ORCHESITY_BIN ]] || die "gateway binary not found: $ORCHESITY_BIN (build it with 'make' in $REPO_ROOT, or set ORCHESITY_BIN)"
ORCHESITY_BIN=$(readlink -f "$ORCHESITY_BIN")

# ---------------------------------------------------------------- cleanup

ORC_PID="" NGX_PID=""
ORC_WORKER_PIDS=() NGX_WORKER_PIDS=()

# Called by cleanup (lib.sh) on exit, after wrk is stopped.
stop_servers() {
    stop_server "$ORC_PID" "$ORCHESITY_BIN" "${ORC_WORKER_PIDS[@]}"
    stop_server "$NGX_PID" "$NGINX_EXE" "${NGX_WORKER_PIDS[@]}"
}
bench_tmpdir

# ---------------------------------------------------------------- servers

for port in "$ORC_PORT" "$NGINX_PORT"; do
    ! port_open "$port" || die "127.0.0.1:$port is already in use (set ORC_PORT / NGINX_PORT)"
done

# The gateway: foreground master, loopback only, no access log.
log "starting orchesity ($ORCHESITY_BIN) on 127.0.0.1:$ORC_PORT with $WORKERS workers"
HOST=127.0.0.1 PORT=$ORC_PORT ORCHESITY_WORKERS=$WORKERS ORCHESITY_ACCESS_LOG=off \
    "$ORCHESITY_BIN" </dev/null 2>"$TMP/orchesity.log" &
ORC_PID=$!
wait_ready orchesity "$ORC_PID" "$ORC_PORT" "$TMP/orchesity.log" "$HEALTH_PATH" "$WORKERS"
mapfile -t ORC_WORKER_PIDS < <(children "$ORC_PID")

# nginx: non-daemon master in a temporary prefix with its own configuration.
NGX_PREFIX=$TMP/nginx
nginx_prepare "$SCRIPT_DIR/nginx.conf.in" "$NGX_PREFIX" "$NGINX_PORT" "$WORKERS"
log "starting nginx ($NGINX_BIN) on 127.0.0.1:$NGINX_PORT with $WORKERS workers"
"$NGINX_BIN" "${NGX_ARGS[@]}" </dev/null >>"$NGX_PREFIX/logs/stderr.log" 2>&1 &
NGX_PID=$!
wait_ready nginx "$NGX_PID" "$NGINX_PORT" "$NGX_PREFIX/logs/error.log" "$HEALTH_PATH" "$WORKERS"
mapfile -t NGX_WORKER_PIDS < <(children "$NGX_PID")

# ---------------------------------------------------------------- load

declare -A RPS P50 P99
FAILURES=() WARNINGS=()

# measure NAME PORT CONNECTIONS: run wrk, store its figures, note errors.
measure() {
    local name=$1 port=$2 conns=$3 out="$TMP/wrk-$1-c$3.txt" line
    local rps p50 p99 ec er ew et bad
    log "wrk: $name, $conns connections, ${DURATION}s"
    if ! run_wrk "http://127.0.0.1:$port$HEALTH_PATH" "$conns" "$DURATION" "$out" || ! line=$(parse_wrk "$out"); then
        cat "$out" >&2
        die "wrk failed against $name with $conns connections (output above)"
    fi
    read -r rps p50 p99 ec er ew et bad _ <<<"$line"
    RPS[$name:$conns]=$rps P50[$name:$conns]=$p50 P99[$name:$conns]=$p99
    if ((ec + er + ew + et + bad)); then
        local msg="$name, $conns connections: socket errors connect $ec, read $er, write $ew, timeout $et; non-2xx/3xx responses $bad"
        if [[ $name == orchesity ]]; then FAILURES+=("$msg"); else WARNINGS+=("$msg"); fi
    fi
}

if ((WARMUP > 0)); then
    log "warm-up: ${WARMUP}s per server, $MAX_CONN connections"
    run_wrk "http://127.0.0.1:$ORC_PORT$HEALTH_PATH" "$MAX_CONN" "$WARMUP" "$TMP/warmup-orchesity.txt" || die "warm-up against orchesity failed"
    run_wrk "http://127.0.0.1:$NGINX_PORT$HEALTH_PATH" "$MAX_CONN" "$WARMUP" "$TMP/warmup-nginx.txt" || die "warm-up against nginx failed"
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

tool_versions

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
    list_problems
} >"$REPORT"

publish_report "the gateway had errors under load:"
