"""A short run of the Playground's load benchmark (benchmarks/playground_load.py --quick), so it
does not rot: a real `kspec serve` process on 127.0.0.1, one training running, a few clients
checking specs for a few seconds. Only correctness is asserted (every request answered 200 with a
check report); the latency and frame-time figures are `make bench`'s, in benchmarks/README.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def test_load_benchmark_smoke():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "playground_load.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout[done.stdout.index("{") :])
    load = result["load"]
    assert load["errors"] == 0 and load["requests"] > 0, load
    assert load["training_state"] == "running" and load["training_batches"] > 0
    assert result["frame"]["heatmaps"] == 48
