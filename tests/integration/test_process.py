"""The binary's command line, systemd notifications, and life as PID 1."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import BIN, Gateway, check, wait_until


def run(args, env=None):
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=10,
                       env=env if env is not None else {"PATH": os.environ["PATH"]})
    return p.returncode, p.stdout, p.stderr


def test_cli_check_version_help():
    gw = Gateway()
    code, out, err = run(["-t", "-c", gw.conf_path])
    check(code == 0 and "configuration ok" in out, "-t on a good file: %d %r %r" % (code, out, err))
    code, out, _ = run(["-t"])
    check(code == 0 and "embedded defaults" in out, "-t without a file")
    with open(gw.conf_path, "a") as f:
        f.write("\nserver = { max_body_size = 10; };\n")
    code, out, err = run(["-t", "-c", gw.conf_path])
    check(code == 1 and gw.conf_path + ":" in err, "-t on a bad file: %d %r" % (code, err))
    code, _, err = run(["-t", "-c", "/nonexistent/orchesity.conf"])
    check(code == 1 and "cannot read" in err, "missing file: %r" % err)
    code, out, _ = run(["-v"])
    check(code == 0 and out.startswith("orchesity "), "-v: %r" % out)
    code, out, _ = run(["-h"])
    check(code == 0 and "Usage: orchesity" in out and "SIGNALS" not in out, "-h")
    code, _, err = run(["--bogus"])
    check(code == 1 and "Usage" in err, "unknown option")
    code, _, err = run(["-t"], env={"PATH": os.environ["PATH"], "PORT": "99999"})
    check(code == 1 and "HOST/PORT" in err, "bad PORT: %r" % err)
    code, _, err = run(["-t"], env={"PATH": os.environ["PATH"], "WORKER_CONNECTIONS": "lots"})
    check(code == 1 and "environment WORKER_CONNECTIONS" in err, "bad WORKER_CONNECTIONS: %r" % err)


def test_host_and_port_environment_override_the_file():
    port = harness.free_port()
    gw = Gateway(env={"HOST": "127.0.0.1", "PORT": str(port)})
    gw.port = port
    gw.start()
    check(gw.get("/api/health/live").status == 200, "not listening on PORT")


def test_ipv6_and_ipv4_listeners():
    port = harness.free_port()
    gw = Gateway(config={"server": {"listen": ["127.0.0.1:%d" % port, "[::1]:%d" % port]}})
    gw.port = port
    gw.start()
    s = socket.create_connection(("::1", port), timeout=3)
    s.sendall(b"GET /api/health/live HTTP/1.0\r\n\r\n")
    data = s.recv(4096)
    s.close()
    check(data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200"), "IPv6: %r" % data[:40])


class NotifySocket:
    def __init__(self):
        self.path = os.path.join(tempfile.mkdtemp(prefix="orc-notify-"), "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.messages

    def wait_for(self, text, timeout=10):
        return wait_until(lambda: any(text in m for m in self.drain()), timeout, what="sd_notify %s" % text)


def test_sd_notify_ready_reloading_stopping_watchdog():
    ns = NotifySocket()
    gw = Gateway(env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "400000"}).start()
    ns.wait_for("READY=1")
    time.sleep(0.6)
    check(sum("WATCHDOG=1" in m for m in ns.drain()) >= 2, "watchdog not petted every 200 ms: %r" % ns.messages)
    ns.messages.clear()
    gw.kill(signal.SIGHUP)
    ns.wait_for("READY=1")
    reloading = [m for m in ns.messages if "RELOADING=1" in m]
    check(reloading and "MONOTONIC_USEC=" in reloading[0], "RELOADING message: %r" % ns.messages)
    check(ns.messages.index(reloading[0]) < [i for i, m in enumerate(ns.messages) if "READY=1" in m][-1],
          "READY=1 must follow RELOADING=1")
    ns.messages.clear()
    gw.kill(signal.SIGTERM)
    gw.wait_exit(10)
    check(any("STOPPING=1" in m for m in ns.drain()), "no STOPPING=1: %r" % ns.messages)


def test_pid1_reaps_orphans_and_stops_on_term():
    unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
    check(unshare and nsenter and os.geteuid() == 0, "needs root, unshare and nsenter (util-linux)")
    gw = Gateway(workers=1)
    gw.start(cmd_prefix=[unshare, "--pid", "--fork", "--kill-child"])
    inner = wait_until(lambda: [int(p) for p in open("/proc/%d/task/%d/children" % (gw.pid, gw.pid)).read().split()],
                       5, what="the master inside the namespace")[0]
    check("running as PID 1" in gw.log(), "the master does not know it is PID 1")
    # A process whose parent exits is re-parented to PID 1 of its namespace.
    harness.check_reaps_orphans(inner, nsenter)
    os.kill(inner, signal.SIGTERM)
    code = gw.wait_exit(10)
    check(code == 0, "exit code %r after TERM as PID 1" % code)
    check("stopped" in gw.log(), "did not stop cleanly")
