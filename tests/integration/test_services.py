"""Backing services in /api/health: disabled when not configured, healthy
when reachable, unhealthy (and the whole status degraded) when down.
scripts/test starts PostgreSQL and Redis and exports their URLs."""
import os
import time
import urllib.parse

from harness import Gateway, check, free_port, wait_until


def service_urls():
    db, redis = os.environ.get("ORC_TEST_DATABASE_URL"), os.environ.get("ORC_TEST_REDIS_URL")
    check(db and redis, "ORC_TEST_DATABASE_URL and ORC_TEST_REDIS_URL are not set: run the suite with scripts/test")
    return db, redis


def status_of(gw, name):
    return gw.get_json("/api/health/service/%s" % name)["health"]


def test_configured_services_reachable_are_healthy():
    db, redis = service_urls()
    # The Docker documentation's form of the database URL must be accepted.
    db = db.replace("postgresql://", "postgresql+asyncpg://", 1)
    gw = Gateway(env={"DATABASE_URL": db, "REDIS_URL": redis, "HEALTH_CHECK_INTERVAL": "1"}).start()
    wait_until(lambda: status_of(gw, "database")["status"] == "healthy", 5, what="database healthy")
    wait_until(lambda: status_of(gw, "cache")["status"] == "healthy", 5, what="cache healthy")
    body = gw.get("/api/health").body.decode()
    password = urllib.parse.urlsplit(db).password
    check(password not in body and password not in gw.log(), "the database password leaks")


def test_configured_services_down_are_unhealthy():
    closed = free_port()
    gw = Gateway(env={"DATABASE_URL": "postgresql://u:p@127.0.0.1:%d/x" % closed,
                      "REDIS_URL": "redis://127.0.0.1:%d/0" % closed, "HEALTH_CHECK_INTERVAL": "1"}).start()
    wait_until(lambda: status_of(gw, "database")["status"] == "unhealthy", 5, what="database unhealthy")
    cache = wait_until(lambda: (lambda c: c if c["status"] == "unhealthy" else None)(status_of(gw, "cache")), 5,
                       what="cache unhealthy")
    check("refused" in cache.get("error", "").lower(), "no reason given: %r" % cache)
    h = gw.get("/api/health")
    check(h.status == 200 and h.json()["status"] == "degraded", "overall %d %r" % (h.status, h.json()["status"]))
    # Both statuses are their clients' (a connection that speaks the
    # protocol), which a bare listener does not satisfy: test_dbapi covers
    # the database's recovery with a restarted PostgreSQL, test_cache the
    # cache's with a real Redis.


def test_unresolvable_host_is_unhealthy_not_a_hang():
    gw = Gateway(env={"REDIS_URL": "redis://no-such-host.invalid:6379/0", "HEALTH_CHECK_INTERVAL": "1"}).start()
    t0 = time.monotonic()
    check(gw.get("/api/health/live").status == 200, "serving")
    check(time.monotonic() - t0 < 1, "a lookup blocked the worker")
    wait_until(lambda: status_of(gw, "cache")["status"] == "unhealthy", 10, what="cache unhealthy")
