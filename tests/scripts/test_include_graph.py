#!/usr/bin/env python3
"""Self-test of scripts/include-graph: small source trees written to a
temporary directory, each with one fault (or none), and what the script says
about them."""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent.parent / "scripts" / "include-graph"

# A tree that respects every rule: each file maps to the headers it includes.
CLEAN_TREE = {
    "common/orc.h": [],
    "common/log.c": ["config.h", "common/log.h"],
    "common/log.h": ["common/orc.h"],
    "worker/http/http.c": ["worker/http/http.h", "common/log.h"],
    "worker/http/http.h": ["common/orc.h"],
    "worker/store/db.c": ["worker/store/db.h"],
    "worker/store/db.h": [],
    "worker/llm/providers/sse.c": ["common/log.h"],
    "worker/llm/llm.c": ["worker/llm/llm.h", "worker/llm/providers/sse.c"],
    "worker/llm/llm.h": [],
    "worker/cache/cache.c": ["worker/llm/llm.h", "worker/store/db.h"],
    "worker/reqlog/reqlog.c": ["worker/reqlog/reqlog.h", "worker/http/http.h"],
    "worker/reqlog/reqlog.h": [],
    "worker/auth/auth.h": [],
    "worker/api/routes.c": ["worker/cache/cache.c", "worker/reqlog/reqlog.h"],
    "worker/worker.c": ["worker/worker.h", "worker/api/routes.c"],
    "worker/worker.h": [],
    "master/master.c": ["worker/worker.h", "common/log.h"],
}


def write_tree(root, tree):
    for name, includes in tree.items():
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f'#include "{target}"\n' for target in includes) + "int x;\n")


def run_on(tree):
    """The script's exit status and output on the clean tree changed by `tree`."""
    with tempfile.TemporaryDirectory() as root:
        write_tree(root, {**CLEAN_TREE, **tree})
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "--root", root, "--files"],
            capture_output=True, text=True, timeout=30,
        )
    return result.returncode, result.stdout + result.stderr


class IncludeGraphTest(unittest.TestCase):
    def assert_fails_with(self, tree, *expected):
        status, output = run_on(tree)
        self.assertEqual(status, 1, output)
        for text in expected:
            self.assertIn(text, output)

    def test_clean_tree_passes(self):
        status, output = run_on({})
        self.assertEqual(status, 0, output)
        self.assertIn("worker/http -> common (2)\n", output)
        self.assertIn("worker/cache -> worker/llm (1), worker/store (1)\n", output)
        summary = "include graph: 11 modules, 18 files, no cycle, layers respected\n"
        self.assertTrue(output.endswith(summary), output)

    def test_module_cycle(self):
        self.assert_fails_with(
            {"worker/http/http.c": ["worker/store/db.h"], "worker/store/db.c": ["worker/http/http.h"]},
            "cycle between modules: worker/http -> worker/store -> worker/http",
            'worker/http/http.c:1: #include "worker/store/db.h"',
            'worker/store/db.c:1: #include "worker/http/http.h"',
        )

    def test_file_cycle_inside_a_module(self):
        self.assert_fails_with(
            {"common/log.h": ["common/util.h"], "common/util.c": ["common/log.h"],
             "common/util.h": []},
            "cycle between files: common/log -> common/util -> common/log",
            'common/log.h:1: #include "common/util.h"',
            'common/util.c:1: #include "common/log.h"',
        )

    def test_upward_include(self):
        self.assert_fails_with(
            {"common/log.c": ["common/log.h", "worker/worker.h"]},
            'common/log.c:2: #include "worker/worker.h": common (layer 0) includes worker (layer 6), not lower',
        )

    def test_same_layer_include(self):
        self.assert_fails_with(
            {"worker/cache/cache.c": ["worker/auth/auth.h"]},
            'worker/cache/cache.c:1: #include "worker/auth/auth.h": '
            "worker/cache (layer 3) includes worker/auth (layer 3), not lower",
        )

    def test_missing_include_target(self):
        self.assert_fails_with(
            {"worker/llm/llm.c": ["worker/llm/llm.h", "worker/llm/gone.h"]},
            'worker/llm/llm.c:2: #include "worker/llm/gone.h": no such file',
        )

    def test_folder_without_layer(self):
        self.assert_fails_with({"worker/extra/extra.c": []}, "worker/extra/: folder has no layer")


if __name__ == "__main__":
    unittest.main()
