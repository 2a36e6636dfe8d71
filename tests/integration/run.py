#!/usr/bin/env python3
"""Runs the integration tests against the real orchesity binary.

    tests/integration/run.py [-k SUBSTRING] [MODULE ...]

Each test runs under a hard timeout (its TIMEOUT attribute, default 60 s).
A test fails when it raises, when it times out, or when a gateway it started
logged an alert-level line or a sanitizer report.  A test that raises
harness.Skip (a part that depends on something not built yet) is reported as
skipped with its reason.  The last line printed is "N passed, N failed" (with
", N skipped" when any was); the exit status is non-zero when anything failed.
"""
import argparse
import importlib
import os
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("hard timeout")


def collect(modules, keyword):
    here = os.path.dirname(os.path.abspath(__file__))
    names = modules or sorted(f[:-3] for f in os.listdir(here) if f.startswith("test_") and f.endswith(".py"))
    tests = []
    for name in names:
        mod = importlib.import_module(name)
        for attr in sorted(dir(mod), key=lambda a: getattr(getattr(mod, a), "__code__", None) and
                           getattr(mod, a).__code__.co_firstlineno or 0):
            fn = getattr(mod, attr)
            if attr.startswith("test_") and callable(fn) and (not keyword or keyword in "%s.%s" % (name, attr)):
                tests.append(("%s.%s" % (name, attr), fn))
    return tests


def run_one(name, fn):
    timeout = getattr(fn, "TIMEOUT", 60)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    started = time.monotonic()
    error = None
    skipped = None
    try:
        fn()
    except harness.Skip as e:
        skipped = str(e)
    except Timeout:
        error = "timed out after %d s" % timeout
    except Exception:
        error = traceback.format_exc()
    finally:
        signal.alarm(0)
    try:
        signal.alarm(60)
        bad = harness.cleanup_all()
    except Timeout:
        bad = ["cleanup timed out"]
    finally:
        signal.alarm(0)
    if bad and error is None:
        error = "bad lines in the gateway's log:\n  " + "\n  ".join(bad[:80])
    elapsed = time.monotonic() - started
    if skipped is not None and error is None:
        print("SKIP %s (%.1f s): %s" % (name, elapsed, skipped), flush=True)
        return None
    print("%s %s (%.1f s)" % ("PASS" if error is None else "FAIL", name, elapsed), flush=True)
    if error:
        print("  " + error.replace("\n", "\n  "), flush=True)
    return error is None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", dest="keyword")
    ap.add_argument("modules", nargs="*")
    opts = ap.parse_args()
    if not os.access(harness.BIN, os.X_OK):
        print("orchesity binary not found at %s" % harness.BIN)
        print("0 passed, 1 failed")
        return 1
    passed = failed = skipped = 0
    for name, fn in collect(opts.modules, opts.keyword):
        ok = run_one(name, fn)
        if ok is None:
            skipped += 1
        elif ok:
            passed += 1
        else:
            failed += 1
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
