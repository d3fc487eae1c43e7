"""Search spaces in a spec (`{tune: ...}`): validation at file:line:col, `kspec check` over the space.

Bad cases carry a `»` where the error must point (line and column come from the text as
written). The parameter range is checked against brute force over every point of small spaces,
and against Keras's own `count_params()` for the extreme points.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys

import pytest

import kspec
from kspec.cli import main
from kspec.schema.space import probe_points

MARK = "»"
HEAD = "inputs: [{name: x, shape: [8]}]\nlayers:\n"


def _write(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(text.replace(MARK, ""))
    return path


def _where(text: str) -> tuple[int, int]:
    before = text[: text.index(MARK)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


BAD = [
    (
        "min_above_max",
        "  - {type: Dense, units: {tune: int, min: »64, max: 8}}\n",
        r"min \(64\) is greater than max \(8\)",
    ),
    (
        "float_min_above_max",
        "  - {type: Dropout, rate: {tune: float, min: »0.5, max: 0.1}}\n",
        r"greater than max",
    ),
    (
        "empty_choice",
        "  - {type: Dense, units: 2, activation: {tune: choice, values: »[]}}\n",
        r"at least one value",
    ),
    (
        "choice_without_values",
        "  - {type: Dense, units: 2, activation: »{tune: choice}}\n",
        r"needs `values:`",
    ),
    (
        "layer_name",
        "  - {type: Dense, units: 2, name: »{tune: choice, values: [a, b]}}\n",
        r"names must be fixed",
    ),
    (
        "layer_type",
        "  - {type: »{tune: choice, values: [Dense, Conv1D]}, units: 2}\n",
        r"type\) must be fixed",
    ),
    (
        "initializer_type",
        "  - {type: Dense, units: 2, kernel_initializer: {type: »{tune: choice, values: [zeros, ones]}}}\n",
        r"type\) must be fixed",
    ),
    ("layer_inputs", "  - {type: Dense, units: 2, inputs: »{tune: choice, values: [x]}}\n", r"wiring"),
    (
        "unknown_kind",
        "  - {type: Dense, units: {tune: »integer, min: 1, max: 2}}\n",
        r"must be one of int, float",
    ),
    (
        "unknown_key",
        "  - {type: Dense, units: {tune: int, min: 1, max: 4, stepp: »1}}\n",
        r"unknown key 'stepp'",
    ),
    ("missing_max", "  - {type: Dense, units: »{tune: int, min: 1}}\n", r"needs `max:`"),
    (
        "int_bound_not_int",
        "  - {type: Dense, units: {tune: int, min: 1, max: »4.5}}\n",
        r"must be an integer",
    ),
    (
        "log_needs_positive",
        "  - {type: Dense, units: 2, kernel_regularizer: {type: L2, l2: {tune: float, min: »0.0, max: 0.1, sampling: log}}}\n",
        r"log sampling needs min > 0",
    ),
    (
        "default_outside",
        "  - {type: Dense, units: {tune: int, min: 1, max: 4, default: »9}}\n",
        r"within \[1, 4\]",
    ),
    (
        "default_not_a_choice",
        "  - {type: Dense, units: 2, activation: {tune: choice, values: [relu], default: »gelu}}\n",
        r"one of the values",
    ),
    (
        "nested_space",
        "  - {type: Dense, units: {tune: int, min: 1, max: 4, default: »{tune: bool}}}\n",
        r"cannot contain another",
    ),
    ("mixed_choice", "  - {type: Dense, units: {tune: choice, values: »[2, relu]}}\n", r"all be of one kind"),
    # the rest of the spec is checked at the defaults ...
    (
        "bad_default_value",
        "  - {type: Dense, units: »{tune: int, min: 0, max: 4}}\n",
        r"positive integer, got 0 \(with the search space at its defaults\)",
    ),
    (
        "bad_choice_value",
        "  - {type: Dense, units: 2, activation: »{tune: choice, values: [relu, rellu]}}\n",
        r"unknown activation 'rellu'.*with the search space at layers\[0\]\.activation='rellu'",
    ),
    # ... and at every other probed point: the error names the point that breaks
    (
        "breaks_only_at_max",
        "  - {type: Reshape, target_shape: [8, 1]}\n  - {type: Conv1D, filters: 2, kernel_size: {tune: int, min: 3, max: 9, step: 2}}\n  - »{type: Conv1D, filters: 2, kernel_size: 3}\n",
        r"larger than the input.*with the search space at layers\[1\]\.kernel_size=(7|9)",
    ),
]


@pytest.mark.parametrize(("case_id", "body", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_space_is_one_located_line_exit_2(case_id, body, message, tmp_path, capsys):
    text = HEAD + body
    spec = _write(tmp_path, text)
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    line, col = _where(text)
    assert err.startswith(f"error: {spec}:{line}:{col}: "), err
    assert re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml"]  # nothing written


def test_space_in_fixed_data_settings_is_refused(tmp_path, capsys):
    text = (
        HEAD
        + "  - {type: Dense, units: 2}\ntrain:\n  data: {type: sklearn, name: digits}\n  validation_split: »{tune: float, min: 0.1, max: 0.3}\n"
    )
    spec = _write(tmp_path, text)
    assert main(["check", str(spec)]) == 2
    err = capsys.readouterr().err
    line, col = _where(text)
    assert f":{line}:{col}: train.validation_split: a search space is not allowed here" in err


def _mlp(units: str, second: str = "4", bias: str = "true") -> str:
    return (
        HEAD
        + f"  - {{type: Dense, name: h1, units: {units}}}\n"
        + f"  - {{type: Dense, name: h2, units: {second}, use_bias: {bias}}}\n"
        + "  - {type: Dense, name: out, units: 3}\n"
    )


def _dense_total(widths: list[int], biases: list[bool]) -> int:
    """Parameters of a Dense stack, by the formula (inputs * units + units when biased)."""
    total, fan_in = 0, 8
    for units, bias in zip(widths, biases):
        total += fan_in * units + (units if bias else 0)
        fan_in = units
    return total


def test_check_reports_the_exact_range_over_a_small_space(tmp_path):
    text = _mlp("{tune: int, min: 2, max: 6, step: 2}", "{tune: choice, values: [1, 5, 3]}", "{tune: bool}")
    report = kspec.check(kspec.load(_write(tmp_path, text)))
    space = report.space
    assert space is not None and space.exhaustive and space.points_checked == 3 * 3 * 2
    totals = [
        _dense_total([a, b, 3], [True, bias, True])
        for a, b, bias in itertools.product([2, 4, 6], [1, 5, 3], [False, True])
    ]
    assert (space.min_total_params, space.max_total_params) == (min(totals), max(totals))
    assert space.max_point == {"h1.units": 6, "h2.units": 5, "h2.use_bias": True}
    # the layer table is the defaults': min of the int, first choice, false
    assert report.total_params == _dense_total([2, 1, 3], [True, False, True])


def test_huge_space_is_probed_not_enumerated():
    spaces = kspec.loads(
        HEAD
        + "".join(
            f"  - {{type: Dense, name: d{i}, units: {{tune: int, min: 1, max: 512}}, "
            f"activation: {{tune: choice, values: [relu, tanh, gelu]}}}}\n"
            for i in range(8)
        )
    ).search.spaces
    points, exhaustive = probe_points(spaces)
    assert not exhaustive and len(points) < 60  # 16 spaces: the cross product would be 3**16
    for space in spaces:  # every probe value of every space is tried at least once
        tried = {p[space.name] for p in points}
        assert set(space.probes()) <= tried


def test_check_json_has_the_space_and_runs_without_tensorflow(tmp_path, root):
    text = _mlp("{tune: int, min: 4, max: 64, step: 4}") + (
        "compile:\n  optimizer: {type: Adam, learning_rate: {tune: float, min: 1.0e-4, max: 1.0e-2, sampling: log}}\n"
        "  loss: mse\n"
    )
    spec = _write(tmp_path, text)
    code = (
        "import sys, json; from kspec.cli import main; rc = main(['check', sys.argv[1], '--format', 'json']);"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    space = data["search_space"]
    assert [h["name"] for h in space["hyperparameters"]] == ["h1.units", "compile.optimizer.learning_rate"]
    assert space["min_total_params"] == _dense_total([4, 4, 3], [True] * 3)
    assert space["max_total_params"] == _dense_total([64, 4, 3], [True] * 3)


def test_same_name_ties_two_values_and_conflicting_twins_are_refused(tmp_path, capsys):
    tied = "{tune: int, min: 2, max: 8, name: width}"
    report = kspec.check(kspec.load(_write(tmp_path, _mlp(tied, tied))))
    assert [h["name"] for h in report.space.hyperparameters] == ["width"]
    assert report.space.max_total_params == _dense_total([8, 8, 3], [True] * 3)
    text = _mlp(tied, "»{tune: int, min: 2, max: 9, name: width}")
    spec = _write(tmp_path, text)
    assert main(["check", str(spec)]) == 2
    line, col = _where(text)
    assert f":{line}:{col}: " in capsys.readouterr().err


@pytest.mark.slow
def test_extreme_points_match_keras_count_params(tmp_path, keras):
    from kspec.graph.space import spec_at

    text = (
        "inputs: [{name: x, shape: [12, 12, 1]}]\nlayers:\n"
        "  - {type: Conv2D, filters: {tune: int, min: 2, max: 16, step: 2}, kernel_size: {tune: choice, values: [3, 5]}}\n"
        "  - {type: BatchNormalization}\n  - {type: Flatten}\n"
        "  - {type: Dense, units: {tune: int, min: 3, max: 40}, use_bias: {tune: bool}}\n"
    )
    spec = kspec.load(_write(tmp_path, text))
    space = kspec.check(spec).space
    for point, total in (
        (space.min_point, space.min_total_params),
        (space.max_point, space.max_total_params),
    ):
        model = kspec.build(spec_at(spec, point))
        assert model.count_params() == total, point
