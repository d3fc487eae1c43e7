"""TensorFlow's start-up chatter never reaches users; real warnings still do (CLI and Python API)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT
from kspec._keras import without_chatter

QUIET_ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


@pytest.fixture(scope="session")
def raw_tensorflow_stderr() -> str:
    """What a bare `import keras` prints on this machine (nothing of kspec involved)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import keras, numpy; keras.layers.Dense(2)(numpy.ones((1, 2)))"],
        capture_output=True,
        text=True,
        env=QUIET_ENV,
        timeout=300,
    )
    return proc.stderr


@pytest.mark.slow
def test_the_filter_removes_every_start_up_line_tensorflow_printed(raw_tensorflow_stderr):
    if not raw_tensorflow_stderr.strip():
        pytest.skip("this TensorFlow build prints nothing at start-up")
    assert without_chatter(raw_tensorflow_stderr).strip() == ""


def test_the_filter_keeps_real_warnings_and_errors():
    real = [
        "/x.py:3: UserWarning: You are using a softmax over axis -1 of a tensor of shape (1, 3, 1).\n",
        "E0000 00:00:1796165256.143527   11537 cuda_dnn.cc:8] Unable to register cuDNN factory\n",
        "W0000 00:00:1796165256.143527   11537 gpu_device.cc:2] Cannot dlopen some GPU libraries\n",
        "Traceback (most recent call last):\n",
    ]
    chatter = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    assert without_chatter(chatter + "".join(real)) == "".join(real)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=QUIET_ENV, timeout=600
    )


@pytest.mark.slow
def test_the_python_api_is_as_quiet_as_the_cli_and_keeps_real_warnings():
    code = (
        "import warnings, kspec\n"
        "spec = kspec.load('specs/branching.yaml')\n"
        "kspec.build(spec, api='subclass')\n"
        "kspec.compare(kspec.load('specs/seed_sequential.yaml'), steps=2, batch_size=4)\n"
        "warnings.warn('a real warning from user code')\n"
        "print('done')\n"
    )
    proc = _run_python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert any("a real warning from user code" in line for line in lines)
    noise = [line for line in lines if "a real warning" not in line and "warnings.warn" not in line]
    assert noise == [], noise


@pytest.mark.slow
def test_the_cli_prints_no_tensorflow_lines(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kspec", "build", "specs/branching.yaml", "--api", "subclass"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=QUIET_ENV,
        timeout=600,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "│ ?" not in proc.stdout
