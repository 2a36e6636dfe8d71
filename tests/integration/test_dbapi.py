"""The /api/db routes against a real PostgreSQL: rows seeded with psql come
back with their fields and values; limits and bad parameters; injection
strings are plain data; 503 in the documented format, quickly, when the
database is disabled, stopped or frozen, while LLM calls keep working; a
client leaving mid-query; migrations applied once by gateways starting
together and by `orchesity migrate`.

Tests that only read and write use a fresh database on the suite's
PostgreSQL (ORC_TEST_DATABASE_URL); tests that stop or freeze PostgreSQL
run their own (pgserver.py)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import harness
from harness import Gateway, Mock, check, wait_until
from pgserver import USER, PgServer

INJECTIONS = ["x'); DROP TABLE orchestration_requests; --", "' OR '1'='1", "\"; DELETE FROM user_sessions; --",
              "$1::text", "%' OR 1=1 --", "\\'; SELECT pg_sleep(10); --"]


class SuiteDatabase(PgServer):
    """A new, empty database on the suite's PostgreSQL, dropped when the test
    ends: a clean schema without starting a server."""

    def __init__(self):
        base = os.environ.get("ORC_TEST_DATABASE_URL")
        check(base, "ORC_TEST_DATABASE_URL is not set: run the suite with scripts/test")
        self.port = urllib.parse.urlsplit(base).port
        self.name = "orc_t_" + uuid.uuid4().hex[:16]
        self.frozen = []
        harness.on_cleanup(self.destroy)

    @property
    def url(self):
        return PgServer.url.fget(self).rsplit("/", 1)[0] + "/" + self.name

    def start(self):
        self.sql("CREATE DATABASE %s OWNER %s" % (self.name, USER), db="postgres")
        return self

    def sql(self, text, db=None, user=None):
        return PgServer.sql(self, text, db=db or self.name, user=user)

    def destroy(self):
        self.sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name, db="postgres")


def start(pg=None, workers=1, env=None, config=None, mock=True):
    """A gateway on PG (a fresh suite database by default) with the mock providers."""
    pg = pg or SuiteDatabase().start()
    spool = tempfile.mkdtemp(prefix="orc-spool-")
    harness.on_cleanup(lambda: shutil.rmtree(spool, ignore_errors=True))
    e = Mock().start().provider_env() if mock else {}
    e.update({"DATABASE_URL": pg.url, "REQUEST_LOG_SPOOL_DIR": spool})
    e.update(env or {})
    gw = Gateway(workers=workers, env=e, config=config).start()
    wait_until(lambda: gw.get("/api/db/health").status == 200, 15, interval=0.1, what="the database")
    return gw, pg


def error_format(r, status, code=None):
    check(r.status == status, "status %d, expected %d: %r" % (r.status, status, r.body[:300]))
    body = r.json()
    check(set(body) == {"detail", "error_code", "timestamp", "request_id"}, "error format: %r" % body)
    check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["timestamp"]), "timestamp %r" % body["timestamp"])
    check(code is None or body["error_code"] == code, "error_code %r, expected %r" % (body["error_code"], code))
    return body


def llm_call(gw, prompt="hello", headers=None, timeout=10):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return gw.request("POST", "/api/llm/orchestrate", headers=h, timeout=timeout,
                      body=json.dumps({"prompt": prompt, "providers": ["openai"]}))


SEED = """
INSERT INTO orchestration_requests (request_id, prompt, providers, model, status, session_id, total_response_time,
                                    tokens_used, cache_hit, errors, created_at) VALUES
 ('req-a', 'first prompt', '["openai"]', 'gpt-4o-mini', 'completed', 'sess-1', 1.5, 42, false, NULL,
  '2026-01-02 03:04:05.678+00'),
 ('req-b', 'second prompt', '["anthropic", "openai"]', NULL, 'failed', NULL, 0.5, NULL, true,
  '[{"provider": "anthropic", "error": "boom"}]', '2026-01-02 03:04:06+00'),
 ('req-c', 'third prompt', '["gemini"]', 'gemini-2.5-flash', 'completed', 'sess-1', 2.5, 7, true, '[]',
  '2026-01-02 03:04:07+00');
INSERT INTO orchestration_results (request_id, attempt, provider, model, response, tokens_used, response_time,
                                   status, error) VALUES
 ('req-a', 1, 'openai', 'gpt-4o-mini', 'first answer', 42, 1.5, 'success', NULL),
 ('req-b', 1, 'anthropic', 'claude-haiku-4-5', NULL, NULL, 0.25, 'error', 'boom'),
 ('req-b', 2, 'openai', 'gpt-4o-mini', NULL, NULL, 0.25, 'error', 'boom again'),
 ('req-c', 1, 'gemini', 'gemini-2.5-flash', 'third answer', 7, 2.5, 'success', NULL);
INSERT INTO provider_metrics (provider, model, total_requests, successful_requests, failed_requests,
                              average_response_time, total_tokens_used, estimated_cost, is_healthy,
                              consecutive_failures, last_updated) VALUES
 ('openai', 'gpt-4o-mini', 8, 6, 2, 1.25, 1000, 0.5, false, 7, '2026-01-02 03:04:05+00'),
 ('legacy', 'old-model', 4, 1, 3, 2, 10, 0.01, false, 3, '2026-01-02 03:04:05.5+00');
INSERT INTO user_sessions (session_id, user_id, last_activity, is_active) VALUES
 ('s-recent', 'u1', now(), true), ('s-idle', 'u2', now() - interval '2 hours', true),
 ('s-closed', 'u3', now(), false);
INSERT INTO workflows (workflow_id, name) VALUES ('wf-1', 'one'), ('wf-2', 'two');
"""


def test_endpoints_report_seeded_rows():
    gw, pg = start()
    pg.sql(SEED)
    s = gw.get_json("/api/db/stats")
    check(s["total_requests"] == 3 and s["total_workflows"] == 2, "stats %r" % s)
    check(s["active_sessions"] == 1, "only s-recent is active (idle > 1 h, closed): %r" % s)
    check(abs(s["cache_hit_rate"] - 2 / 3) < 1e-9, "cache hit rate %r" % s["cache_hit_rate"])
    check(s["average_response_time"] == 2.0, "mean of completed requests: %r" % s["average_response_time"])
    check(s["provider_health"] == {"openai": True, "anthropic": True, "gemini": True, "grok": True},
          "live provider health %r" % s["provider_health"])

    doc = gw.get_json("/api/db/requests")
    check((doc["total"], doc["limit"], doc["offset"]) == (3, 50, 0), "paging %r" % doc)
    check([r["request_id"] for r in doc["requests"]] == ["req-c", "req-b", "req-a"], "newest first")
    b = doc["requests"][1]
    check(set(b) == {"id", "request_id", "prompt", "providers", "model", "status", "created_at", "response_count",
                      "key_id", "team"},
          "fields %r" % sorted(b))
    check(b["providers"] == ["anthropic", "openai"] and b["model"] is None and b["status"] == "failed"
          and b["response_count"] == 2 and isinstance(b["id"], int), "values %r" % b)
    check(doc["requests"][2]["created_at"] == "2026-01-02T03:04:05.678Z", "ISO 8601 UTC: %r" % doc["requests"][2])
    page = gw.get_json("/api/db/requests?limit=1&offset=1")
    check([r["request_id"] for r in page["requests"]] == ["req-b"] and page["total"] == 3
          and (page["limit"], page["offset"]) == (1, 1), "page %r" % page)
    check(gw.get_json("/api/db/requests?offset=10")["requests"] == [], "past the end")

    recent = gw.get_json("/api/db/requests/recent")
    check([r["request_id"] for r in recent] == ["req-c", "req-b", "req-a"], "recent order")
    b = recent[1]
    check({"id", "request_id", "prompt", "providers", "status", "created_at", "total_response_time", "tokens_used",
           "results", "errors"} <= set(b), "fields %r" % sorted(b))
    check([(x["provider"], x["error"], x["response_time"]) for x in b["results"]] ==
          [("anthropic", "boom", 0.25), ("openai", "boom again", 0.25)], "attempts in order: %r" % b["results"])
    check(b["errors"] == [{"provider": "anthropic", "error": "boom"}], "errors %r" % b["errors"])
    a = recent[2]
    check(a["results"] == [{"provider": "openai", "model": "gpt-4o-mini", "response": "first answer",
                            "response_time": 1.5, "tokens_used": 42, "status": "success", "error": None}],
          "results %r" % a["results"])
    check(a["errors"] == [] and a["tokens_used"] == 42 and a["total_response_time"] == 1.5, "values %r" % a)
    only = gw.get_json("/api/db/requests/recent?session_id=sess-1&limit=1")
    check([r["request_id"] for r in only] == ["req-c"], "session filter and limit: %r" % only)
    check(len(gw.get_json("/api/db/requests/recent?session_id=sess-1")) == 2, "session filter")
    check(gw.get_json("/api/db/requests/recent?session_id=nobody") == [], "unknown session: empty")

    m = gw.get_json("/api/db/provider-metrics")
    check([(x["provider"], x["model"]) for x in m] == [("legacy", "old-model"), ("openai", "gpt-4o-mini")],
          "rows %r" % m)
    legacy, openai = m
    check(set(openai) == {"provider", "model", "total_requests", "success_rate", "average_response_time",
                          "total_tokens_used", "estimated_cost", "is_healthy", "consecutive_failures",
                          "last_updated"}, "fields %r" % sorted(openai))
    check((openai["total_requests"], openai["success_rate"], openai["average_response_time"],
           openai["total_tokens_used"], openai["estimated_cost"]) == (8, 0.75, 1.25, 1000, 0.5), "%r" % openai)
    check(openai["is_healthy"] is True and openai["consecutive_failures"] == 0,
          "a provider the gateway knows shows its live state: %r" % openai)
    check(legacy["is_healthy"] is False and legacy["consecutive_failures"] == 3 and legacy["success_rate"] == 0.25,
          "an unknown provider keeps the table's values: %r" % legacy)
    check(legacy["last_updated"] == "2026-01-02T03:04:05.500Z", "timestamp %r" % legacy["last_updated"])

    h = gw.get_json("/api/db/health")
    check(h["status"] == "healthy" and h["services"]["database"]["status"] == "healthy"
          and h["services"]["cache"] == {"status": "disabled"}, "health %r" % h)
    check(gw.request("HEAD", "/api/db/stats").status == 200, "HEAD")


def test_logged_requests_and_their_sessions():
    gw, pg = start()
    sid = gw.request("POST", "/api/user/session", body="{}").json()["session_id"]
    before = gw.get_json("/api/user/session/%s" % sid)["last_activity"]
    time.sleep(0.01)
    r = llm_call(gw, "logged prompt", headers={"X-Session-ID": sid, "X-Request-ID": "e2e-known"})
    check(r.status == 200, "LLM call %d %r" % (r.status, r.body[:200]))
    # An unknown session id is kept in the log as it is; the request is served (no 4xx).
    r = llm_call(gw, "unknown session", headers={"X-Session-ID": "no-such-session", "X-Request-ID": "e2e-unknown"})
    check(r.status == 200, "a request naming an unknown session is served: %d" % r.status)
    rows = wait_until(lambda: (lambda x: x if len(x) == 1 else None)(
        gw.get_json("/api/db/requests/recent?session_id=%s" % sid)), 10, interval=0.1, what="the logged request")
    row = rows[0]
    check(row["request_id"] == "e2e-known" and row["prompt"] == "logged prompt" and row["status"] == "completed",
          "row %r" % row)
    check(len(row["results"]) == 1 and row["results"][0]["provider"] == "openai"
          and row["results"][0]["response"], "results %r" % row["results"])
    wait_until(lambda: gw.get_json("/api/db/requests/recent?session_id=no-such-session"), 10, interval=0.1,
               what="the row naming an unknown session")
    check(pg.sql("SELECT count(*) FROM user_sessions WHERE session_id = 'no-such-session'") == [["0"]],
          "no session is made up for an unknown id")
    after = pg.sql("SELECT to_char(last_activity AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
                   " FROM user_sessions WHERE session_id = '%s'" % sid)[0][0]
    check(after > before, "the session's last activity moved: %s -> %s" % (before, after))
    check(gw.get_json("/api/db/stats")["total_requests"] == 2, "stats count logged requests")


def test_concurrent_queries_share_the_pool():
    gw, pg = start(workers=2, mock=False, env={"DB_POOL_SIZE": "4"})
    pg.sql(SEED)
    paths = DB_ROUTES + ["/api/db/requests?limit=1&offset=2", "/api/db/health"]
    bad = []

    def client(n):
        for i in range(25):
            path = paths[(n + i) % len(paths)]
            r = gw.get(path, timeout=10)
            if r.status != 200:
                bad.append((path, r.status, r.body[:200]))
    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not bad, "%d failed of 200: %r" % (len(bad), bad[:3]))
    check(gw.get_json("/api/db/requests?limit=1&offset=2")["requests"][0]["request_id"] == "req-a", "answers")
    check(not [l for l in gw.log().splitlines() if "signal" in l and "worker" in l], "a worker died")


def test_parameters_are_validated():
    gw, pg = start(mock=False)
    for path in ["/api/db/requests?limit=0", "/api/db/requests?limit=1001", "/api/db/requests?limit=-1",
                 "/api/db/requests?limit=abc", "/api/db/requests?limit=1.5", "/api/db/requests?limit=",
                 "/api/db/requests?limit=%2B5", "/api/db/requests?limit=99999999999999999999999",
                 "/api/db/requests?offset=-1", "/api/db/requests?offset=100000001",
                 "/api/db/requests?offset=1e3", "/api/db/requests/recent?limit=0",
                 "/api/db/requests/recent?limit=1001", "/api/db/requests/recent?limit=%20",
                 "/api/db/requests/recent?session_id=" + "x" * 65,
                 "/api/db/requests/recent?session_id=a%0Ab", "/api/db/requests/recent?session_id=%C3%A9t%C3%A9"]:
        body = error_format(gw.get(path), 400, "INVALID_PARAMETER")
        check("limit" in body["detail"] or "offset" in body["detail"] or "session_id" in body["detail"],
              "%s: the detail names the parameter: %r" % (path, body["detail"]))
    for path in ["/api/db/requests?limit=1000&offset=100000000", "/api/db/requests/recent?limit=1000",
                 "/api/db/requests/recent?session_id=", "/api/db/requests/recent?session_id=" + "x" * 64]:
        check(gw.get(path).status == 200, "%s accepted" % path)
    check(gw.get_json("/api/db/requests")["limit"] == 50, "default limit 50")


def test_injection_strings_are_plain_data():
    gw, pg = start(mock=False)
    for i, s in enumerate(INJECTIONS):
        pg.sql("INSERT INTO orchestration_requests (request_id, prompt, session_id) VALUES ('inj-%d', $q$%s$q$,"
               " $q$%s$q$)" % (i, s, s[:64]))
    for i, s in enumerate(INJECTIONS):
        rows = gw.get_json("/api/db/requests/recent?session_id=" + urllib.parse.quote(s[:64]))
        check([(r["request_id"], r["prompt"]) for r in rows] == [("inj-%d" % i, s)],
              "matched as data: %r -> %r" % (s, rows))
        r = gw.request("POST", "/api/user/session", body=json.dumps({"user_id": s, "metadata": {s: s}}))
        check(r.status == 200, "session with %r: %d %r" % (s, r.status, r.body[:200]))
        doc = r.json()
        check(doc["user_id"] == s and doc["preferences"] == {s: s}, "stored as data: %r" % doc)
        check(gw.get_json("/api/user/session/%s" % doc["session_id"])["user_id"] == s, "read back")
        quoted = urllib.parse.quote(s[:64], safe="")
        for method in ("GET", "DELETE"):
            error_format(gw.request(method, "/api/user/session/" + quoted), 404, "SESSION_NOT_FOUND")
    docs = gw.get_json("/api/db/requests?limit=1000")
    check(docs["total"] == len(INJECTIONS), "every row still there: %r" % docs["total"])
    check(int(pg.sql("SELECT count(*) FROM user_sessions")[0][0]) == len(INJECTIONS), "every session still there")
    check(gw.get_json("/api/db/stats")["total_requests"] == len(INJECTIONS), "tables intact")


def test_without_database_every_route_answers_503():
    gw = Gateway().start()
    for method, path in [("GET", "/api/db/stats"), ("GET", "/api/db/requests"), ("GET", "/api/db/requests/recent"),
                         ("GET", "/api/db/provider-metrics"), ("POST", "/api/user/session"),
                         ("GET", "/api/user/session/abc"), ("DELETE", "/api/user/session/abc"),
                         ("GET", "/api/user/sessions")]:
        body = error_format(gw.request(method, path), 503, "DATABASE_UNAVAILABLE")
        check("database.url" in body["detail"], "%s %s: the detail says why: %r" % (method, path, body["detail"]))
    r = gw.get("/api/db/health")
    check(r.status == 503 and r.json()["status"] == "disabled"
          and r.json()["services"]["database"]["status"] == "disabled", "health %d %r" % (r.status, r.body))


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


DB_ROUTES = ["/api/db/stats", "/api/db/requests", "/api/db/requests/recent", "/api/db/provider-metrics"]


def check_unavailable(gw, budget):
    """Every database route answers 503 in the documented format within BUDGET s; LLM calls still work."""
    threads, results = [], []
    for path in DB_ROUTES + ["/api/user/session/abc"]:
        t = threading.Thread(target=lambda p=path: results.append((p, timed(lambda: gw.get(p, timeout=15)))))
        t.start()
        threads.append(t)
    create, took = timed(lambda: gw.request("POST", "/api/user/session", timeout=15))
    results.append(("POST /api/user/session", (create, took)))
    r = llm_call(gw, "served while the database is away")
    check(r.status == 200, "an LLM call while the database is away: %d %r" % (r.status, r.body[:200]))
    for t in threads:
        t.join(20)
    for path, (resp, took) in results:
        error_format(resp, 503, "DATABASE_UNAVAILABLE")
        check(took <= budget, "%s took %.2f s (budget %.1f s)" % (path, took, budget))
    h = gw.get("/api/db/health", timeout=15)
    check(h.status == 503 and h.json()["services"]["database"]["status"] == "unhealthy", "health %r" % h.body)


def test_postgres_stopped_or_frozen_answers_503_quickly():
    pg = PgServer().start()
    gw, _ = start(pg=pg, workers=2)
    sid = gw.request("POST", "/api/user/session", body="{}").json()["session_id"]
    pg.stop()
    check_unavailable(gw, 1.0)
    pg.start()
    wait_until(lambda: gw.get("/api/db/stats").status == 200, 10, interval=0.2, what="recovery after restart")
    check(gw.get_json("/api/user/session/%s" % sid)["session_id"] == sid, "the session survived")
    pg.freeze()
    try:
        check_unavailable(gw, 3.8)
        # Still frozen: connections being re-established fail fast, too.
        r, took = timed(lambda: gw.get("/api/db/requests", timeout=15))
        error_format(r, 503, "DATABASE_UNAVAILABLE")
        check(took <= 3.8, "a second query while frozen took %.2f s" % took)
    finally:
        pg.thaw()
    wait_until(lambda: gw.get("/api/db/stats").status == 200, 15, interval=0.2, what="recovery after thaw")
test_postgres_stopped_or_frozen_answers_503_quickly.TIMEOUT = 120


def test_client_leaving_mid_query_is_harmless():
    pg = PgServer().start()
    gw, _ = start(pg=pg, mock=False)
    workers = gw.workers()
    pg.freeze()
    try:
        for path in DB_ROUTES + ["/api/user/session/abc"]:
            s = socket.create_connection(("127.0.0.1", gw.port))
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
            time.sleep(0.3)
            s.close()
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(b"POST /api/user/session HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        time.sleep(0.3)
        s.close()
        wait_until(lambda: gw.log().count("the client left; its database step is cancelled") >= 6, 5,
                   what="the departures noticed")
        check(gw.get("/api/health/live").status == 200, "the worker serves on")
    finally:
        pg.thaw()
    wait_until(lambda: gw.get("/api/db/stats").status == 200, 15, interval=0.2, what="recovery after thaw")
    check(gw.workers() == workers, "no worker died:\n%s" % gw.log()[-2000:])
test_client_leaving_mid_query_is_harmless.TIMEOUT = 90


def migrations():
    here = os.path.join(harness.ROOT, "etc", "migrations")
    return sorted(int(f.split("_")[0]) for f in os.listdir(here) if f.endswith(".sql"))


def check_migrated_once(pg):
    rows = pg.sql("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version")
    check([int(v) for v, _ in rows] == migrations() and all(n == "1" for _, n in rows),
          "each migration once: %r" % rows)


def test_two_gateways_starting_together_migrate_once():
    pg = PgServer().start()
    gws = []
    for _ in range(2):
        spool = tempfile.mkdtemp(prefix="orc-spool-")
        harness.on_cleanup(lambda d=spool: shutil.rmtree(d, ignore_errors=True))
        gws.append(Gateway(workers=2, env={"DATABASE_URL": pg.url, "REQUEST_LOG_SPOOL_DIR": spool}))
    for gw in gws:
        gw.start(wait_ready=False)
    for gw in gws:
        wait_until(gw.ready, 15, what="readiness")
        # Each worker has its own pool: one may answer healthy while the
        # other still waits for the migration lock, so both answers are
        # awaited rather than read once.
        wait_until(lambda: gw.get("/api/db/health").status == 200, 15, interval=0.1, what="database healthy")
        wait_until(lambda: gw.get_json("/api/health")["services"]["database"]["status"] == "healthy", 15,
                   interval=0.1, what="/api/health: database healthy")
    check_migrated_once(pg)
    with open(os.path.join(pg.dir, "server.log"), errors="replace") as f:
        log = f.read()
    check("duplicate key" not in log, "a migration ran twice:\n%s" % log[-2000:])
    for gw in gws:
        failed = [l for l in gw.log().splitlines() if "migration" in l and "fail" in l]
        check(not failed, "a gateway failed to migrate: %r" % failed)
test_two_gateways_starting_together_migrate_once.TIMEOUT = 90


def migrate(url, expect=0):
    r = subprocess.run([harness.BIN, "migrate"], env={"PATH": os.environ.get("PATH", ""), "DATABASE_URL": url},
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == expect, "orchesity migrate: exit %d, expected %d: %s %s"
          % (r.returncode, expect, r.stdout, r.stderr))
    return r.stdout + r.stderr


def test_orchesity_migrate():
    pg = SuiteDatabase().start()
    out = migrate(pg.url.replace("postgresql://", "postgresql+asyncpg://", 1))
    latest = migrations()[-1]
    check("schema at version %d" % latest in out, "output %r" % out)
    check_migrated_once(pg)
    applied = pg.sql("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    out = migrate(pg.url)
    check("(0 migrations applied)" in out, "nothing applied again: %r" % out)
    check(pg.sql("SELECT version, applied_at FROM schema_migrations ORDER BY version") == applied, "unchanged")
    # A gateway started on the prepared schema accepts it as it is.
    gw, _ = start(pg=pg, mock=False)
    check(gw.get_json("/api/db/health")["services"]["database"]["schema_version"] == latest, "schema version")
    check_migrated_once(pg)
    u = urllib.parse.urlsplit(pg.url)
    out = migrate(pg.url.replace(":%d/" % u.port, ":%d/" % harness.free_port()), expect=1)
    check(u.password not in out, "the password never appears: %r" % out)
