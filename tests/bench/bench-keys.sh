#!/usr/bin/env bash
# SC2317: stop_servers runs from the EXIT trap (see lib.sh).
# shellcheck disable=SC2317
#
# bench-keys.sh: what access control costs on the LLM call path. In one run
# it starts a private PostgreSQL and Redis (temporary directories, free
# loopback ports), the mock LLM upstream and nginx proxy_pass to it, and the
# gateway twice on the same database and Redis, one worker each:
#
#   open   no master key: /v1/chat/completions open to anyone
#   keys   SECRET_KEY set; every request carries a client key that has
#          requests and tokens per minute, parallel requests and a budget
#          (all far above the load), so every check and count runs, across
#          workers (shared memory) and replicas (Redis)
#
# wrk posts the same request to the mock directly, to nginx and to each
# gateway mode, ROUNDS times alternating the two modes; the best
# requests/s and the CPU time per request of each are compared, with the
# Redis commands per request of the keys mode (INFO commandstats, less the
# open mode's). The request log and the response cache are off, to
# isolate the cost. Targets: at most 5 % fewer requests/s and 3 us more
# CPU per request with keys; at most 0.1 Redis commands per request.
#
# Usage: tests/bench/bench-keys.sh [options]
#
#   -d, --duration S       seconds per measured wrk run        (DURATION, 5)
#   -c, --connections N    wrk connections                     (CONNECTIONS, 16)
#   -r, --rounds N         open/keys rounds                    (ROUNDS, 3)
#   -o, --out FILE         also write the report to FILE       (OUT)
#   -h, --help             print this help
#
# Other environment: ORCHESITY_BIN, MOCKLLM_BIN, NGINX_BIN (as
# bench-llm.sh), ORC_PORT (18101), NGINX_PORT (18102), MOCK_PORT (18103),
# START_TIMEOUT (10), THREADS (2).
#
# Exit status: 0 when the run completed (whatever the targets say); 1 when a
# server fails, or wrk reports errors or non-2xx answers.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
. "$SCRIPT_DIR/lib.sh"

WORKERS=1
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-3}
ORC_PORT=${ORC_PORT:-18101}
NGINX_PORT=${NGINX_PORT:-18102}
MOCK_PORT=${MOCK_PORT:-18103}
MOCKLLM_BIN=${MOCKLLM_BIN:-$(first_bin tests/mockllm/orchesity-mockllm)}
NGINX_BIN=${NGINX_BIN:-}

while (($#)); do
    case $1 in
    -d | --duration) DURATION=$2; shift 2 ;;
    -c | --connections) CONNECTIONS=$2; shift 2 ;;
    -r | --rounds) ROUNDS=$2; shift 2 ;;
    -o | --out) OUT=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
for v in DURATION CONNECTIONS ROUNDS; do is_uint "${!v}" || { usage >&2; exit 2; }; done
[[ -x $ORCHESITY_BIN ]] || die "gateway binary not found: $ORCHESITY_BIN"
require_wrk_nginx
command -v redis-server >/dev/null || die "redis-server is needed (apt-get install redis-server)"

MOCK_PID="" ORC_PID="" NGX_PID="" REDIS_PID="" PG_DATA="" PG_PORT="" REDIS_PORT=""
stop_servers() {
    stop_server "$ORC_PID" "$ORCHESITY_BIN"
    stop_server "$MOCK_PID" "$MOCKLLM_BIN"
    stop_server "$NGX_PID" "$NGINX_BIN"
    if [[ -n $REDIS_PID ]]; then kill "$REDIS_PID" 2>/dev/null || true; fi
    bench_postgres_stop
}
bench_tmpdir

start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$TMP" \
        --logfile "$TMP/redis.log" </dev/null &
    REDIS_PID=$!
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" PING >/dev/null 2>&1 && return; sleep 0.1; done
    die "redis-server did not start"
}

redis_commands() { redis-cli -p "$REDIS_PORT" INFO stats | awk -F: '/^total_commands_processed:/ { print $2 + 0 }'; }

# start_gateway open|keys
start_gateway() {
    local secret=()
    [[ $1 == keys ]] && secret=(SECRET_KEY=bench-master-key)
    env HOST=127.0.0.1 PORT="$ORC_PORT" ORCHESITY_WORKERS=1 ORCHESITY_ACCESS_LOG=off "${secret[@]}" \
        OPENAI_API_KEY=bench-key OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" \
        DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/bench" REQUEST_LOG_ENABLED=false \
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" ENABLE_CACHING=false \
        "$ORCHESITY_BIN" </dev/null 2>>"$TMP/orchesity-$1.log" &
    ORC_PID=$!
    wait_ready orchesity "$ORC_PID" "$ORC_PORT" "$TMP/orchesity-$1.log" /api/health/ready 1
}

ticks_of() { local t=0 p; for p in "$@"; do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

log "starting PostgreSQL, Redis, the mock upstream and nginx"
bench_postgres_start
start_redis
"$MOCKLLM_BIN" --listen "127.0.0.1:$MOCK_PORT" --record 0 --quiet </dev/null >"$TMP/mock.out" 2>"$TMP/mock.log" &
MOCK_PID=$!
wait_ready mockllm "$MOCK_PID" "$MOCK_PORT" "$TMP/mock.log" /_mock/health 0
NGX_PREFIX=$TMP/nginx
nginx_prepare "$SCRIPT_DIR/nginx-llm.conf.in" "$NGX_PREFIX" "$NGINX_PORT" 1 "s|@UPSTREAM_PORT@|$MOCK_PORT|g"
"$NGINX_BIN" "${NGX_ARGS[@]}" </dev/null >>"$NGX_PREFIX/logs/stderr.log" 2>&1 &
NGX_PID=$!
wait_ready nginx "$NGX_PID" "$NGINX_PORT" "$NGX_PREFIX/logs/error.log" /_bench/health 1

# The schema, and a client key with every limit far above the load.
start_gateway open
stop_server "$ORC_PID" "$ORCHESITY_BIN"
ORC_PID=""
KEY="sk-orc-$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 43)"
HASH=$(printf '%s' "$KEY" | sha256sum | cut -d' ' -f1)
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d bench -c "INSERT INTO api_keys (id, key_hash, key_prefix, name,
    rpm, tpm, max_parallel, budget_usd, budget_period) VALUES ('key_00000000000000be', '$HASH', '${KEY:0:12}',
    'bench', 1000000000, 2000000000, 100000, 1000000, 'month')" >/dev/null

# open: no key (the gateway without a master key); keys: the client key;
# upstream: the provider key the mock expects (direct and nginx).
for mode in open keys upstream; do
    auth=""
    [[ $mode == keys ]] && auth="wrk.headers[\"Authorization\"] = \"Bearer $KEY\""
    [[ $mode == upstream ]] && auth="wrk.headers[\"Authorization\"] = \"Bearer bench-key\""
    model=openai/gpt-4o-mini
    [[ $mode == upstream ]] && model=gpt-4o-mini
    cat >"$TMP/$mode.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
$auth
wrk.body = '{"model":"$model","max_tokens":16,"messages":[{"role":"user","content":"hello world"}]}'
LUA
done

# measure NAME URL LUA PIDS...: one wrk run; sets RPS and US (CPU us per request of PIDS).
measure() {
    local name=$1 url=$2 lua=$3
    shift 3
    run_wrk "$url" "$CONNECTIONS" 1 "$TMP/warm.txt" -s "$lua" || true
    local t0 t1
    t0=$(ticks_of "$@")
    run_wrk "$url" "$CONNECTIONS" "$DURATION" "$TMP/$name.txt" -s "$lua" || die "wrk failed ($name)"
    t1=$(ticks_of "$@")
    read -r RPS _ _ c r w t bad REQS < <(parse_wrk "$TMP/$name.txt") || die "no wrk figures ($name)"
    ((c + r + w + t + bad == 0)) || die "wrk saw errors or non-2xx answers ($name): $c $r $w $t $bad"
    US=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$REQS" 'BEGIN { printf "%.1f", n ? d * 1e6 / hz / n : 0 }')
    log "$name: $RPS requests/s, $US us CPU per request"
}

declare -A BEST=([direct]=0 [nginx]=0 [open]=0 [keys]=0) US_BEST=([direct]=0 [nginx]=0 [open]=0 [keys]=0)
declare -A CMDS=([open]=0 [keys]=0) SENT=([open]=0 [keys]=0)
keep() { # keep NAME: the best run of NAME
    if awk -v a="$RPS" -v b="${BEST[$1]}" 'BEGIN { exit !(a > b) }'; then BEST[$1]=$RPS US_BEST[$1]=$US; fi
}
measure direct "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" "$TMP/upstream.lua" "$MOCK_PID"
keep direct
measure nginx "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" "$TMP/upstream.lua" $(children "$NGX_PID")
keep nginx
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in open keys; do
        start_gateway "$mode"
        c0=$(redis_commands)
        measure "$mode-$round" "http://127.0.0.1:$ORC_PORT/v1/chat/completions" "$TMP/$mode.lua" $(children "$ORC_PID")
        c1=$(redis_commands)
        CMDS[$mode]=$((CMDS[$mode] + c1 - c0)) SENT[$mode]=$((SENT[$mode] + REQS))
        keep "$mode"
        stop_server "$ORC_PID" "$ORCHESITY_BIN"
        ORC_PID=""
    done
done

per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
cmd_open=$(per "${CMDS[open]}" "${SENT[open]}") cmd_keys=$(per "${CMDS[keys]}" "${SENT[keys]}")
cmd_extra=$(awk -v a="$cmd_keys" -v b="$cmd_open" 'BEGIN { printf "%.3f", a - b }')
loss=$(awk -v o="${BEST[open]}" -v k="${BEST[keys]}" 'BEGIN { printf "%.1f", (o - k) * 100 / o }')
extra=$(awk -v o="${US_BEST[open]}" -v k="${US_BEST[keys]}" 'BEGIN { printf "%.1f", k - o }')
verdict() { awk -v v="$1" -v max="$2" 'BEGIN { print (v <= max ? "PASS" : "MISS") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
REPORT=$TMP/report.md
{
    echo "## Access control cost ($(date -u +%Y-%m-%d), 1 worker each, $CONNECTIONS connections, ${DURATION}s, best of $ROUNDS rounds)"
    echo
    echo "| path | requests/s | CPU us per request | vs nginx |"
    echo "| --- | --- | --- | --- |"
    echo "| mock directly | ${BEST[direct]} | ${US_BEST[direct]} (the mock) | |"
    echo "| nginx proxy_pass | ${BEST[nginx]} | ${US_BEST[nginx]} | 1.00 |"
    echo "| gateway, open | ${BEST[open]} | ${US_BEST[open]} | $(ratio "${BEST[open]}" "${BEST[nginx]}") |"
    echo "| gateway, client key with limits and budget | ${BEST[keys]} | ${US_BEST[keys]} | $(ratio "${BEST[keys]}" "${BEST[nginx]}") |"
    echo
    echo "- requests/s lost to keys: $loss % (target <= 5 %): $(verdict "$loss" 5)"
    echo "- CPU per request added by keys: $extra us (target <= 3 us): $(verdict "$extra" 3)"
    echo "- Redis commands per request: $cmd_keys with keys, $cmd_open open, $cmd_extra added (target <= 0.1): $(verdict "$cmd_extra" 0.1)"
} >"$REPORT"
FAILURES=() WARNINGS=()
publish_report "the access-control benchmark failed"
