"""Sessions: created, read, cached in Redis in front of PostgreSQL, deleted,
listed by an admin; bodies validated; Redis frozen or gone never fails a
session call.  PostgreSQL is a fresh database on the suite's server; Redis
is the suite's (each test under its own namespace) or a private one."""
import json
import os
import re
import subprocess
import signal
import time
import uuid

import harness
from harness import check, wait_until
from test_cache import Redis
from test_dbapi import error_format, start

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def suite_redis_cli(*args):
    url = os.environ.get("ORC_TEST_REDIS_URL")
    check(url, "ORC_TEST_REDIS_URL is not set: run the suite with scripts/test")
    r = subprocess.run(["redis-cli", "-u", url] + list(args), capture_output=True, text=True, timeout=5)
    return r.stdout.strip()


def start_with_redis(env=None, redis_url=None):
    ns = "t" + uuid.uuid4().hex[:12]
    e = {"REDIS_URL": redis_url or os.environ.get("ORC_TEST_REDIS_URL", ""), "CACHE_NAMESPACE": ns}
    e.update(env or {})
    gw, pg = start(env=e, mock=False)
    return gw, pg, ns


def create(gw, body=None, expect=200, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    r = gw.request("POST", "/api/user/session", body=None if body is None else json.dumps(body), headers=h)
    check(r.status == expect, "create: %d %r" % (r.status, r.body[:300]))
    return r.json()


def test_session_life_cycle_with_the_redis_cache():
    gw, pg, ns = start_with_redis(env={"SESSION_CACHE_TTL": "120"})
    s = create(gw)
    check(set(s) == {"session_id", "user_id", "created_at", "last_activity", "preferences", "is_active"},
          "fields %r" % sorted(s))
    check(UUID.match(s["session_id"]) and s["user_id"] == "anonymous" and s["preferences"] == {}
          and s["is_active"] is True, "defaults %r" % s)
    check(ISO_MS.match(s["created_at"]) and s["created_at"] == s["last_activity"], "timestamps %r" % s)
    t = create(gw, {"user_id": "alice", "metadata": {"theme": "dark", "n": 3, "nested": {"a": [1, 2]}}})
    check(t["user_id"] == "alice" and t["preferences"] == {"theme": "dark", "n": 3, "nested": {"a": [1, 2]}},
          "metadata becomes preferences: %r" % t)
    key = "%s:session:%s" % (ns, t["session_id"])
    check(json.loads(suite_redis_cli("GET", key)) == t, "written to Redis after PostgreSQL")
    ttl = int(suite_redis_cli("TTL", key))
    check(100 < ttl <= 120, "cached for sessions.cache_ttl: %d" % ttl)
    check(gw.get_json("/api/user/session/%s" % t["session_id"]) == t, "read back")

    # A read is answered from Redis: the row changed behind the cache's back is not seen ...
    pg.sql("UPDATE user_sessions SET user_id = 'changed' WHERE session_id = '%s'" % t["session_id"])
    check(gw.get_json("/api/user/session/%s" % t["session_id"])["user_id"] == "alice", "a Redis hit")
    # ... until the cached copy is gone: then PostgreSQL answers and Redis is filled again.
    suite_redis_cli("DEL", key)
    check(gw.get_json("/api/user/session/%s" % t["session_id"])["user_id"] == "changed", "PostgreSQL fallback")
    check(json.loads(suite_redis_cli("GET", key))["user_id"] == "changed", "refilled")

    r = gw.request("DELETE", "/api/user/session/%s" % t["session_id"])
    check(r.status == 200 and r.json() == {"message": "Session deleted", "session_id": t["session_id"]},
          "delete %d %r" % (r.status, r.body))
    check(suite_redis_cli("EXISTS", key) == "0", "removed from Redis")
    check(pg.sql("SELECT count(*) FROM user_sessions WHERE session_id = '%s'" % t["session_id"]) == [["0"]],
          "removed from PostgreSQL")
    body = error_format(gw.get("/api/user/session/%s" % t["session_id"]), 404, "SESSION_NOT_FOUND")
    check(body["detail"] == "Session not found", "detail %r" % body["detail"])
    error_format(gw.request("DELETE", "/api/user/session/%s" % t["session_id"]), 404, "SESSION_NOT_FOUND")
    error_format(gw.get("/api/user/session/%s" % uuid.uuid4()), 404, "SESSION_NOT_FOUND")
    error_format(gw.get("/api/user/session/" + "x" * 65), 404, "SESSION_NOT_FOUND")
    check(gw.get_json("/api/user/session/%s" % s["session_id"])["session_id"] == s["session_id"], "the other stays")
    check(gw.get_json("/api/db/health")["services"]["cache"]["status"] in ("healthy", "unknown"), "cache health")


def test_session_bodies_are_validated():
    gw, pg, ns = start_with_redis()
    for body, what in [("[1]", "not an object"), ("\"x\"", "a string"), ("{", "invalid JSON"),
                       ('{"user_id": 5}', "user_id a number"), ('{"user_id": ""}', "user_id empty"),
                       (json.dumps({"user_id": "u" * 256}), "user_id too long"),
                       ('{"user_id": "a\\u0000b"}', "user_id with NUL"), ('{"user_id": ["a"]}', "user_id a list"),
                       ('{"metadata": [1]}', "metadata a list"), ('{"metadata": "x"}', "metadata a string"),
                       (json.dumps({"metadata": {"k": "v" * 17000}}), "metadata too large"),
                       ('{"metadata": {"k": "a\\u0000b"}}', "metadata with NUL")]:
        r = gw.request("POST", "/api/user/session", body=body)
        error_format(r, 400)
    check(int(pg.sql("SELECT count(*) FROM user_sessions")[0][0]) == 0, "nothing stored")
    check(create(gw, {"user_id": "u" * 255, "metadata": None})["preferences"] == {}, "limits accepted")
    check(create(gw, {"user_id": None, "other": 1})["user_id"] == "anonymous", "null user_id, unknown fields")
    check(create(gw, {"user_id": "\u00e9t\u00e9 \U0001F600"})["user_id"] == "\u00e9t\u00e9 \U0001F600", "UTF-8")


def test_admin_listing_of_sessions():
    gw, pg, ns = start_with_redis(env={"SECRET_KEY": "master-key-for-tests", "SESSION_ACTIVE_WINDOW": "1800"})
    auth = {"Authorization": "Bearer master-key-for-tests"}
    error_format(gw.get("/api/user/sessions"), 401, "UNAUTHORIZED")
    error_format(gw.get("/api/user/sessions", headers={"Authorization": "Bearer wrong"}), 401, "UNAUTHORIZED")
    ids = [create(gw, {"user_id": "u%d" % i}, headers=auth)["session_id"] for i in range(3)]
    pg.sql("UPDATE user_sessions SET last_activity = now() - interval '31 minutes' WHERE session_id = '%s'" % ids[0])
    pg.sql("UPDATE user_sessions SET is_active = false WHERE session_id = '%s'" % ids[1])
    doc = gw.get_json("/api/user/sessions", headers=auth)
    check(doc["total"] == 1 and [s["session_id"] for s in doc["sessions"]] == [ids[2]],
          "active only by default: %r" % doc)
    check((doc["limit"], doc["offset"], doc["active_only"]) == (100, 0, True), "paging %r" % doc)
    check(gw.get_json("/api/db/stats")["active_sessions"] == 1, "the same definition in /api/db/stats")
    every = gw.get_json("/api/user/sessions?active_only=false", headers=auth)
    check(every["total"] == 3 and set(s["session_id"] for s in every["sessions"]) == set(ids), "all %r" % every)
    check(every["sessions"][-1]["session_id"] == ids[0], "most recent activity first")
    page = gw.get_json("/api/user/sessions?active_only=false&limit=1&offset=1", headers=auth)
    check(len(page["sessions"]) == 1 and page["total"] == 3, "page %r" % page)
    for q in ["active_only=maybe", "limit=0", "limit=1001", "offset=-1", "limit=x"]:
        error_format(gw.get("/api/user/sessions?" + q, headers=auth), 400, "INVALID_PARAMETER")


def test_redis_frozen_or_gone_never_fails_a_session_call():
    redis = Redis().start()
    harness.on_cleanup(redis.stop)
    gw, pg, ns = start_with_redis(redis_url=redis.url)
    wait_until(lambda: gw.get_json("/api/db/health")["services"]["cache"]["status"] == "healthy", 10,
               what="Redis healthy")
    s = create(gw)
    check(redis.cli("EXISTS", "%s:session:%s" % (ns, s["session_id"])) == "1", "cached")
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            t0 = time.monotonic()
            t = create(gw)
            check(gw.get_json("/api/user/session/%s" % s["session_id"]) == s, "read while Redis is frozen")
            check(gw.get_json("/api/user/session/%s" % t["session_id"]) == t, "read back")
            check(gw.request("DELETE", "/api/user/session/%s" % t["session_id"]).status == 200, "delete")
            took = time.monotonic() - t0
            check(took < 1.0, "four session calls took %.2f s with Redis frozen" % took)
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    redis.stop()
    t0 = time.monotonic()
    t = create(gw)
    check(gw.get_json("/api/user/session/%s" % t["session_id"]) == t, "read with Redis gone")
    check(gw.request("DELETE", "/api/user/session/%s" % t["session_id"]).status == 200, "delete with Redis gone")
    check(time.monotonic() - t0 < 1.0, "session calls with Redis gone are quick")
test_redis_frozen_or_gone_never_fails_a_session_call.TIMEOUT = 60
