"""Backend choice: `--backend` beats the spec's `backend:`, which beats KERAS_BACKEND, then TensorFlow;
a missing backend is one line naming the extra, exit 2; the Python API refuses to switch backends."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import kspec
from conftest import ROOT
from kspec.backend import BACKENDS, BackendError, choose

SPEC = """\
name: tiny
backend: {backend}
seed: 3
inputs: [{{name: x, shape: [4]}}]
layers: [{{type: Dense, units: 2}}]
"""


def spec_file(tmp_path, backend: str) -> str:
    path = tmp_path / f"tiny_{backend}.yaml"
    path.write_text(SPEC.format(backend=backend))
    return str(path)


def python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_precedence_command_line_then_spec_then_environment_then_tensorflow():
    assert choose("torch", "jax", environ={"KERAS_BACKEND": "tensorflow"}) == "torch"
    assert choose(None, "jax", environ={"KERAS_BACKEND": "torch"}) == "jax"
    assert choose(None, None, environ={"KERAS_BACKEND": "torch"}) == "torch"
    assert choose(None, None, environ={}) == "tensorflow"


def test_backend_key_is_validated_with_its_place(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.format(backend="theano"))
    with pytest.raises(kspec.SpecError) as info:
        kspec.load(path)
    assert f"{path}:2:" in str(info.value) and "backend" in str(info.value)
    assert kspec.load(spec_file(tmp_path, "jax")).backend == "jax"


def test_python_api_refuses_another_backend_once_keras_is_imported(tmp_path, keras):
    active = keras.backend.backend()
    other = next(b for b in BACKENDS if b != active)
    spec = kspec.load(spec_file(tmp_path, other))
    with pytest.raises(
        BackendError, match=rf"already imported with the {active} backend.*KERAS_BACKEND={other}"
    ):
        kspec.build(spec)
    # an explicit argument wins over the spec's key, so the same spec builds on the active backend
    assert kspec.build(spec, backend=active).count_params() == 10


@pytest.mark.slow
def test_cli_spec_key_and_command_line_pick_the_backend(tmp_path):
    """`backend: jax` in the spec runs JAX; `--backend torch` wins over it (one process each)."""
    path = spec_file(tmp_path, "jax")
    code = """
        import sys
        from kspec.cli import main
        rc = main(sys.argv[1:])
        import keras
        print("BACKEND", keras.backend.backend(), rc)
    """
    env = {"KERAS_BACKEND": "tensorflow"}  # the spec's key beats the environment
    by_spec = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), "build", path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=300,
    )
    assert "BACKEND jax 0" in by_spec.stdout, by_spec.stderr
    assert "Total params: 10" in by_spec.stdout
    by_flag = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), "build", path, "--backend", "torch"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=300,
    )
    assert "BACKEND torch 0" in by_flag.stdout, by_flag.stderr


def test_missing_backend_is_one_line_naming_the_extra_exit_2(tmp_path):
    """torch hidden from the import system, as on a machine without `kspec[torch]`."""
    code = f"""
        import sys

        class HideTorch:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    raise ModuleNotFoundError("No module named 'torch'")

        sys.meta_path.insert(0, HideTorch())
        from kspec.cli import main
        sys.exit(main(["build", {spec_file(tmp_path, "tensorflow")!r}, "--backend", "torch"]))
    """
    proc = python(code)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "torch backend is not installed" in lines[0] and "pip install 'kspec[torch]'" in lines[0]
    assert "keras" not in proc.stdout


def test_missing_backend_in_the_spec_points_at_the_key(tmp_path):
    code = f"""
        import sys

        class HideJax:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("jax", "jaxlib"):
                    raise ModuleNotFoundError("No module named 'jax'")

        sys.meta_path.insert(0, HideJax())
        import kspec
        try:
            kspec.use_backend(spec=kspec.load({spec_file(tmp_path, "jax")!r}))
        except kspec.SpecError as exc:
            print(exc)
        print("keras" in sys.modules)
    """
    proc = python(code)
    out = proc.stdout.splitlines()
    assert (
        out[0].startswith(str(tmp_path)) and ":2:10: backend: the jax backend is not installed" in out[0]
    ), proc
    assert "kspec[jax]" in out[0] and out[1] == "False"
