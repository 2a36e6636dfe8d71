"""Supervision: crashed, hung and stopped workers are replaced; totals never
go backwards; a crash loop backs off; master death takes the workers along;
a worker that cannot ever work is not respawned."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import harness
from harness import Gateway, Load, check, wait_until

SERVED = 'orchesity_http_requests_total{route="health_live",code="200"}'


def test_kill9_worker_replaced_fast_and_totals_monotonic():
    gw = Gateway(workers=2).start()
    for _ in range(50):
        gw.get("/api/health/live")
    before = gw.metrics()
    victim = gw.workers()[0]
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                samples.append(gw.metrics().get(SERVED, 0))
            except OSError:
                pass
            time.sleep(0.01)

    with Load(gw, threads=4, keepalive=False) as load:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(0.3)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        replaced = wait_until(lambda: len(gw.workers()) == 2 and victim not in gw.workers() and
                              gw.get_json("/api/health/service/workers")["health"]["serving"] == 2, 3,
                              what="a replacement worker")
        took = time.monotonic() - killed_at
        time.sleep(0.5)
        stop.set()
        sampler.join()
    check(replaced and took < 1.0, "replacement took %.2f s" % took)
    # Connections are opened per request: queued ones survive the crash; only
    # a connection the victim had already accepted may fail, so no client
    # thread fails more than once.
    check(max(load.failures_by_thread.values() or [0]) <= 1, "a client failed repeatedly: %r" % load.failures[:5])
    check(all(b >= a for a, b in zip(samples, samples[1:])), "a total went backwards: %r" % samples)
    after = gw.metrics()
    check(after[SERVED] >= before[SERVED] + load.ok - 4, "served total lost the dead worker's counts")
    check(after["orchesity_worker_restarts_total"] == before["orchesity_worker_restarts_total"] + 1, "restarts")
    check("was killed by signal 9" in gw.log(), "exit not logged with its signal")


def test_keepalive_clients_of_surviving_worker_see_no_failure():
    gw = Gateway(workers=2).start()
    with Load(gw, threads=8, keepalive=True) as load:
        time.sleep(0.3)
        victim = gw.workers()[0]
        os.kill(victim, signal.SIGKILL)
        time.sleep(1.0)
    # Each keep-alive connection held by the victim fails once; clients of the
    # other worker, and everyone after reconnecting, succeed.
    check(max(load.failures_by_thread.values() or [0]) <= 1, "a client failed repeatedly: %r" % load.failures[:5])
    check(len(load.failures) < 8, "every client failed: the survivor's clients too")
    check(load.ok > 100, "too few requests served: %d" % load.ok)


def test_stopped_worker_replaced_after_heartbeat_timeout():
    gw = Gateway(workers=2, config={"server": {"worker_heartbeat_timeout": 2}}).start()
    victim = gw.workers()[0]
    os.kill(victim, signal.SIGSTOP)
    started = time.monotonic()
    wait_until(lambda: victim not in gw.workers() and len(gw.workers()) == 2, 10, what="the stopped worker replaced")
    took = time.monotonic() - started
    check(2.0 <= took <= 6.5, "replaced after %.1f s (timeout 2 s, SIGKILL 2 s after SIGABRT)" % took)
    log = gw.log()
    check("missed its heartbeat" in log and "SIGKILL" in log, "heartbeat handling not logged")
    check(gw.get("/api/health/live").status == 200, "serving")


test_stopped_worker_replaced_after_heartbeat_timeout.TIMEOUT = 30


def test_crash_loop_backs_off():
    gw = Gateway(workers=1).start()
    starts = []
    last = gw.workers()[0]
    for _ in range(6):
        os.kill(last, signal.SIGUSR2)  # unhandled: the worker dies as if it had crashed
        t0 = time.monotonic()
        new = wait_until(lambda: [p for p in gw.workers() if p != last], 15, interval=0.005, what="respawn")
        starts.append(time.monotonic() - t0)
        last = new[0]
        time.sleep(0.05)
    # 50, 100, 200, 400, 800, 1600 ms (plus up to one 100 ms tick each)
    check(starts[-1] > 1.2, "no backoff: delays %r" % starts)
    check(all(b > a * 1.3 for a, b in zip(starts[1:], starts[2:])), "delays do not grow: %r" % starts)
    check("crash-looping" in gw.log(), "crash loop not reported")


test_crash_loop_backs_off.TIMEOUT = 40


def test_master_sigkill_takes_workers_within_2s():
    gw = Gateway(workers=2).start()
    workers = gw.workers()
    with Load(gw, threads=2, keepalive=True):
        time.sleep(0.2)
        gw.kill(signal.SIGKILL)
        gw.proc.wait()
        t0 = time.monotonic()
        wait_until(lambda: not any(os.path.exists("/proc/%d" % w) and
                                   open("/proc/%d/stat" % w).read().split()[2] != "Z" for w in workers),
                   2.5, what="workers exiting after the master died")
    check(time.monotonic() - t0 <= 2.0, "workers outlived the master by %.1f s" % (time.monotonic() - t0))


def test_fatal_worker_exit_is_not_respawned():
    setpriv = shutil.which("setpriv")
    check(setpriv is not None, "setpriv (util-linux) is needed")
    check(os.geteuid() == 0, "this test needs root (a worker must fail to switch user)")
    # Root without CAP_SETUID/CAP_SETGID: the worker's setgid() fails, which is
    # a configuration the worker can never recover from (exit code 2).
    gw = Gateway(workers=2, config={"server": {"user": "nobody"}})
    gw.start(wait_ready=False, cmd_prefix=[setpriv, "--bounding-set", "-setuid,-setgid", "--inh-caps", "-setuid,-setgid"])
    code = gw.wait_exit(10)
    log = gw.log()
    check(code == 1, "master exit code %r" % code)
    check(log.count("will not be respawned") == 2, "fatal exits not reported per worker:\n" + log)
    check(len(re.findall(r"started worker#", log)) == 2, "a fatal worker was respawned:\n" + log)


def test_repeated_outside_kills_are_replaced_at_once():
    gw = Gateway(workers=1).start()
    for i in range(6):
        victim = gw.workers()[0]
        wait_until(lambda: gw.ready(), 3, what="ready")
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        wait_until(lambda: [p for p in gw.workers() if p != victim], 3, interval=0.005, what="replacement %d" % i)
        check(time.monotonic() - t0 < 0.5, "kill %d: replaced after %.2f s" % (i, time.monotonic() - t0))
    check("crash-looping" not in gw.log(), "outside kills were taken for a crash loop")
