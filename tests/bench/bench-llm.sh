#!/usr/bin/env bash
# SC2317: stop_servers runs from the EXIT trap (see lib.sh).
# shellcheck disable=SC2317
#
# bench-llm.sh: the cost of the gateway on the LLM call path. In one run on
# one machine it compares three ways of reaching the mock LLM upstream
# (orchesity-mockllm, one process) with the same chat request:
#
#   direct   POST /v1/chat/completions on the mock itself
#   nginx    the same through nginx proxy_pass (see nginx-llm.conf.in)
#   gateway  POST /api/llm/orchestrate on orchesity, which calls the mock's
#            /v1/chat/completions (GATEWAY_PATH selects another endpoint)
#
# nginx and the gateway run the same number of worker processes. For each
# mode (non-streaming, then "stream":true) and connection count, wrk loads
# the three paths in turn with a Lua script that posts the body; the script
# prints requests/s, p50 and p99 latency, the gateway/nginx ratio, the
# gateway's latency overhead over the direct call, and the CPU time per
# request of the server that answered (the mock for direct; the nginx or
# gateway workers, without the mock, for the proxies), read from /proc.
# Compare at one worker each (-w 1) on a machine with two CPUs: with two
# each, wrk, the mock and the proxies saturate both and the ratio measures
# how they share the CPUs rather than what the gateway costs. It then measures the
# streaming time to first byte with sequential curl requests, the mock
# pausing between events, and reads the resident memory (VmRSS) of the
# workers. Each figure is set against its target (PASS/MISS).
#
# Usage: tests/bench/bench-llm.sh [options]
#
#   -w, --workers N        gateway and nginx worker processes  (WORKERS, 2)
#   -d, --duration S       seconds per measured wrk run        (DURATION, 5)
#   -c, --connections L    connection counts, "1 16 64" or 1,16,64
#                                                              (CONNECTIONS)
#   -t, --threads N        wrk threads, capped at the connections (THREADS, 2)
#       --warmup S         warm-up seconds per path and mode, 0 = none
#                                                              (WARMUP, 1)
#   -n, --ttfb-requests N  sequential streaming requests per path for the
#                          time to first byte, 0 = skip        (TTFB_REQUESTS, 200)
#       --gap-ms MS        pause of the mock between stream events during
#                          the time-to-first-byte requests     (GAP_MS, 5)
#       --orc-port P       gateway port                        (ORC_PORT, 18081)
#       --nginx-port P     nginx port                          (NGINX_PORT, 18082)
#       --mock-port P      mock upstream port                  (MOCK_PORT, 18083)
#       --gateway-path P   gateway endpoint       (GATEWAY_PATH, /api/llm/orchestrate)
#   -o, --out FILE         also write the report to FILE       (OUT)
#   -h, --help             print this help
#
# Other environment: ORCHESITY_BIN (default: <repo>/orchesity, else
# <repo>/build/orchesity), MOCKLLM_BIN (default:
# <repo>/tests/mockllm/orchesity-mockllm, else the same under <repo>/build),
# NGINX_BIN (default: nginx from PATH or /usr/sbin/nginx), START_TIMEOUT
# (seconds to wait for a server to answer, 10), GATEWAY_API (the request
# format of GATEWAY_PATH: "orchestrate" for /api/llm/orchestrate, "openai"
# for an OpenAI-compatible chat completions endpoint; default: from the path).
#
# Exit status: 0 on success, whatever the targets say; 1 if a server fails
# to start or dies, a path does not give the expected answer before the load,
# a gateway worker is replaced, wrk fails, wrk reports socket errors or
# non-2xx/3xx responses on any path, the mock saw fewer requests than wrk
# completed, the gateway counted upstream failures, or a time-to-first-byte
# request fails (the report lists them); 2 on a usage error.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"


CONNECTIONS=${CONNECTIONS:-"1 16 64"}
WARMUP=${WARMUP:-1}
TTFB_REQUESTS=${TTFB_REQUESTS:-200}
GAP_MS=${GAP_MS:-5}
ORC_PORT=${ORC_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
MOCK_PORT=${MOCK_PORT:-18083}
GATEWAY_PATH=${GATEWAY_PATH:-/api/llm/orchestrate}
GATEWAY_API=${GATEWAY_API:-}
MOCKLLM_BIN=${MOCKLLM_BIN:-$(first_bin tests/mockllm/orchesity-mockllm)}
NGINX_BIN=${NGINX_BIN:-}

# The request: the same question on every path, in the path's own format.
API_KEY=bench-key
MODEL=gpt-4o-mini
PROMPT="hello world"
MAX_TOKENS=16
EXPECT="Echo: hello world" # the mock's answer to PROMPT
UPSTREAM_PATH=/v1/chat/completions
ORC_HEALTH_PATH=/api/health/live
NGX_HEALTH_PATH=/_bench/health
MOCK_HEALTH_PATH=/_mock/health

# The targets, printed next to the results (a MISS does not fail the run).
TARGET_RATIO=0.6      # gateway rps / nginx rps, at every point
TARGET_P99_CONN=16    # connection count of the p99 target
TARGET_P99_MS=0.5     # gateway p99 - direct p99
TARGET_TTFB_MS=0.2    # gateway median TTFB - direct median TTFB
TARGET_RSS_KB=16384   # VmRSS of each gateway worker (16 MB)

PATHS=(direct nginx gateway)
MODES=(plain stream)

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
    -n | --ttfb-requests) TTFB_REQUESTS=${2-}; shift ;;
    --gap-ms) GAP_MS=${2-}; shift ;;
    --orc-port) ORC_PORT=${2-}; shift ;;
    --nginx-port) NGINX_PORT=${2-}; shift ;;
    --mock-port) MOCK_PORT=${2-}; shift ;;
    --gateway-path) GATEWAY_PATH=${2-}; shift ;;
    -o | --out) OUT=${2-}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) log "unknown option: $1"; usage >&2; exit 2 ;;
    esac
    shift
done

read -r -a CONN_LIST <<<"${CONNECTIONS//,/ }"
((${#CONN_LIST[@]})) || { log "no connection counts given"; exit 2; }
for v in "$WORKERS" "$DURATION" "$THREADS" "$ORC_PORT" "$NGINX_PORT" "$MOCK_PORT" "$START_TIMEOUT" "${CONN_LIST[@]}"; do
    is_uint "$v" || { log "not a positive integer: '$v'"; exit 2; }
done
for v in WARMUP TTFB_REQUESTS GAP_MS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { log "not a number: $v='${!v}'"; exit 2; }
done
((ORC_PORT <= 65535 && NGINX_PORT <= 65535 && MOCK_PORT <= 65535)) || { log "port out of range"; exit 2; }
((ORC_PORT != NGINX_PORT && ORC_PORT != MOCK_PORT && NGINX_PORT != MOCK_PORT)) ||
    { log "ORC_PORT, NGINX_PORT and MOCK_PORT must differ"; exit 2; }
[[ $GATEWAY_PATH == /* ]] || { log "GATEWAY_PATH must start with /: '$GATEWAY_PATH'"; exit 2; }
if [[ -z $GATEWAY_API ]]; then
    case $GATEWAY_PATH in
    /api/llm/orchestrate) GATEWAY_API=orchestrate ;;
    *) GATEWAY_API=openai ;;
    esac
fi
[[ $GATEWAY_API == orchestrate || $GATEWAY_API == openai ]] ||
    { log "GATEWAY_API must be orchestrate or openai: '$GATEWAY_API'"; exit 2; }
MAX_CONN=$(printf '%s\n' "${CONN_LIST[@]}" | sort -n | tail -n 1)

# ---------------------------------------------------------------- tools

require_wrk_nginx
command -v curl >/dev/null || {
    ((EUID == 0)) || die "curl is missing; install it with: apt-get install -y curl"
    log "installing curl"
    DEBIAN_FRONTEND=noninteractive apt-get install -y curl >&2 ||
        { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y curl >&2; } ||
        die "apt-get install curl failed"
}
[[ -x $ORCHESITY_BIN ]] || die "gateway binary not found: $ORCHESITY_BIN (build it with 'make' in $REPO_ROOT, or set ORCHESITY_BIN)"
[[ -x $MOCKLLM_BIN ]] || die "mock upstream not found: $MOCKLLM_BIN (build it with 'make' in $REPO_ROOT, or set MOCKLLM_BIN)"
ORCHESITY_BIN=$(readlink -f "$ORCHESITY_BIN")
MOCKLLM_BIN=$(readlink -f "$MOCKLLM_BIN")

# ---------------------------------------------------------------- cleanup

ORC_PID="" NGX_PID="" MOCK_PID=""
ORC_WORKER_PIDS=() NGX_WORKER_PIDS=()

# Called by cleanup (lib.sh) on exit, after wrk is stopped: the two proxies
# first, then their upstream.
stop_servers() {
    stop_server "$ORC_PID" "$ORCHESITY_BIN" "${ORC_WORKER_PIDS[@]}"
    stop_server "$NGX_PID" "$NGINX_EXE" "${NGX_WORKER_PIDS[@]}"
    stop_server "$MOCK_PID" "$MOCKLLM_BIN"
}
bench_tmpdir

# ---------------------------------------------------------------- requests

declare -A URL API

URL[direct]=http://127.0.0.1:$MOCK_PORT$UPSTREAM_PATH
URL[nginx]=http://127.0.0.1:$NGINX_PORT$UPSTREAM_PATH
URL[gateway]=http://127.0.0.1:$ORC_PORT$GATEWAY_PATH
API[direct]=openai API[nginx]=openai API[gateway]=$GATEWAY_API

# body API MODE [PROMPT]: the request body of API ("openai" or
# "orchestrate") for MODE ("plain" or "stream").
body() {
    local api=$1 mode=$2 prompt=${3:-$PROMPT} stream=""
    [[ $mode == plain ]] || stream=',"stream":true'
    if [[ $api == orchestrate ]]; then
        printf '{"prompt":"%s","providers":["openai"],"max_tokens":%d%s}' "$prompt" "$MAX_TOKENS" "$stream"
    else
        printf '{"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":%d%s}' \
            "$MODEL" "$prompt" "$MAX_TOKENS" "$stream"
    fi
}

# headers API: the request headers of API, one per line.
headers() {
    echo "Content-Type: application/json"
    [[ $1 == orchestrate ]] || echo "Authorization: Bearer $API_KEY"
}

# curl_args NAME: set CURL_ARGS to the header options of path NAME.
curl_args() {
    local h
    CURL_ARGS=()
    while read -r h; do CURL_ARGS+=(-H "$h"); done < <(headers "${API[$1]}")
}

# write_lua NAME MODE FILE: the wrk script that posts NAME's body for MODE.
write_lua() {
    local name=$1 mode=$2 h
    {
        echo "-- bench-llm.sh: POST to the $name path, $mode"
        echo 'wrk.method = "POST"'
        printf 'wrk.body = [==[%s]==]\n' "$(body "${API[$name]}" "$mode")"
        while read -r h; do
            printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"
        done < <(headers "${API[$name]}")
    } >"$3"
}

# answer_text API MODE FILE: the answer in a response body, taken where the
# format puts it: choices[0].message.content, the concatenated
# delta.content of a stream that ends with [DONE], results[0].response, or
# the concatenated deltas of `event: chunk` in a stream that ends with a
# completed `event: end`. A stream without its proper end gives nothing.
answer_text() {
    awk -v api="$1" -v mode="$2" '
        function grab(re, key,   m) {
            if (!match($0, re)) return ""
            m = substr($0, RSTART, RLENGTH)
            sub("^.*\"" key "\":\"", "", m); sub(/"$/, "", m)
            return m
        }
        api == "openai" && mode == "plain" { text = text grab("\"message\":\\{[^{}]*\"content\":\"[^\"]*\"", "content"); ended = 1 }
        api == "openai" && mode == "stream" {
            if ($0 ~ /^data: \[DONE\]/) ended = 1
            else if ($0 ~ /^data: \{/) text = text grab("\"delta\":\\{[^{}]*\"content\":\"[^\"]*\"", "content")
        }
        api == "orchestrate" && mode == "plain" { text = text grab("\"results\":\\[\\{[^{}]*\"response\":\"[^\"]*\"", "response"); ended = 1 }
        api == "orchestrate" && mode == "stream" {
            if ($0 ~ /^event: /) { ev = $2; next }
            if ($0 ~ /^data: /) {
                if (ev == "chunk") text = text grab("\"delta\":\"[^\"]*\"", "delta")
                if (ev == "end" && $0 ~ /"status":"completed"/) ended = 1
            }
        }
        END { if (ended) print text }' "$3"
}

# first_token_marker API: an extended regular expression that matches the
# first event carrying text (the role chunk of an OpenAI stream has an
# empty content; the gateway's `start` event has none).
first_token_marker() {
    if [[ $1 == orchestrate ]]; then echo 'event: chunk'; else echo '"content":"[^"]'; fi
}

# json_number JSON KEY_RE: the first number after a key matching KEY_RE.
json_number() {
    local re="\"($2)\":([0-9]+)"
    [[ $1 =~ $re ]] && printf '%s\n' "${BASH_REMATCH[2]}"
}

# mock_requests: the number of chat requests the mock has received.
mock_requests() {
    local s
    s=$(curl -sS --max-time 5 "http://127.0.0.1:$MOCK_PORT/_mock/stats" 2>/dev/null) || return 1
    json_number "$s" requests
}

# gateway_failures: failed upstream attempts the gateway has counted for
# its openai provider (all workers), or nothing if the stats are unreadable.
gateway_failures() {
    local s re='"openai":\{"requests":[0-9]+,"successes":[0-9]+,"failures":([0-9]+)'
    s=$(curl -sS --max-time 5 "http://127.0.0.1:$ORC_PORT/api/llm/stats" 2>/dev/null) || return 0
    [[ $s =~ $re ]] && printf '%s\n' "${BASH_REMATCH[1]}"
    return 0
}

# ---------------------------------------------------------------- servers

# Versions and commit for the report, read now: the binaries may be rebuilt
# while the run goes on.
tool_versions

for port in "$ORC_PORT" "$NGINX_PORT" "$MOCK_PORT"; do
    ! port_open "$port" || die "127.0.0.1:$port is already in use (set ORC_PORT / NGINX_PORT / MOCK_PORT)"
done

# The mock: one process; no per-request recording (it would only cost).
log "starting the mock upstream ($MOCKLLM_BIN) on 127.0.0.1:$MOCK_PORT"
"$MOCKLLM_BIN" --listen "127.0.0.1:$MOCK_PORT" --record 0 --quiet </dev/null >"$TMP/mockllm.out" 2>"$TMP/mockllm.log" &
MOCK_PID=$!
wait_ready mockllm "$MOCK_PID" "$MOCK_PORT" "$TMP/mockllm.log" "$MOCK_HEALTH_PATH" 0

# The gateway: foreground master, loopback only, no access log, its openai
# provider pointed at the mock.
log "starting orchesity ($ORCHESITY_BIN) on 127.0.0.1:$ORC_PORT with $WORKERS workers"
env -u OPENAI_API_KEY_FILE HOST=127.0.0.1 PORT="$ORC_PORT" ORCHESITY_WORKERS="$WORKERS" ORCHESITY_ACCESS_LOG=off \
    OPENAI_API_KEY="$API_KEY" OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" \
    "$ORCHESITY_BIN" </dev/null 2>"$TMP/orchesity.log" &
ORC_PID=$!
wait_ready orchesity "$ORC_PID" "$ORC_PORT" "$TMP/orchesity.log" "$ORC_HEALTH_PATH" "$WORKERS"
mapfile -t ORC_WORKER_PIDS < <(children "$ORC_PID")

# nginx: non-daemon master in a temporary prefix, proxying to the mock.
NGX_PREFIX=$TMP/nginx
nginx_prepare "$SCRIPT_DIR/nginx-llm.conf.in" "$NGX_PREFIX" "$NGINX_PORT" "$WORKERS" "s|@UPSTREAM_PORT@|$MOCK_PORT|g"
log "starting nginx ($NGINX_BIN) on 127.0.0.1:$NGINX_PORT with $WORKERS workers, proxying to the mock"
"$NGINX_BIN" "${NGX_ARGS[@]}" </dev/null >>"$NGX_PREFIX/logs/stderr.log" 2>&1 &
NGX_PID=$!
wait_ready nginx "$NGX_PID" "$NGINX_PORT" "$NGX_PREFIX/logs/error.log" "$NGX_HEALTH_PATH" "$WORKERS"
mapfile -t NGX_WORKER_PIDS < <(children "$NGX_PID")

# check_alive WHEN: every server is still running.
check_alive() {
    alive "$MOCK_PID" || die "the mock upstream exited $1 (log: $(tail -n 5 "$TMP/mockllm.log"))"
    alive "$ORC_PID" || die "orchesity master exited $1 (log: $(tail -n 5 "$TMP/orchesity.log"))"
    alive "$NGX_PID" || die "nginx master exited $1 (log: $(tail -n 5 "$NGX_PREFIX/logs/error.log"))"
}

# ---------------------------------------------------------------- answers

# Each path must give the mock's answer, in both modes, before any load.
for mode in "${MODES[@]}"; do
    for name in "${PATHS[@]}"; do
        curl_args "$name"
        code=$(curl -sS -N --max-time 10 -o "$TMP/check-$name-$mode.txt" -w '%{http_code}' "${CURL_ARGS[@]}" \
            --data-binary "$(body "${API[$name]}" "$mode")" "${URL[$name]}" 2>"$TMP/check.err") ||
            die "$name ($mode): request to ${URL[$name]} failed: $(cat "$TMP/check.err")"
        text=$(answer_text "${API[$name]}" "$mode" "$TMP/check-$name-$mode.txt")
        if [[ $code != 200 || $text != "$EXPECT" ]]; then
            head -c 2000 "$TMP/check-$name-$mode.txt" >&2
            echo >&2
            die "$name ($mode): expected status 200 and the answer '$EXPECT', got status $code and '$text' (body above)"
        fi
    done
done
log "each path answers '$EXPECT', non-streaming and streaming"
FAILS_BEFORE=$(gateway_failures)

# ---------------------------------------------------------------- load

declare -A RPS P50 P99 CPU_US

# server_pids NAME: the processes that answer on path NAME.
server_pids() {
    case $1 in
    direct) echo "$MOCK_PID" ;;
    nginx) echo "${NGX_WORKER_PIDS[*]}" ;;
    gateway) echo "${ORC_WORKER_PIDS[*]}" ;;
    esac
}
FAILURES=() WARNINGS=()

for mode in "${MODES[@]}"; do
    for name in "${PATHS[@]}"; do write_lua "$name" "$mode" "$TMP/$name-$mode.lua"; done
done

# measure NAME MODE CONNECTIONS: run wrk, store its figures, note errors.
# The mock must have received at least as many requests as wrk completed
# (more when wrk stopped with requests in flight).
measure() {
    local name=$1 mode=$2 conns=$3 out="$TMP/wrk-$1-$2-c$3.txt" line before after
    local rps p50 p99 ec er ew et bad reqs ticks pids
    read -ra pids <<<"$(server_pids "$name")"
    log "wrk: $name, $mode, $conns connections, ${DURATION}s"
    before=$(mock_requests) || die "cannot read the mock's request count"
    ticks=$(cpu_ticks "${pids[@]}")
    if ! run_wrk "${URL[$name]}" "$conns" "$DURATION" "$out" -s "$TMP/$name-$mode.lua" ||
        ! line=$(parse_wrk "$out"); then
        cat "$out" >&2
        die "wrk failed against $name ($mode) with $conns connections (output above)"
    fi
    ticks=$(($(cpu_ticks "${pids[@]}") - ticks))
    after=$(mock_requests) || die "cannot read the mock's request count"
    read -r rps p50 p99 ec er ew et bad reqs <<<"$line"
    RPS[$name:$mode:$conns]=$rps P50[$name:$mode:$conns]=$p50 P99[$name:$mode:$conns]=$p99
    CPU_US[$name:$mode:$conns]=$(cpu_us_per_request "$ticks" "$reqs")
    if ((ec + er + ew + et + bad)); then
        FAILURES+=("$name, $mode, $conns connections: socket errors connect $ec, read $er, write $ew, timeout $et; non-2xx/3xx responses $bad")
    fi
    if ((after - before < reqs)); then
        FAILURES+=("$name, $mode, $conns connections: wrk completed $reqs requests but the mock received $((after - before))")
    fi
}

for mode in "${MODES[@]}"; do
    if ((WARMUP > 0)); then
        log "warm-up: ${WARMUP}s per path, $mode, $MAX_CONN connections"
        for name in "${PATHS[@]}"; do
            run_wrk "${URL[$name]}" "$MAX_CONN" "$WARMUP" "$TMP/warmup-$name-$mode.txt" -s "$TMP/$name-$mode.lua" ||
                die "warm-up against $name ($mode) failed"
        done
    fi
    # The paths take turns at each connection count, so that all see the
    # same machine state (CPU frequency, other load) as closely as possible.
    for c in "${CONN_LIST[@]}"; do
        for name in "${PATHS[@]}"; do
            measure "$name" "$mode" "$c"
            check_alive "during the load"
        done
    done
done

# ---------------------------------------------------------------- first byte

# ttfb_sample NAME: one streaming request on path NAME with a pause of
# GAP_MS between the mock's events; appends "ttfb first_token total" in ms
# to $TMP/ttfb-NAME.txt. TTFB is curl's time_starttransfer; the first token
# is the arrival of the first event with text, found in curl's trace (its
# timestamps are relative to the first byte, which is at TTFB).
ttfb_sample() {
    local name=$1 trace=$TMP/trace.txt line code ttfb total after
    line=$(curl -sS -N --max-time 10 -o /dev/null --trace-ascii "$trace" --trace-time \
        -w '%{http_code} %{time_starttransfer} %{time_total}' "${CURL_ARGS[@]}" \
        --data-binary "${TTFB_BODY[$name]}" "${URL[$name]}" 2>"$TMP/ttfb.err") ||
        die "$name: streaming request failed: $(cat "$TMP/ttfb.err")"
    read -r code ttfb total <<<"$line"
    [[ $code == 200 ]] || die "$name: streaming request answered $code"
    after=$(awk -v re="$(first_token_marker "${API[$name]}")" '
        function secs(t, a) { split(t, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
        function check() { if (inblock && !found && buf ~ re) { found = 1; tok = bts } }
        /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]+ / {
            check()
            recv = $2 == "<=" && $3 == "Recv"
            if (recv && first == "") first = secs($1)
            inblock = recv && $4 == "data,"
            if (inblock) { bts = secs($1); buf = "" }
            next
        }
        inblock { sub(/^[0-9a-f]+: /, ""); buf = buf $0 }
        END {
            check()
            if (!found || first == "") exit 1
            d = tok - first
            if (d < 0) d += 86400 # past midnight
            printf "%.6f\n", d
        }' "$trace") || die "$name: no event with text in the stream (trace: $(head -c 1500 "$trace"))"
    awk -v a="$ttfb" -v b="$after" -v t="$total" \
        'BEGIN { printf "%.3f %.3f %.3f\n", a * 1000, (a + b) * 1000, t * 1000 }' >>"$TMP/ttfb-$name.txt"
}

# percentiles FILE COLUMN: "p50 p99" of a column (nearest rank).
percentiles() {
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '
        { v[NR] = $1 }
        function rank(q, r) { r = int(q * NR); if (r < q * NR) r++; if (r < 1) r = 1; return v[r] }
        END { printf "%.3f %.3f\n", rank(0.50), rank(0.99) }'
}

declare -A TTFB_BODY TTFB50 TTFB99 FT50 FT99 TOT50 TOT99
if ((TTFB_REQUESTS > 0)); then
    log "time to first byte: $TTFB_REQUESTS streaming requests per path, ${GAP_MS} ms between events"
    for name in "${PATHS[@]}"; do
        TTFB_BODY[$name]=$(body "${API[$name]}" stream "$PROMPT [[mock gap=$GAP_MS]]")
        : >"$TMP/ttfb-$name.txt"
    done
    for ((i = 0; i < TTFB_REQUESTS; i++)); do
        for name in "${PATHS[@]}"; do # interleaved, like the load
            curl_args "$name"
            ttfb_sample "$name"
        done
    done
    check_alive "during the time-to-first-byte requests"
    for name in "${PATHS[@]}"; do
        read -r p50 p99 < <(percentiles "$TMP/ttfb-$name.txt" 1)
        TTFB50[$name]=$p50 TTFB99[$name]=$p99
        read -r p50 p99 < <(percentiles "$TMP/ttfb-$name.txt" 2)
        FT50[$name]=$p50 FT99[$name]=$p99
        read -r p50 p99 < <(percentiles "$TMP/ttfb-$name.txt" 3)
        TOT50[$name]=$p50 TOT99[$name]=$p99
    done
fi

# A worker that crashed would have been replaced by the master.
mapfile -t orc_now < <(children "$ORC_PID")
if [[ ${orc_now[*]} != "${ORC_WORKER_PIDS[*]}" ]]; then
    FAILURES+=("orchesity workers changed during the run: ${ORC_WORKER_PIDS[*]} -> ${orc_now[*]:-none}")
    ORC_WORKER_PIDS+=("${orc_now[@]}")
fi

# A stream answers 200 before the upstream does: upstream failures show in
# the gateway's provider statistics only.
FAILS_AFTER=$(gateway_failures)
if [[ -z $FAILS_BEFORE || -z $FAILS_AFTER ]]; then
    WARNINGS+=("cannot read the gateway's upstream failure count from /api/llm/stats")
elif ((FAILS_AFTER > FAILS_BEFORE)); then
    FAILURES+=("the gateway counted $((FAILS_AFTER - FAILS_BEFORE)) failed upstream calls (/api/llm/stats)")
fi

# ---------------------------------------------------------------- report

CURL_VERSION=$(curl --version 2>/dev/null | awk 'NR == 1 { print $1, $2 }')

# worker_rss_max MASTER_PID: the largest VmRSS (kB) among the children.
worker_rss_max() {
    local pid kb max=""
    while read -r pid; do
        [[ -n $pid ]] || continue
        kb=$(rss_kb "$pid")
        [[ $kb != "?" ]] || continue
        if [[ -z $max ]] || ((kb > max)); then max=$kb; fi
    done < <(children "$1")
    printf '%s\n' "${max:-?}"
}

# verdict OK: PASS or MISS.
verdict() { if (($1)); then echo PASS; else echo MISS; fi; }

# load_table MODE: the wrk results of MODE as a Markdown table.
load_table() {
    local mode=$1 c
    echo "| connections | direct rps | nginx rps | gateway rps | gateway/nginx | direct p50 | direct p99 | nginx p50 | nginx p99 | gateway p50 | gateway p99 | overhead p50 | overhead p99 | CPU/request direct, nginx, gateway |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${CONN_LIST[@]}"; do
        awk -v c="$c" -v drps="${RPS[direct:$mode:$c]}" -v nrps="${RPS[nginx:$mode:$c]}" -v grps="${RPS[gateway:$mode:$c]}" \
            -v d50="${P50[direct:$mode:$c]}" -v d99="${P99[direct:$mode:$c]}" \
            -v n50="${P50[nginx:$mode:$c]}" -v n99="${P99[nginx:$mode:$c]}" \
            -v g50="${P50[gateway:$mode:$c]}" -v g99="${P99[gateway:$mode:$c]}" \
            -v dcpu="${CPU_US[direct:$mode:$c]}" -v ncpu="${CPU_US[nginx:$mode:$c]}" -v gcpu="${CPU_US[gateway:$mode:$c]}" 'BEGIN {
                ratio = nrps > 0 ? sprintf("%.2f", grps / nrps) : "n/a"
                printf "| %d | %.0f | %.0f | %.0f | %s | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %+.3f ms | %+.3f ms | %s, %s, %s µs |\n",
                    c, drps, nrps, grps, ratio, d50, d99, n50, n99, g50, g99, g50 - d50, g99 - d99, dcpu, ncpu, gcpu
            }'
    done
}

# ratio_target MODE: "| target | measured | result |" for the rps ratio.
ratio_target() {
    local mode=$1 label=$2 c worst="" at="" r
    for c in "${CONN_LIST[@]}"; do
        r=$(awk -v g="${RPS[gateway:$mode:$c]}" -v n="${RPS[nginx:$mode:$c]}" 'BEGIN { printf "%.4f", (n > 0 ? g / n : 0) }')
        if [[ -z $worst ]] || awk -v a="$r" -v b="$worst" 'BEGIN { exit !(a < b) }'; then worst=$r at=$c; fi
    done
    printf '| gateway rps ≥ %s × nginx, %s, every connection count | lowest %.2f (%s connection%s) | %s |\n' \
        "$TARGET_RATIO" "$label" "$worst" "$at" "$( ((at == 1)) || echo s)" \
        "$(verdict "$(awk -v a="$worst" -v t="$TARGET_RATIO" 'BEGIN { print (a >= t) }')")"
}

# p99_target MODE LABEL: the p99 overhead at TARGET_P99_CONN connections.
p99_target() {
    local mode=$1 label=$2 c=$TARGET_P99_CONN d
    if [[ -z ${P99[gateway:$mode:$c]:-} ]]; then
        printf '| p99 overhead ≤ %s ms at %s connections, %s | not measured | n/a |\n' "$TARGET_P99_MS" "$c" "$label"
        return
    fi
    d=$(awk -v g="${P99[gateway:$mode:$c]}" -v d="${P99[direct:$mode:$c]}" 'BEGIN { printf "%.3f", g - d }')
    printf '| p99 overhead ≤ %s ms at %s connections, %s | %+.3f ms | %s |\n' "$TARGET_P99_MS" "$c" "$label" "$d" \
        "$(verdict "$(awk -v a="$d" -v t="$TARGET_P99_MS" 'BEGIN { print (a <= t) }')")"
}

# ttfb_target WHAT ARRAY: the median overhead of ARRAY (TTFB50 or FT50).
ttfb_target() {
    local what=$1 d
    local -n med=$2
    if ((TTFB_REQUESTS == 0)); then
        printf '| streaming %s overhead ≤ %s ms (p50) | not measured | n/a |\n' "$what" "$TARGET_TTFB_MS"
        return
    fi
    d=$(awk -v g="${med[gateway]}" -v d="${med[direct]}" 'BEGIN { printf "%.3f", g - d }')
    printf '| streaming %s overhead ≤ %s ms (p50) | %+.3f ms | %s |\n' "$what" "$TARGET_TTFB_MS" "$d" \
        "$(verdict "$(awk -v a="$d" -v t="$TARGET_TTFB_MS" 'BEGIN { print (a <= t) }')")"
}

ORC_RSS_MAX=$(worker_rss_max "$ORC_PID")

REPORT=$TMP/report.md
{
    echo "## LLM call path: direct vs nginx proxy_pass vs orchesity, against the mock upstream"
    echo
    echo "- $ORC_VERSION (commit $COMMIT), $NGX_VERSION, $WRK_VERSION, $CURL_VERSION"
    echo "- $(uname -srm), $(nproc) CPUs${CPU:+ ($CPU)}"
    echo "- $WORKERS gateway workers, $WORKERS nginx workers, orchesity-mockllm in one process; loopback; wrk --latency -t $THREADS (capped at the connections), ${DURATION}s per run, ${WARMUP}s warm-up per path and mode"
    echo "- direct: \`POST $UPSTREAM_PATH\` on the mock \`$(body openai plain)\`; nginx: the same through \`proxy_pass\` (upstream keepalive 64, HTTP/1.1, buffering off); gateway: \`POST $GATEWAY_PATH\` \`$(body "$GATEWAY_API" plain)\`, which calls the mock's \`$UPSTREAM_PATH\`; streaming adds \`\"stream\":true\`"
    echo "- overhead = gateway − direct; the mock answers \`$EXPECT\` at once (no latency)"
    for mode in "${MODES[@]}"; do
        echo
        if [[ $mode == plain ]]; then echo "### Non-streaming"; else echo "### Streaming (latency = the whole stream)"; fi
        echo
        load_table "$mode"
    done
    if ((TTFB_REQUESTS > 0)); then
        echo
        echo "### Streaming time to first byte"
        echo
        echo "$TTFB_REQUESTS sequential streaming requests per path (taking turns, a new connection each), the mock pausing ${GAP_MS} ms between events (\`[[mock gap=$GAP_MS]]\` in the prompt). TTFB is curl's \`time_starttransfer\`; first token is the arrival of the first event with text; complete is the end of the stream."
        if [[ $GATEWAY_API == orchestrate ]]; then
            echo "The gateway's first byte on \`$GATEWAY_PATH\` is its own \`event: start\`, written before the upstream answers; its first token is the first \`event: chunk\`."
        fi
        echo
        echo "| path | TTFB p50 | TTFB p99 | first token p50 | first token p99 | complete p50 | complete p99 |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for name in "${PATHS[@]}"; do
            printf '| %s | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.3f ms |\n' "$name" \
                "${TTFB50[$name]}" "${TTFB99[$name]}" "${FT50[$name]}" "${FT99[$name]}" "${TOT50[$name]}" "${TOT99[$name]}"
        done
        for base in direct nginx; do
            awk -v b="$base" \
                -v a1="${TTFB50[gateway]}" -v b1="${TTFB50[$base]}" -v a2="${TTFB99[gateway]}" -v b2="${TTFB99[$base]}" \
                -v a3="${FT50[gateway]}" -v b3="${FT50[$base]}" -v a4="${FT99[gateway]}" -v b4="${FT99[$base]}" \
                -v a5="${TOT50[gateway]}" -v b5="${TOT50[$base]}" -v a6="${TOT99[gateway]}" -v b6="${TOT99[$base]}" 'BEGIN {
                    printf "| gateway − %s | %+.3f ms | %+.3f ms | %+.3f ms | %+.3f ms | %+.3f ms | %+.3f ms |\n",
                        b, a1 - b1, a2 - b2, a3 - b3, a4 - b4, a5 - b5, a6 - b6
                }'
        done
    fi
    echo
    echo "### Memory"
    echo
    echo "RSS after the load (VmRSS from /proc/<pid>/status):"
    echo
    rss_line gateway "$ORC_PID"
    rss_line nginx "$NGX_PID"
    echo "- mock: $(rss_kb "$MOCK_PID") kB"
    echo
    echo "### Targets"
    echo
    echo "| target | measured | result |"
    echo "|---|---:|---|"
    ratio_target plain non-streaming
    ratio_target stream streaming
    p99_target plain non-streaming
    p99_target stream streaming
    ttfb_target TTFB TTFB50
    ttfb_target "first-token" FT50
    if [[ $ORC_RSS_MAX == "?" ]]; then
        printf '| RSS per gateway worker ≤ 16 MB | unreadable | n/a |\n'
    else
        printf '| RSS per gateway worker ≤ 16 MB | largest %.1f MB (%s kB) | %s |\n' \
            "$(awk -v k="$ORC_RSS_MAX" 'BEGIN { print k / 1024 }')" "$ORC_RSS_MAX" \
            "$(verdict "$((ORC_RSS_MAX <= TARGET_RSS_KB))")"
    fi
    list_problems
} >"$REPORT"

publish_report "errors during the run:"
