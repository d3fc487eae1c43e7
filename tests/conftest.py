"""Shared fixtures. Keras is imported once per test process (it costs ~6 s)."""

from __future__ import annotations

import os
import pathlib
import signal

import pytest
from hypothesis import HealthCheck, settings

# CI runs the same examples every time (a red run must be reproducible); locally they vary.
settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# A shell without job control starts background commands (`make test &`, nohup) with SIGINT
# ignored, and an ignored signal stays ignored in every child: the tests that press Ctrl-C on a
# `kspec` subprocess would see it ignored (kspec honours an inherited SIG_IGN, as nohup wants).
# A handler, unlike SIG_IGN, is reset to the default at exec, so every child starts with Ctrl-C on.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in (ROOT / "specs").glob("*") if p.suffix in (".yaml", ".yml", ".json"))


def spec_ids() -> list[str]:
    return [p.name for p in SPECS]


#: ImageNet-sized example specs: building them in every API in every suite would take minutes,
#: so those builds are `heavy` (make test-all); tests/test_blocks_keras.py keeps their check
#: against Keras and the weights test in make test.
BIG_SPECS = {"resnet50.yaml", "mobilenet_v2.yaml"}


def spec_params(heavy_builds: bool = True) -> list:
    """SPECS as pytest params, the big ones marked `heavy` (for tests that build with Keras)."""
    return [
        pytest.param(p, id=p.name, marks=[pytest.mark.heavy] if heavy_builds and p.name in BIG_SPECS else [])
        for p in SPECS
    ]


@pytest.fixture(scope="session")
def keras():
    import keras as _keras

    return _keras


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT
