"""HTTP surface of the skeleton: health routes, metrics, error bodies,
request ids, admin authorisation, limits and the access log."""
import json
import os
import signal
import socket
import time

from harness import Gateway, check, wait_until

ERROR_FIELDS = {"detail", "error_code", "timestamp", "request_id"}


def check_error(r, status, code=None):
    check(r.status == status, "status %d, expected %d: %r" % (r.status, status, r.body[:300]))
    check(r.header("Content-Type") == "application/json", "error content type %r" % r.header("Content-Type"))
    body = r.json()
    check(set(body) == ERROR_FIELDS, "error fields %r" % sorted(body))
    check(body["request_id"] == r.header("X-Request-ID"), "request_id in body and header differ")
    if code:
        check(body["error_code"] == code, "error_code %r, expected %r" % (body["error_code"], code))
    return body


def test_health_routes():
    gw = Gateway().start()
    h = gw.get_json("/api/health")
    for key in ("status", "timestamp", "version", "uptime", "services"):
        check(key in h, "missing %s in /api/health" % key)
    svc = h["services"]
    check(svc["database"] == {"status": "disabled"}, "database: %r" % svc["database"])
    check(svc["cache"] == {"status": "disabled"}, "cache: %r" % svc["cache"])
    check(svc["workers"]["serving"] == 2 and svc["workers"]["status"] == "healthy", "workers: %r" % svc["workers"])
    for key in ("status", "active_providers", "total_providers", "selection_policy"):
        check(key in svc["dwa"], "dwa lacks %s" % key)
    check([p["provider"] for p in svc["llm_providers"]] == ["openai", "anthropic", "gemini", "grok"],
          "llm_providers %r" % svc["llm_providers"])
    for key in ("cpu", "memory"):
        check("usage_percent" in svc[key], "%s lacks usage_percent" % key)
    live = gw.get_json("/api/health/live")
    check(live["status"] == "alive" and "timestamp" in live, "live: %r" % live)
    check(gw.get_json("/api/health/ready") == {"status": "ready"}, "ready")
    d = gw.detailed()
    check(len(d["workers"]) == 2, "detailed lists %d workers" % len(d["workers"]))
    for w in d["workers"]:
        for key in ("pid", "generation", "uptime", "requests_served", "rss_bytes", "state"):
            check(key in w, "worker entry lacks %s: %r" % (key, w))
        check(w["rss_bytes"] > 0 or w["uptime"] < 1.5, "rss not reported: %r" % w)
    check(sorted(w["pid"] for w in d["workers"]) == gw.workers(), "detailed pids differ from the real children")
    check(d["master"]["pid"] == gw.pid, "master pid")
    s = gw.get_json("/api/health/service/workers")
    check(s["service"] == "workers" and s["health"]["status"] == "healthy", "service/workers: %r" % s)
    check(gw.get_json("/api/health/service/database")["health"] == {"status": "disabled"}, "service/database")
    check_error(gw.get("/api/health/service/nonsense"), 404, "SERVICE_NOT_FOUND")
    head = gw.request("HEAD", "/api/health")
    check(head.status == 200 and head.body == b"", "HEAD: %d %r" % (head.status, head.body))


def test_metrics_are_prometheus_text_and_count():
    gw = Gateway().start()
    for _ in range(5):
        gw.get("/api/health/live")
    gw.get("/missing")
    r = gw.get("/metrics")
    check(r.status == 200 and r.header("Content-Type").startswith("text/plain; version=0.0.4"), "content type")
    m = gw.metrics()
    check(m['orchesity_http_requests_total{route="health_live",code="200"}'] >= 5, "health_live count")
    check(m['orchesity_http_requests_total{route="unmatched",code="404"}'] >= 1, "404 count")
    check(m['orchesity_workers{state="serving"}'] == 2, "serving workers")
    check(m['orchesity_http_request_duration_seconds_bucket{le="+Inf"}'] ==
          m["orchesity_http_request_duration_seconds_count"], "histogram +Inf equals count")
    text = r.body.decode()
    for name in ("orchesity_worker_restarts_total", "orchesity_reloads_total", "orchesity_http_requests_in_flight",
                 "orchesity_worker_resident_memory_bytes"):
        check("# TYPE %s " % name in text, "metric %s missing" % name)


def test_error_bodies_404_405():
    gw = Gateway().start()
    check_error(gw.get("/no/such/route"), 404, "NOT_FOUND")
    r = gw.request("POST", "/api/health")
    check_error(r, 405, "METHOD_NOT_ALLOWED")
    check(r.header("Allow") == "GET, HEAD", "Allow: %r" % r.header("Allow"))
    check_error(gw.request("DELETE", "/metrics"), 405)
    check_error(gw.get("/api/health/%00x"), 400, "BAD_REQUEST")


def test_invalid_json_is_400():
    gw = Gateway().start()
    for body in (b"{", b"{\"a\": }", b"[1,2", b"{} trailing", b"nul"):
        b = check_error(gw.request("POST", "/api/admin/reload", body=body,
                                   headers={"Content-Type": "application/json"}), 400, "INVALID_JSON")
        check("not valid JSON" in b["detail"], "detail %r" % b["detail"])
    check_error(gw.request("POST", "/api/admin/reload", body=b"[1]"), 400, "BAD_REQUEST")


def raw_exchange(port, data, read_timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def parse_raw(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode(), body


def test_body_over_limit_is_413_without_reading_it():
    gw = Gateway(config={"server": {"max_body_size": 4096}}).start()
    # Announce 50 MB and send none of it: the answer must come anyway.
    started = time.monotonic()
    raw = raw_exchange(gw.port, b"POST /api/admin/reload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                b"Content-Length: 52428800\r\n\r\n")
    status, head, body = parse_raw(raw)
    check(status == 413, "status %d" % status)
    check(time.monotonic() - started < 3, "413 took too long: the body was awaited")
    b = json.loads(body)
    check(b["error_code"] == "PAYLOAD_TOO_LARGE" and set(b) == ERROR_FIELDS, "413 body %r" % b)
    check(gw.request("POST", "/api/admin/reload", body=b"{}").status == 202, "a small body still works")


def test_headers_over_limit_and_garbage_are_400():
    gw = Gateway(config={"server": {"max_header_size": 2048}}).start()
    status, _, body = parse_raw(raw_exchange(gw.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n"))
    check(status == 400 and json.loads(body)["error_code"] == "BAD_REQUEST", "oversized headers: %d" % status)
    status, _, body = parse_raw(raw_exchange(gw.port, b"THIS IS NOT HTTP\r\n\r\n"))
    check(status == 400 and set(json.loads(body)) == ERROR_FIELDS, "garbage: %d %r" % (status, body))
    check(gw.get("/api/health/live").status == 200, "still serving")
    m = gw.metrics()
    check(m.get('orchesity_http_requests_total{route="protocol_error",code="400"}', 0) >= 2, "parser errors counted")


def test_request_id_echo_and_generation():
    gw = Gateway().start()
    r = gw.get("/api/health/live", headers={"X-Request-ID": "client-abc.123:x_y"})
    check(r.header("X-Request-ID") == "client-abc.123:x_y", "valid id not echoed: %r" % r.header("X-Request-ID"))
    check(gw.get("/x", headers={"X-Request-ID": "ok-id"}).json()["request_id"] == "ok-id", "id in error body")
    for bad in ("has space", "a" * 129, "semi;colon", "quote\"d", ""):
        r = gw.get("/api/health/live", headers={"X-Request-ID": bad})
        got = r.header("X-Request-ID")
        check(got != bad and got.startswith("req_"), "bad id %r answered with %r" % (bad, got))
    ids = {gw.get("/api/health/live").header("X-Request-ID") for _ in range(20)}
    check(len(ids) == 20, "generated ids repeat")
    check(gw.get("/api/health/live", headers={"X-Request-ID": "a" * 128}).header("X-Request-ID") == "a" * 128,
          "128-character id not echoed")


def test_admin_routes_need_the_master_key():
    gw = Gateway(env={"SECRET_KEY": "s3cret-master-key"}).start()
    check_error(gw.get("/api/admin/config"), 401, "UNAUTHORIZED")
    check_error(gw.get("/api/admin/config", headers={"Authorization": "Bearer wrong"}), 401)
    check_error(gw.get("/api/admin/config", headers={"Authorization": "Basic czNjcmV0"}), 401)
    r = gw.get("/api/admin/config", headers={"Authorization": "Bearer s3cret-master-key"})
    check(r.status == 200, "right key refused: %d" % r.status)
    check(b"s3cret-master-key" not in r.body, "the key leaks in the config view")
    check(r.json()["services"]["master_key"] == "(set)", "master_key shown as %r" % r.json()["services"])
    check("s3cret-master-key" not in gw.log(), "the key leaks into the log")
    with open(gw.access_log) as f:
        check("s3cret-master-key" not in f.read(), "the key leaks into the access log")


def test_admin_routes_without_key_answer_loopback_only():
    gw = Gateway().start()
    check(gw.get("/api/admin/config").status == 200, "loopback refused without a master key")
    check("admin routes answer loopback clients only" in gw.log(), "start-up log does not say so")


def test_access_log_lines_and_reopen():
    gw = Gateway().start()
    gw.get("/api/health/live", headers={"X-Request-ID": "acc-1"})
    gw.get("/nope", headers={"X-Request-ID": "acc-2"})
    lines = wait_until(lambda: [json.loads(l) for l in open(gw.access_log) if l.strip()], 3, what="access log lines")
    by_id = {l["request_id"]: l for l in lines}
    check("acc-1" in by_id and "acc-2" in by_id, "ids missing from the access log")
    l = by_id["acc-1"]
    for key in ("method", "path", "status", "bytes", "latency_ms", "worker", "time", "remote"):
        check(key in l, "access log lacks %s: %r" % (key, l))
    check(l["status"] == 200 and l["path"] == "/api/health/live" and l["method"] == "GET", "line %r" % l)
    check(by_id["acc-2"]["status"] == 404, "404 line")
    os.rename(gw.access_log, gw.access_log + ".1")
    gw.kill(signal.SIGUSR1)
    time.sleep(0.5)
    for i in range(6):
        gw.get("/api/health/live", headers={"X-Request-ID": "after-%d" % i})
    wait_until(lambda: os.path.exists(gw.access_log) and "after-" in open(gw.access_log).read(), 3,
               what="a new access log after USR1")
    old = open(gw.access_log + ".1").read()
    check("after-" not in old, "lines still written to the rotated file")


def test_idle_keepalive_connection_closed_after_keepalive_timeout():
    gw = Gateway(config={"server": {"keepalive_timeout": 1, "read_timeout": 5}}).start()
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=6)
    s.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    data = s.recv(65536)
    check(data.startswith(b"HTTP/1.1 200"), "first response %r" % data[:40])
    t0 = time.monotonic()
    closed = s.recv(65536)
    took = time.monotonic() - t0
    s.close()
    check(closed == b"", "the idle connection was not closed: %r" % closed[:40])
    check(0.8 <= took <= 2.5, "closed after %.1f s, keepalive_timeout is 1 s" % took)
