"""The registry of cross-field checks (`kspec.graph.checks`): each check alone, then together.

Every check has a case below: a spec that only that check rejects, with the place the error must
point at marked `»` (line and column come from the text, not from kspec). A new check without a
case fails `test_every_check_has_a_case`.
"""

from __future__ import annotations

import pytest

import kspec
from kspec.cli import main
from kspec.errors import MAX_ERRORS
from kspec.graph.checks import CHECKS, run_checks
from kspec.graph.resolve import resolve

MARK = "»"
X4 = "inputs: [{name: x, shape: [4]}]\n"
IRIS = "train: {data: {type: sklearn, name: iris}}\n"

# check name -> (spec text with one », path of the error, words in the message)
CASES: dict[str, tuple[str, str, str]] = {
    "reachable_layers": (
        X4
        + "layers:\n  - »{type: Dense, name: a, units: 2}\n  - {type: Dense, name: b, units: 2, inputs: x}\n",
        "layers[0]",
        "does not lead to any output",
    ),
    "used_inputs": (
        "inputs: [{name: x, shape: [4]}, »{name: y, shape: [4]}]\nlayers: [{type: Dense, units: 2, inputs: x}]\n",
        "inputs[1]",
        "is not used",
    ),
    "sequential_api": (
        "api: »sequential\n" + X4 + "layers:\n  - {type: Dense, name: a, units: 4}\n"
        "  - {type: Add, inputs: [x, a]}\n",
        "api",
        "Sequential API cannot build",
    ),
    "loss_for_training": (
        X4 + "layers: [{type: Dense, units: 3}]\ntrain: »{data: {type: sklearn, name: iris}}\n",
        "train",
        "training needs a loss",
    ),
    "losses_match_outputs": (
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: {nope: »mse}}\n",
        "compile.loss.nope",
        "has no output 'nope'",
    ),
    "metrics_match_outputs": (
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: mse, metrics: {densse: »[mae]}}\n",
        "compile.metrics.densse",
        "did you mean 'dense'",
    ),
    "loss_weights_match_outputs": (
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: mse, loss_weights: »[1, 2, 3]}\n",
        "compile.loss_weights",
        "3 loss weights for 1 output",
    ),
    "data_matches_inputs": (
        "inputs: [{name: a, shape: [4]}, {name: b, shape: [4]}]\n"
        "layers: [{type: Concatenate, inputs: [a, b]}, {type: Dense, units: 3}]\n"
        "compile: {loss: sparse_categorical_crossentropy}\ntrain: {data: »{type: sklearn, name: iris}}\n",
        "train.data",
        "one feature table but the model has 2 inputs",
    ),
    "data_fits_inputs": (
        "inputs: [{name: x, shape: [5]}]\nlayers: [{type: Dense, units: 3}]\n"
        "compile: {loss: sparse_categorical_crossentropy}\ntrain: {data: »{type: sklearn, name: iris}}\n",
        "train.data",
        "iris rows have shape [4]",
    ),
    "splits_leave_training_rows": (
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: sparse_categorical_crossentropy}\n"
        "train: {data: {type: sklearn, name: iris}, test_split: »0.999}\n",
        "train.test_split",
        "no training rows left: 150 rows",
    ),
    "data_file": (
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: mse}\n"
        "train: {data: {type: npz, path: »later.npz}}\n",
        "train.data.path",
        "no such file 'later.npz'",
    ),
    "data_file_is_a_file": (  # the spec's own folder: it exists, and is no file (nor is a FIFO)
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: mse}\n"
        "train: {data: {type: npz, path: ».}}\n",
        "train.data.path",
        "'.' is not a file",
    ),
    "parameter_limit": (
        X4 + "layers:\n  - {type: Dense, units: 3}\n  - »{type: Dense, units: 400000000}\n",
        "layers[1]",
        "over the limit of 1,000,000,000",
    ),
    "callbacks": (
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: sparse_categorical_crossentropy}\n"
        "train:\n  data: {type: sklearn, name: iris}\n"
        "  callbacks: [{type: ModelCheckpoint, filepath: »best.h5}]\n",
        "train.callbacks[0].filepath",
        "must end in '.keras'",
    ),
    "tensorflow_kernels": (  # proved against TensorFlow in tests/test_tensorflow_kernels.py
        "backend: tensorflow\ninputs: [{name: x, shape: [6, 6, 2]}]\n"
        "layers: [{type: AdaptiveMaxPooling2D, output_size: »1}, {type: Flatten}]\n",
        "layers[0].output_size",
        "fails in TensorFlow's adaptive pooling",
    ),
}


def _position(text: str) -> tuple[int, int]:
    before = text[: text.index(MARK)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def test_every_check_has_a_case():
    assert set(CASES) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_check_alone(name, tmp_path, monkeypatch):
    """The check finds its case, at the marked place, and no other check complains about it."""
    monkeypatch.delenv("KSPEC_MAX_PARAMS", raising=False)
    text, path, words = CASES[name]
    spec = kspec.loads(text.replace(MARK, ""), file=str(tmp_path / "t.yaml"))
    graph = resolve(spec)
    found = list(CHECKS[name].run(graph))
    assert len(found) == 1, [str(e) for e in found]
    line, col = _position(text)
    assert str(found[0]).startswith(f"{tmp_path / 't.yaml'}:{line}:{col}: {path}: "), str(found[0])
    assert words in found[0].message
    others = [str(e) for other, c in CHECKS.items() if other != name for e in c.run(graph)]
    assert others == []


def test_one_output_spec_with_bad_loss_and_weights_fails_check_not_train(tmp_path, capsys):
    """Issue 10's example: both mistakes, in one `kspec check` run, each at its place, exit 2."""
    spec = tmp_path / "m.yaml"
    spec.write_text(
        X4 + "layers: [{type: Dense, units: 3}]\ncompile:\n  loss: {nope: mse}\n  loss_weights: [1, 2, 3]\n"
    )
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: {spec}:4:16: compile.loss.nope: the model has no output 'nope'; its outputs are dense",
        f"error: {spec}:5:17: compile.loss_weights: 3 loss weights for 1 output(s) (dense)",
        "2 errors",
    ]


def test_missing_data_file_warns_in_check_and_fails_in_train(tmp_path, capsys):
    text, _, _ = CASES["data_file"]
    spec = tmp_path / "m.yaml"
    spec.write_text(text.replace(MARK, ""))
    assert main(["check", str(spec)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"warning: {spec}:4:33: train.data.path: no such file 'later.npz'")
    assert "Total params: 15" in captured.out
    # Training cannot go on without it: the same sentence, as an error, before Keras is imported.
    graph = kspec.check(kspec.load(spec)).graph
    with pytest.raises(kspec.SpecError, match=r":4:33: train.data.path: no such file 'later.npz'"):
        run_checks(graph, only=("data_file",), warnings_are_errors=True)
    from kspec.training.run import train  # fails while reading the data, before Keras loads

    with pytest.raises(kspec.SpecError, match=r":4:33: train.data.path: no such file 'later.npz'"):
        train(kspec.load(spec), str(tmp_path / "run"))


def test_tilde_in_a_data_path_is_one_rule_for_check_and_train(tmp_path, monkeypatch):
    """`~` is the user's home for check and for the training data loader alike."""
    import numpy as np

    from kspec.training.data import load_arrays

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    np.savez(home / "d.npz", x=np.zeros((10, 4), np.float32), y=np.zeros(10, np.int64))
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    spec = spec_dir / "m.yaml"
    spec.write_text(
        X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: sparse_categorical_crossentropy}\n"
        "train: {data: {type: npz, path: ~/d.npz}}\n"
    )
    report = kspec.check(kspec.load(spec))
    assert report.warnings == []
    arrays = load_arrays(report.graph, report.graph.spec.train["data"], str(spec_dir))
    assert arrays.x["x"].shape == (10, 4)


@pytest.mark.parametrize(
    "text,where",
    [
        # Values validation took and training refused late (issue 19.16).
        (X4 + "layers: [{type: GaussianNoise, stddev: .inf}, {type: Dense, units: 2}]\n", "layers[0].stddev"),
        (X4 + "layers: [{type: GaussianNoise, stddev: 2.0}, {type: Dense, units: 2}]\n", "layers[0].stddev"),
        ("seed: 4294967296\n" + X4 + "layers: [{type: Dense, units: 2}]\n", "seed"),
        (
            X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: mse}\n"
            "train: {data: {type: sklearn, name: iris}, seed: 4294967296}\n",
            "train.seed",
        ),
        (
            X4
            + "layers: [{type: Dense, units: 3, kernel_initializer: {type: RandomNormal, stddev: .nan}}]\n",
            "layers[0].kernel_initializer.stddev",
        ),
        (
            X4 + "layers: [{type: Dense, units: 3}]\ncompile: {loss: sparse_categorical_crossentropy}\n"
            "train: {data: {type: sklearn, name: iris}, test_split: 0.999}\n",
            "train.test_split",
        ),
    ],
)
def test_values_training_would_refuse_are_refused_at_check(text, where):
    with pytest.raises(kspec.SpecError) as info:
        kspec.check(kspec.loads(text, file="t.yaml"))
    assert f": {where}: " in str(info.value).splitlines()[0]


def test_check_reports_every_independent_error_in_file_order(tmp_path, capsys):
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "seed: -4\n" + X4 + "layers:\n"
        "  - {type: Dense, units: -3}\n"
        "  - {type: Dense, units: 3, activation: rellu}\n"
        "  - {type: Dense, units: 2, inputs: nope}\n"
        "  - {type: Dense, units: 2}\n"
        "compile: {loss: {nope: mse}}\n"
    )
    assert main(["check", str(spec)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1].rsplit(":", 2)[1:] for line in lines[:-1]] == [
        ["1", "7"],
        ["4", "26"],
        ["5", "41"],
        ["6", "37"],
        ["8", "24"],
    ]
    assert lines[-1] == "5 errors"
    # the Python API raises the same errors as one SpecError; its first line is the first error
    with pytest.raises(kspec.SpecError) as info:
        from kspec.graph.check import check_document
        from kspec.schema.io import read

        check_document(read(spec))
    assert len(info.value.errors) == 5
    assert str(info.value).splitlines()[0] == lines[0].removeprefix("error: ")
    assert info.value.message == "must be a seed: an integer from 0 to 2**32 - 1, got -4"


def test_errors_are_bounded(tmp_path, capsys):
    layers = "".join(f"  - {{type: Dense, units: -{i + 1}}}\n" for i in range(3 * MAX_ERRORS))
    spec = tmp_path / "m.yaml"
    spec.write_text(X4 + "layers:\n" + layers)
    assert main(["check", str(spec)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == MAX_ERRORS + 1
    assert lines[-1] == f"error: stopped after {MAX_ERRORS} errors"


def test_a_wiring_error_is_not_repeated_as_unreachable_layers(tmp_path):
    text = X4 + "layers:\n  - {type: Dense, name: h, units: 2}\n  - {type: Dense, units: 2, inputs: hh}\n"
    with pytest.raises(kspec.SpecError) as info:
        kspec.check(kspec.loads(text, file="t.yaml"))
    assert [e.message for e in info.value.errors] == ["unknown input 'hh'; did you mean 'h'?"]


def test_no_train_section_points_at_the_documentation(tmp_path):
    from kspec.training.run import train

    spec = kspec.loads(X4 + "layers: [{type: Dense, units: 2}]\n", file="t.yaml")
    with pytest.raises(kspec.SpecError) as info:
        train(spec, str(tmp_path / "run"))
    assert "docs/spec.md#train" in str(info.value) and "kspec schema" not in str(info.value)
