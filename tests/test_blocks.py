"""Blocks (`blocks:`, `{block: ...}`, `repeat:`), expressions and `kspec expand`, without Keras."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kspec
from kspec.cli import main
from kspec.schema import expr

TINY = """\
name: tiny_blocks
seed: 3
blocks:
  conv_bn:
    params:
      filters: int
      strides: {type: int, default: 1}
    layers:
      - {type: Conv2D, name: conv, filters: "${filters}", kernel_size: 3, padding: same, strides: "${strides}"}
      - {type: BatchNormalization, name: bn}
      - {type: ReLU, name: relu}
  res:
    params: {filters: int}
    layers:
      - {block: conv_bn, name: a, filters: "${filters}"}
      - {block: conv_bn, name: b, filters: "${filters}"}
      - {type: Add, name: add, inputs: [x, b]}
inputs:
  - {name: img, shape: [16, 16, 3]}
layers:
  - {block: conv_bn, name: stem, filters: 8, strides: 2}
  - {block: res, repeat: 2, name: "res${index + 1}", filters: 8}
  - {type: GlobalAveragePooling2D}
  - {type: Dense, units: 3}
"""


# --- the expression language ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, scope, value",
    [
        ("filters * 4", {"filters": 64}, 256),
        ("7 // 2", {}, 3),
        ("7 / 2", {}, 3.5),
        ("-3 + 2 * 5", {}, 7),
        ("(1 + 2) * 3", {}, 9),
        ("2 if index == 0 else 1", {"index": 0}, 2),
        ("2 if index == 0 else 1", {"index": 3}, 1),
        ("'same' if s == 1 else 'valid'", {"s": 2}, "valid"),
        ("a > 1 and not b", {"a": 2, "b": False}, True),
        ("widths[index]", {"widths": [8, 16], "index": 1}, 16),
        ("x // 0 if false else 5", {"x": 1}, 5),  # the branch not taken is not evaluated
        ("[1, 2][0] + 1", {}, 2),
        ("1 == 1.0", {}, True),
        ("'a' == 1", {}, False),
    ],
)
def test_expressions_evaluate(text, scope, value):
    got = expr.evaluate(text, scope)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 // 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("nope + 1", "unknown name 'nope'"),
        ("__import__('os')", "unexpected"),  # no calls
        ("a.b", "unexpected character '.'"),  # no attributes
        ("2 ** 10", "expected a value"),  # no power: values stay bounded
        ("1 if 2 else 3", "must be true or false"),
        ("'a' * 3", "cannot compute string * int"),
        ("[1][5]", "out of range"),
        ("(" * 60 + "1" + ")" * 60, "nested more than"),
        ("1 +", "expected a value"),
        ("1 < 2 < 3", "unexpected '<'"),
    ],
)
def test_bad_expressions_are_errors(text, message):
    with pytest.raises(expr.ExprError, match=re.escape(message)):
        expr.evaluate(text, {"a": 1})


def test_values_stay_bounded():
    big = "*".join(["1000000"] * 4)
    with pytest.raises(expr.ExprError, match="too large"):
        expr.evaluate(big, {})
    with pytest.raises(expr.ExprError, match="longer than"):
        expr.evaluate("1" + " + 1" * 200, {})
    with pytest.raises(expr.ExprError, match="string longer"):
        expr.evaluate(" + ".join(["s"] * 50), {"s": "x" * 100})


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 +-*/%()<>=![],'abif elsnotrux_", max_size=80))
def test_any_text_gives_a_value_or_an_expression_error(text):
    try:
        expr.evaluate(text, {"a": 3, "b": [1, 2], "x": "s"})
    except expr.ExprError:
        pass


def test_substitute_writes_values_into_strings():
    assert expr.substitute("conv${s}_block${i + 1}", {"s": 2, "i": 0}) == "conv2_block1"
    assert expr.substitute("${flag}", {"flag": True}) is True
    with pytest.raises(expr.ExprError, match="unclosed"):
        expr.substitute("a${1}b${", {})


# --- expansion -------------------------------------------------------------------------------


def test_blocks_expand_to_named_wired_layers():
    spec = kspec.loads(TINY, file="tiny.yaml")
    names = [layer.name for layer in spec.layers]
    assert names[:4] == ["stem_conv", "stem_bn", "stem_relu", "res1_a_conv"]
    assert "res2_add" in names and names[-1] == "dense"
    graph = kspec.resolve(spec)
    assert graph.node("res1_add").sources == ["stem_relu", "res1_b_relu"]
    assert graph.node("res2_a_conv").sources == ["res1_add"]  # copy 1 reads copy 0's output
    assert graph.node("stem_conv").spec.args["strides"] == 2


def test_check_equals_expand_then_check(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    flat = tmp_path / "flat.yaml"
    assert main(["expand", str(path), "-o", str(flat)]) == 0
    assert "block:" not in flat.read_text() and "${" not in flat.read_text()
    a = kspec.check(kspec.load(path)).to_dict()
    b = kspec.check(kspec.load(flat)).to_dict()
    strip = [{k: v for k, v in row.items() if k != "block"} for row in a["layers"]]
    assert strip == b["layers"]
    assert a["total_params"] == b["total_params"] == 2747
    capsys.readouterr()
    assert main(["expand", str(path), "-o", str(tmp_path / "flat.json")]) == 0
    assert kspec.check(kspec.load(tmp_path / "flat.json")).to_dict()["layers"] == b["layers"]


def test_check_rows_nest_by_depth(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    assert main(["check", str(path)]) == 0
    collapsed = capsys.readouterr().out
    assert re.search(r"^res1 \(block res #0\) +\(None, 8, 8, 8\) +1,232 ", collapsed, re.M)
    assert "res1_a_conv" not in collapsed
    assert main(["check", str(path), "--depth", "1"]) == 0
    one = capsys.readouterr().out
    assert re.search(r"^  res1_a \(block conv_bn\) .* 616 ", one, re.M)
    assert "res1_a_conv" not in one
    assert main(["check", str(path), "--depth", "2"]) == 0
    assert re.search(r"^    res1_a_conv \(Conv2D\) ", capsys.readouterr().out, re.M)
    assert main(["check", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    res1 = data["blocks"][1]
    assert (res1["name"], res1["block"], res1["copy"], res1["params"]) == ("res1", "res", 0, 1232)
    assert [b["path"] for b in res1["blocks"]] == ["res1/a", "res1/b"]
    # the block totals add up to the model's, counted from the layer rows
    in_blocks = sum(r["params"] for r in data["layers"] if "block" in r)
    assert in_blocks == sum(b["params"] for b in data["blocks"])


def test_if_leaves_a_layer_out_and_readers_read_its_input():
    spec = kspec.loads(
        """
blocks:
  maybe_proj:
    params: {project: bool}
    layers:
      - {type: Dense, name: proj, units: 4, if: "${project}"}
      - {type: Add, name: add, inputs: [x, proj]}
inputs: [{name: x, shape: [4]}]
layers:
  - {block: maybe_proj, name: a, project: true}
  - {block: maybe_proj, name: b, project: false}
"""
    )
    graph = kspec.resolve(spec)
    assert [n.name for n in graph.nodes] == ["a_proj", "a_add", "b_add"]
    assert graph.node("b_add").sources == ["a_add", "a_add"]


# --- errors: where the block is used and where it is defined --------------------------------

BAD = """\
blocks:
  mlp:
    params:
      units: int
      act: {type: string, default: relu}
    layers:
      - {type: Dense, name: d, units: "${units // 2}", activation: "${act}"}
      - {type: Dense, name: e, units: "${units}"}
  loop:
    layers:
      - {block: loop2}
  loop2:
    layers:
      - {block: loop}
inputs: [{name: x, shape: [4]}]
layers:
  - {type: Dense, units: 3}
  - USE
"""


@pytest.mark.parametrize(
    "use, where, message, also",
    [
        ("{block: mlpp, units: 3}", "18:13", "unknown block 'mlpp'; did you mean 'mlp'?", None),
        ("{block: mlp}", "18:5", "block 'mlp' needs argument 'units'", "4:14"),
        ("{block: mlp, units: 3, colour: 2}", "18:36", "has no parameter 'colour'", "3:5"),
        ("{block: mlp, units: 2.5}", "18:25", "must be an int, got 2.5", "4:14"),
        ("{block: mlp, units: true}", "18:25", "must be an int, got True", "4:14"),
        ("{block: loop}", "14:17", "blocks cannot be recursive", "18:5"),
        ('{block: mlp, repeat: 2, name: "a${1}", units: 4}', "18:35", "name clash: copy 1", "3:5"),
        ('{block: mlp, units: "${1 // 0}"}', "18:25", "division by zero", "3:5"),
        ('{block: mlp, units: "${3 / 2}"}', "18:25", "must be an int, got 1.5", "4:14"),
        ("{block: mlp, units: 1}", "7:39", "units: must be a positive integer, got 0", "18:5"),
        ("{block: mlp, units: 3, act: rellu}", "7:68", "unknown activation 'rellu'", "18:5"),
        ("{block: mlp, repeat: 0, units: 4}", "18:26", "must be an integer from 1 to 1000", "3:5"),
    ],
)
def test_bad_block_use_names_use_and_definition(tmp_path, capsys, use, where, message, also):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD.replace("USE", use))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}:{where}: ")
    assert message in err
    if also:
        assert f"{path}:{also}" in err


def test_a_shape_error_inside_a_block_names_both_lines(tmp_path, capsys):
    path = tmp_path / "shape.yaml"
    path.write_text(
        """\
blocks:
  pair:
    layers:
      - {type: Dense, name: d, units: 3}
      - {type: Add, name: add, inputs: [x, d]}
inputs: [{name: x, shape: [4]}]
layers:
  - {block: pair}
"""
    )
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5:9: blocks.pair.layers[1]" in err and f"used at {path}:8:5" in err


def test_depth_limit_is_a_clear_error():
    blocks = (
        "\n".join(f"  b{i}:\n    layers:\n      - {{block: b{i + 1}}}" for i in range(12))
        + "\n  b12:\n    layers:\n      - {type: Dense, units: 2}"
    )
    text = f"blocks:\n{blocks}\ninputs: [{{name: x, shape: [4]}}]\nlayers:\n  - {{block: b0}}\n"
    with pytest.raises(kspec.SpecError, match="nested more than 8 levels deep"):
        kspec.loads(text, file="deep.yaml")


def test_a_repeat_bomb_is_refused_quickly():
    text = """
blocks:
  a: {layers: [{type: Dense, units: 2}]}
  b: {layers: [{block: a, repeat: 1000}]}
  c: {layers: [{block: b, repeat: 1000}]}
inputs: [{name: x, shape: [4]}]
layers: [{block: c, repeat: 1000}]
"""
    with pytest.raises(kspec.SpecError, match="more than 20,000 layers"):
        kspec.loads(text, file="bomb.yaml")


# --- diagrams ----------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["functional", "subclass"])
def test_diagram_draws_each_instance_as_a_nested_cluster(api):
    from kspec.report.diagram import PlotOptions, make_graph

    graph = kspec.resolve(kspec.loads(TINY, file="tiny.yaml"))
    dot = make_graph(graph, api, PlotOptions()).to_string()
    kind = "BlockLayer (res #0)" if api == "subclass" else "block res #0"
    assert f"res1 : {kind}" in dot and "1,232 params" in dot
    assert dot.count("subgraph cluster_block_") == 7  # stem, res1, res1_a, res1_b, res2, ...
    collapsed = make_graph(graph, api, PlotOptions(depth=1)).to_string()
    assert collapsed.count("subgraph cluster_block_") == 3  # stem, res1, res2 open
    assert '"block:res1_a"' in collapsed and '"res1_a_conv"' not in collapsed
    assert '"block:res1_a" -> "block:res1_b"' in collapsed
    top = make_graph(graph, api, PlotOptions(depth=0)).to_string()
    assert '"block:res1" -> "block:res2"' in top and "res1_add" not in top


@settings(max_examples=30, deadline=None)
@given(
    copies=st.integers(1, 4),
    widths=st.lists(st.integers(1, 16), min_size=1, max_size=4),
    residual=st.booleans(),
    top_dense=st.booleans(),
)
def test_check_equals_expand_then_check_for_generated_block_specs(copies, widths, residual, top_dense):
    """For any arguments: the spec and its flat expansion give the same rows and totals, and
    the rows of each instance add up to its block total."""
    from kspec.schema.flat import to_yaml

    text = f"""
blocks:
  unit:
    params: {{widths: list, residual: bool}}
    layers:
      - {{type: Dense, name: a, units: "${{widths[index % {len(widths)}]}}", activation: relu}}
      - {{type: Dense, name: b, units: 8}}
      - {{type: Add, name: add, inputs: [x, b], if: "${{residual}}"}}
  pair:
    params: {{widths: list, residual: bool}}
    layers:
      - {{block: unit, repeat: {copies}, name: "u${{index}}", widths: "${{widths}}", residual: "${{residual}}"}}
inputs: [{{name: x, shape: [8]}}]
layers:
  - {{block: pair, name: p, widths: {widths}, residual: {str(residual).lower()}}}
{"  - {type: Dense, units: 2}" if top_dense else ""}
"""
    spec = kspec.loads(text, file="gen.yaml")
    report = kspec.check(spec).to_dict()
    flat = kspec.check(kspec.loads(to_yaml(spec.document.data), file="flat.yaml")).to_dict()
    assert [{k: v for k, v in r.items() if k != "block"} for r in report["layers"]] == flat["layers"]
    assert report["total_params"] == flat["total_params"]
    pair = report["blocks"][0]
    assert len(pair["blocks"]) == copies
    assert pair["params"] == sum(u["params"] for u in pair["blocks"])
    assert report["total_params"] == pair["params"] + (18 if top_dense else 0)
