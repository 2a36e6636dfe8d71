#!/usr/bin/env bash
# SC2317: stop_servers runs from the EXIT trap (see lib.sh).
# shellcheck disable=SC2317
#
# bench-cache.sh: throughput and latency of response-cache hits
# (POST /v1/chat/completions answered from Redis), against nginx answering
# the same POST with a fixed body of the same size, in one run.
#
# A private redis-server and the mock LLM upstream are started on loopback;
# one request primes the cache, then wrk sends that same request (every one
# a HIT: the script checks the gateway's hit counter) to the gateway and to
# nginx in turns, for each connection count.
#
# Usage: tests/bench/bench-cache.sh [options]
#
#   -w, --workers N        worker processes for both servers   (WORKERS, 2)
#   -d, --duration S       seconds per measured wrk run        (DURATION, 5)
#   -c, --connections L    connection counts, "1 16 64"        (CONNECTIONS)
#   -t, --threads N        wrk threads, capped at the connections (THREADS, 2)
#   -o, --out FILE         also write the report to FILE       (OUT)
#   -h, --help             print this help
#
# Other environment: ORCHESITY_BIN, MOCK_BIN (default: next to the gateway,
# tests/mockllm/orchesity-mockllm), NGINX_BIN, START_TIMEOUT (10).
#
# Exit status: 0 on success; 1 when a server fails, wrk reports errors or
# non-2xx answers from the gateway, or not every gateway answer was a HIT.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"

CONNECTIONS=${CONNECTIONS:-"1 16 64"}
NGINX_BIN=${NGINX_BIN:-}

while (($#)); do
    case $1 in
    -w | --workers) WORKERS=${2-}; shift ;;
    -d | --duration) DURATION=${2-}; shift ;;
    -c | --connections) CONNECTIONS=${2-}; shift ;;
    -t | --threads) THREADS=${2-}; shift ;;
    -o | --out) OUT=${2-}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) log "unknown option: $1"; usage >&2; exit 2 ;;
    esac
    shift
done
read -r -a CONN_LIST <<<"${CONNECTIONS//,/ }"
for v in "$WORKERS" "$DURATION" "$THREADS" "${CONN_LIST[@]}"; do
    is_uint "$v" || { log "not a positive integer: '$v'"; exit 2; }
done

require_wrk_nginx
command -v redis-server >/dev/null || die "redis-server is required (apt-get install redis-server)"
[[ -x $ORCHESITY_BIN ]] || die "gateway binary not found: $ORCHESITY_BIN"
ORCHESITY_BIN=$(readlink -f "$ORCHESITY_BIN")
MOCK_BIN=${MOCK_BIN:-$(dirname "$ORCHESITY_BIN")/tests/mockllm/orchesity-mockllm}
[[ -x $MOCK_BIN ]] || die "mock upstream not found: $MOCK_BIN"

ORC_PID="" NGX_PID="" MOCK_PID="" REDIS_PID=""
ORC_WORKER_PIDS=() NGX_WORKER_PIDS=()
stop_servers() {
    stop_server "$ORC_PID" "$ORCHESITY_BIN" "${ORC_WORKER_PIDS[@]}"
    stop_server "$NGX_PID" "$NGINX_EXE" "${NGX_WORKER_PIDS[@]}"
    local p
    for p in "$MOCK_PID" "$REDIS_PID"; do
        [[ -n $p ]] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    return 0
}
bench_tmpdir

REDIS_PORT=$(free_port) MOCK_PORT=$(free_port) ORC_PORT=$(free_port) NGINX_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP" \
    --logfile "$TMP/redis.log" &
REDIS_PID=$!
"$MOCK_BIN" --listen "127.0.0.1:$MOCK_PORT" --quiet >"$TMP/mock.log" 2>&1 &
MOCK_PID=$!
for _ in $(seq 50); do port_open "$REDIS_PORT" && port_open "$MOCK_PORT" && break; sleep 0.1; done

log "starting orchesity on 127.0.0.1:$ORC_PORT with $WORKERS workers, Redis on $REDIS_PORT"
HOST=127.0.0.1 PORT=$ORC_PORT ORCHESITY_WORKERS=$WORKERS ORCHESITY_ACCESS_LOG=off \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" OPENAI_API_KEY=sk-bench \
    OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" \
    "$ORCHESITY_BIN" </dev/null 2>"$TMP/orchesity.log" &
ORC_PID=$!
wait_ready orchesity "$ORC_PID" "$ORC_PORT" "$TMP/orchesity.log" /api/health/live "$WORKERS"
mapfile -t ORC_WORKER_PIDS < <(children "$ORC_PID")

BODY='{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"What is a response cache? Answer in a few words, please."}]}'
URL_PATH=/v1/chat/completions
prime() { curl -s -o "$TMP/answer.json" -D "$TMP/answer.head" -X POST "http://127.0.0.1:$ORC_PORT$URL_PATH" -d "$BODY"; }
for _ in $(seq 50); do # the workers connect to Redis from their loops
    prime
    grep -qi '^x-orchesity-cache: HIT' "$TMP/answer.head" && break
    sleep 0.1
done
grep -qi '^x-orchesity-cache: HIT' "$TMP/answer.head" || die "the cache does not answer HIT (headers: $(cat "$TMP/answer.head"))"
SIZE=$(stat -c %s "$TMP/answer.json")
grep -q "'" "$TMP/answer.json" && die "the answer holds a quote nginx's return cannot carry"

NGX_PREFIX=$TMP/nginx
mkdir -p "$NGX_PREFIX"
printf "return 200 '%s';\n" "$(cat "$TMP/answer.json")" >"$NGX_PREFIX/body.conf"
nginx_prepare "$SCRIPT_DIR/nginx-cache.conf.in" "$NGX_PREFIX" "$NGINX_PORT" "$WORKERS"
"$NGINX_BIN" "${NGX_ARGS[@]}" </dev/null >>"$NGX_PREFIX/logs/stderr.log" 2>&1 &
NGX_PID=$!
wait_ready nginx "$NGX_PID" "$NGINX_PORT" "$NGX_PREFIX/logs/error.log" /api/health/live "$WORKERS"
mapfile -t NGX_WORKER_PIDS < <(children "$NGX_PID")

{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    printf 'wrk.body = [[%s]]\n' "$BODY"
} >"$TMP/post.lua"

hits() { curl -s "http://127.0.0.1:$ORC_PORT/metrics" | awk '/^orchesity_cache_lookups_total\{result="hit"\}/ { print $2 }'; }

declare -A RPS P50 P99 REQS
FAILURES=() WARNINGS=()
measure() {
    local name=$1 port=$2 conns=$3 out="$TMP/wrk-$1-c$3.txt" line rps p50 p99 ec er ew et bad reqs
    log "wrk: $name, $conns connections, ${DURATION}s"
    run_wrk "http://127.0.0.1:$port$URL_PATH" "$conns" "$DURATION" "$out" -s "$TMP/post.lua" ||
        { cat "$out" >&2; die "wrk failed against $name"; }
    line=$(parse_wrk "$out") || { cat "$out" >&2; die "cannot read wrk's output"; }
    read -r rps p50 p99 ec er ew et bad _ <<<"$line"
    reqs=$(awk '/ requests in / { print $1 }' "$out")
    RPS[$name:$conns]=$rps P50[$name:$conns]=$p50 P99[$name:$conns]=$p99 REQS[$name:$conns]=$reqs
    if ((ec + er + ew + et + bad)); then
        local msg="$name, $conns connections: socket errors $ec/$er/$ew/$et, non-2xx $bad"
        if [[ $name == orchesity ]]; then FAILURES+=("$msg"); else WARNINGS+=("$msg"); fi
    fi
}

for c in "${CONN_LIST[@]}"; do
    before=$(hits)
    measure orchesity "$ORC_PORT" "$c"
    after=$(hits)
    awk -v a="$after" -v b="$before" -v n="${REQS[orchesity:$c]}" 'BEGIN { exit !(a - b >= n) }' ||
        FAILURES+=("$c connections: $((${after%.*} - ${before%.*})) hits for ${REQS[orchesity:$c]} requests")
    alive "$ORC_PID" || die "orchesity exited during the load"
    measure nginx "$NGINX_PORT" "$c"
done

tool_versions
REPORT=$TMP/report.md
{
    echo "## Cache hits: POST $URL_PATH answered from Redis vs nginx returning the same $SIZE-byte body"
    echo
    echo "- $ORC_VERSION (commit $COMMIT), $NGX_VERSION, $WRK_VERSION, $(redis-server --version | awk '{print $3}')"
    echo "- $(uname -srm), $(nproc) CPUs${CPU:+ ($CPU)}"
    echo "- $WORKERS workers each, loopback, wrk --latency -t $THREADS, ${DURATION}s per run; every gateway answer a HIT"
    echo
    echo "| connections | orchesity rps | nginx rps | ratio | orchesity p50 | orchesity p99 | nginx p50 | nginx p99 |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${CONN_LIST[@]}"; do
        awk -v c="$c" -v orps="${RPS[orchesity:$c]}" -v nrps="${RPS[nginx:$c]}" \
            -v o50="${P50[orchesity:$c]}" -v o99="${P99[orchesity:$c]}" \
            -v n50="${P50[nginx:$c]}" -v n99="${P99[nginx:$c]}" 'BEGIN {
                printf "| %d | %.0f | %.0f | %.2f | %.3f ms | %.3f ms | %.3f ms | %.3f ms |\n",
                    c, orps, nrps, (nrps > 0 ? orps / nrps : 0), o50, o99, n50, n99 }'
    done
    echo
    rss_line orchesity "$ORC_PID"
    rss_line nginx "$NGX_PID"
    list_problems
} >"$REPORT"

publish_report "the gateway had errors under load:"
