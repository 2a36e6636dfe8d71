#!/usr/bin/env bash
# SC2317: stop_servers runs from the EXIT trap (see lib.sh).
# shellcheck disable=SC2317
#
# bench-reqlog.sh: what the request log costs. In one run it starts a
# private PostgreSQL (a temporary data directory, a free loopback port), the
# mock LLM upstream, and the gateway twice with the same database: once with
# request_log.enabled = false, once with it on (spool + writer). wrk posts
# the same /v1/chat/completions request to each in turn, ROUNDS times
# alternating, and the best requests/s of each are compared; the target is
# a cost of at most 15 %. Afterwards it checks that every logged request has
# its row in PostgreSQL.
#
# Usage: tests/bench/bench-reqlog.sh [options]
#
#   -w, --workers N        gateway worker processes            (WORKERS, 2)
#   -d, --duration S       seconds per measured wrk run        (DURATION, 5)
#   -c, --connections N    wrk connections                     (CONNECTIONS, 16)
#   -r, --rounds N         off/on rounds                       (ROUNDS, 2)
#   -o, --out FILE         also write the report to FILE       (OUT)
#   -h, --help             print this help
#
# Other environment: ORCHESITY_BIN, MOCKLLM_BIN (as bench-llm.sh),
# ORC_PORT (18091), MOCK_PORT (18093), START_TIMEOUT (10), THREADS (2).
#
# Exit status: 0 when the run completed (whatever the target says); 1 when a
# server fails, wrk reports errors or non-2xx answers, or rows are missing.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
. "$SCRIPT_DIR/lib.sh"

CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-2}
ORC_PORT=${ORC_PORT:-18091}
MOCK_PORT=${MOCK_PORT:-18093}
MOCKLLM_BIN=${MOCKLLM_BIN:-$(first_bin tests/mockllm/orchesity-mockllm)}

while (($#)); do
    case $1 in
    -w | --workers) WORKERS=$2; shift 2 ;;
    -d | --duration) DURATION=$2; shift 2 ;;
    -c | --connections) CONNECTIONS=$2; shift 2 ;;
    -r | --rounds) ROUNDS=$2; shift 2 ;;
    -o | --out) OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
for v in WORKERS DURATION CONNECTIONS ROUNDS; do is_uint "${!v}" || { usage >&2; exit 2; }; done
[[ -x $ORCHESITY_BIN ]] || die "gateway binary not found: $ORCHESITY_BIN"
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"

MOCK_PID="" ORC_PID="" PG_DATA="" PG_PORT=""
stop_servers() {
    stop_server "$ORC_PID" "$ORCHESITY_BIN"
    stop_server "$MOCK_PID" "$MOCKLLM_BIN"
    bench_postgres_stop
}
bench_tmpdir

# start_gateway on|off: the gateway with the request log on or off.
start_gateway() {
    local enabled=false
    [[ $1 == on ]] && enabled=true
    mkdir -p "$TMP/spool"
    env HOST=127.0.0.1 PORT="$ORC_PORT" ORCHESITY_WORKERS="$WORKERS" ORCHESITY_ACCESS_LOG=off \
        OPENAI_API_KEY=bench-key OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" \
        DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/bench" REQUEST_LOG_ENABLED=$enabled \
        REQUEST_LOG_SPOOL_DIR="$TMP/spool" "$ORCHESITY_BIN" </dev/null 2>>"$TMP/orchesity-$1.log" &
    ORC_PID=$!
    wait_ready orchesity "$ORC_PID" "$ORC_PORT" "$TMP/orchesity-$1.log" /api/health/ready "$WORKERS"
}

# CPU time (clock ticks, user + system) of the gateway's processes, or of
# PostgreSQL's: what each side spends, whoever shares the cores.
ticks_of() { local t=0 p; for p in "$@"; do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
gateway_ticks() { ticks_of "$ORC_PID" $(pgrep -P "$ORC_PID"); }
postgres_ticks() { ticks_of $(pgrep -f "postgres.*$PG_PORT|postgres: " 2>/dev/null); }
HZ=$(getconf CLK_TCK)

rows() { psql -At -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -c "SELECT count(*) FROM orchestration_requests"; }

log "starting PostgreSQL and the mock upstream"
bench_postgres_start
"$MOCKLLM_BIN" --listen "127.0.0.1:$MOCK_PORT" --record 0 --quiet </dev/null >"$TMP/mock.out" 2>"$TMP/mock.log" &
MOCK_PID=$!
wait_ready mockllm "$MOCK_PID" "$MOCK_PORT" "$TMP/mock.log" /_mock/health 0

cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"openai/gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hello world"}]}'
LUA

declare -A BEST=([off]=0 [on]=0) GW_US=([off]=0 [on]=0) PG_US=([off]=0 [on]=0) SENT=([off]=0 [on]=0)
LOGGED=0
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in off on; do
        start_gateway "$mode"
        before=$(rows)
        run_wrk "http://127.0.0.1:$ORC_PORT/v1/chat/completions" 2 1 "$TMP/warm.txt" -s "$TMP/post.lua" || true
        g0=$(gateway_ticks) q0=$(postgres_ticks)
        run_wrk "http://127.0.0.1:$ORC_PORT/v1/chat/completions" "$CONNECTIONS" "$DURATION" "$TMP/$mode-$round.txt" \
            -s "$TMP/post.lua" || die "wrk failed ($mode)"
        sleep 0.3 # the writer ships the tail of the run
        g1=$(gateway_ticks) q1=$(postgres_ticks)
        read -r rps p50 p99 c r w t bad reqs < <(parse_wrk "$TMP/$mode-$round.txt") || die "no wrk figures"
        GW_US[$mode]=$((GW_US[$mode] + (g1 - g0) * 1000000 / HZ))
        PG_US[$mode]=$((PG_US[$mode] + (q1 - q0) * 1000000 / HZ))
        SENT[$mode]=$((SENT[$mode] + reqs))
        ((c + r + w + t + bad == 0)) || die "wrk saw errors or non-2xx answers ($mode): $c $r $w $t $bad"
        log "round $round, log $mode: $rps requests/s, p50 $p50 ms, p99 $p99 ms"
        awk -v a="$rps" -v b="${BEST[$mode]}" 'BEGIN { exit !(a > b) }' && BEST[$mode]=$rps
        stop_server "$ORC_PID" "$ORCHESITY_BIN"
        ORC_PID=""
        if [[ $mode == on ]]; then
            LOGGED=$((LOGGED + reqs + 0))
            # the stopped gateway left its backlog in the spool: a short start ships it
            start_gateway off
            stop_server "$ORC_PID" "$ORCHESITY_BIN"
            ORC_PID=""
        fi
        : "$before"
    done
done
# Whatever the last drain left is shipped by one more gateway with the log on.
start_gateway on
for _ in $(seq 100); do
    n=$(rows)
    ((n >= LOGGED)) && break
    sleep 0.1
done
stop_server "$ORC_PID" "$ORCHESITY_BIN"
ORC_PID=""
n=$(rows)
cost=$(awk -v off="${BEST[off]}" -v on="${BEST[on]}" 'BEGIN { printf "%.1f", (off - on) * 100 / off }')
verdict=$(awk -v c="$cost" 'BEGIN { print (c <= 15 ? "PASS" : "MISS") }')
per_req() { awk -v us="$1" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? us / n : 0) }'; }
gw_off=$(per_req "${GW_US[off]}" "${SENT[off]}") gw_on=$(per_req "${GW_US[on]}" "${SENT[on]}")
pg_on=$(per_req "${PG_US[on]}" "${SENT[on]}")
gw_cost=$(awk -v a="$gw_off" -v b="$gw_on" 'BEGIN { printf "%.1f", (a > 0 ? (b - a) * 100 / a : 0) }')
report=$(
    echo "## Request log cost ($(date -u +%Y-%m-%d), $WORKERS workers, $CONNECTIONS connections, ${DURATION}s x $ROUNDS rounds)"
    echo
    echo "| request log | best requests/s |"
    echo "| --- | --- |"
    echo "| off | ${BEST[off]} |"
    echo "| on  | ${BEST[on]} |"
    echo
    echo "- cost of logging: $cost % (target <= 15 %): $verdict"
    echo "- gateway CPU per request: $gw_off us off, $gw_on us on (+$gw_cost %); PostgreSQL CPU per logged request: $pg_on us"
    echo "- rows in PostgreSQL: $n for $LOGGED requests sent with the log on (wrk's own count, warm-up excluded)"
)
echo "$report"
[[ -n $OUT ]] && echo "$report" >"$OUT"
((n >= LOGGED)) || die "$((LOGGED - n)) logged requests have no row"
