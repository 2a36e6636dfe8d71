"""A private PostgreSQL server for destructive tests (stopped, frozen with
SIGSTOP, restarted): its own data directory under /tmp, a free loopback port,
stopped by pid when the test ends.  As root the server runs as "postgres"
(PostgreSQL refuses root).

    pg = PgServer().start()
    pg.url                          # postgresql://orchesity_user:...@127.0.0.1:PORT/orchesity_db
    pg.sql("SELECT count(*) FROM orchestration_requests")   # -> [["12"]]
    pg.stop(); pg.start(); pg.freeze(); pg.thaw()
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness

USER, PASSWORD, DB = "orchesity_user", "orchesity_test", "orchesity_db"


def _bindir():
    return subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()


def _as_postgres(argv):
    return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv


class PgServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="orc-pgt-")
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = harness.free_port()
        self.bindir = _bindir()
        self.frozen = []
        self.initialised = False
        harness.on_cleanup(self.destroy)

    @property
    def url(self):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (USER, PASSWORD, self.port, DB)

    def _pg_ctl(self, *args, timeout=60):
        subprocess.run(_as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.data] + list(args)),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=timeout)

    def start(self):
        if not self.initialised:
            subprocess.run(_as_postgres([os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust",
                                         "-U", "postgres"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120)
        opts = "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=60" % (self.port, self.dir)
        self._pg_ctl("-l", os.path.join(self.dir, "server.log"), "-w", "-t", "30", "-o", opts, "start")
        if not self.initialised:
            self.sql("CREATE USER %s PASSWORD '%s'" % (USER, PASSWORD), db="postgres")
            self.sql("CREATE DATABASE %s OWNER %s" % (DB, USER), db="postgres")
            self.initialised = True
        return self

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def _tree(self):
        """The postmaster and its children (backends, background workers)."""
        root = self.pid()
        if root is None:
            return []
        pids = [root]
        try:
            with open("/proc/%d/task/%d/children" % (root, root)) as f:
                pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return pids

    def stop(self, mode="fast"):
        self.thaw()
        self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def freeze(self):
        """SIGSTOP to every process of the server: connections hang, nothing answers."""
        self.frozen = self._tree()
        for pid in self.frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        for pid in self.frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def sql(self, text, db=DB, user=None):
        """Runs TEXT with psql; returns the rows as lists of strings."""
        r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-R", "\x1e", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                            "-p", str(self.port), "-U", user or ("postgres" if db == "postgres" else USER),
                            "-d", db, "-c", text], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise harness.TestFailure("psql: %s" % r.stderr.strip())
        return [row.split("\t") for row in r.stdout.rstrip("\n").split("\x1e") if row != ""]

    def destroy(self):
        self.thaw()
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
