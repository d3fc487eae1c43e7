"""The runnable scripts in examples/ run and say what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT


def run_example(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_check_spec_example():
    out = run_example("check_spec.py")
    assert "total: 20 trainable: 20 non-trainable: 0" in out
    assert "inline.yaml:2:31: layers[0].units: must be a positive integer, got 0" in out


@pytest.mark.slow
def test_three_apis_example():
    out = run_example("three_apis.py", "specs/branching.yaml")
    assert "sequential" not in out  # a branching graph has no Sequential form
    diffs = [float(line.rsplit("=", 1)[1]) for line in out.splitlines() if line.startswith("max |")]
    assert len(diffs) == 2 and max(diffs) <= 1e-6


@pytest.mark.slow
def test_save_and_reload_example(tmp_path):
    out = run_example("save_and_reload.py", str(tmp_path))
    assert "same predictions after reload: True" in out
    assert (tmp_path / "seed_subclass.keras").stat().st_size > 1000


# What must never reach a user's terminal or log: TensorFlow/absl start-up lines and escape sequences.
TF_LOG_LINE = re.compile(
    r"^(I|W|E)\d{4} |absl::InitializeLog|oneDNN custom operations|cpu_feature_guard", re.M
)


@pytest.mark.slow
def test_make_demo_runs_end_to_end_with_clean_output(tmp_path):
    """`make demo` itself: three summaries, three diagrams, a short training run, a comparison.

    Its output (stdout and stderr, not a terminal) holds no TensorFlow/absl log line and no escape
    sequence, without any TF_CPP_MIN_LOG_LEVEL set by the caller: kspec keeps TensorFlow quiet.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MAKEFLAGS", "MFLAGS")}
    proc = subprocess.run(
        ["make", "--no-print-directory", "demo", f"DEMO_ARGS=--out {tmp_path} --epochs 1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    both = proc.stdout + proc.stderr
    assert not TF_LOG_LINE.search(both), TF_LOG_LINE.search(both)
    assert "\x1b" not in both and "\r" not in both and "\b" not in both
    assert out.count("Total params: 17,226") == 4  # kspec check and the three APIs' summaries agree
    assert "│ ?" not in out  # every summary row has its shape, the subclass's too
    for api in ("sequential", "functional", "subclass"):
        assert (tmp_path / "diagrams" / f"digits_mlp_{api}.png").read_bytes()[:4] == b"\x89PNG"
    for name in (
        "model.keras",
        "history.json",
        "metrics.json",
        "summary.txt",
        "model.png",
        "curves.png",
        "report.html",
    ):
        assert (tmp_path / "run" / name).stat().st_size > 0, name
    assert (tmp_path / "compare" / "compare.html").exists()
    # the block-based model: nested check rows, nested BlockLayers, a clustered diagram
    assert "stage1 (block vgg #0)" in out and "  stage1_conv1 (Conv2D)" in out
    assert "stage2 (BlockLayer)" in out and "└ stage2_pool (MaxPooling2D)" in out
    assert out.count("Total params: 6,562") == 2
    assert (tmp_path / "blocks" / "vgg_blocks_subclass.png").read_bytes()[:4] == b"\x89PNG"
