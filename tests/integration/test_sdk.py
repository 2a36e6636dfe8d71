"""The official OpenAI and Anthropic npm clients against the real gateway:
tests/sdk/openai.test.mjs and tests/sdk/anthropic.test.mjs run under node
with the gateway in front of the mock upstream, once per client, covering
each of the four providers.  A failing check fails the test with node's
output (one line per check)."""
import os
import shutil
import subprocess

from harness import ROOT, Gateway, Mock, TestFailure, check

SDK_DIR = os.path.join(ROOT, "tests", "sdk")
# npm ci and node together stay within each test's TIMEOUT (240 s), so that a
# hang is reported with node's output rather than as a bare timeout.
NODE_TIMEOUT = 100
NPM_TIMEOUT = 120
# Fast retry pacing as in test_llm.py, and no retries at all: the error
# checks expect the provider's first failure to reach the client.
CONFIG = {"llm": {"retry_base_ms": 50, "retry_max_ms": 400, "max_retries": 0}}


def install_sdks():
    """Runs `npm ci` in tests/sdk unless node_modules already matches the lock
    file (npm's own copy of it in node_modules is not older), as scripts/test."""
    lock = os.path.join(SDK_DIR, "package-lock.json")
    installed = os.path.join(SDK_DIR, "node_modules", ".package-lock.json")
    if os.path.isfile(installed) and os.path.getmtime(installed) >= os.path.getmtime(lock):
        return
    npm = shutil.which("npm")
    check(npm is not None, "npm is not installed: the SDK tests need Node.js 20 and npm")
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=NPM_TIMEOUT)
    check(r.returncode == 0, "npm ci in tests/sdk failed (exit %d):\n%s" % (r.returncode, r.stdout[-3000:]))


def start():
    mock = Mock().start()
    gw = Gateway(workers=1, env=mock.provider_env(), config=CONFIG).start()
    return gw, mock


def run_node(script, gw):
    """Runs one conformance script against the gateway; fails with its output."""
    install_sdks()
    node = shutil.which("node")
    check(node is not None, "node is not installed: the SDK tests need Node.js 20")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "ORCHESITY_URL": "http://127.0.0.1:%d" % gw.port}
    try:
        r = subprocess.run([node, script], cwd=SDK_DIR, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise TestFailure("node %s did not finish within %d s:\n%s" % (script, NODE_TIMEOUT, out))
    if r.returncode != 0:
        raise TestFailure("node %s exited with %d:\n%s" % (script, r.returncode, r.stdout.rstrip()))
    check("0 failing" in r.stdout, "node %s exited 0 without its summary:\n%s" % (script, r.stdout))
    return r.stdout


def test_openai_sdk_chat_completions_and_models():
    gw, mock = start()
    run_node("openai.test.mjs", gw)


test_openai_sdk_chat_completions_and_models.TIMEOUT = 240


def test_anthropic_sdk_messages_and_models():
    gw, mock = start()
    run_node("anthropic.test.mjs", gw)


test_anthropic_sdk_messages_and_models.TIMEOUT = 240
