"""The command line: exit codes, the JSON contract of `check`, help texts, and no Keras in check."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

import kspec
from conftest import ROOT, SPECS, spec_params
from kspec.cli import COMMANDS, main

KSPEC = [sys.executable, "-m", "kspec"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*KSPEC, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_check_json_contract(capsys):
    assert main(["check", "specs/seed_sequential.yaml", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # the contract's keys and the tutorial's numbers: Dense(3) on (3, 1) -> 1*3+3, 3*2+2, 2*2+2
    assert data["name"] == "seed_mlp"
    assert data["layers"][0] == {
        **data["layers"][0],
        "name": "layers1",
        "type": "Dense",
        "output_shape": [None, 3, 3],
        "params": 6,
        "trainable_params": 6,
        "non_trainable_params": 0,
    }
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == (20, 20, 0)


def test_check_text_lists_every_layer(capsys):
    assert main(["check", "specs/branching.yaml"]) == 0
    out = capsys.readouterr().out
    for node in kspec.resolve(kspec.load(ROOT / "specs/branching.yaml")).nodes:
        assert node.name in out
    assert "no Sequential form" in out


def test_check_never_imports_tensorflow():
    code = (
        "import sys; from kspec.cli import main; rc = main(['check', 'specs/branching.yaml']); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_schema_is_valid_and_accepts_every_spec(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in SPECS:
        validator.validate(yaml.safe_load(path.read_text()))
    bad = yaml.safe_load((ROOT / "specs/seed_sequential.yaml").read_text())
    bad["layers"][0]["unitz"] = 3
    assert not validator.is_valid(bad)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "example" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert kspec.__version__ in capsys.readouterr().out


def test_bad_spec_exit_2_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: [{name: x, shape: [3]}]\nlayers:\n  - {type: Dense, units: -3}\n")
    proc = run("check", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {bad}:3:26: layers[0].units: must be a positive integer, got -3"
    assert "Traceback" not in proc.stderr


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check"])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_build_prints_keras_summary_and_saves(tmp_path, keras):
    out = tmp_path / "m.keras"
    proc = run("build", "specs/seed_sequential.yaml", "--api", "subclass", "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Total params: 20" in proc.stdout and "layers3 (Dense)" in proc.stdout
    assert proc.stderr == ""  # TensorFlow's start-up chatter is muted
    import kspec.builders  # noqa: F401  registers SpecModel

    assert keras.models.load_model(out).count_params() == 20


@pytest.mark.slow
@pytest.mark.parametrize("path", spec_params())
def test_build_json_summary_equals_check(path, capsys, keras):
    api = kspec.load(path).api
    assert main(["build", str(path), "--summary-format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    report = kspec.check(kspec.load(path)).to_dict()
    if report["total_params"] is not None:
        assert summary["total_params"] == report["total_params"]
        assert summary["trainable_params"] == report["trainable_params"]
    model = kspec.build(kspec.load(path), api=api)
    assert summary["total_params"] == model.count_params()


UNREGISTERED = """name: flips
inputs: [{name: image, shape: [8, 8, 3]}]
layers:
  - {type: RandomFlip, mode: horizontal}
  - {type: Flatten}
  - {type: Dense, units: 4}
"""


def test_check_marks_layers_outside_the_registry(tmp_path, capsys):
    path = tmp_path / "flips.yaml"
    path.write_text(UNREGISTERED)
    assert main(["check", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unchecked"] == ["random_flip", "flatten", "dense"]
    assert data["total_params"] is None and "not in kspec's registry" in data["layers"][0]["note"]


@pytest.mark.slow
def test_check_keras_flag_asks_keras(tmp_path, capsys, keras):
    path = tmp_path / "flips.yaml"
    path.write_text(UNREGISTERED)
    assert main(["check", str(path), "--format", "json", "--keras"]) == 0
    data = json.loads(capsys.readouterr().out)
    model = kspec.build(kspec.load(path), api="functional")
    assert data["total_params"] == model.count_params() == 8 * 8 * 3 * 4 + 4
    assert data["layers"][2]["output_shape"] == [None, 4]


def test_every_command_refuses_sequential_for_a_branching_graph_with_one_message(tmp_path, capsys):
    """check (api: sequential in the spec), build --api sequential and plot --api sequential say
    the same thing: one message per error kind, wherever it is raised."""
    branching = (ROOT / "specs" / "branching.yaml").read_text()
    asked = tmp_path / "asked.yaml"
    asked.write_text(
        branching.replace("api: functional", "api: sequential")
        if "api:" in branching
        else "api: sequential\n" + branching
    )
    messages = []
    for argv in (
        ["check", str(asked)],
        ["build", str(ROOT / "specs" / "branching.yaml"), "--api", "sequential"],
        [
            "plot",
            str(ROOT / "specs" / "branching.yaml"),
            "--api",
            "sequential",
            "-o",
            str(tmp_path / "x.dot"),
        ],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        messages.append(err.split("the Sequential API cannot build this graph: ", 1)[1])
    assert len(set(messages)) == 1, messages
    assert messages[0].endswith("use the functional or subclass API")


def test_ctrl_c_inside_a_garbage_collector_callback_is_not_lost():
    """JAX (imported by Keras when installed) registers a gc callback; Python's own handler would
    raise KeyboardInterrupt inside it, where it is printed as "Exception ignored" and dropped.
    In a fresh process: signals reach only the main thread, which pytest-xdist's tests may not be on."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import gc, os, signal, sys, time
        from kspec.cli import _interrupt
        if sys.argv[1] == "kspec":
            signal.signal(signal.SIGINT, _interrupt)
        fired = []
        def callback(phase, info):
            if phase == "start" and not fired:
                fired.append(True)
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(10_000):  # the handler runs here, inside the callback
                    pass
        gc.callbacks.append(callback)
        try:
            gc.collect()
            time.sleep(3)  # a re-delivered Ctrl-C arrives here
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted")
    """)
    runs = {
        handler: subprocess.run(
            [sys.executable, "-c", script, handler], capture_output=True, text=True, timeout=60
        )
        for handler in ("kspec", "python")
    }
    assert runs["kspec"].stdout.strip() == "interrupted", runs["kspec"]
    assert "Exception ignored" not in runs["kspec"].stderr
    # the case it guards against: Python's own handler loses the Ctrl-C
    assert runs["python"].stdout.strip() == "not interrupted", runs["python"]
    assert "Exception ignored" in runs["python"].stderr
