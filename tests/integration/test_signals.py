"""Signals to the master: HUP reload (valid, broken, under load, keep-alive
clients), QUIT with a request still arriving, TERM deadline, second TERM,
readiness during a drain, and 500 slow-drip connections."""
import signal
import socket
import threading
import time

from harness import Gateway, Load, TestFailure, check, wait_until


def generation(gw):
    return gw.detailed()["master"]["generation"]


def reload_under_load(keepalive):
    gw = Gateway(workers=2, config={"dwa": {"routing_strategy": "load_balanced"}}).start()
    with Load(gw, threads=16, keepalive=keepalive) as load:
        time.sleep(0.5)
        gw.config["dwa"]["routing_strategy"] = "round_robin"
        gw.write_config()
        old_workers = set(gw.workers())
        gw.kill(signal.SIGHUP)
        try:
            wait_until(lambda: generation(gw) == 2, 10, what="generation 2")
        except TestFailure as e:  # say what the master was doing
            raise TestFailure("%s; the gateway's log ends with:\n%s" % (e, "\n".join(gw.log().splitlines()[-25:])))
        wait_until(lambda: not (old_workers & set(gw.workers())), 10, what="the old workers to drain")
        time.sleep(0.5)
    check(load.ok > 200, "too few requests during the reload: %d" % load.ok)
    check(not load.failures, "%d failed requests: %r" % (len(load.failures), load.failures[:5]))
    dwa = gw.get_json("/api/health")["services"]["dwa"]
    check(dwa["routing_strategy"] == "round_robin", "change not visible: %r" % dwa)
    m = gw.metrics()
    check(m["orchesity_reloads_total"] == 1 and m["orchesity_generation"] == 2, "reload metrics")
    check("reload complete: generation 2" in gw.log(), "reload not logged")


def test_hup_under_load_new_connections_zero_failures():
    reload_under_load(keepalive=False)


def test_hup_under_load_keepalive_zero_failures():
    reload_under_load(keepalive=True)


def test_repeated_hups_under_keepalive_load():
    gw = Gateway(workers=2).start()
    with Load(gw, threads=16, keepalive=True) as load:
        for g in range(2, 5):
            gw.kill(signal.SIGHUP)
            wait_until(lambda: generation(gw) == g, 10, what="generation %d" % g)
            time.sleep(0.4)
        time.sleep(1.0)
    check(not load.failures, "%d failed requests: %r" % (len(load.failures), load.failures[:5]))


def test_hup_with_broken_config_keeps_serving():
    gw = Gateway(workers=2).start()
    workers = gw.workers()
    with open(gw.conf_path, "a") as f:
        f.write("server = { workers = 0; };\n")
    with Load(gw, threads=4) as load:
        gw.kill(signal.SIGHUP)
        wait_until(lambda: "reload failed" in gw.log(), 5, what="the reload failure in the log")
        time.sleep(0.3)
    check(not load.failures, "failures: %r" % load.failures[:5])
    check(gw.workers() == workers, "workers changed after a failed reload")
    line = [l for l in gw.log().splitlines() if "reload failed" in l][0]
    check(gw.conf_path in line and ":" in line.split(gw.conf_path)[1], "no file:line in %r" % line)
    gw.write_config()
    with open(gw.conf_path, "a") as f:
        f.write("bogus_group = { x = 1; };\n")
    gw.kill(signal.SIGHUP)
    wait_until(lambda: gw.log().count("reload failed") == 2, 5, what="second failure")
    check("unknown setting 'bogus_group'" in gw.log(), "unknown setting not named")
    check(gw.metrics()["orchesity_reload_failures_total"] == 2, "reload failures metric")
    check(generation(gw) == 1, "generation moved")


def test_reload_through_admin_api():
    gw = Gateway(workers=1).start()
    r = gw.request("POST", "/api/admin/reload")
    check(r.status == 202, "status %d" % r.status)
    wait_until(lambda: generation(gw) == 2, 10, what="generation 2")


def slow_upload(port, body_len, drip_seconds, result):
    """Sends a POST whose body arrives over DRIP_SECONDS, a piece every 0.1 s
    (less than the drain grace); stores the reply."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"POST /api/health/live HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % body_len)
        steps = max(1, int(drip_seconds / 0.1))
        for i in range(steps):
            s.sendall(b"x" * (body_len // steps if i < steps - 1 else body_len - (steps - 1) * (body_len // steps)))
            time.sleep(drip_seconds / steps)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        result["reply"] = data
        s.close()
    except Exception as e:
        result["error"] = repr(e)


def test_quit_lets_a_request_still_arriving_complete():
    gw = Gateway(workers=1, config={"server": {"drain_grace": 300}}).start()
    result = {}
    t = threading.Thread(target=slow_upload, args=(gw.port, 1000, 2.5, result))
    t.start()
    time.sleep(0.5)
    gw.kill(signal.SIGQUIT)
    t.join(10)
    check("reply" in result, "the slow request failed: %r" % result)
    check(result["reply"].startswith(b"HTTP/1.1 405"), "reply %r" % result["reply"][:80])
    check(b"Connection: close" in result["reply"], "a draining worker must close the connection")
    check(gw.wait_exit(5) == 0, "exit code")


test_quit_lets_a_request_still_arriving_complete.TIMEOUT = 30


def test_readiness_is_503_while_draining():
    gw = Gateway(workers=1, config={"server": {"drain_grace": 2000}}).start()
    conn = __import__("http.client").client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
    conn.request("GET", "/api/health/ready")
    r = conn.getresponse()
    r.read()
    check(r.status == 200, "ready before the drain")
    gw.kill(signal.SIGQUIT)
    time.sleep(0.2)
    conn.request("GET", "/api/health/ready")
    r = conn.getresponse()
    body = r.read()
    check(r.status == 503 and (b"draining" in body or b"stopping" in body), "ready during drain: %d %r" % (r.status, body))
    check(r.getheader("Connection") == "close", "no Connection: close while draining")
    conn.close()
    gw.wait_exit(10)


def test_new_connections_are_refused_while_stopping():
    """Once a stop begins, no process holds the listening socket: a new
    connection is refused at once (a proxy tries another replica) instead
    of waiting in the backlog to be reset when the gateway exits."""
    gw = Gateway(workers=2, config={"server": {"drain_grace": 300}}).start()
    result = {}
    t = threading.Thread(target=slow_upload, args=(gw.port, 1000, 2.0, result))
    t.start()
    time.sleep(0.3)
    gw.kill(signal.SIGTERM)
    time.sleep(0.3)
    refused = None
    try:
        socket.create_connection(("127.0.0.1", gw.port), timeout=2).close()
    except ConnectionRefusedError:
        refused = True
    check(refused, "a new connection was accepted while stopping")
    t.join(10)
    check("reply" in result, "the request in flight failed: %r" % result)
    check(gw.wait_exit(5) == 0, "exit code")


test_new_connections_are_refused_while_stopping.TIMEOUT = 30


def test_term_deadline_is_honoured():
    gw = Gateway(workers=1, config={"server": {"shutdown_timeout": 2}}).start()
    result = {}
    t = threading.Thread(target=slow_upload, args=(gw.port, 1000, 8, result), daemon=True)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    gw.kill(signal.SIGTERM)
    code = gw.wait_exit(8)
    took = time.monotonic() - t0
    check(1.8 <= took <= 3.5, "stopped after %.1f s with shutdown_timeout 2" % took)
    check(code == 0, "exit code %r" % code)
    check("SIGKILL" in gw.log(), "the deadline kill is not logged")


test_term_deadline_is_honoured.TIMEOUT = 30


def test_second_term_stops_at_once():
    gw = Gateway(workers=1, config={"server": {"shutdown_timeout": 30}}).start()
    result = {}
    t = threading.Thread(target=slow_upload, args=(gw.port, 1000, 8, result), daemon=True)
    t.start()
    time.sleep(0.3)
    gw.kill(signal.SIGTERM)
    time.sleep(0.3)
    t0 = time.monotonic()
    gw.kill(signal.SIGINT)
    gw.wait_exit(3)
    check(time.monotonic() - t0 < 1.5, "second signal did not stop at once")
    check("stopping at once" in gw.log(), "not logged")


def test_slow_drip_connections_do_not_stop_a_normal_client():
    gw = Gateway(workers=2).start()
    socks = []
    try:
        for _ in range(500):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            s.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        stop = threading.Event()

        def drip():
            while not stop.is_set():
                for s in socks:
                    try:
                        s.sendall(b"X-Drip: 1\r\n")
                    except OSError:
                        pass
                time.sleep(0.5)

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        worst = 0.0
        for _ in range(50):
            t0 = time.monotonic()
            r = gw.get("/api/health/live", timeout=2)
            worst = max(worst, time.monotonic() - t0)
            check(r.status == 200, "status %d" % r.status)
        stop.set()
        dripper.join()
        check(worst < 0.5, "a normal request took %.3f s beside 500 slow clients" % worst)
    finally:
        for s in socks:
            s.close()


test_slow_drip_connections_do_not_stop_a_normal_client.TIMEOUT = 60
