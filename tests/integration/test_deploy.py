"""The deployment files, tested without a Docker engine.

- the compose files (alone and in their documented combinations) pass
  docker-compose config; the Kubernetes manifests and the provisioning files
  pass yamllint; the ConfigMap's orchesity.conf passes orchesity -t; the
  stop grace periods exceed the gateway's drain; nginx -t accepts
  docker/nginx.conf with the service name mapped to loopback;
- the container contract: the image's entry point runs the gateway as PID 1
  of its own PID namespace with the environment docker-compose.yml gives it
  (host names postgres and redis mapped to the test services), serves, reaps
  orphans, writes the access log into a mounted log directory, passes the
  Dockerfile's and the compose file's health checks, and on TERM finishes
  in-flight requests and exits 0 within the grace period;
- replicas: two gateways sharing PostgreSQL and Redis behind nginx running
  docker/nginx.conf keep clients served when one is killed under load; an
  answer cached through one is a hit through the other; both log into the one
  database and /api/db/stats agrees;
- scripts/backup-db and scripts/restore-db against DATABASE_URL, and
  docker/init-db.sql on a fresh database;
- the Grafana dashboard only uses metrics the gateway exports.
"""
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

import yaml

import harness
from harness import BIN, ROOT, Gateway, Load, Mock, check, free_port, wait_until

COMPOSE_FILES = ["docker-compose.yml", "docker-compose.dev.yml", "docker-compose.prod.yml",
                 "docker-compose.scale.yml", "docker-compose.monitoring.yml"]
# The combinations docs/DOCKER.md tells users to run.
COMPOSE_COMBINATIONS = [
    ["docker-compose.yml", "docker-compose.dev.yml"],
    ["docker-compose.yml", "docker-compose.monitoring.yml"],
    ["docker-compose.yml", "docker-compose.prod.yml"],
    ["docker-compose.prod.yml", "docker-compose.scale.yml"],
    ["docker-compose.prod.yml", "docker-compose.monitoring.yml"],
    ["docker-compose.prod.yml", "docker-compose.scale.yml", "docker-compose.monitoring.yml"],
]
# Every variable of the original Docker documentation's .env.
DOC_VARIABLES = """OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY GROK_API_KEY DATABASE_URL DATABASE_ECHO
REDIS_URL REDIS_DB CACHE_EXPIRE_SECONDS DEBUG LOG_LEVEL DWA_ROUTING_STRATEGY SECRET_KEY DB_POOL_SIZE
DB_MAX_OVERFLOW DB_POOL_TIMEOUT DB_POOL_RECYCLE REDIS_POOL_SIZE REDIS_MAX_CONNECTIONS WORKER_CONNECTIONS
KEEPALIVE_TIMEOUT HEALTH_CHECK_INTERVAL METRICS_COLLECTION_INTERVAL""".split()


def tool(name):
    path = shutil.which(name)
    check(path, "%s is not installed (scripts/deps.sh lists it in ORC_TEST_PKGS)" % name)
    return path


def compose_env():
    """The environment docker-compose would use: this one without the
    variables the compose files read, so their defaults apply."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return env


def compose_config(*files):
    args = [tool("docker-compose")]
    for f in files:
        args += ["-f", f]
    p = subprocess.run(args + ["config"], cwd=ROOT, env=compose_env(), capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "docker-compose %s config: %s" % (" ".join(files), p.stderr.strip()))
    return yaml.safe_load(p.stdout)


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(text))
    check(m, "not a duration: %r" % text)
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


# ---------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------

def test_compose_files_and_combinations_are_valid():
    for f in COMPOSE_FILES:
        compose_config(f)
    for combo in COMPOSE_COMBINATIONS:
        compose_config(*combo)
    base = compose_config("docker-compose.yml")["services"]
    check(set(base) == {"orchesity-api", "postgres", "redis"}, "services: %r" % sorted(base))
    check(base["postgres"]["image"] == "postgres:15-alpine" and base["redis"]["image"] == "redis:7-alpine",
          "images of the documentation")
    check("--maxmemory 256mb --maxmemory-policy allkeys-lru" in base["redis"]["command"] and
          "--appendonly yes" in base["redis"]["command"], "redis command: %r" % base["redis"]["command"])
    for name, svc in base.items():
        check("healthcheck" in svc, "%s has no health check" % name)
        check(not svc.get("ports") or name == "orchesity-api", "%s is published" % name)
    api = base["orchesity-api"]
    check(api["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                "redis": {"condition": "service_healthy"}}, "depends_on: %r" % api["depends_on"])
    check(any(p.get("published") in (8000, "8000") and p["target"] == 8000 for p in api["ports"]),
          "port 8000: %r" % api["ports"])
    check(api["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://"), "DATABASE_URL form")


def test_production_files_isolate_the_backend_and_use_secret_files():
    for combo in (["docker-compose.yml"], ["docker-compose.prod.yml", "docker-compose.scale.yml"]):
        cfg = compose_config(*combo)
        check(cfg["networks"]["backend"].get("internal") is True, "%s: backend not internal" % combo)
        for name in ("postgres", "redis"):
            check(list(cfg["services"][name]["networks"]) == ["backend"], "%s: %s networks" % (combo, name))
    prod = compose_config("docker-compose.prod.yml")["services"]
    api = prod["orchesity-api"]
    env = api["environment"]
    for var in ("DATABASE_URL", "SECRET_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY",
                "GROK_API_KEY"):
        check(var not in env and env.get(var + "_FILE", "").startswith("/run/secrets/"), "prod %s" % var)
    check(prod["postgres"]["environment"].get("POSTGRES_PASSWORD_FILE") == "/run/secrets/db_password",
          "POSTGRES_PASSWORD_FILE")
    check(api["deploy"]["replicas"] == 3 and api["deploy"]["resources"]["limits"]["memory"] == "1G", "deploy")
    check(env["LOG_LEVEL"] == "WARNING", "prod log level")
    for name, svc in prod.items():
        opts = svc.get("logging", {}).get("options", {})
        check(opts.get("max-size") and opts.get("max-file"), "%s: no log rotation" % name)


def test_stop_grace_exceeds_the_drain():
    """compose and Kubernetes must wait longer than server.shutdown_timeout."""
    conf = configmap_conf()
    m = re.search(r"shutdown_timeout\s*=\s*(\d+)", conf)
    k8s_drain = int(m.group(1))
    embedded = 30  # the image runs on the embedded default of server.shutdown_timeout
    for combo in (["docker-compose.yml"], ["docker-compose.dev.yml"], ["docker-compose.prod.yml"]):
        grace = seconds(compose_config(*combo)["services"]["orchesity-api"]["stop_grace_period"])
        check(grace > embedded, "%s: stop_grace_period %s <= %d" % (combo, grace, embedded))
    check(re.search(r"^STOPSIGNAL SIGTERM$", read("docker/Dockerfile"), re.M), "STOPSIGNAL")
    dep = yaml.safe_load(read("k8s/deployment.yaml"))["spec"]["template"]["spec"]
    pre_stop = int(dep["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    check(dep["terminationGracePeriodSeconds"] > pre_stop + k8s_drain,
          "terminationGracePeriodSeconds %d <= preStop %d + drain %d" %
          (dep["terminationGracePeriodSeconds"], pre_stop, k8s_drain))
    probes = dep["containers"][0]
    check(probes["livenessProbe"]["httpGet"]["path"] == "/api/health/live", "liveness path")
    check(probes["readinessProbe"]["httpGet"]["path"] == "/api/health/ready", "readiness path")


def test_request_log_spool_is_writable_and_kept():
    """The image runs as app with a read-only root in production: the spool
    directory must exist, belong to app, and be a volume in every form."""
    docker = read("docker/Dockerfile")
    check(re.search(r"install -d -o app -g app -m 0700 /var/lib/orchesity /var/lib/orchesity/spool", docker),
          "the image does not create the spool directory for app")
    check(re.search(r"^VOLUME /var/lib/orchesity$", docker, re.M), "the spool is not a volume of the image")
    base = compose_config("docker-compose.yml")["services"]["orchesity-api"]["volumes"]
    check(any(v.startswith("orchesity_spool:/var/lib/orchesity") for v in base),
          "docker-compose.yml keeps no named volume for the spool: %r" % base)
    dep = yaml.safe_load(read("k8s/deployment.yaml"))["spec"]["template"]["spec"]
    mounts = [m["mountPath"] for m in dep["containers"][0]["volumeMounts"]]
    check("/var/lib/orchesity" in mounts, "the Kubernetes pod has no writable spool: %r" % mounts)
    spool = [line for line in configmap_conf().splitlines() if "spool_dir" in line and not line.strip().startswith("#")]
    check(not spool or "/var/lib/orchesity" in spool[0], "the ConfigMap moves the spool elsewhere: %r" % spool)


def configmap_conf():
    return yaml.safe_load(read("k8s/configmap.yaml"))["data"]["orchesity.conf"]


def test_yaml_lint_and_kubernetes_config():
    files = ["k8s", "docker", ".yamllint"] + COMPOSE_FILES
    p = subprocess.run([tool("yamllint"), "-s"] + files, cwd=ROOT, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "yamllint:\n%s%s" % (p.stdout, p.stderr))
    kinds = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "k8s"))):
        if name.endswith(".yaml"):
            for doc in yaml.safe_load_all(read("k8s/" + name)):
                kinds[doc["kind"]] = doc
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler"):
        check(kind in kinds, "no %s manifest" % kind)
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(configmap_conf())
        f.flush()
        p = subprocess.run([BIN, "-t", "-c", f.name], capture_output=True, text=True, timeout=10,
                           env={"PATH": os.environ["PATH"]})
    check(p.returncode == 0, "the ConfigMap's orchesity.conf: %s" % p.stderr)
    dash = json.loads(read("docker/grafana/dashboards/orchesity.json"))
    ds = yaml.safe_load(read("docker/grafana/provisioning/datasources/prometheus.yml"))["datasources"][0]
    check(all(p["datasource"]["uid"] == ds["uid"] for p in dash["panels"]), "dashboard datasource uid")


def runtime_packages():
    """The packages the Dockerfile's runtime stage installs."""
    text = read("docker/Dockerfile").replace("\\\n", " ")
    stage = text[text.rindex("\nFROM "):]
    m = re.search(r"apt-get install -y --no-install-recommends ([^&]+)&&", stage)
    check(m, "no apt-get install in the runtime stage")
    return set(m.group(1).split())


def test_runtime_image_has_every_library_the_binary_links():
    """Each shared library the gateway needs (NEEDED of the binary) comes from
    a package the runtime stage installs (libc6 is in every Debian image)."""
    p = subprocess.run(["objdump", "-p", BIN], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0, "objdump: %s" % p.stderr)
    needed = re.findall(r"^\s*NEEDED\s+(\S+)$", p.stdout, re.M)
    ldd = subprocess.run(["ldd", BIN], capture_output=True, text=True, timeout=10).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    installed = runtime_packages() | {"libc6"}
    missing = []
    for soname in needed:
        if soname.startswith(("libasan", "libubsan")):
            continue  # the sanitizer build's runtime, never in an image
        path = paths.get(soname, soname)
        real = os.path.realpath(path)
        owner = ""
        # dpkg knows a file by the path its package ships (/lib or /usr/lib).
        for candidate in (path, real, real.replace("/usr/lib/", "/lib/", 1)):
            owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, timeout=10).stdout
            if owner:
                break
        pkg = owner.split(":")[0].strip() if owner else "?"
        if pkg not in installed:
            missing.append("%s (%s)" % (soname, pkg))
    check(needed and not missing, "libraries without their package in the runtime stage: %r" % missing)
    check("curl" in installed, "curl (the HEALTHCHECK) is not installed")


def nginx_test_config(directory, replicas, listen_port):
    """docker/nginx.conf with the compose service name mapped to loopback
    replicas and the listen port moved; nothing else changes."""
    text = read("docker/nginx.conf")
    m = re.search(r"^(\s*)server orchesity-api:8000( [^;]*)?;$", text, re.M)
    check(m, "docker/nginx.conf has no 'server orchesity-api:8000' line")
    servers = "\n".join("%sserver 127.0.0.1:%d%s;" % (m.group(1), port, m.group(2) or "") for port in replicas)
    text = text[:m.start()] + servers + text[m.end():]
    text, n = re.subn(r"^(\s*)listen 80;$", r"\g<1>listen 127.0.0.1:%d;" % listen_port, text, flags=re.M)
    check(n == 1, "docker/nginx.conf: no 'listen 80;'")
    text = text.replace("pid /tmp/nginx.pid;", "pid %s/nginx.pid;" % directory)
    path = os.path.join(directory, "nginx.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_nginx_conf_is_accepted():
    d = tempfile.mkdtemp(prefix="orc-nginx-")
    conf = nginx_test_config(d, [free_port(), free_port()], free_port())
    p = subprocess.run([tool("nginx"), "-t", "-p", d, "-c", conf], capture_output=True, text=True, timeout=20)
    check(p.returncode == 0, "nginx -t: %s" % p.stderr)
    shutil.rmtree(d, ignore_errors=True)


def test_env_example_lists_every_variable():
    text = read(".env.example")
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    missing = [v for v in DOC_VARIABLES if v not in names]
    check(not missing, ".env.example lacks %s" % missing)
    api = compose_config("docker-compose.yml")["services"]["orchesity-api"]["environment"]
    missing = sorted(v for v in api if v not in names)
    check(not missing, ".env.example lacks the compose file's %s" % missing)


# ---------------------------------------------------------------------------
# The container contract
# ---------------------------------------------------------------------------

def service_urls():
    db, redis = os.environ.get("ORC_TEST_DATABASE_URL"), os.environ.get("ORC_TEST_REDIS_URL")
    check(db and redis, "ORC_TEST_DATABASE_URL and ORC_TEST_REDIS_URL are not set: run the suite with scripts/test")
    return db, redis


def map_url(compose_url, test_url):
    """The compose file's URL (host postgres or redis) pointed at the test
    service: its scheme and path stay, the credentials, host and port are the
    test service's."""
    c, t = urllib.parse.urlsplit(compose_url), urllib.parse.urlsplit(test_url)
    return urllib.parse.urlunsplit((c.scheme, t.netloc, c.path if c.scheme.startswith("redis") else t.path,
                                    c.query, ""))


def container_env(port, mock=None, extra=None):
    """The orchesity-api environment of docker-compose.yml, with the host
    names mapped to the test services, the port mapping (8000 -> PORT) and,
    like a .env would, the providers pointed at the mock."""
    db, redis = service_urls()
    env = {k: str(v) for k, v in compose_config("docker-compose.yml")["services"]["orchesity-api"]
           ["environment"].items()}
    check(env["DATABASE_URL"].startswith("postgresql+asyncpg://") and "@postgres:5432/" in env["DATABASE_URL"],
          "DATABASE_URL of the compose file: not the documented form")
    env["DATABASE_URL"] = map_url(env["DATABASE_URL"], db)
    check("//redis:6379" in env["REDIS_URL"], "REDIS_URL of the compose file")
    env["REDIS_URL"] = map_url(env["REDIS_URL"], redis)
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "HEALTH_CHECK_INTERVAL": "1",
                "PATH": os.path.dirname(os.path.abspath(BIN)) + ":" + os.environ["PATH"]})
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if mock:
        env.update(mock.provider_env())
    env.update(extra or {})
    return env


class Container(Gateway):
    """The gateway started the way the image starts it: docker/entrypoint.sh,
    optionally as PID 1 of a new PID namespace, with the compose environment
    and the embedded defaults (the image has no configuration file)."""

    def __init__(self, env, port, logdir=None):
        super().__init__()
        self.port = port
        self.write_config("# the image runs on the embedded defaults\n")
        self.env = dict(env)
        self.env["ORCHESITY_CONFIG"] = self.conf_path  # on the command line: the harness finds the processes
        self.env["ORCHESITY_LOG_DIR"] = logdir or os.path.join(self.dir, "no-such-dir")

    def start(self, wait_ready=True, cmd_prefix=None):
        argv = (cmd_prefix or []) + ["sh", os.path.join(ROOT, "docker", "entrypoint.sh")]
        self.proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=open(self.stdout_path, "ab"), stderr=open(self.stderr_path, "ab"))
        harness._started.append(self)
        if wait_ready:
            wait_until(self.ready, 20, what="readiness on port %d" % self.port)
        return self


def dockerfile_healthcheck():
    text = read("docker/Dockerfile").replace("\\\n", " ")
    m = re.search(r"^HEALTHCHECK\s.*?\bCMD\s+(.*)$", text, re.M)
    check(m, "no HEALTHCHECK ... CMD in docker/Dockerfile")
    return m.group(1).strip()


def run_healthchecks(port):
    """The Dockerfile's HEALTHCHECK (a shell command, PORT as in the
    container) and the compose file's (exec form, 8000 mapped to PORT)."""
    cmd = dockerfile_healthcheck()
    p = subprocess.run(["sh", "-c", cmd], env={"PATH": os.environ["PATH"], "PORT": str(port)},
                       capture_output=True, text=True, timeout=15)
    check(p.returncode == 0, "Dockerfile HEALTHCHECK %r: %d %s" % (cmd, p.returncode, p.stderr))
    test = compose_config("docker-compose.yml")["services"]["orchesity-api"]["healthcheck"]["test"]
    check(test[0] == "CMD", "compose health check form: %r" % test)
    argv = [a.replace(":8000/", ":%d/" % port) for a in test[1:]]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    check(p.returncode == 0, "compose health check %r: %d %s" % (argv, p.returncode, p.stderr))


def slow_orchestrate(port, results, i, latency_ms):
    body = json.dumps({"prompt": "in flight %d [[mock latency=%d]]" % (i, latency_ms),
                       "providers": ["openai"], "max_tokens": 8})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        # no-cache: the suite's Redis may hold this answer from an earlier run.
        conn.request("POST", "/api/llm/orchestrate", body=body,
                     headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
        r = conn.getresponse()
        results[i] = (r.status, r.read())
    except Exception as e:  # recorded and reported by the test
        results[i] = (None, repr(e))
    finally:
        conn.close()


def test_container_contract_pid1_health_logs_and_drain():
    unshare, nsenter = tool("unshare"), tool("nsenter")
    check(os.geteuid() == 0, "needs root for a PID namespace")
    mock = Mock().start()
    port = free_port()
    logdir = tempfile.mkdtemp(prefix="orc-logs-")
    c = Container(container_env(port, mock), port, logdir=logdir)
    c.start(cmd_prefix=[unshare, "--pid", "--fork", "--mount-proc", "--kill-child"])
    inner = wait_until(lambda: [p for p, _ in harness.children_of(c.pid)], 5, what="PID 1 of the namespace")[0]
    with open("/proc/%d/status" % inner) as f:
        nspid = [l.split()[-1] for l in f if l.startswith("NSpid:")]
    check(nspid == ["1"], "the gateway is not PID 1 of its namespace: NSpid %r" % nspid)
    with open("/proc/%d/comm" % inner) as f:
        check(f.read().strip() == "orchesity", "PID 1 is not the gateway (the entry point must exec)")
    check("running as PID 1" in c.log(), "the master does not know it is PID 1")

    # Serves, with PostgreSQL and Redis reached through the compose URLs.
    wait_until(lambda: c.get_json("/api/health/service/database")["health"]["status"] == "healthy", 10,
               what="database healthy")
    wait_until(lambda: c.get_json("/api/health/service/cache")["health"]["status"] == "healthy", 10,
               what="cache healthy")
    health = c.get_json("/api/health")
    check(health["status"] in ("healthy", "degraded") and health["services"]["database"]["status"] == "healthy",
          "overall health: %r" % health)
    run_healthchecks(port)
    r = c.request("POST", "/api/llm/orchestrate", body=json.dumps({"prompt": "hi", "providers": ["openai"]}))
    check(r.status == 200 and r.json()["status"] == "completed", "orchestrate: %d %r" % (r.status, r.body[:200]))
    access = os.path.join(logdir, "access.log")
    wait_until(lambda: os.path.exists(access) and "/api/llm/orchestrate" in open(access).read(), 5,
               what="the access log in the mounted log directory")

    harness.check_reaps_orphans(inner, nsenter)

    # docker stop: SIGTERM to PID 1 while requests are in flight.
    grace = seconds(compose_config("docker-compose.yml")["services"]["orchesity-api"]["stop_grace_period"])
    results = {}
    threads = [threading.Thread(target=slow_orchestrate, args=(port, results, i, 1500)) for i in range(4)]
    for t in threads:
        t.start()
    # The gauge counts the /metrics request itself.
    wait_until(lambda: c.metrics().get("orchesity_http_requests_in_flight", 0) >= 5, 5,
               what="4 requests in flight")
    t0 = time.monotonic()
    os.kill(inner, signal.SIGTERM)
    code = c.wait_exit(grace)
    took = time.monotonic() - t0
    for t in threads:
        t.join(10)
    check(code == 0, "exit code %r after TERM" % code)
    bad = {i: r for i, r in results.items() if r[0] != 200}
    check(len(results) == 4 and not bad, "in-flight requests not completed: %r" % bad)
    check(took < grace, "stopped in %.1f s, grace %d s" % (took, grace))
    check(os.stat(access).st_size > 0, "access log empty")
    shutil.rmtree(logdir, ignore_errors=True)


def test_entrypoint_without_log_directory_logs_to_stdout():
    port = free_port()
    c = Container(container_env(port), port).start()
    check(c.get("/api/health/live").status == 200, "serving")
    c.stop()
    with open(c.stdout_path) as f:
        check('"path":"/api/health/live"' in f.read(), "the access log is not on standard output")


def test_production_environment_reads_every_secret_file():
    """docker-compose.prod.yml's environment, with /run/secrets/* as files
    like the ones scripts/make-secrets writes: every *_FILE is understood,
    the keys work, and none of them shows up in a response or the log."""
    db, redis = service_urls()
    mock = Mock().start()
    secrets = tempfile.mkdtemp(prefix="orc-secrets-")
    env = {k: str(v) for k, v in compose_config("docker-compose.prod.yml")["services"]["orchesity-api"]
           ["environment"].items()}
    values = {"database_url": db.replace("postgresql://", "postgresql+asyncpg://"),
              "secret_key": "admin-%f" % time.time(), "openai_api_key": "sk-from-a-file-0001",
              "anthropic_api_key": "", "gemini_api_key": "", "grok_api_key": ""}
    for k, v in list(env.items()):
        if k.endswith("_FILE"):
            name = v.rsplit("/", 1)[1]
            check(name in values, "unexpected secret %s" % v)
            env[k] = os.path.join(secrets, name)
            with open(env[k], "w") as f:
                f.write(values[name] + "\n")
    check(sum(k.endswith("_FILE") for k in env) == 6, "secret files: %r" % sorted(env))
    env["REDIS_URL"] = map_url(env["REDIS_URL"], redis)
    port = free_port()
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "HEALTH_CHECK_INTERVAL": "1",
                "OPENAI_BASE_URL": mock.url + "/v1",
                "PATH": os.path.dirname(os.path.abspath(BIN)) + ":" + os.environ["PATH"]})
    c = Container(env, port).start()
    auth = {"Authorization": "Bearer " + values["secret_key"]}
    check(c.get("/api/llm/providers").status == 401, "LLM routes need a key when SECRET_KEY is set")
    providers = {p["name"]: p["configured"] for p in c.get_json("/api/llm/providers", headers=auth)["providers"]}
    check(providers == {"openai": True, "anthropic": False, "gemini": False, "grok": False},
          "providers configured from the key files: %r" % providers)
    r = c.request("POST", "/api/llm/orchestrate", body=json.dumps({"prompt": "hi", "providers": ["openai"]}),
                  headers=auth)
    check(r.status == 200, "orchestrate: %d" % r.status)
    check(c.get("/api/admin/config").status == 401, "admin route without the SECRET_KEY_FILE key")
    admin = c.get("/api/admin/config", headers=auth)
    check(admin.status == 200, "admin route with the key: %d" % admin.status)
    wait_until(lambda: c.get_json("/api/health/service/database")["health"]["status"] == "healthy", 10,
               what="database healthy from DATABASE_URL_FILE")
    seen = admin.body.decode() + c.get("/api/health").body.decode() + c.log()
    for name in ("secret_key", "openai_api_key"):
        check(values[name] not in seen, "%s leaks" % name)
    check(urllib.parse.urlsplit(db).password not in seen, "the database password leaks")
    shutil.rmtree(secrets, ignore_errors=True)


# ---------------------------------------------------------------------------
# Replicas behind nginx
# ---------------------------------------------------------------------------

class Nginx:
    def __init__(self, replicas):
        self.dir = tempfile.mkdtemp(prefix="orc-nginx-")
        self.port = free_port()
        self.conf = nginx_test_config(self.dir, replicas, self.port)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([tool("nginx"), "-p", self.dir, "-c", self.conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "err"), "w"))
        wait_until(lambda: self.probe(), 10, what="nginx on port %d" % self.port)
        return self

    def probe(self):
        try:
            return self.request("GET", "/api/health/live").status == 200
        except OSError:
            return False

    def request(self, method, path, body=None, headers=None, timeout=10):
        return Gateway.request(self, method, path, body=body, headers=headers, timeout=timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def replicas(mock, n=2):
    out = []
    for i in range(n):
        port = free_port()
        env = container_env(port, mock, {"ORCHESITY_WORKERS": "1"})
        out.append(Container(env, port).start())
    return out


def kill_replica(c):
    """What the death of a container does: every process at once."""
    pids = [c.pid] + c.workers()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    c.proc.wait(5)


class PostLoad(Load):
    """Threads sending POST /api/llm/orchestrate; failures are counted by
    whether the request started before or after a mark."""

    def __init__(self, target, threads=4):
        super().__init__(target, threads=threads)
        self.mark = None
        self.failed_after_mark = []

    def run(self):
        n = 0
        while not self.stopping.is_set():
            n += 1
            started = time.monotonic()
            body = json.dumps({"prompt": "load %d %d" % (threading.get_ident() % 1000, n),
                               "providers": ["openai"], "max_tokens": 8})
            try:
                r = self.gw.request("POST", "/api/llm/orchestrate", body=body, timeout=10)
                if r.status != 200:
                    raise RuntimeError("status %d %r" % (r.status, r.body[:100]))
                with self.lock:
                    self.ok += 1
            except Exception as e:  # every failure is recorded
                with self.lock:
                    self.failures.append("%s: %s" % (type(e).__name__, e))
                    if self.mark is not None and started > self.mark:
                        self.failed_after_mark.append(str(e))


def test_replicas_behind_nginx_survive_the_death_of_one():
    mock = Mock().start()
    a, b = replicas(mock)
    lb = Nginx([a.port, b.port]).start()
    try:
        def served(gw):
            return sum(v for k, v in gw.metrics().items() if k.startswith('orchesity_http_requests_total{route="health"'))

        before = [served(a), served(b)]
        for _ in range(20):
            check(lb.request("GET", "/api/health").status == 200, "through nginx")
        after = [served(a), served(b)]
        check(after[0] > before[0] and after[1] > before[1], "nginx did not balance: %r -> %r" % (before, after))
        with Load(lb, threads=4, path="/api/llm/providers", keepalive=True) as gets, PostLoad(lb) as posts:
            time.sleep(1.0)
            posts.mark = time.monotonic() + 0.2
            kill_replica(a)
            time.sleep(2.0)
        check(gets.ok > 50 and posts.ok > 20, "too little load: %d GETs, %d POSTs" % (gets.ok, posts.ok))
        check(not gets.failures, "GETs failed after a replica died: %r" % gets.failures[:5])
        check(not posts.failed_after_mark, "POSTs started after the death failed: %r" % posts.failed_after_mark[:5])
        check(len(posts.failures) <= 4, "more POSTs failed than were in flight: %r" % posts.failures[:5])
        check(lb.request("GET", "/api/health").status == 200, "nginx stopped serving")
    finally:
        lb.stop()


def test_replicas_share_the_cache_and_the_database():
    mock = Mock().start()
    a, b = replicas(mock)
    body = json.dumps({"model": "openai/gpt-4o-mini", "max_tokens": 8, "temperature": 0,
                       "messages": [{"role": "user", "content": "shared cache %f" % time.time()}]})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-client"}
    first = a.request("POST", "/v1/chat/completions", body=body, headers=headers)
    check(first.status == 200, "replica A: %d %r" % (first.status, first.body[:200]))
    check(first.header("x-orchesity-cache") == "MISS", "first answer: %s" % first.header("x-orchesity-cache"))
    second = b.request("POST", "/v1/chat/completions", body=body, headers=headers)
    check(second.status == 200 and second.header("x-orchesity-cache") == "HIT",
          "replica B: %d %s" % (second.status, second.header("x-orchesity-cache")))
    check(json.loads(second.body)["choices"][0]["message"]["content"] ==
          json.loads(first.body)["choices"][0]["message"]["content"], "the hit is not the same answer")

    ids = {}
    for gw, name in ((a, "A"), (b, "B")):
        r = gw.request("POST", "/api/llm/orchestrate", body=json.dumps({"prompt": "log %s" % name,
                                                                         "providers": ["openai"]}))
        check(r.status == 200, "orchestrate on %s: %d" % (name, r.status))
        ids[name] = r.json()["request_id"]
    db, _ = service_urls()
    sql = "SELECT count(*) FROM orchestration_requests WHERE request_id IN ('%s', '%s')" % (ids["A"], ids["B"])

    def logged():
        p = subprocess.run(["psql", "-X", "-At", "-c", sql, db.replace("+asyncpg", "")], capture_output=True,
                           text=True, timeout=10)
        return p.returncode == 0 and p.stdout.strip() == "2"

    wait_until(logged, 15, interval=0.3, what="both replicas' requests in the one database")

    def stats_agree():
        sa, sb = a.get_json("/api/db/stats"), b.get_json("/api/db/stats")
        return sa["total_requests"] == sb["total_requests"] and sa["total_requests"] >= 2

    wait_until(stats_agree, 15, interval=0.3, what="/api/db/stats to agree on both replicas")


# ---------------------------------------------------------------------------
# Backups and the database's first start
# ---------------------------------------------------------------------------

def admin_psql(db_url, dbname, sql):
    """psql as the superuser postgres (trust on loopback in the test cluster)."""
    u = urllib.parse.urlsplit(db_url)
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", u.hostname, "-p", str(u.port),
                        "-U", "postgres", "-d", dbname, "-c", sql], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "psql %r: %s" % (sql, p.stderr))
    return p.stdout.strip()


def fresh_database(name):
    db, _ = service_urls()
    admin_psql(db, "postgres", "DROP DATABASE IF EXISTS %s" % name)
    admin_psql(db, "postgres", "CREATE DATABASE %s OWNER orchesity_user" % name)
    u = urllib.parse.urlsplit(db)
    return urllib.parse.urlunsplit(("postgresql+asyncpg", u.netloc, "/" + name, "", ""))


def run_script(name, args, env, stdin=None):
    return subprocess.run([os.path.join(ROOT, "scripts", name)] + args, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL if stdin is None else stdin)


def test_backup_and_restore_from_database_url():
    url = fresh_database("orc_backup_test")
    plain = url.replace("+asyncpg", "")
    work = tempfile.mkdtemp(prefix="orc-backup-")
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": url, "BACKUP_DIR": work}

    def psql(sql):
        p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, plain],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "psql: %s" % p.stderr)
        return p.stdout

    psql("CREATE TABLE t (id serial PRIMARY KEY, note text, at timestamptz DEFAULT now());"
         "INSERT INTO t (note) SELECT 'row ' || g FROM generate_series(1, 500) g;"
         "CREATE INDEX t_note ON t (note)")
    before = psql("SELECT id, note, at FROM t ORDER BY id")
    files = []
    for _ in range(3):
        p = run_script("backup-db", ["--keep", "2"], env)
        check(p.returncode == 0, "backup-db: %s" % p.stderr)
        files.append(p.stdout.strip())
        check(re.search(r"/orc_backup_test-\d{8}-\d{6}\.sql\.gz$", files[-1]), "backup name %r" % files[-1])
    check(sorted(os.listdir(work)) == sorted(os.path.basename(f) for f in files[1:]),
          "retention --keep 2: %r" % os.listdir(work))
    password = urllib.parse.urlsplit(url).password
    check(password not in p.stdout + p.stderr, "the password was printed")

    psql("DROP TABLE t")
    p = run_script("restore-db", [files[-1]], env)
    check(p.returncode != 0 and "--yes" in p.stderr, "restore without a terminal and without --yes must refuse")
    p = run_script("restore-db", ["--yes", files[-1]], env)
    check(p.returncode == 0, "restore-db: %s" % p.stderr)
    check(psql("SELECT id, note, at FROM t ORDER BY id") == before, "restored rows differ")
    check(psql("SELECT indexname FROM pg_indexes WHERE tablename = 't' ORDER BY 1").split() == ["t_note", "t_pkey"],
          "indexes not restored")
    # Over a database that still has the objects (--clean), and a failed dump
    # leaves no backup behind.
    p = run_script("restore-db", ["--yes", files[-1]], env)
    check(p.returncode == 0, "restore over existing objects: %s" % p.stderr)
    bad = dict(env, DATABASE_URL=url.replace("/orc_backup_test", "/no_such_db"))
    p = run_script("backup-db", [], bad)
    check(p.returncode != 0, "backup of a missing database succeeded")
    check(not [f for f in os.listdir(work) if f.startswith("no_such_db")], "a failed dump left a file")
    shutil.rmtree(work, ignore_errors=True)
    db, _ = service_urls()
    admin_psql(db, "postgres", "DROP DATABASE orc_backup_test")


def test_init_db_sql_on_a_fresh_database():
    """As the postgres image runs it: init-db.sql in the init directory with
    etc/migrations mounted beside it.  The schema it creates has the
    original's indexes, and the gateway finds nothing left to apply."""
    fresh_database("orc_initdb_test")
    db, _ = service_urls()
    initdir = tempfile.mkdtemp(prefix="orc-initdb-")
    shutil.copy(os.path.join(ROOT, "docker", "init-db.sql"), initdir)
    shutil.copytree(os.path.join(ROOT, "etc", "migrations"), os.path.join(initdir, "migrations"))
    u = urllib.parse.urlsplit(db)
    admin_psql(db, "postgres", "ALTER ROLE orchesity_user SUPERUSER")  # as POSTGRES_USER is in the image
    try:
        p = subprocess.run(["psql", "-X", "-q", "-h", u.hostname, "-p", str(u.port), "-U", "orchesity_user",
                            "-d", "orc_initdb_test", "-f", os.path.join(initdir, "init-db.sql")], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, PGPASSWORD=u.password or ""))
    finally:
        admin_psql(db, "postgres", "ALTER ROLE orchesity_user NOSUPERUSER")
        shutil.rmtree(initdir, ignore_errors=True)
    check(p.returncode == 0 and "ERROR" not in p.stderr, "init-db.sql: %s" % p.stderr)
    check(admin_psql(db, "orc_initdb_test", "SELECT extname FROM pg_extension WHERE extname = 'pg_stat_statements'")
          == "pg_stat_statements", "pg_stat_statements not created")
    files = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "etc", "migrations")) if f.endswith(".sql"))
    recorded = admin_psql(db, "orc_initdb_test", "SELECT name FROM schema_migrations ORDER BY version").split()
    check(recorded == files, "init-db.sql records %r, etc/migrations has %r" % (recorded, files))
    indexes = admin_psql(db, "orc_initdb_test", "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    for name in ("idx_orchestration_requests_session_id", "idx_orchestration_requests_created_at",
                 "idx_orchestration_requests_status", "idx_orchestration_results_request_id",
                 "idx_orchestration_results_provider", "idx_user_sessions_last_activity",
                 "idx_user_sessions_is_active", "idx_workflows_session_id", "idx_workflows_is_active",
                 "idx_workflow_executions_workflow_id", "idx_workflow_executions_status",
                 "idx_cache_entries_cache_type", "idx_cache_entries_expires_at", "idx_provider_metrics_provider",
                 "idx_provider_metrics_last_updated"):
        check(name in indexes.split(), "index %s missing" % name)
    url = urllib.parse.urlunsplit(("postgresql+asyncpg", u.netloc, "/orc_initdb_test", "", ""))
    m = subprocess.run([BIN, "migrate"], capture_output=True, text=True, timeout=30, env=dict(os.environ, DATABASE_URL=url))
    check(m.returncode == 0 and "0 migrations applied" in m.stdout, "migrate after init-db.sql: %s %s" %
          (m.stdout, m.stderr))
    admin_psql(db, "postgres", "DROP DATABASE orc_initdb_test")


# ---------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------

def test_dashboard_uses_only_exported_metrics():
    gw = Gateway().start()
    gw.get("/api/health")
    families = set(re.findall(r"^# TYPE (\S+) ", gw.get("/metrics").body.decode(), re.M))
    dash = json.loads(read("docker/grafana/dashboards/orchesity.json"))
    used = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            used.update(re.findall(r"\b(orchesity_[a-z0-9_]+)", t["expr"]))
    check(len(used) >= 15, "the dashboard uses only %d metrics" % len(used))
    unknown = sorted(m for m in used if m not in families and re.sub(r"_(bucket|sum|count)$", "", m) not in families)
    check(not unknown, "the dashboard uses metrics the gateway does not export: %r" % unknown)
    prom = yaml.safe_load(read("docker/prometheus.yml"))
    job = [j for j in prom["scrape_configs"] if j["job_name"] == "orchesity"][0]
    check(job.get("metrics_path", "/metrics") == "/metrics", "prometheus metrics_path")
