"""The request log: one orchestration_requests row per LLM request and one
orchestration_results row per provider attempt, written through the spool
while PostgreSQL is up, down, frozen or rejecting a row, and while workers
are killed.  Each test runs its own PostgreSQL (pgserver.py): some stop it,
freeze it with SIGSTOP or add a constraint to it."""
import json
import os
import shutil
import signal
import tempfile
import threading
import time

import harness
from harness import Gateway, Mock, check, sse_events, wait_until
from pgserver import PgServer

FAST = {"llm": {"retry_base_ms": 20, "retry_max_ms": 100}}
INJECTION = "x'); DROP TABLE orchestration_requests; --"


def start(workers=1, config=None, env=None, mock_args=None, pg=None):
    pg = pg or PgServer().start()
    mock = Mock(args=mock_args).start()
    spool = tempfile.mkdtemp(prefix="orc-spool-")
    harness.on_cleanup(lambda: shutil.rmtree(spool, ignore_errors=True))
    e = mock.provider_env()
    e.update({"DATABASE_URL": pg.url, "REQUEST_LOG_SPOOL_DIR": spool})
    e.update(env or {})
    gw = Gateway(workers=workers, env=e, config=harness.merge(FAST, config)).start()
    wait_until(lambda: schema_ready(gw), 15, what="the request log's schema")
    return gw, pg, mock, spool


def schema_ready(gw):
    doc = gw.get_json("/api/health")
    return doc["services"]["request_log"].get("schema_ready")


def post(gw, path, body, rid=None, headers=None, timeout=20):
    h = {"Content-Type": "application/json"}
    if rid:
        h["X-Request-ID"] = rid
    h.update(headers or {})
    return gw.request("POST", path, body=body if isinstance(body, (str, bytes)) else json.dumps(body), headers=h,
                      timeout=timeout)


def request_row(pg, rid):
    rows = pg.sql("SELECT endpoint, prompt, providers, model, max_tokens, temperature, stream, status, http_status,"
                  " session_id, tokens_used, cost_usd, cache_hit, errors FROM orchestration_requests"
                  " WHERE request_id = '%s'" % rid)
    if not rows:
        return None
    keys = ["endpoint", "prompt", "providers", "model", "max_tokens", "temperature", "stream", "status",
            "http_status", "session_id", "tokens_used", "cost_usd", "cache_hit", "errors"]
    return dict(zip(keys, rows[0]))


def result_rows(pg, rid):
    rows = pg.sql("SELECT attempt, provider, model, status, http_status, response, tokens_used, error_class,"
                  " time_to_first_token IS NOT NULL, session_id FROM orchestration_results"
                  " WHERE request_id = '%s' ORDER BY attempt" % rid)
    keys = ["attempt", "provider", "model", "status", "http_status", "response", "tokens_used", "error_class",
            "has_ttft", "session_id"]
    return [dict(zip(keys, r)) for r in rows]


def wait_row(pg, rid, timeout=10):
    return wait_until(lambda: request_row(pg, rid), timeout, interval=0.1, what="the row of request %s" % rid)


def count_prefix(pg, prefix, table="orchestration_requests"):
    return int(pg.sql("SELECT count(*) FROM %s WHERE request_id LIKE '%s%%'" % (table, prefix))[0][0])


def test_rows_for_each_request_kind():
    gw, pg, mock, spool = start()
    r = post(gw, "/api/llm/orchestrate", {"prompt": "hello sea", "providers": ["openai"], "max_tokens": 40,
                                          "temperature": 0.3, "session_id": "sess-a"}, rid="k-json")
    check(r.status == 200, "orchestrate %d" % r.status)
    r = post(gw, "/v1/chat/completions", {"model": "anthropic/claude-haiku-4-5", "stream": True,
                                          "messages": [{"role": "user", "content": "stream me"}]},
             rid="k-stream", headers={"X-Session-ID": "sess-b"})
    check(r.status == 200 and b"[DONE]" in r.body, "stream %d" % r.status)
    r = post(gw, "/api/llm/orchestrate", {"prompt": "fan", "providers": ["openai", "gemini"]}, rid="k-fan")
    check(r.status == 200, "fan-out %d" % r.status)
    r = post(gw, "/v1/messages", {"model": "openai/gpt-4o-mini", "max_tokens": 20, "system": "be short",
                                  "messages": [{"role": "user", "content": "hi"}]}, rid="k-msg")
    check(r.status == 200, "messages %d" % r.status)
    r = post(gw, "/api/llm/test/grok", "", rid="k-test")
    check(r.status == 200, "test %d" % r.status)
    r = post(gw, "/v1/chat/completions", {"model": "openai/gpt-4o-mini", "messages": []}, rid="k-400")
    check(r.status == 400, "400 expected, got %d" % r.status)
    r = post(gw, "/api/llm/orchestrate", "{not json", rid="k-badjson")
    check(r.status == 400, "400 expected, got %d" % r.status)

    row = wait_row(pg, "k-json")
    check(row["endpoint"] == "/api/llm/orchestrate" and row["prompt"] == "hello sea" and
          json.loads(row["providers"]) == ["openai"] and row["max_tokens"] == "40" and row["temperature"] == "0.3"
          and row["status"] == "completed" and row["http_status"] == "200" and row["session_id"] == "sess-a" and
          int(row["tokens_used"]) > 0 and float(row["cost_usd"]) > 0 and row["stream"] == "f", "json row %r" % row)
    res = result_rows(pg, "k-json")
    check(len(res) == 1 and res[0]["provider"] == "openai" and res[0]["status"] == "success" and
          res[0]["response"] == "Echo: hello sea" and res[0]["session_id"] == "sess-a" and res[0]["has_ttft"] == "t",
          "json results %r" % res)

    row = wait_row(pg, "k-stream")
    check(row["stream"] == "t" and row["status"] == "completed" and row["session_id"] == "sess-b" and
          row["prompt"] == "user: stream me" and row["model"] == "anthropic/claude-haiku-4-5", "stream row %r" % row)
    res = result_rows(pg, "k-stream")
    check(len(res) == 1 and res[0]["provider"] == "anthropic" and res[0]["response"] == "Echo: stream me",
          "stream results %r" % res)

    wait_row(pg, "k-fan")
    res = result_rows(pg, "k-fan")
    check(sorted(x["provider"] for x in res) == ["gemini", "openai"] and
          sorted(x["attempt"] for x in res) == ["1", "2"], "fan-out results %r" % res)

    row = wait_row(pg, "k-msg")
    check(row["endpoint"] == "/v1/messages" and row["prompt"] == "system: be short\nuser: hi", "messages %r" % row)
    row = wait_row(pg, "k-test")
    check(row["endpoint"] == "/api/llm/test/grok" and "pong" in row["prompt"], "test row %r" % row)
    check(result_rows(pg, "k-test")[0]["provider"] == "grok", "test results")

    for rid in ("k-400", "k-badjson"):
        row = wait_row(pg, rid)
        check(row["status"] == "failed" and row["http_status"] == "400" and row["errors"], "%s %r" % (rid, row))
        check(result_rows(pg, rid) == [], "%s has no attempt" % rid)
    metrics = dict(pg.sql("SELECT provider, total_requests FROM provider_metrics WHERE model <> ''"))
    check(int(metrics.get("openai", 0)) >= 3, "provider_metrics %r" % metrics)
test_rows_for_each_request_kind.TIMEOUT = 90


def test_retries_and_fallback_give_one_row_per_attempt():
    gw, pg, mock, spool = start(config={"llm": {"max_retries": 1}, "dwa": {"routing_strategy": "priority"}})
    # openai fails with 500 (first try and its retry), anthropic answers
    prompt = "[[mock provider=openai,status=500]] retry me"
    r = post(gw, "/api/llm/orchestrate", {"prompt": prompt}, rid="k-retry",
             headers={"X-Session-ID": "s-retry"})
    check(r.status == 200, "orchestrate %d %r" % (r.status, r.body[:300]))
    row = wait_row(pg, "k-retry")
    res = result_rows(pg, "k-retry")
    check(len(res) >= 2 and res[-1]["status"] == "success", "attempts %r" % res)
    failed = [x for x in res if x["status"] == "failed"]
    check(failed and all(x["http_status"] == "500" and x["error_class"] == "server" for x in failed),
          "failed attempts %r" % failed)
    check([x["attempt"] for x in res] == [str(i + 1) for i in range(len(res))], "numbering %r" % res)
    check(row["status"] == "completed", "row %r" % row)
test_retries_and_fallback_give_one_row_per_attempt.TIMEOUT = 60


def test_sql_injection_strings_are_stored_as_data():
    gw, pg, mock, spool = start()
    r = post(gw, "/api/llm/orchestrate", {"prompt": INJECTION, "providers": ["openai"], "model": INJECTION,
                                          "session_id": INJECTION}, rid="inj-1")
    r = post(gw, "/api/llm/orchestrate", {"prompt": "p", "providers": [INJECTION]}, rid="inj-2")
    check(r.status == 400, "unknown provider %d" % r.status)
    r = post(gw, "/v1/chat/completions", {"model": INJECTION, "messages": [{"role": "user", "content": INJECTION}]},
             rid="inj-3", headers={"X-Session-ID": INJECTION})
    r = post(gw, "/api/llm/test/" + "x'%3B%20DROP%20TABLE%20x%3B--", "", rid="inj-4")
    check(r.status == 400, "unknown test provider %d" % r.status)
    r = post(gw, "/v1/chat/completions", {"model": "openai/gpt-4o-mini",
                                          "messages": [{"role": "user", "content": "nul \u0000 byte"}]},
             headers={"X-Request-ID": "a'b"})
    generated = r.header("X-Request-ID")
    check(generated and generated != "a'b", "a request id with a quote is replaced: %r" % generated)
    row = wait_row(pg, "inj-1")
    check(row["prompt"] == INJECTION and row["model"] == INJECTION and row["session_id"] == INJECTION,
          "row %r" % row)
    check(json.loads(wait_row(pg, "inj-2")["providers"]) == [INJECTION], "providers stored as data")
    row = wait_row(pg, "inj-3")
    check(row["model"] == INJECTION and row["session_id"] == INJECTION and INJECTION in row["prompt"], "%r" % row)
    check(wait_row(pg, "inj-4")["endpoint"].startswith("/api/llm/test/x'; DROP"), "endpoint stored as data")
    check(wait_row(pg, generated)["prompt"] == "user: nul \ufffd byte", "NUL byte replaced")
    check(pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'orchestration_requests'") == [["1"]],
          "the table is still there")
test_sql_injection_strings_are_stored_as_data.TIMEOUT = 60


def test_poison_row_is_set_aside_and_its_batch_written():
    gw, pg, mock, spool = start()
    pg.sql("ALTER TABLE orchestration_requests ADD CONSTRAINT no_poison CHECK (prompt NOT LIKE '%POISON%')")
    body = lambda text: {"prompt": text, "providers": ["openai"]}
    threads = [threading.Thread(target=post, args=(gw, "/api/llm/orchestrate", body(
        "POISON pill" if i == 3 else "fine %d" % i), "poison-%d" % i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: count_prefix(pg, "poison-") == 7, 10, interval=0.1, what="the 7 good rows")
    check(request_row(pg, "poison-3") is None, "the poison row is not stored")
    path = os.path.join(spool, "rejected.jsonl")
    wait_until(lambda: os.path.exists(path), 5, what="rejected.jsonl")
    lines = [json.loads(l) for l in open(path)]
    check(len(lines) == 1 and lines[0]["record"]["request_id"] == "poison-3" and lines[0]["sqlstate"] == "23514"
          and "no_poison" in lines[0]["reason"], "rejected %r" % lines)
    check(gw.metrics().get("orchesity_request_log_rejected_total") == 1, "rejected metric")
    check("set aside" in gw.log(), "a log line says so")
    post(gw, "/api/llm/orchestrate", body("after"), "poison-after")
    wait_row(pg, "poison-after")
test_poison_row_is_set_aside_and_its_batch_written.TIMEOUT = 60


class LoggedLoad(harness.Load):
    """Client threads sending LLM requests at a steady rate, each with its own
    X-Request-ID; records which got a response and its status."""

    def __init__(self, gw, prefix, rate=20, threads=4):
        super().__init__(gw, threads=threads)
        self.prefix, self.rate, self.nthreads = prefix, rate, threads
        self.answered = {}  # request id -> status
        self.errors = 0
        self.n = 0

    def run(self):
        interval = self.nthreads / float(self.rate)
        next_at = time.monotonic()
        while not self.stopping.is_set() and self.n < 5000:
            with self.lock:
                self.n += 1
                rid = "%s-%d" % (self.prefix, self.n)
            try:
                r = post(self.gw, "/v1/chat/completions", {"model": "openai/gpt-4o-mini",
                                                           "messages": [{"role": "user", "content": rid}]},
                         rid=rid, timeout=10)
                with self.lock:
                    self.answered[rid] = r.status
            except OSError:
                with self.lock:
                    self.errors += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def ids(self):
        with self.lock:
            return dict(self.answered)


def check_all_logged(pg, load, prefix, timeout):
    answered = load.ids()
    wait_until(lambda: count_prefix(pg, prefix) >= len(answered), timeout, interval=0.2,
               what="%d rows (have %d)" % (len(answered), count_prefix(pg, prefix)))
    stored = set(r[0] for r in pg.sql("SELECT request_id FROM orchestration_requests WHERE request_id LIKE '%s%%'"
                                       % prefix))
    missing = [rid for rid in answered if rid not in stored]
    check(not missing, "%d answered requests have no row: %r" % (len(missing), missing[:5]))
    dup = pg.sql("SELECT request_id FROM orchestration_results WHERE request_id LIKE '%s%%' GROUP BY request_id"
                 " HAVING count(*) <> 1" % prefix)
    check(not dup, "requests with other than one result row: %r" % dup[:5])


def outage(freeze, seconds):
    gw, pg, mock, spool = start(workers=2)
    prefix = "out%s" % ("f" if freeze else "s")
    with LoggedLoad(gw, prefix) as load:
        time.sleep(3)
        (pg.freeze if freeze else pg.stop)()
        time.sleep(seconds)
        before = set(load.ids())
        backlog = gw.get_json("/api/health")["services"]["request_log"]["backlog_bytes"]
        (pg.thaw if freeze else pg.start)()
        back = time.monotonic()
        wait_until(lambda: len(before & set(r[0] for r in pg.sql(
            "SELECT request_id FROM orchestration_requests WHERE request_id LIKE '%s-%%'" % prefix))) == len(before),
            5.0 + 1.0, interval=0.25, what="the backlog of %d requests" % len(before))
        shipped_in = time.monotonic() - back
        time.sleep(2)
    answered = load.ids()
    failed = {k: v for k, v in answered.items() if v != 200}
    check(not failed and load.errors == 0, "failed LLM requests during the outage: %d %r, %d errors" %
          (len(failed), list(failed.items())[:5], load.errors))
    check(len(answered) >= 15 * (seconds + 4), "the load ran: %d requests" % len(answered))
    check(backlog > 0, "the spool held a backlog during the outage")
    check_all_logged(pg, load, prefix + "-", 10)
    check(shipped_in <= 5.0, "the backlog took %.1f s to ship" % shipped_in)
    print("  %d requests, backlog shipped %.1f s after PostgreSQL's return" % (len(answered), shipped_in))


def test_postgres_stopped_under_load_loses_nothing():
    outage(freeze=False, seconds=30)
test_postgres_stopped_under_load_loses_nothing.TIMEOUT = 150


def test_postgres_frozen_under_load_loses_nothing():
    outage(freeze=True, seconds=20)
test_postgres_frozen_under_load_loses_nothing.TIMEOUT = 150


def test_workers_killed_under_load_lose_no_answered_request():
    gw, pg, mock, spool = start(workers=2, mock_args=None)
    with LoggedLoad(gw, "kill") as load:
        for _ in range(3):
            time.sleep(2.5)
            victims = gw.workers()
            if victims:
                os.kill(victims[0], signal.SIGKILL)
        time.sleep(2)
    answered = {k: v for k, v in load.ids().items() if v == 200}
    check(len(answered) > 50, "load ran: %d" % len(answered))
    check_all_logged(pg, load, "kill-", 15)
    wait_until(lambda: len([f for f in os.listdir(spool) if f.endswith(".spool")]) <= 2, 10,
               what="the dead workers' spool files adopted and removed")
test_workers_killed_under_load_lose_no_answered_request.TIMEOUT = 120


def test_spool_bound_warns_and_counts_lost_records():
    gw, pg, mock, spool = start(env={"REQUEST_LOG_SPOOL_MAX_MB": "1"})
    pg.stop()
    big = "y" * 100000  # a record holds the prompt and the answer: about 200 kB
    for i in range(7):
        r = post(gw, "/api/llm/orchestrate", {"prompt": big, "providers": ["openai"]}, rid="bound-%d" % i)
        check(r.status == 200, "requests are served when the spool is full: %d" % r.status)
    m = gw.metrics()
    check(m.get("orchesity_request_log_lost_total", 0) >= 1, "lost counter %r" % m.get(
        "orchesity_request_log_lost_total"))
    log = gw.log()
    check("% full" in log and "the spool is full" in log, "warning and error logged")
    check(gw.get_json("/api/health")["services"]["request_log"]["status"] == "degraded", "health degraded")
test_spool_bound_warns_and_counts_lost_records.TIMEOUT = 60


def test_without_database_nothing_is_spooled():
    mock = Mock().start()
    spool = tempfile.mkdtemp(prefix="orc-spool-")
    harness.on_cleanup(lambda: shutil.rmtree(spool, ignore_errors=True))
    e = mock.provider_env()
    e["REQUEST_LOG_SPOOL_DIR"] = spool
    gw = Gateway(workers=1, env=e).start()
    r = post(gw, "/api/llm/orchestrate", {"prompt": "x", "providers": ["openai"]})
    check(r.status == 200, "served")
    check(os.listdir(spool) == [], "no spool without a database")
    check(gw.get_json("/api/health")["services"]["request_log"]["status"] == "disabled", "disabled")


def test_cache_hit_is_logged_with_its_answer():
    redis_url = os.environ.get("ORC_TEST_REDIS_URL")
    check(redis_url, "ORC_TEST_REDIS_URL is not set (tests/services.sh)")
    ns = "rl%d" % os.getpid()
    gw, pg, mock, spool = start(env={"REDIS_URL": redis_url, "CACHE_NAMESPACE": ns})
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "cached sea %d" % time.time()}]}
    first = post(gw, "/v1/chat/completions", body, rid="hit-1")
    check(first.status == 200 and first.header("x-orchesity-cache") == "MISS", "first: %s %s" %
          (first.status, first.header("x-orchesity-cache")))
    second = post(gw, "/v1/chat/completions", body, rid="hit-2")
    check(second.status == 200 and second.header("x-orchesity-cache") == "HIT", "second: %s %s" %
          (second.status, second.header("x-orchesity-cache")))
    miss, hit = wait_row(pg, "hit-1"), wait_row(pg, "hit-2")
    check(miss["cache_hit"] == "f" and hit["cache_hit"] == "t", "cache_hit: %s / %s" % (miss["cache_hit"],
                                                                                        hit["cache_hit"]))
    rows = result_rows(pg, "hit-2")
    check(len(rows) == 1, "a hit has one result row: %s" % rows)
    answer = json.loads(second.body)["choices"][0]["message"]["content"]
    check(rows[0]["provider"] == "openai" and rows[0]["model"] == "gpt-4o-mini" and rows[0]["status"] == "success",
          "row: %s" % rows[0])
    check(rows[0]["response"] == answer, "stored answer %r vs %r" % (rows[0]["response"], answer))
    hit_flag = pg.sql("SELECT cache_hit FROM orchestration_results WHERE request_id = 'hit-2'")[0][0]
    check(hit_flag == "t", "result row cache_hit: %s" % hit_flag)


def test_async_orchestration_is_logged_when_it_ends():
    redis_url = os.environ.get("ORC_TEST_REDIS_URL")
    check(redis_url, "ORC_TEST_REDIS_URL is not set (tests/services.sh)")
    gw, pg, mock, spool = start(env={"REDIS_URL": redis_url, "CACHE_NAMESPACE": "rla%d" % os.getpid()})
    r = post(gw, "/api/llm/orchestrate", {"prompt": "later sea [[mock latency=300]]", "providers": ["openai"],
                                          "mode": "async"}, rid="async-1")
    check(r.status == 202, "async: %s %s" % (r.status, r.body[:200]))
    row = wait_row(pg, "async-1")
    check(row["status"] == "completed" and row["http_status"] == "200", "row: %s" % row)
    rows = result_rows(pg, "async-1")
    check(len(rows) == 1 and rows[0]["provider"] == "openai" and rows[0]["status"] == "success", "results: %s" % rows)
