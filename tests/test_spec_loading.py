"""The spec stage: positions, YAML/JSON parity, defaults, wiring and the errors of the graph stage."""

from __future__ import annotations

import json

import pytest
import yaml

import kspec
from conftest import ROOT


def err(text: str, file: str = "t.yaml") -> str:
    with pytest.raises(kspec.SpecError) as info:
        kspec.check(kspec.loads(text, file=file))
    return str(info.value)


def test_yaml_and_json_carry_the_same_tree(tmp_path):
    data = yaml.safe_load((ROOT / "specs/branching.yaml").read_text())
    path = tmp_path / "branching.json"
    path.write_text(json.dumps(data, indent=2))
    a = kspec.check(kspec.load(ROOT / "specs/branching.yaml")).to_dict()
    b = kspec.check(kspec.load(path)).to_dict()
    assert a == b


@pytest.mark.parametrize("spelling", ["1e-06", "1E-6", "+1e-6", "0.1e-5", ".1e-5"])
def test_exponent_numbers_are_numbers_in_json_and_yaml(spelling):
    """JSON writes 1e-6 as `1e-06` (Python's json.dumps too); PyYAML's YAML 1.1 would read a string."""
    layers = [{"type": "Dense", "units": 3}, {"type": "LayerNormalization", "epsilon": "EPS"}]
    json_text = json.dumps({"inputs": [{"name": "x", "shape": [3]}], "layers": layers}).replace(
        '"EPS"', spelling
    )
    yaml_text = f"inputs: [{{name: x, shape: [3]}}]\nlayers:\n  - {{type: Dense, units: 3}}\n  - {{type: LayerNormalization, epsilon: {spelling}}}\n"
    json_number = not spelling.startswith(("+", "."))  # JSON allows neither
    for text, file in [(json_text, "m.json")] * json_number + [(yaml_text, "m.yaml")]:
        spec = kspec.loads(text, file=file)
        assert spec.layers[1].args["epsilon"] == float(spelling)
    # quoted, it stays the string it says it is (and is refused as one)
    assert "epsilon: must be a number, got '1e-06'" in err(yaml_text.replace(spelling, '"1e-06"'))


def test_json_errors_point_into_the_json_file():
    text = '{\n  "inputs": [{"name": "x", "shape": [3]}],\n  "layers": [\n    {"type": "Dense", "units": "3"}\n  ]\n}\n'
    assert err(text, "m.json") == "m.json:4:32: layers[0].units: must be a positive integer, got '3'"
    assert err('{"inputs": [}', "m.json").startswith("m.json:1:13: JSON syntax error")


def test_default_names_follow_keras():
    spec = kspec.loads(
        "inputs: [{name: x, shape: [8]}]\nlayers:\n - {type: Dense, units: 4}\n"
        " - {type: Dense, units: 4}\n - {type: BatchNormalization}\n - {type: Dense, name: dense_2, units: 1}"
    )
    assert [n.name for n in kspec.resolve(spec).nodes] == [
        "dense",
        "dense_1",
        "batch_normalization",
        "dense_2",
    ]


def test_default_wiring_and_outputs():
    graph = kspec.resolve(
        kspec.loads(
            "inputs: [{name: x, shape: [8]}]\nlayers:\n - {type: Dense, name: a, units: 4}\n"
            " - {type: Dense, name: b, units: 4}"
        )
    )
    assert [n.sources for n in graph.nodes] == [["x"], ["a"]]
    assert graph.outputs == ["b"] and graph.sequential_problem() is None


def test_frozen_layer_counts_as_non_trainable():
    spec = kspec.loads(
        "inputs: [{name: x, shape: [8]}]\nlayers:\n - {type: Dense, units: 4, trainable: false}\n"
        " - {type: BatchNormalization}"
    )
    report = kspec.check(spec)
    # Dense(8->4) has 8*4+4 weights, all frozen; BN has 2*4 learnable and 2*4 moving statistics
    assert report.non_trainable_params == 36 + 8 and report.trainable_params == 8


def test_merge_keys_and_anchors_work():
    text = "defaults: &d {activation: relu}\n"
    assert "unknown key 'defaults'" in err(
        text + "inputs: [{name: x, shape: [3]}]\nlayers: [{type: Dense, units: 2}]"
    )
    spec = kspec.loads(
        "inputs: [{name: x, shape: [3]}]\nlayers:\n - &l {type: Dense, units: 2, activation: relu}\n"
        " - {<<: *l, name: second}"
    )
    assert kspec.check(spec).total_params == 8 + 6


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "inputs: [{name: x, shape: [3]}]\nlayers:\n - {type: Dense, units: 2, inputs: b}\n - {type: Dense, name: b, units: 2}",
            "t.yaml:3:36: layers[0].inputs: 'b' is defined later (line 4)",
        ),
        (
            "inputs: [{name: x, shape: [3]}]\nlayers:\n - {type: Dense, name: a, units: 2, inputs: a}",
            "t.yaml:3:45: layers[0].inputs: layer 'a' reads itself (a cycle)",
        ),
        (
            "inputs: [{name: x, shape: [3]}]\nlayers:\n - {type: Dense, name: x, units: 2}",
            "t.yaml:3:24: layers[0].name: duplicate name 'x' (first used at line 1)",
        ),
        (
            "inputs: [{name: x, shape: [3]}]\nlayers:\n - {type: Dense, name: a, units: 2}\n - {type: Dense, name: b, units: 3, inputs: x}\n"
            " - {type: Add, inputs: [a, b]}",
            "t.yaml:5:4: layers[2]: Add 'add': Add needs inputs of the same shape",
        ),
        (
            "inputs: [{name: x, shape: [3]}]\nlayers: [{type: Dense, units: 2}]\noutputs: [nope]",
            "t.yaml:3:11: outputs[0]: unknown layer 'nope'",
        ),
        (
            "inputs: [{name: x, shape: [3]}]\nlayers:\n - {type: Dense, name: a, units: 2}\n - {type: Dense, name: b, units: 2, inputs: x}",
            "t.yaml:3:4: layers[0]: layer 'a' does not lead to any output",
        ),
        (
            "inputs: [{name: x, shape: [3]}]\nlayers: [{type: Add, inputs: [x]}]",
            "t.yaml:2:30: layers[0].inputs: Add takes at least 2 input(s), got 1",
        ),
        (
            "inputs: [{name: x, shape: [3]}, {name: y, shape: [3]}]\nlayers: [{type: Dense, units: 2}]",
            "t.yaml:2:10: layers[0]: the first layer must say which input it reads",
        ),
    ],
)
def test_graph_errors_are_located(text, expected):
    assert err(text).startswith(expected)


def test_a_validated_spec_is_immutable():
    import dataclasses

    import kspec

    spec = kspec.loads("inputs: [{name: x, shape: [4]}]\nlayers: [{type: Dense, units: 2}]\n")
    for attr, value in (("seed", 3), ("api", "sequential"), ("plugins", ["os"]), ("name", "other")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(spec, attr, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.layers[0].name = "renamed"


def test_build_options_ride_in_the_graph_not_the_spec():
    import kspec

    spec = kspec.loads("inputs: [{name: x, shape: [4]}]\nlayers: [{type: Dense, units: 2}]\n")
    before = repr(spec)
    graph = kspec.resolve(spec, kspec.BuildOptions(plugins=["my_layers"], max_params=5))
    assert graph.options.max_params == 5 and graph.plugin_modules == ["my_layers"]
    assert repr(spec) == before and spec.plugins == []
    assert kspec.resolve(spec).options == kspec.BuildOptions()


def _naive_default_names(types, explicit):
    """The default-name rule written the obvious (quadratic) way: smallest free `base_n`."""
    from kspec.graph.resolve import snake_case

    taken = {"x"} | {n for n in explicit if n}
    out = []
    for layer_type, name in zip(types, explicit):
        if name:
            out.append(name)
            continue
        base, n = snake_case(layer_type), 0
        candidate = base
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        out.append(candidate)
    return out


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Dense", "Dropout", "ReLU"]),
            st.one_of(st.none(), st.sampled_from(["dense", "dense_1", "dense_3", "dropout_2", "re_lu_1"])),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_default_names_follow_the_smallest_free_suffix_rule(entries):
    import kspec

    explicit = [name for _, name in entries]
    if len({n for n in explicit if n}) != len([n for n in explicit if n]):
        return  # duplicate explicit names are an error, tested elsewhere
    layers = [
        {"type": t, **({"name": n} if n else {}), **({"units": 2} if t == "Dense" else {})}
        | ({"rate": 0.1} if t == "Dropout" else {})
        for t, n in entries
    ]
    spec = kspec.from_dict({"inputs": [{"name": "x", "shape": [2]}], "layers": layers})
    got = [node.name for node in kspec.resolve(spec).nodes]
    assert got == _naive_default_names([t for t, _ in entries], explicit)


@pytest.mark.parametrize(
    "text,line,col,opener",
    [
        (
            "inputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: Dense, units: 2\n  - {type: Dense, units: 3}\n",
            3,
            5,
            "{",
        ),
        ("inputs: [{name: x, shape: [4]}]\nlayers:\n  - {type: Dense, units: 2\n", 3, 5, "{"),
        ("inputs: [{name: x, shape: [4]\nlayers:\n  - {type: Dense, units: 2}\n", 1, 10, "{"),
        ("inputs: [{name: x, shape: [4]}\nlayers:\n  - {type: Dense, units: 2}\n", 1, 9, "["),
    ],
)
def test_an_unclosed_bracket_is_reported_where_it_was_opened(text, line, col, opener):
    """Issue 16.4: PyYAML notices on a later line; the error names the line of the `{` itself."""
    with pytest.raises(kspec.SpecError) as info:
        kspec.loads(text, file="t.yaml")
    assert (info.value.line, info.value.col) == (line, col)
    assert f"this {opener!r} is never closed" in info.value.message
