"""Test harness: start the real orchesity binary on loopback, talk HTTP to it,
read its logs, and stop everything that was started.

Every gateway a test starts is registered and stopped by cleanup_all(), which
the runner calls after each test, so a failing test never leaves a process.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("ORCHESITY_BIN", os.path.join(ROOT, "orchesity"))

_started = []
_cleanups = []  # functions run after the gateways stop (private database servers...)

BAD_LOG_PATTERNS = [
    re.compile(r"\[alert\]"),
    re.compile(r"ERROR: AddressSanitizer"),
    re.compile(r"ERROR: LeakSanitizer"),
    re.compile(r"runtime error:"),
]


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    """Raised by a test whose subject is not there yet; run.py reports it as skipped."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise TestFailure("timed out after %.1f s waiting for %s" % (timeout, what))


def to_libconfig(value, indent=0):
    pad = "  " * indent
    if isinstance(value, dict):
        inner = "".join("%s  %s = %s;\n" % (pad, k, to_libconfig(v, indent + 1)) for k, v in value.items())
        return "{\n%s%s}" % (inner, pad)
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return "(\n" + ",\n".join(pad + "  " + to_libconfig(v, indent + 1) for v in value) + "\n" + pad + ")"
    if isinstance(value, list):
        return "[ " + ", ".join(to_libconfig(v) for v in value) + " ]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def merge(base, extra):
    out = dict(base)
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


class Gateway:
    """One orchesity master with its workers, in a temporary directory."""

    def __init__(self, config=None, env=None, workers=2, raw_config=None, args=None):
        self.dir = tempfile.mkdtemp(prefix="orc-it-")
        self.port = free_port()
        self.conf_path = os.path.join(self.dir, "orchesity.conf")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.access_log = os.path.join(self.dir, "access.log")
        base = {
            "server": {"listen": ["127.0.0.1:%d" % self.port], "workers": workers,
                       "shutdown_timeout": 10, "drain_grace": 300},
            "log": {"level": "info", "access_log": self.access_log},
        }
        self.config = merge(base, config)
        self.write_config(raw_config)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                self.env[k] = os.environ[k]
        self.env["REQUEST_LOG_SPOOL_DIR"] = os.path.join(self.dir, "spool")  # never another gateway's
        self.env.update(env or {})
        self.args = args
        self.proc = None

    def write_config(self, raw=None):
        text = raw if raw is not None else "".join(
            "%s = %s;\n" % (k, to_libconfig(v)) for k, v in self.config.items())
        with open(self.conf_path, "w") as f:
            f.write(text)

    def start(self, wait_ready=True, cmd_prefix=None):
        argv = (cmd_prefix or []) + [BIN, "-c", self.conf_path] + (self.args or [])
        self.proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=open(self.stdout_path, "ab"),
                                     stderr=open(self.stderr_path, "ab"))
        _started.append(self)
        if wait_ready:
            wait_until(self.ready, 15, what="readiness on port %d" % self.port)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def ready(self):
        try:
            return self.request("GET", "/api/health/ready", timeout=1).status == 200
        except OSError:
            return False

    def request(self, method, path, body=None, headers=None, timeout=5):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def get_json(self, path, expect=200, **kw):
        r = self.get(path, **kw)
        check(r.status == expect, "GET %s: status %d, expected %d: %r" % (path, r.status, expect, r.body[:300]))
        return r.json()

    def workers(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                return sorted(int(x) for x in f.read().split())
        except OSError:
            return []

    def metrics(self):
        text = self.get("/metrics").body.decode()
        values = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
        return values

    def detailed(self):
        return self.get_json("/api/health/detailed")

    def kill(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("the master did not exit within %.1f s" % timeout)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        workers = self.workers()
        self.kill(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            for w in workers:
                try:
                    os.kill(w, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
            raise TestFailure("the gateway did not stop within %d s" % timeout)

    def log(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def bad_log_lines(self):
        """Alert lines, and each sanitizer report with its stack (up to 40
        lines), so that a rare failure can be diagnosed from the run's log."""
        lines, bad, i = self.log().splitlines(), [], 0
        while i < len(lines):
            if any(p.search(lines[i]) for p in BAD_LOG_PATTERNS):
                report = "Sanitizer" in lines[i]
                bad.extend(lines[i:i + 40] if report else [lines[i]])
                i += 40 if report else 1
            else:
                i += 1
        return bad


def children_of(pid):
    """Host pids of the processes whose parent is PID (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0]))
    return found


def check_reaps_orphans(inner, nsenter):
    """Makes an orphan in the PID namespace whose PID 1 is host pid INNER and
    checks that INNER adopts it and reaps it (no zombie left)."""
    subprocess.run([nsenter, "-t", str(inner), "-p", "--", "sh", "-c", "sleep 1 & exit 0"], check=True, timeout=5)

    def adopted():
        for pid, _ in children_of(inner):
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == "sleep":
                        return True
            except OSError:
                pass
        return False

    wait_until(adopted, 2, what="the orphan to be adopted by PID 1")
    time.sleep(1.5)
    zombies = [pid for pid, state in children_of(inner) if state == "Z"]
    check(not zombies, "orphans left as zombies under PID 1: %r" % zombies)


def cleanup_all():
    """Stops every gateway and mock started since the last call; returns bad log lines."""
    bad = []
    stop_mocks()
    while _started:
        gw = _started.pop()
        try:
            gw.stop(signal.SIGTERM, timeout=20)
        except TestFailure as e:
            bad.append("%s (port %d)" % (e, gw.port))
        for pid in pids_in_dir(gw):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        bad.extend(gw.bad_log_lines())
    while _cleanups:
        _cleanups.pop()()
    return bad


def on_cleanup(fn):
    """Runs FN when the test ends, after its gateways have stopped."""
    _cleanups.append(fn)


def pids_in_dir(gw):
    """Processes still running with this gateway's config file on their command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if gw.conf_path.encode() in cmd:
            found.append(int(entry))
    return found


class Load:
    """Client threads sending GET requests until stopped, counting failures.

    keepalive=True reuses one connection per thread (reconnecting only when the
    server says Connection: close); False opens a connection per request.
    """

    def __init__(self, gw, threads=8, path="/api/health/live", keepalive=True, pause=0.0):
        self.gw, self.path, self.keepalive, self.pause = gw, path, keepalive, pause
        self.ok = 0
        self.failures = []
        self.failures_by_thread = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=10)

    def run(self):
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=5)
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError("status %d" % r.status)
                with self.lock:
                    self.ok += 1
                if not self.keepalive or r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # every failure is recorded, none is hidden
                with self.lock:
                    self.failures.append("%s: %s" % (type(e).__name__, e))
                    me = threading.get_ident()
                    self.failures_by_thread[me] = self.failures_by_thread.get(me, 0) + 1
                if conn is not None:
                    conn.close()
                conn = None
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            conn.close()


MOCK_BIN = os.environ.get("ORCHESITY_MOCK_BIN",
                          os.path.join(os.path.dirname(BIN), "tests", "mockllm", "orchesity-mockllm"))
_mocks = []


class Mock:
    """The mock LLM upstream (all four provider dialects on one port)."""

    def __init__(self, port=0, args=None):
        self.port = port
        self.args = args or []
        self.proc = None

    def start(self):
        argv = [MOCK_BIN, "--listen", "127.0.0.1:%d" % self.port] + self.args
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _mocks.append(self)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        check(m is not None, "the mock did not start: %r" % line)
        self.port = int(m.group(1))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _call(self, method, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def requests(self):
        status, body = self._call("GET", "/_mock/requests")
        check(status == 200, "mock /_mock/requests: %d" % status)
        return json.loads(body)["requests"]

    def clear(self):
        self._call("DELETE", "/_mock/requests")

    def provider_env(self):
        """Keys and base URLs that point the four default providers at the mock."""
        return {
            "OPENAI_API_KEY": "sk-mock-openai-0001", "OPENAI_BASE_URL": self.url + "/v1",
            "ANTHROPIC_API_KEY": "sk-ant-mock-0002", "ANTHROPIC_BASE_URL": self.url,
            "GEMINI_API_KEY": "AIzaMockGemini0003", "GEMINI_BASE_URL": self.url,
            "GROK_API_KEY": "xai-mock-0004", "GROK_BASE_URL": self.url + "/xai/v1",
        }


def stop_mocks():
    while _mocks:
        _mocks.pop().stop()


def sse_events(raw):
    """Parses an SSE body into [(event, data)] (data JSON-decoded when it can be)."""
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            text = "\n".join(data)
            try:
                events.append((event, json.loads(text)))
            except ValueError:
                events.append((event, text))
    return events
