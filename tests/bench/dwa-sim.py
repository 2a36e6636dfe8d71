#!/usr/bin/env python3
"""dwa-sim.py: a fleet simulation of the Dynamic Weight Algorithm through the
real gateway.

Four mock providers (orchesity-mockllm, one process each) with different
prices, latencies and error rates sit behind one gateway with two workers.
For each routing strategy / selection policy an open-loop client sends a
steady rate of `model: "auto"` chat requests to /v1/chat/completions while a
script runs through five phases:

    warm-up   not measured
    steady    every provider healthy: the normal traffic shares
    outage    the cheapest good provider (p1) is down
    recovery  p1 is back: how fast does it regain its share?
    slowdown  another provider (p2) answers much more slowly

Per strategy it reports the cost (the gateway's orchesity_cost_usd_total),
the success rate, p50/p95 latency (client side), the calls that reached p1
while it was down, the requests lost during the outage, the longest gap
between two attempts of one request (an upper bound on retry back-off), and
the time p1 needs after its recovery to regain half of its normal share,
then checks the targets of the DWA issue (PASS/MISS).  --kill-workers
repeats the load-balanced run while a random gateway worker is killed with
SIGKILL every few seconds, and checks that the statistics stay consistent.

Python 3 standard library only; loopback only; every process it starts is
stopped by pid.  See tests/bench/README.md.
"""
import argparse
import collections
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# name, role, model, USD per million tokens (input, output), latency = base + 0..jitter ms, error rate
PROVIDERS = [
    {"name": "p1", "role": "cheap, good", "model": "sim-cheap", "input": 0.15, "output": 0.60,
     "latency": 150, "jitter": 100, "error_rate": 0.0},
    {"name": "p2", "role": "mid-priced", "model": "sim-mid", "input": 1.00, "output": 5.00,
     "latency": 250, "jitter": 150, "error_rate": 0.0},
    {"name": "p3", "role": "expensive", "model": "sim-premium", "input": 5.00, "output": 25.00,
     "latency": 350, "jitter": 250, "error_rate": 0.0},
    {"name": "p4", "role": "cheapest, flaky", "model": "sim-flaky", "input": 0.10, "output": 0.40,
     "latency": 120, "jitter": 80, "error_rate": 0.05},
]
NAMES = [p["name"] for p in PROVIDERS]
OUTAGE_PROVIDER = "p1"
SLOW_PROVIDER = "p2"
SLOW_LATENCY_MS = 1500
ERROR_STATUS = 500

# label -> (strategy, policy)
STRATEGIES = {
    "rr": ("round_robin", "weighted_composite"),
    "lb-wc": ("load_balanced", "weighted_composite"),
    "lb-mc": ("load_balanced", "min_cost"),
    "lb-ml": ("load_balanced", "min_latency"),
    "lb-rr": ("load_balanced", "round_robin"),
    "random": ("random", "weighted_composite"),
    "priority": ("priority", "weighted_composite"),
}
DEFAULT_RUNS = ["rr", "lb-wc", "lb-mc"]

# The slowdown is long enough that round_robin's slow calls (a quarter of the calls of that phase) are
# clearly more than 5 % of the measured requests, so that its overall p95 is not a coin toss between the
# normal and the slow latencies: 20 / 80 * 25 % = 6.25 % (quick: 10 / 40 * 25 %).
PHASES_FULL = [("warmup", 10), ("steady", 20), ("outage", 20), ("recovery", 20), ("slowdown", 20)]
PHASES_QUICK = [("warmup", 4), ("steady", 8), ("outage", 10), ("recovery", 12), ("slowdown", 10)]

# Targets of the DWA issue
COST_RATIO_MAX = 0.20
SUCCESS_MIN = 0.9995
OUTAGE_CALLS_MAX = 20
BACKOFF_MAX_MS = 100
REGAIN_SHARE = 0.5
REGAIN_MAX_S = 10.0

FILLER = ("please summarise the state of the fleet in a few words and keep the answer short because the "
          "simulation only needs a small reply from whichever provider the gateway picks for this request "
          "while it measures cost latency and availability across four mock providers with different prices "
          "and different error rates during an outage and a slowdown of the upstream services that the gateway "
          "balances between according to its dynamic weights")
MAX_TOKENS = 16

_children = []  # every process started, for the exit path
_log_lock = threading.Lock()


def log(msg):
    with _log_lock:
        sys.stderr.write("[dwa-sim %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
        sys.stderr.flush()


class SimError(Exception):
    pass


# ---- small helpers -------------------------------------------------------------------------------------------


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_call(port, method, path, body=None, timeout=5.0, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def first_bin(env_name, rel):
    if os.environ.get(env_name):
        return os.environ[env_name]
    for cand in (os.path.join(ROOT, rel), os.path.join(ROOT, "build", rel)):
        if os.access(cand, os.X_OK):
            return cand
    return os.path.join(ROOT, rel)


def percentile(values, q):
    """Nearest rank; None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, int(-(-q * len(v) // 100)))  # ceil(q/100 * n)
    return v[min(k, len(v)) - 1]


def fmt_ms(x):
    return "–" if x is None else "%.0f" % x


def fmt_pct(x, digits=2):
    return "–" if x is None else "%.*f %%" % (digits, 100.0 * x)


def stop_pid(proc, timeout=10.0, children=(), binary=None):
    """SIGTERM, then SIGKILL after TIMEOUT; CHILDREN (pids of processes running BINARY, once children of
    PROC) get SIGKILL if they are still there afterwards."""
    if proc is not None and proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        except OSError:
            pass
    for pid in children:
        try:
            os.kill(pid, 0)
        except OSError:
            continue
        if proc_parent(pid) in (proc.pid if proc else None, 1) and proc_exe(pid) == binary:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def proc_exe(pid):
    try:
        return os.path.realpath("/proc/%d/exe" % pid)
    except OSError:
        return None


def proc_parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


# ---- the mock providers --------------------------------------------------------------------------------------


class Mock:
    def __init__(self, spec, binary, workdir, seed, record):
        self.spec = spec
        self.name = spec["name"]
        self.binary = binary
        self.workdir = workdir
        self.seed = seed
        self.record = record
        self.port = 0
        self.proc = None

    def base_config(self, seed):
        return {"latency_ms": self.spec["latency"], "jitter_ms": self.spec["jitter"],
                "error_rate": self.spec["error_rate"], "error_status": ERROR_STATUS, "down": False,
                "seed": seed}

    def start(self):
        s = self.spec
        argv = [self.binary, "--listen", "127.0.0.1:%d" % self.port, "--latency-ms", str(s["latency"]),
                "--jitter-ms", str(s["jitter"]), "--error-rate", str(s["error_rate"]),
                "--error-status", str(ERROR_STATUS), "--seed", str(self.seed), "--record", str(self.record),
                "--quiet"]
        err = open(os.path.join(self.workdir, "mock-%s.log" % self.name), "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        err.close()
        _children.append(self)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = re.match(r"mockllm listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            raise SimError("mock %s did not start (%r); see %s" % (self.name, line, err.name))
        self.port = int(m.group(1))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def call(self, method, path, body=None, timeout=10.0):
        status, data = http_call(self.port, method, path, body=body, timeout=timeout)
        if status != 200:
            raise SimError("mock %s: %s %s -> %d %r" % (self.name, method, path, status, data[:200]))
        return json.loads(data)

    def config(self, **kw):
        return self.call("POST", "/_mock/config", json.dumps(kw))

    def stats(self):
        return self.call("GET", "/_mock/stats")

    def requests(self):
        return self.call("GET", "/_mock/requests?brief", timeout=60)["requests"]

    def clear(self):
        return self.call("DELETE", "/_mock/requests")

    def kill(self):
        """A real outage: the process dies, its port refuses connections."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=5)

    def stop(self):
        stop_pid(self.proc, timeout=5)


# ---- the gateway ---------------------------------------------------------------------------------------------


def libconfig(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[ " + ", ".join(libconfig(v) for v in value) + " ]"
    return repr(value)


class Gateway:
    def __init__(self, binary, workdir, mocks, workers, strategy, policy, settings, tag):
        self.binary = binary
        self.dir = workdir
        self.port = free_port()
        self.workers_wanted = workers
        self.conf = os.path.join(workdir, "orchesity-%s.conf" % tag)
        self.errlog = os.path.join(workdir, "gateway-%s.log" % tag)
        self.strategy = strategy
        self.policy = policy
        self.proc = None
        self.seen_workers = set()
        groups = collections.OrderedDict()
        groups["server"] = collections.OrderedDict(
            [("listen", ["127.0.0.1:%d" % self.port]), ("workers", workers), ("shutdown_timeout", 5),
             ("drain_grace", 0)])
        groups["log"] = collections.OrderedDict(
            [("level", "info"), ("error_log", self.errlog), ("access_log", "off")])
        extra = collections.OrderedDict()
        for key, raw in settings:
            group, name = key.split(".", 1)
            groups.setdefault(group, collections.OrderedDict())
            extra.setdefault(group, []).append("    %s = %s;" % (name, raw))
        lines = []
        for g, items in groups.items():
            body = ["    %s = %s;" % (k, libconfig(v)) for k, v in items.items()] + extra.pop(g, [])
            lines.append("%s = {\n%s\n};" % (g, "\n".join(body)))
        provs = []
        for m in mocks:
            s = m.spec
            provs.append(
                '  { name = "%s"; type = "openai"; base_url = "http://127.0.0.1:%d/v1";\n'
                '    api_key_env = "DWA_SIM_KEY";\n'
                '    default_model = "%s";\n'
                '    models = ( { id = "%s"; input = %s; cached_input = %s; output = %s; } ); }'
                % (s["name"], m.port, s["model"], s["model"], s["input"], s["input"], s["output"]))
        lines.append("providers = (\n%s\n);" % ",\n".join(provs))
        with open(self.conf, "w") as f:
            f.write("# written by tests/bench/dwa-sim.py\n" + "\n".join(lines) + "\n")

    def start(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DWA_SIM_KEY": "sim-key",
               "DWA_ROUTING_STRATEGY": self.strategy, "DWA_SELECTION_POLICY": self.policy}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        out = open(os.path.join(self.dir, "gateway-stdout.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], env=env, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        _children.append(self)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SimError("the gateway exited with %s; see %s" % (self.proc.returncode, self.errlog))
            try:
                if http_call(self.port, "GET", "/api/health/ready", timeout=1)[0] == 200 and \
                        len(self.workers()) >= self.workers_wanted:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise SimError("the gateway did not become ready on port %d" % self.port)
        d = self.dwa_stats()
        if d.get("routing_strategy") != self.strategy or d.get("selection_policy") != self.policy:
            raise SimError("the gateway runs %s/%s, not %s/%s" % (d.get("routing_strategy"),
                                                                   d.get("selection_policy"), self.strategy,
                                                                   self.policy))
        return self

    def workers(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            return []
        self.seen_workers.update(pids)
        return pids

    def metrics(self, timeout=5.0):
        status, data = http_call(self.port, "GET", "/metrics", timeout=timeout)
        if status != 200:
            raise SimError("/metrics -> %d" % status)
        values = {}
        for line in data.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
        return values

    def dwa_stats(self, timeout=5.0):
        status, data = http_call(self.port, "GET", "/api/llm/dwa/stats", timeout=timeout)
        if status != 200:
            raise SimError("/api/llm/dwa/stats -> %d" % status)
        return json.loads(data)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        self.workers()
        stop_pid(self.proc, timeout=10, children=sorted(self.seen_workers),
                 binary=os.path.realpath(self.binary))


def metric(m, name, provider):
    return m.get('%s{provider="%s"}' % (name, provider), 0.0)


def failures(m, provider):
    prefix = 'orchesity_upstream_failures_total{provider="%s",' % provider
    return sum(v for k, v in m.items() if k.startswith(prefix))


# ---- the load --------------------------------------------------------------------------------------------------


class Client:
    """Open-loop load: request I is due at t0 + I / rate, whatever the earlier ones do.

    Each thread keeps one keep-alive connection.  A request whose connection fails before any response
    (a reset, a refused or closed connection: what a killed worker leaves) is sent once more on a new
    connection, as the OpenAI and Anthropic SDKs do; it counts in conn_retries."""

    def __init__(self, port, tag, timeout):
        self.port = port
        self.tag = tag
        self.timeout = timeout
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.local.conn = c
        return c

    def _drop(self):
        c = getattr(self.local, "conn", None)
        if c is not None:
            c.close()
        self.local.conn = None

    def send(self, i, due, rec):
        rec["start"] = time.monotonic()
        rec["lag"] = rec["start"] - due
        for attempt in (0, 1):
            text = "sim %s %d.%d: %s" % (self.tag, i, attempt, FILLER)
            body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": text}],
                               "max_tokens": MAX_TOKENS})
            c = self._conn()
            try:
                c.request("POST", "/v1/chat/completions", body=body,
                          headers={"Content-Type": "application/json", "Authorization": "Bearer sim"})
                r = c.getresponse()
                data = r.read()
                if (r.getheader("connection") or "").lower() == "close":
                    self._drop()
                rec["status"] = r.status
                rec["provider"] = r.getheader("x-orchesity-provider")
                if 200 <= r.status < 300:
                    try:
                        u = json.loads(data).get("usage") or {}
                        rec["tokens"] = (u.get("prompt_tokens", 0), u.get("completion_tokens", 0))
                    except ValueError:
                        rec["status"] = -2  # a 2xx that is not JSON counts as a failure
                else:
                    rec["error"] = data[:200].decode(errors="replace")
                break
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                rec["status"] = 0
                rec["error"] = repr(e)
                if attempt == 0:
                    rec["conn_retry"] = True
                    continue
        rec["end"] = time.monotonic()


def run_load(client, rate, duration, threads, records, stop_event):
    """Sends rate*duration requests paced open-loop; returns when all are sent (not finished)."""
    pool = ThreadPoolExecutor(max_workers=threads)
    t0 = records["t0"]
    n = int(rate * duration)
    futures = []
    for i in range(n):
        if stop_event.is_set():
            break
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        rec = {"i": i, "due": due - t0, "status": None}
        records["list"].append(rec)
        futures.append(pool.submit(client.send, i, due, rec))
    records["pool"] = pool
    records["futures"] = futures


# ---- one run ---------------------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Polls /metrics every INTERVAL s (and /api/llm/dwa/stats when CHECK_DWA) and checks consistency."""

    def __init__(self, gw, t0, interval, check_dwa):
        super().__init__(daemon=True)
        self.gw = gw
        self.t0 = t0
        self.interval = interval
        self.check_dwa = check_dwa
        self.samples = []  # (t, metrics)
        self.failed = 0
        self.decreases = []  # (t, key, before, after)
        self.dwa_samples = 0
        self.dwa_problems = []
        self.breaker = []  # (t, state, openings, available) of the outage provider, on every change
        self.workers = []  # (t, number of worker processes)
        self.stop_event = threading.Event()
        self.last = {}

    def run(self):
        k = 0
        while not self.stop_event.is_set():
            t = time.monotonic()
            self.workers.append((t - self.t0, len(self.gw.workers())))
            try:
                m = self.gw.metrics(timeout=2)
                self.add(t - self.t0, m)
            except (OSError, SimError, http.client.HTTPException, ValueError):
                self.failed += 1
            if self.check_dwa:
                try:
                    self.check_stats(t - self.t0, self.gw.dwa_stats(timeout=2))
                except (OSError, SimError, http.client.HTTPException, ValueError):
                    self.failed += 1
            k += 1
            self.stop_event.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def add(self, t, m):
        for key, v in m.items():
            name = key.split("{", 1)[0]
            if not (name.endswith("_total") or name.endswith("_sum") or name.endswith("_count")):
                continue
            before = self.last.get(key)
            if before is not None and v < before - 1e-9 * max(1.0, abs(before)):
                self.decreases.append((t, key, before, v))
            self.last[key] = max(v, before if before is not None else v)
        self.samples.append((t, m))

    def check_stats(self, t, d):
        self.dwa_samples += 1
        ps = d.get("provider_stats", {})
        weights = 0.0
        for name, p in ps.items():
            w = p.get("window", {})
            calls, ok, bad = w.get("calls", -1), w.get("successes", -1), w.get("failures", -1)
            if min(calls, ok, bad) < 0:
                self.dwa_problems.append((t, "%s: negative window counts %r" % (name, w)))
            elif abs(ok + bad - calls) > max(3, calls // 100):
                self.dwa_problems.append((t, "%s: successes + failures != calls: %r" % (name, w)))
            if not 0.0 <= p.get("weight", -1) <= 1.0:
                self.dwa_problems.append((t, "%s: weight %r" % (name, p.get("weight"))))
            if p.get("breaker", {}).get("state") not in ("closed", "open", "half_open"):
                self.dwa_problems.append((t, "%s: breaker %r" % (name, p.get("breaker"))))
            weights += p.get("weight", 0.0)
        o = ps.get(OUTAGE_PROVIDER, {})
        b = o.get("breaker", {})
        state = (b.get("state"), b.get("openings"), o.get("available"))
        if not self.breaker or self.breaker[-1][1:] != state:
            self.breaker.append((t,) + state)
        if d.get("active_providers", 0) > 0 and abs(weights - 1.0) > 0.01:
            self.dwa_problems.append((t, "weights sum to %.4f" % weights))


class Killer(threading.Thread):
    """SIGKILLs a random worker of GW every EVERY seconds (pids read from /proc, children of our master)."""

    def __init__(self, gw, every, rng):
        super().__init__(daemon=True)
        self.gw = gw
        self.every = every
        self.rng = rng
        self.kills = []
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.wait(self.every):
            pids = self.gw.workers()
            if not pids:
                continue
            pid = self.rng.choice(pids)
            if proc_parent(pid) != self.gw.proc.pid:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                self.kills.append((time.monotonic(), pid))
            except OSError:
                pass


def run_one(label, strategy, policy, mocks, args, workdir, kill_workers, run_no):
    phases = PHASES_QUICK if args.quick else PHASES_FULL
    if args.phases:
        phases = [(n, float(s)) for n, s in zip(("warmup", "steady", "outage", "recovery", "slowdown"),
                                                 args.phases.split(","))]
    total = sum(d for _, d in phases)
    bounds, t = {}, 0.0
    for name, d in phases:
        bounds[name] = (t, t + d)
        t += d
    tag = "r%d" % run_no
    by_name = {m.name: m for m in mocks}
    for i, m in enumerate(mocks):
        if not m.alive():
            m.start()
        m.config(**m.base_config(args.seed + 101 * i + run_no))
        m.clear()
    gw = Gateway(args.gateway_bin, workdir, mocks, args.workers, strategy, policy, args.set,
                 "%s-%s" % (tag, label)).start()
    what = "%s/%s%s" % (strategy, policy, " with kill -9 of a worker every %g s" % args.kill_every
                        if kill_workers else "")
    log("run %d: %s: %d s at %g requests/s" % (run_no, what, total, args.rate))
    res = {"label": label, "strategy": strategy, "policy": policy, "kill": kill_workers, "phases": phases,
           "bounds": bounds}
    stop_event = threading.Event()
    records = {"t0": time.monotonic() + 0.2, "list": []}
    t0 = records["t0"]
    sampler = Sampler(gw, t0, 0.5, True)
    sampler.start()
    killer = None
    client = Client(gw.port, tag, args.timeout)
    loader = threading.Thread(target=run_load, args=(client, args.rate, total, args.threads, records,
                                                     stop_event), daemon=True)
    loader.start()
    snaps = {}
    outage_mock, slow_mock = by_name[OUTAGE_PROVIDER], by_name[SLOW_PROVIDER]
    mock_before = None

    def at(tt):
        d = t0 + tt - time.monotonic()
        if d > 0:
            time.sleep(d)
        if not gw.alive():
            raise SimError("the gateway exited during the run; see %s" % gw.errlog)

    def snap(name):
        deadline = time.monotonic() + 30  # a worker may be waiting for its respawn
        while time.monotonic() < deadline:
            try:
                snaps[name] = (time.monotonic() - t0, gw.metrics(timeout=0.5))
                return
            except (OSError, SimError, http.client.HTTPException, ValueError):
                time.sleep(0.05)
        raise SimError("cannot read /metrics for the %s snapshot" % name)

    try:
        if kill_workers:
            killer = Killer(gw, args.kill_every, random.Random(args.seed + run_no))
            killer.start()
        at(bounds["steady"][0])
        snap("measure")
        at(bounds["outage"][0])
        snap("outage_start")
        try:
            d = gw.dwa_stats(timeout=2)["provider_stats"]
            res["steady_dwa"] = {p: (d[p]["score"], d[p]["weight"]) for p in NAMES}
        except (OSError, SimError, http.client.HTTPException, ValueError, KeyError):
            res["steady_dwa"] = None
        if args.outage != "kill":
            mock_before = outage_mock.stats()
        if args.outage == "close":
            outage_mock.config(down=True)
        elif args.outage == "503":
            outage_mock.config(error_rate=1.0, error_status=503)
        else:
            outage_mock.kill()
        log("  %s down (%s) at t=%.1f s" % (OUTAGE_PROVIDER, args.outage, time.monotonic() - t0))
        at(bounds["recovery"][0])
        snap("outage_end")
        if args.outage == "kill":
            outage_mock.start()
            outage_mock.config(**outage_mock.base_config(args.seed + run_no))
            res["outage_mock_requests"] = None
        else:
            after = outage_mock.stats()
            outage_mock.config(down=False, error_rate=outage_mock.spec["error_rate"], error_status=ERROR_STATUS)
            key = "down_closes" if args.outage == "close" else "injected_errors"
            res["outage_mock_requests"] = after[key] - mock_before[key]
        res["recovered_at"] = time.monotonic() - t0
        log("  %s back at t=%.1f s" % (OUTAGE_PROVIDER, res["recovered_at"]))
        at(bounds["slowdown"][0])
        slow_mock.config(latency_ms=SLOW_LATENCY_MS)
        snap("slowdown_start")
        log("  %s slowed to %d ms at t=%.1f s" % (SLOW_PROVIDER, SLOW_LATENCY_MS, time.monotonic() - t0))
        at(total)
        slow_mock.config(latency_ms=slow_mock.spec["latency"])
        loader.join()
        if killer:
            killer.stop_event.set()
            killer.join()
        pool = records.get("pool")
        if pool:
            deadline = time.monotonic() + args.timeout + 5
            for f in records["futures"]:
                try:
                    f.result(timeout=max(0.1, deadline - time.monotonic()))
                except FutureTimeout:
                    raise SimError("requests still unanswered %g s after the end of the load" % args.timeout)
            pool.shutdown(wait=True)
        snap("end")
        t_end = time.monotonic()
        while len(gw.workers()) < args.workers and time.monotonic() < t_end + 15:
            time.sleep(0.1)  # the master may be waiting out a respawn delay
        res["workers_after"] = len(gw.workers())
        res["workers_wait_s"] = time.monotonic() - t_end
    finally:
        stop_event.set()
        if killer:
            killer.stop_event.set()
        sampler.stop_event.set()
        sampler.join(timeout=5)
        if loader.is_alive():
            loader.join(timeout=5)
        if records.get("pool"):
            records["pool"].shutdown(wait=False, cancel_futures=True)
    mock_records = {}
    for m in mocks:
        if m.alive():
            mock_records[m.name] = m.requests()
            m.clear()
    gw.stop()
    res["errlog"] = gw.errlog
    res["kills"] = len(killer.kills) if killer else 0
    analyse(res, records["list"], snaps, sampler, mock_records, tag, args)
    return res


# ---- analysis --------------------------------------------------------------------------------------------------


def phase_of(bounds, t):
    for name, (a, b) in bounds.items():
        if a <= t < b:
            return name
    return None


def analyse(res, recs, snaps, sampler, mock_records, tag, args):
    bounds = res["bounds"]
    for r in recs:
        r["ok"] = r.get("status") is not None and 200 <= r["status"] < 300
    measured = [r for r in recs if r["due"] >= bounds["steady"][0]]
    ok = [r for r in measured if r["ok"]]
    lat = [1000.0 * (r["end"] - r["start"]) for r in measured if r.get("end") is not None and r["status"]]
    res["requests"] = len(measured)
    res["success"] = len(ok) / len(measured) if measured else None
    res["failed_examples"] = collections.Counter(
        "%s %s" % (r.get("status"), (r.get("error") or "")[:120]) for r in measured if not r["ok"]).most_common(5)
    res["p50"] = percentile(lat, 50)
    res["p95"] = percentile(lat, 95)
    res["p99"] = percentile(lat, 99)
    res["conn_retries"] = sum(1 for r in measured if r.get("conn_retry"))
    res["max_lag_ms"] = max((1000.0 * r.get("lag", 0) for r in measured), default=0)
    res["lost_outage"] = sum(1 for r in measured if phase_of(bounds, r["due"]) == "outage" and not r["ok"])
    res["lost_by_phase"] = collections.Counter(phase_of(bounds, r["due"]) for r in measured if not r["ok"])
    # per phase: p95 and who served the successful requests (client side)
    res["phase_p95"], res["phase_served"] = {}, {}
    for name in bounds:
        rs = [r for r in recs if phase_of(bounds, r["due"]) == name]
        res["phase_p95"][name] = percentile(
            [1000.0 * (r["end"] - r["start"]) for r in rs if r.get("end") is not None and r["status"]], 95)
        c = collections.Counter(r.get("provider") for r in rs if r["ok"])
        n = sum(c.values())
        res["phase_served"][name] = {p: (c[p] / n if n else 0.0) for p in NAMES}
    # cost from the gateway's counters, and from the answers (tokens x price) as a cross-check
    m0, m1 = snaps["measure"][1], snaps["end"][1]
    res["cost"] = sum(metric(m1, "orchesity_cost_usd_total", p) - metric(m0, "orchesity_cost_usd_total", p)
                      for p in NAMES)
    price = {p["name"]: p for p in PROVIDERS}
    res["cost_client"] = sum((r["tokens"][0] * price[r["provider"]]["input"] +
                              r["tokens"][1] * price[r["provider"]]["output"]) / 1e6
                             for r in ok if r.get("tokens") and r.get("provider") in price)
    res["gw_successes"] = sum(metric(m1, "orchesity_upstream_successes_total", p) -
                              metric(m0, "orchesity_upstream_successes_total", p) for p in NAMES)
    res["client_successes"] = len(ok)
    res["retries"] = sum(metric(m1, "orchesity_upstream_retries_total", p) -
                         metric(m0, "orchesity_upstream_retries_total", p) for p in NAMES)
    res["fallbacks"] = sum(metric(m1, "orchesity_upstream_fallbacks_total", p) -
                           metric(m0, "orchesity_upstream_fallbacks_total", p) for p in NAMES)
    # calls share per phase, from the gateway's counters (attempts)
    res["phase_calls"] = {}
    marks = [("steady", "measure", "outage_start"), ("outage", "outage_start", "outage_end"),
             ("recovery", "outage_end", "slowdown_start"), ("slowdown", "slowdown_start", "end")]
    for name, a, b in marks:
        ma, mb = snaps[a][1], snaps[b][1]
        d = {p: metric(mb, "orchesity_upstream_calls_total", p) - metric(ma, "orchesity_upstream_calls_total", p)
             for p in NAMES}
        n = sum(d.values())
        res["phase_calls"][name] = {p: (d[p] / n if n else 0.0) for p in NAMES}
    # calls that reached the dead provider: its failed attempts during the outage (calls that were in flight
    # when it went down still succeed and are not counted)
    ma, mb = snaps["outage_start"][1], snaps["outage_end"][1]
    o = OUTAGE_PROVIDER
    res["outage_calls"] = (metric(mb, "orchesity_upstream_calls_total", o) -
                           metric(ma, "orchesity_upstream_calls_total", o)) - \
                          (metric(mb, "orchesity_upstream_successes_total", o) -
                           metric(ma, "orchesity_upstream_successes_total", o))
    pre = res["phase_calls"]["steady"][o]
    res["pre_share"] = pre
    res["regain_s"], res["share_series"] = regain_time(sampler.samples, res["recovered_at"],
                                                       bounds["recovery"][1], pre)
    # the longest wait between two attempts of one request, from the mocks' records
    gaps = attempt_gaps(mock_records, tag)
    res["max_gap_ms"], res["gap_requests"], res["multi_attempt"], res["gap_detail"] = gaps
    down = [MARK.search(r.get("body") or "") for r in mock_records.get(OUTAGE_PROVIDER, [])
            if r.get("outcome") == "down" or (args.outage == "503" and r.get("status") == 503)]
    res["outage_distinct"] = len(set(m.group(2) for m in down if m and m.group(1) == tag))
    res["sampler_failed"] = sampler.failed
    res["decreases"] = sampler.decreases
    res["dwa_samples"] = sampler.dwa_samples
    res["dwa_problems"] = sampler.dwa_problems
    res["metric_samples"] = len(sampler.samples)
    res["breaker"] = sampler.breaker
    ws = [(t, n) for t, n in sampler.workers if t >= bounds["steady"][0]]
    res["workers_min"] = min((n for _, n in ws), default=None)
    res["workers_short_s"] = sum(0.5 for _, n in ws if n < args.workers)
    res["workers_none_s"] = sum(0.5 for _, n in ws if n == 0)
    res["respawn_delays"] = respawn_delays(res["errlog"])


def respawn_delays(path):
    """The master's respawn delays (ms) from the gateway's error log."""
    delays = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.search(r"(?:will be replaced in|next start in) (\d+) ms", line)
                if m:
                    delays.append(int(m.group(1)))
    except OSError:
        pass
    return delays


def regain_time(samples, t_rec, t_stop, pre_share):
    """Seconds after T_REC until the outage provider's share of the calls over the last second reaches
    REGAIN_SHARE * PRE_SHARE; None if not before T_STOP.  Also returns the per-second series."""
    series = []
    found = None
    o = OUTAGE_PROVIDER
    for k, (t, m) in enumerate(samples):
        if t < t_rec + 1.0 or t > t_stop + 0.5:
            continue
        j = k
        while j > 0 and samples[j][0] > t - 1.0:
            j -= 1
        mp = samples[j][1]
        d = {p: metric(m, "orchesity_upstream_calls_total", p) - metric(mp, "orchesity_upstream_calls_total", p)
             for p in NAMES}
        n = sum(d.values())
        share = d[o] / n if n else 0.0
        series.append((t - t_rec, share))
        if found is None and pre_share > 0 and share >= REGAIN_SHARE * pre_share:
            found = t - t_rec
    return found, series


MARK = re.compile(r"sim (r\d+) (\d+\.\d):")


def attempt_gaps(mock_records, tag):
    attempts = collections.defaultdict(list)
    for name, recs in mock_records.items():
        for r in recs:
            m = MARK.search(r.get("body") or "")
            if not m or m.group(1) != tag:
                continue
            end = r.get("ended_ms") or r.get("started_ms")
            attempts[m.group(2)].append((r["started_ms"], end, name))
    worst, multi, detail = 0, 0, None
    for key, att in attempts.items():
        if len(att) < 2:
            continue
        multi += 1
        att.sort()
        for (s0, e0, _), (s1, _, _) in zip(att, att[1:]):
            if s1 - e0 > worst:
                worst = s1 - e0
                detail = "request %s: " % key + ", ".join(
                    "%s %+d..%+d ms" % (n, a - att[0][0], b - att[0][0]) for a, b, n in att)
    return worst, len(attempts), multi, detail


# ---- report ----------------------------------------------------------------------------------------------------


def git_describe():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def report(results, args, started, cmdline):
    out = []
    w = out.append
    phases = results[0]["phases"]
    w("## DWA fleet simulation")
    w("")
    w("`%s` — %s, commit %s, %d CPUs, %g requests/s, %d gateway workers, outage mode `%s`, seed %d, %.0f s." % (
        cmdline, time.strftime("%Y-%m-%d", time.gmtime(started)), git_describe(), os.cpu_count() or 0, args.rate,
        args.workers, args.outage, args.seed, time.time() - started))
    w("")
    w("Phases: " + ", ".join("%s %g s" % (n, d) for n, d in phases) +
      "; the outage takes `%s` down, the slowdown raises `%s` to %d ms." % (OUTAGE_PROVIDER, SLOW_PROVIDER,
                                                                            SLOW_LATENCY_MS))
    w("")
    w("| provider | role | price in / out (USD per M tokens) | latency | error rate |")
    w("| --- | --- | --- | --- | --- |")
    for p in PROVIDERS:
        w("| %s | %s | %.2f / %.2f | %d–%d ms | %g %% |" % (p["name"], p["role"], p["input"], p["output"],
                                                          p["latency"], p["latency"] + p["jitter"],
                                                          100 * p["error_rate"]))
    w("")
    rr = next((r for r in results if r["strategy"] == "round_robin" and not r["kill"]), None)
    w("| strategy / policy | requests | success | cost USD | cost vs round_robin | p50 ms | p95 ms "
      "| calls to %s while down | lost in outage | retries | longest gap between attempts "
      "| %s regains half its share |"
      % (OUTAGE_PROVIDER, OUTAGE_PROVIDER))
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        name = r["strategy"] if r["strategy"] == "round_robin" else "%s / %s" % (r["strategy"], r["policy"])
        if r["kill"]:
            name += " + kill -9 every %g s" % args.kill_every
        ratio = "%.0f %%" % (100 * r["cost"] / rr["cost"]) if rr and rr["cost"] > 0 else "–"
        calls = "%d" % r["outage_calls"]
        if r.get("outage_mock_requests") is not None:
            calls += " (%d at the mock)" % r["outage_mock_requests"]
        regain = "%.1f s" % r["regain_s"] if r["regain_s"] is not None else "> %.0f s" % (
            r["bounds"]["recovery"][1] - r["recovered_at"])
        w("| %s | %d | %s | %.4f | %s | %s | %s | %s | %d | %d | %d ms | %s |" % (
            name, r["requests"], fmt_pct(r["success"]), r["cost"], ratio, fmt_ms(r["p50"]), fmt_ms(r["p95"]),
            calls, r["lost_outage"], r["retries"], r["max_gap_ms"], regain))
    w("")
    w("Share of the upstream calls per phase (gateway counters) and client p95 per phase:")
    w("")
    w("| strategy / policy | phase | " + " | ".join(NAMES) + " | p95 ms |")
    w("| --- | --- | " + " | ".join("---:" for _ in NAMES) + " | ---: |")
    for r in results:
        name = r["strategy"] if r["strategy"] == "round_robin" else "%s / %s" % (r["strategy"], r["policy"])
        if r["kill"]:
            name += " + kill -9"
        for ph in ("steady", "outage", "recovery", "slowdown"):
            w("| %s | %s | %s | %s |" % (name, ph, " | ".join("%.0f %%" % (100 * r["phase_calls"][ph][p])
                                                               for p in NAMES), fmt_ms(r["phase_p95"][ph])))
    w("")
    w("Targets (from the DWA issue):")
    w("")
    w("| target | run | measured | result |")
    w("| --- | --- | --- | --- |")
    for r in results:
        if r["strategy"] != "load_balanced":
            continue
        name = "%s / %s%s" % (r["strategy"], r["policy"], " + kill -9" if r["kill"] else "")
        rows = []
        if rr and rr is not r:
            rows.append(("cost ≤ %d %% of round_robin's" % (100 * COST_RATIO_MAX),
                         "%.0f %%" % (100 * r["cost"] / rr["cost"]) if rr["cost"] else "–",
                         rr["cost"] > 0 and r["cost"] <= COST_RATIO_MAX * rr["cost"]))
            rows.append(("p95 ≤ round_robin's (%s ms)" % fmt_ms(rr["p95"]), "%s ms" % fmt_ms(r["p95"]),
                         r["p95"] is not None and rr["p95"] is not None and r["p95"] <= rr["p95"]))
        rows.append(("success ≥ %.2f %%" % (100 * SUCCESS_MIN), fmt_pct(r["success"]),
                     r["success"] is not None and r["success"] >= SUCCESS_MIN))
        rows.append(("≤ %d calls reach %s while it is down: gateway attempts" % (OUTAGE_CALLS_MAX,
                                                                                 OUTAGE_PROVIDER),
                     "%d" % r["outage_calls"], r["outage_calls"] <= OUTAGE_CALLS_MAX))
        if r.get("outage_mock_requests") is not None:
            rows.append(("≤ %d calls reach %s while it is down: HTTP requests it received" % (
                OUTAGE_CALLS_MAX, OUTAGE_PROVIDER), "%d" % r["outage_mock_requests"],
                r["outage_mock_requests"] <= OUTAGE_CALLS_MAX))
        rows.append(("no request waits > %d ms in retry back-off" % BACKOFF_MAX_MS,
                     "%d retries after a back-off; %d requests with several attempts, longest gap between two "
                     "%d ms" % (r["retries"], r["multi_attempt"], r["max_gap_ms"]),
                     r["retries"] == 0 or r["max_gap_ms"] <= BACKOFF_MAX_MS))
        rows.append(("%s regains ≥ %d %% of its share (%.0f %%) within %g s" % (
            OUTAGE_PROVIDER, 100 * REGAIN_SHARE, 100 * r["pre_share"], REGAIN_MAX_S),
            "%.1f s" % r["regain_s"] if r["regain_s"] is not None else "not within the recovery phase",
            r["regain_s"] is not None and r["regain_s"] <= REGAIN_MAX_S))
        if r["kill"]:
            rows.append(("/metrics counters never decrease (%d samples)" % r["metric_samples"],
                         "%d decreases" % len(r["decreases"]), not r["decreases"]))
            rows.append(("/api/llm/dwa/stats consistent (%d samples)" % r["dwa_samples"],
                         "%d problems" % len(r["dwa_problems"]), not r["dwa_problems"]))
            rows.append(("gateway successes ≥ client successes",
                         "%d ≥ %d" % (r["gw_successes"], r["client_successes"]),
                         r["gw_successes"] >= r["client_successes"]))
            rows.append(("workers replaced (%d kills)" % r["kills"],
                         "%d workers %.1f s after the load" % (r["workers_after"], r["workers_wait_s"]),
                         r["workers_after"] == args.workers))
        for target, measured, ok in rows:
            w("| %s | %s | %s | %s |" % (target, name, measured, "PASS" if ok else "MISS"))
    w("")
    notes = []
    for r in results:
        name = "%s/%s%s" % (r["strategy"], r["policy"], " + kill -9" if r["kill"] else "")
        if r["failed_examples"]:
            notes.append("- %s: failed requests by phase %s; most common: %s" % (
                name, dict(r["lost_by_phase"]), "; ".join("%d × `%s`" % (n, e) for e, n in r["failed_examples"])))
        if r["conn_retries"]:
            notes.append("- %s: %d requests were sent a second time by the client after their connection "
                         "failed (a killed worker)" % (name, r["conn_retries"]))
        if r.get("outage_mock_requests") is not None:
            notes.append("- %s: while %s was down, %d gateway attempts reached it as %d HTTP requests "
                         "from %d client requests" % (name, OUTAGE_PROVIDER, r["outage_calls"],
                                                      r["outage_mock_requests"], r["outage_distinct"]))
        if abs(r["cost"] - r["cost_client"]) > 0.05 * max(r["cost"], 1e-12):
            notes.append("- %s: the gateway counted %.4f USD, the answers' usage × prices give %.4f USD" % (
                name, r["cost"], r["cost_client"]))
        if r["max_lag_ms"] > 50:
            notes.append("- %s: the client started a request up to %.0f ms late" % (name, r["max_lag_ms"]))
        if r["sampler_failed"]:
            notes.append("- %s: %d metric samples failed" % (name, r["sampler_failed"]))
        for t, key, a, b in r["decreases"][:5]:
            notes.append("- %s: t=%.1f s `%s` went from %g to %g" % (name, t, key, a, b))
        for t, msg in r["dwa_problems"][:5]:
            notes.append("- %s: t=%.1f s dwa/stats: %s" % (name, t, msg))
        if r["kill"]:
            d = r["respawn_delays"]
            notes.append("- %s: %d kills; the master respawned after %s ms (the longest %s ms); from the steady "
                         "phase on, fewer than %d workers ran for about %.1f s and none for about %.1f s "
                         "(sampled every 0.5 s)" % (
                             name, r["kills"], ", ".join(str(x) for x in d[:30]) + (" ..." if len(d) > 30 else ""),
                             max(d) if d else "–", args.workers, r["workers_short_s"], r["workers_none_s"]))
        if r.get("gap_detail") and r["max_gap_ms"] > BACKOFF_MAX_MS:
            notes.append("- %s: the longest gap between two attempts, %d ms: %s (times from the first attempt's "
                         "arrival at its mock)" % (name, r["max_gap_ms"], r["gap_detail"]))
        if r.get("steady_dwa") and r["strategy"] == "load_balanced":
            notes.append("- %s: DWA score / share at the end of the steady phase: %s" % (
                name, ", ".join("%s %.2f / %.0f %%" % (p, sc, 100 * wt)
                                for p, (sc, wt) in r["steady_dwa"].items())))
        if r.get("breaker"):
            notes.append("- %s: %s's breaker (state, openings, available), t in s from the start: %s" % (
                name, OUTAGE_PROVIDER, ", ".join("%.1f: %s/%s/%s" % b for b in r["breaker"])))
        series = " ".join("%.1f:%.0f%%" % (t, 100 * s) for t, s in r["share_series"])
        notes.append("- %s: %s's share of calls over the last second, by seconds after its recovery: %s" % (
            name, OUTAGE_PROVIDER, series))
    if notes:
        w("Notes:")
        w("")
        out.extend(notes)
        w("")
    return "\n".join(out)


# ---- main ------------------------------------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Fleet simulation of the DWA through the real gateway (see tests/bench/README.md).")
    ap.add_argument("--quick", action="store_true", help="short phases (44 s of load per run instead of 90 s)")
    ap.add_argument("--kill-workers", action="store_true",
                    help="round_robin baseline, then load_balanced/weighted_composite while a random worker "
                         "is killed with SIGKILL every --kill-every s")
    ap.add_argument("--kill-every", type=float, default=3.0, help="seconds between two kills (default 3)")
    ap.add_argument("--strategies", default=None,
                    help="comma-separated runs among %s (default %s)" % (",".join(STRATEGIES),
                                                                       ",".join(DEFAULT_RUNS)))
    ap.add_argument("--rate", type=float, default=100.0, help="requests per second (default 100)")
    ap.add_argument("--phases", default=None,
                    help="seconds of warmup,steady,outage,recovery,slowdown (default 10,20,20,20,20)")
    ap.add_argument("--outage", choices=("close", "kill", "503"), default="close",
                    help="close: the mock closes every connection without answering (default); kill: the "
                         "mock process is killed and restarted on its port; 503: every call gets a 503")
    ap.add_argument("--workers", type=int, default=2, help="gateway worker processes (default 2)")
    ap.add_argument("--threads", type=int, default=512, help="client threads (default 512)")
    ap.add_argument("--timeout", type=float, default=30.0, help="client timeout per request in s (default 30)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the mocks' errors and jitter (default 1)")
    ap.add_argument("--set", action="append", default=[], metavar="GROUP.KEY=VALUE",
                    help="extra gateway setting, VALUE in libconfig syntax, e.g. dwa.cooldown_max_ms=10000")
    ap.add_argument("--out", default=None, help="also write the report to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    ap.add_argument("--gateway-bin", default=first_bin("ORCHESITY_BIN", "orchesity"))
    ap.add_argument("--mock-bin", default=first_bin("MOCKLLM_BIN", "tests/mockllm/orchesity-mockllm"))
    args = ap.parse_args(argv)
    runs = args.strategies.split(",") if args.strategies else (["rr", "lb-wc"] if args.kill_workers
                                                               else DEFAULT_RUNS)
    for r in runs:
        if r not in STRATEGIES:
            ap.error("unknown run %r (choose among %s)" % (r, ", ".join(STRATEGIES)))
    args.runs = runs
    settings = []
    for s in args.set:
        m = re.match(r"^([a-z_]+\.[a-z_.]+)=(.+)$", s)
        if not m or m.group(1).startswith("providers"):
            ap.error("bad --set %r: GROUP.KEY=VALUE" % s)
        settings.append((m.group(1), m.group(2)))
    args.set = settings
    if args.phases and len(args.phases.split(",")) != 5:
        ap.error("--phases needs five numbers")
    if args.rate <= 0 or args.workers < 1:
        ap.error("--rate and --workers must be positive")
    for b in (args.gateway_bin, args.mock_bin):
        if not os.access(b, os.X_OK):
            ap.error("not executable: %s (build first: cd build && make)" % b)
    return args


def main(argv):
    args = parse_args(argv)
    cmdline = "tests/bench/dwa-sim.py" + ("" if not argv else " " + " ".join(argv))
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="dwa-sim-")
    results = []
    rc = 0

    def on_signal(sig, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_signal)
    mocks = []
    try:
        for i, spec in enumerate(PROVIDERS):
            mocks.append(Mock(spec, args.mock_bin, workdir, args.seed + 101 * i, 50000).start())
        for n, label in enumerate(args.runs, 1):
            strategy, policy = STRATEGIES[label]
            kill = args.kill_workers and strategy == "load_balanced"
            results.append(run_one(label, strategy, policy, mocks, args, workdir, kill, n))
        text = report(results, args, started, cmdline)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
            log("report written to %s" % args.out)
    except SimError as e:
        log("error: %s" % e)
        rc = 1
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        for c in reversed(_children):
            c.stop()
        if args.keep or rc:
            log("files kept in %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
