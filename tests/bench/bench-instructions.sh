#!/usr/bin/env bash
# SC2317: stop_servers runs from the EXIT trap (see lib.sh).
# shellcheck disable=SC2317
#
# bench-instructions.sh: the gateway's CPU instructions per request on the
# LLM call path, counted by valgrind's callgrind in its one worker. Unlike
# a timed run, the count does not depend on the machine's load or clock:
# the same binary and request give the same figure, so two builds can be
# compared on a shared machine (for example before and after a change).
#
# The gateway (one worker) runs under callgrind in front of the mock
# upstream, twice: once answering N requests, once 2N, one client on one
# keep-alive connection. The worker's instructions of the second run minus
# the first, divided by N, are the instructions per request, without the
# start-up and the shutdown.
#
# Usage: tests/bench/bench-instructions.sh [options] [BINARY...]
#
#   -n, --requests N       requests of the shorter run         (REQUESTS, 2000)
#       --gateway-path P   gateway endpoint       (GATEWAY_PATH, /v1/chat/completions)
#       --stream           "stream": true requests
#       --orc-port P       gateway port                        (ORC_PORT, 18091)
#       --mock-port P      mock upstream port                  (MOCK_PORT, 18093)
#   -h, --help             this text
#
# BINARY: the orchesity binaries to measure, one line each (default: the
# build's). Needs valgrind and python3. Exit status 1 when a run fails.
#
# Other environment: MOCKLLM_BIN (default: <repo>/build/tests/mockllm/orchesity-mockllm).

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$SCRIPT_DIR/lib.sh"

REQUESTS=${REQUESTS:-2000}
GATEWAY_PATH=${GATEWAY_PATH:-/v1/chat/completions}
ORC_PORT=${ORC_PORT:-18091}
MOCK_PORT=${MOCK_PORT:-18093}
STREAM=false
BINARIES=()
while (($#)); do
    case $1 in
    -n | --requests) REQUESTS=$2 && shift ;;
    --gateway-path) GATEWAY_PATH=$2 && shift ;;
    --stream) STREAM=true ;;
    --orc-port) ORC_PORT=$2 && shift ;;
    --mock-port) MOCK_PORT=$2 && shift ;;
    -h | --help) usage && exit 0 ;;
    -*) usage >&2 && exit 2 ;;
    *) BINARIES+=("$1") ;;
    esac
    shift
done
is_uint "$REQUESTS" || die "--requests: a positive whole number"
((${#BINARIES[@]})) || BINARIES=("$ORCHESITY_BIN")
MOCKLLM_BIN=${MOCKLLM_BIN:-$(first_bin tests/mockllm/orchesity-mockllm)}
command -v valgrind >/dev/null || die "valgrind is not installed (Debian package valgrind)"
[[ -x $MOCKLLM_BIN ]] || die "mock upstream not found: $MOCKLLM_BIN"

START_TIMEOUT=60 # start-up under valgrind is slow
bench_tmpdir
MOCK_PID="" ORC_PID=""
stop_servers() {
    stop_server "$ORC_PID" valgrind
    stop_server "$MOCK_PID" "$MOCKLLM_BIN"
}

if [[ $GATEWAY_PATH == /api/llm/orchestrate ]]; then
    BODY='{"prompt":"Say hello","providers":["openai"],"max_tokens":16,"stream":'$STREAM'}'
else
    BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16,"stream":'$STREAM'}'
fi

# send COUNT: COUNT requests on one keep-alive connection; fails on any
# answer but 200.
send() {
    python3 - "$ORC_PORT" "$GATEWAY_PATH" "$BODY" "$1" <<'EOF'
import http.client, sys
port, path, body, count = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for i in range(count):
    conn.request("POST", path, body, {"Content-Type": "application/json", "Authorization": "Bearer bench-key"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("request %d: HTTP %d" % (i, r.status))
EOF
}

# worker_instructions BINARY COUNT: the worker's instructions (Ir) over a
# run that answers COUNT requests.
worker_instructions() {
    local bin=$1 count=$2 out file master
    out="$TMP/run-$BASHPID" # this function runs in its own subshell: one directory per run
    mkdir -p "$out"
    env -u OPENAI_API_KEY_FILE HOST=127.0.0.1 PORT="$ORC_PORT" ORCHESITY_WORKERS=1 ORCHESITY_ACCESS_LOG=off \
        OPENAI_API_KEY=bench-key OPENAI_BASE_URL="http://127.0.0.1:$MOCK_PORT/v1" \
        valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" "$bin" </dev/null 2>"$out/orchesity.log" &
    ORC_PID=$! master=$!
    wait_ready orchesity "$ORC_PID" "$ORC_PORT" "$out/orchesity.log" /api/health/live 1
    send "$count" || die "$bin: a request failed (log: $out/orchesity.log)"
    kill -TERM "$ORC_PID"
    wait "$ORC_PID" || true
    ORC_PID=""
    for file in "$out"/callgrind.*; do # the master's and its one worker's
        [[ $file == "$out/callgrind.$master" ]] || awk '/^summary:/ { print $2 }' "$file"
    done
}

log "starting the mock upstream on 127.0.0.1:$MOCK_PORT"
"$MOCKLLM_BIN" --listen "127.0.0.1:$MOCK_PORT" --record 0 --quiet </dev/null >"$TMP/mock.out" 2>"$TMP/mock.log" &
MOCK_PID=$!
wait_ready mockllm "$MOCK_PID" "$MOCK_PORT" "$TMP/mock.log" /_mock/health 0

echo "| binary | path | instructions per request |"
echo "|---|---|---:|"
for bin in "${BINARIES[@]}"; do
    [[ -x $bin ]] || die "not an executable: $bin"
    log "$bin: $REQUESTS and $((2 * REQUESTS)) requests under callgrind"
    short=$(worker_instructions "$bin" "$REQUESTS")
    long=$(worker_instructions "$bin" "$((2 * REQUESTS))")
    [[ -n $short && -n $long ]] || die "$bin: no callgrind output for the worker"
    echo "| $bin | $GATEWAY_PATH$([[ $STREAM == true ]] && echo ' (stream)') | $(((long - short) / REQUESTS)) |"
done
