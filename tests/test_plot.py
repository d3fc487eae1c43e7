"""`kspec plot` and `kspec build --summary-format`: diagrams of all three APIs, checked against Keras.

Expected layers, edges and parameter counts come from the built Keras models (their config's
`keras_history` for edges, their weights for counts), never from kspec's own output.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import kspec
from conftest import spec_params
from kspec.cli import main
from kspec.report.diagram import APIS, PlotOptions, make_graph
from kspec.report.diagram_render import find_dot

pydot = pytest.importorskip("pydot")

# Two inputs, two outputs, a residual branch, a frozen layer and BatchNormalization.
BRANCHING = """
name: two_in_two_out
seed: 3
inputs:
  - {name: features, shape: [16]}
  - {name: context, shape: [8]}
layers:
  - {type: Dense, name: embed_features, units: 32, activation: relu, inputs: features}
  - {type: Dense, name: embed_context, units: 16, activation: relu, inputs: context, trainable: false}
  - {type: Concatenate, name: joined, inputs: [embed_features, embed_context]}
  - {type: Dense, name: hidden, units: 32, activation: relu}
  - {type: BatchNormalization, name: norm}
  - {type: Add, name: residual, inputs: [norm, embed_features]}
  - {type: Dense, name: label, units: 3, activation: softmax, inputs: residual}
  - {type: Dense, name: score, units: 1, inputs: residual}
outputs: [label, score]
"""

CHAIN = """
name: seed_mlp
seed: 7
inputs: [{name: x, shape: [3, 1]}]
layers:
  - {type: Dense, name: layers1, units: 3, activation: relu}
  - {type: BatchNormalization, name: bn, trainable: false}
  - {type: Dense, name: layers2, units: 2, activation: relu}
  - {type: Dense, name: layers3, units: 2, activation: sigmoid}
"""

# A layer called with positional tensors, reading the same tensor twice: two edges, named.
ATTENTION = """
name: attn
inputs: [{name: tokens, shape: [12, 16]}]
layers:
  - {type: MultiHeadAttention, name: attention, num_heads: 2, key_dim: 8, inputs: [tokens, tokens]}
  - {type: Add, name: skip, inputs: [attention, tokens]}
  - {type: LayerNormalization, name: ln}
  - {type: GlobalAveragePooling1D, name: pool}
  - {type: Dense, name: head, units: 3, activation: softmax}
"""

SPECS = {"branching": BRANCHING, "chain": CHAIN, "attention": ATTENTION}
HAS_DOT = find_dot() is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="no Graphviz dot (make install provides one)")


def spec_of(key: str) -> Any:
    return kspec.loads(SPECS[key])


def apis_for(key: str) -> list[str]:
    return [a for a in APIS if a != "sequential" or key == "chain"]


# --- reading what the diagram says --------------------------------------------------------


def parse_dot(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]], Any]:
    """(node name -> attributes, edges, the pydot graph), nodes collected from clusters too."""
    (graph,) = pydot.graph_from_dot_data(text)
    nodes: dict[str, dict[str, str]] = {}

    def walk(g: Any) -> None:
        for n in g.get_nodes():
            name = n.get_name().strip('"')
            if name not in ("node", "edge", "graph"):
                nodes[name] = n.get_attributes()
        for sub in g.get_subgraphs():
            walk(sub)

    walk(graph)
    edges = [(e.get_source().strip('"'), e.get_destination().strip('"')) for e in graph.get_edges()]
    return nodes, edges, graph


def tooltip_counts(attrs: dict[str, str]) -> tuple[int, int]:
    tip = attrs["tooltip"]
    trainable = int(re.search(r"trainable=(\d+)", tip.replace("non_trainable", "nt")).group(1))
    frozen = int(re.search(r"non_trainable=(\d+)", tip).group(1))
    return trainable, frozen


# --- what Keras says ----------------------------------------------------------------------


def keras_edges(model: Any) -> list[tuple[str, str]]:
    """(source, layer) for every tensor a layer of a Functional model reads, from its config."""
    edges = []

    def sources(value: Any) -> list[str]:
        if isinstance(value, dict):
            if "keras_history" in value:
                return [value["keras_history"][0]]
            return [s for v in value.values() for s in sources(v)]
        if isinstance(value, (list, tuple)):
            return [s for v in value for s in sources(v)]
        return []

    for layer in model.get_config()["layers"]:
        for src in sources(layer.get("inbound_nodes", [])):
            edges.append((src, layer["name"]))
    return edges


def weight_counts(layer: Any) -> tuple[int, int]:
    def size(w: Any) -> int:
        n = 1
        for d in w.shape:
            n *= int(d)
        return n

    return sum(size(w) for w in layer.trainable_weights), sum(size(w) for w in layer.non_trainable_weights)


def model_layers(model: Any) -> list[Any]:
    """The layers each API's model holds (the subclass keeps them in `graph_layers`)."""
    layers = getattr(model, "graph_layers", None) or model.layers
    return [layer for layer in layers if type(layer).__name__ != "InputLayer"]


@pytest.fixture(scope="session")
def built() -> dict[tuple[str, str], Any]:
    """Every (spec, api) pair built once with Keras."""
    return {(key, api): kspec.build(spec_of(key), api=api) for key in SPECS for api in apis_for(key)}


# --- the DOT text: every layer, every edge, every count -----------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("key", list(SPECS))
def test_dot_names_every_layer_and_edge_of_keras_graph(key: str, built: dict) -> None:
    functional = built[(key, "functional")]
    want_edges = sorted(keras_edges(functional))
    want_layers = {layer.name for layer in functional.layers}  # InputLayers included
    assert want_edges, "Keras gave no edges: the test would prove nothing"
    for api in apis_for(key):
        nodes, edges, _ = parse_dot(make_graph(kspec.resolve(spec_of(key)), api).to_string())
        assert want_layers <= set(nodes), (api, want_layers - set(nodes))
        assert sorted(edges) == want_edges, api


@pytest.mark.slow
@pytest.mark.parametrize("key", list(SPECS))
def test_node_params_equal_each_keras_models_layer_counts(key: str, built: dict) -> None:
    for api in apis_for(key):
        nodes, _, _ = parse_dot(make_graph(kspec.resolve(spec_of(key)), api).to_string())
        layers = model_layers(built[(key, api)])
        assert len(layers) == len(spec_of(key).layers)
        for layer in layers:
            assert tooltip_counts(nodes[layer.name]) == weight_counts(layer), (api, layer.name)
        label = nodes[layers[0].name]["label"]
        total = sum(weight_counts(layers[0]))
        assert f"{total:,}" in label  # the count is drawn, not only in the tooltip


def test_subclass_diagram_says_subclassed_and_draws_every_layer() -> None:
    graph = kspec.resolve(spec_of("branching"))
    dot = make_graph(graph, "subclass")
    nodes, edges, g = parse_dot(dot.to_string())
    assert "two_in_two_out - subclassed keras.Model (SpecModel)" in g.get_label()
    assert len(edges) == sum(len(n.sources) for n in graph.nodes) == 10
    (frame,) = g.get_subgraphs()
    inside = {n.get_name().strip('"') for n in frame.get_nodes()}
    assert inside == {n.name for n in graph.nodes}  # layers in the model's box, inputs outside
    assert "sequential" not in g.get_label().lower()
    assert "keras.Sequential" in make_graph(kspec.resolve(spec_of("chain")), "sequential").get_label()


def test_frozen_layers_are_greyed_and_tagged() -> None:
    nodes, _, _ = parse_dot(make_graph(kspec.resolve(spec_of("branching")), "functional").to_string())
    assert "frozen" in nodes["embed_context"]["label"] and "#e4e4e4" in nodes["embed_context"]["label"]
    assert "frozen" not in nodes["hidden"]["label"]
    assert "output" in nodes["label"]["label"] and "output" in nodes["score"]["label"]


def test_options_change_the_drawing() -> None:
    graph = kspec.resolve(spec_of("chain"))
    plain = make_graph(
        graph, "functional", PlotOptions(show_params=False, show_layer_names=False)
    ).to_string()
    full = make_graph(
        graph,
        "functional",
        PlotOptions(
            show_shapes=True, show_dtype=True, show_trainable=True, show_layer_activations=True, rankdir="LR"
        ),
    ).to_string()
    assert ">params<" not in plain and ">params<" in full
    assert "<b>layers1</b>" not in plain and "<b>layers1</b>" in full
    assert "(None, 3, 1) \u2192 (None, 3, 3)" in full and "float32" in full and "sigmoid" in full
    assert "rankdir=LR" in full and ">trainable<" in full
    attention = make_graph(kspec.resolve(spec_of("attention")), "functional").to_string()
    assert 'label=" query"' in attention and 'label=" value"' in attention
    gqa = kspec.loads(
        "inputs: [{name: q, shape: [4, 8]}, {name: v, shape: [6, 8]}]\nlayers:\n"
        "  - {type: GroupQueryAttention, inputs: [q, v], head_dim: 4, num_query_heads: 4, num_key_value_heads: 2}\n"
    )
    grouped = make_graph(kspec.resolve(gqa), "functional").to_string()  # the registry's class name
    assert 'label=" query"' in grouped and 'label=" value"' in grouped
    with pytest.raises(TypeError, match="unknown plot option"):
        PlotOptions.from_kwargs(show_shape=True)


def test_sequential_of_a_branching_graph_is_a_spec_error() -> None:
    with pytest.raises(kspec.SpecError, match="Sequential"):
        make_graph(kspec.resolve(spec_of("branching")), "sequential")


# --- files ----------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_png_and_svg_are_valid_images(tmp_path: Path) -> None:
    spec = spec_of("branching")
    (png,) = kspec.plot(spec, tmp_path / "m.png", api="subclass", show_shapes=True, dpi=96)
    width, height = png_size(Path(png))
    assert 300 < width < 5000 and 300 < height < 8000 and height > width  # top-to-bottom
    (lr,) = kspec.plot(spec, tmp_path / "lr.png", rankdir="LR", dpi=96)
    lr_w, lr_h = png_size(Path(lr))
    assert lr_w > lr_h
    import matplotlib.image

    assert matplotlib.image.imread(png).shape[:2] == (height, width)
    (svg,) = kspec.plot(spec, tmp_path / "m.svg", api="functional")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for name in ("features", "context", "embed_context", "residual", "label", "score", "frozen"):
        assert name in texts
    assert oct(os.stat(png).st_mode & 0o777) != "0o600"  # not left private like a temp file


@needs_dot
def test_cli_api_all_writes_one_file_per_api(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "b.yaml").write_text(BRANCHING)
    (tmp_path / "c.yaml").write_text(CHAIN)
    assert (
        main(
            [
                "plot",
                str(tmp_path / "c.yaml"),
                "--api",
                "all",
                "-o",
                str(tmp_path / "out") + "/",
                "--dpi",
                "72",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "seed_mlp_functional.png",
        "seed_mlp_sequential.png",
        "seed_mlp_subclass.png",
    ]
    assert (
        main(["plot", str(tmp_path / "b.yaml"), "--api", "all", "-o", str(tmp_path / "b"), "--dpi", "72"])
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "two_in_two_out_functional.png",
        "two_in_two_out_subclass.png",
    ]
    err = capsys.readouterr().err
    assert "no Sequential diagram" in err
    assert main(["plot", str(tmp_path / "b.yaml"), "--api", "all", "-o", str(tmp_path / "d" / "m.svg")]) == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["m_functional.svg", "m_subclass.svg"]


def test_cli_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "b.yaml").write_text(BRANCHING)
    assert main(["plot", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "m.jpg")]) == 2
    assert main(["plot", str(tmp_path / "b.yaml"), "-o", str(tmp_path / "m.dot"), "--api", "sequential"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and ".png, .svg or .dot" in err[0] and "Sequential" in err[1]
    assert not list(tmp_path.glob("m.*"))


def _run_kspec(args: list[str], env: dict[str, str], code: str = "") -> subprocess.CompletedProcess:
    script = "import sys\nfrom kspec.cli import main\nrc = main(sys.argv[1:])\n" + code + "\nsys.exit(rc)\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_plot_never_imports_tensorflow_for_registry_layers(tmp_path: Path) -> None:
    spec = tmp_path / "b.yaml"
    spec.write_text(BRANCHING)
    check = (
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not bad, bad"
    )
    done = _run_kspec(
        ["plot", str(spec), "-o", str(tmp_path / "x.dot"), "--api", "subclass", "--show-shapes"],
        dict(os.environ),
        check,
    )
    assert done.returncode == 0, done.stderr
    nodes, edges, _ = parse_dot((tmp_path / "x.dot").read_text())
    assert {"features", "context", "label", "score"} <= set(nodes) and len(edges) == 10


def _assert_dot_missing(tmp_path: Path, env: dict[str, str]) -> None:
    spec = tmp_path / "b.yaml"
    spec.write_text(BRANCHING)
    done = _run_kspec(["plot", str(spec), "-o", str(tmp_path / "x.png")], env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Graphviz" in lines[0] and "install" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.yaml"]  # no image, no temp file
    done = _run_kspec(["plot", str(spec), "-o", str(tmp_path / "x.dot")], env)
    assert done.returncode == 0 and (tmp_path / "x.dot").read_text().startswith("digraph")


def test_dot_missing_on_path_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    here = os.path.dirname(sys.executable)
    if any(os.path.exists(os.path.join(here, n)) for n in ("dot", "graphviz-pure")):
        pytest.skip("a dot lies beside the Python; PATH cannot hide it (see the KSPEC_DOT test)")
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "KSPEC_DOT"}
    env["PATH"] = str(empty)
    work = tmp_path / "work"
    work.mkdir()
    _assert_dot_missing(work, env)


def test_dot_missing_via_kspec_dot_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    _assert_dot_missing(tmp_path, {**os.environ, "KSPEC_DOT": str(tmp_path / "no-such-dot")})


def test_failed_render_leaves_nothing_and_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "dot"
    broken.write_text("#!/bin/sh\nprintf 'half a png'\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("KSPEC_DOT", str(broken))
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.png").write_bytes(b"old")
    with pytest.raises(kspec.errors.KspecRuntimeError, match="syntax error"):
        kspec.plot(spec_of("chain"), out / "m.png")
    with pytest.raises(kspec.errors.KspecRuntimeError):
        kspec.plot(spec_of("chain"), out, api="all")
    assert sorted(p.name for p in out.iterdir()) == ["m.png"] and (out / "m.png").read_bytes() == b"old"


# --- a layer outside the registry: Keras supplies its shapes and counts ---------------------


@pytest.mark.slow
def test_unregistered_layer_counts_come_from_keras() -> None:
    spec = kspec.loads("""
name: stft
inputs: [{name: x, shape: [64, 1]}]
layers:
  - {type: STFTSpectrogram, name: stft, frame_length: 16, frame_step: 8, fft_length: 16}
  - {type: Flatten}
  - {type: Dense, name: head, units: 2}
""")
    graph = kspec.resolve(spec)
    assert graph.node("stft").params is None  # outside the registry (kspec.layers.coverage)
    nodes, _, _ = parse_dot(make_graph(graph, "functional", PlotOptions(show_shapes=True)).to_string())
    model = kspec.build(spec, api="functional")
    for layer in model_layers(model):
        assert tooltip_counts(nodes[layer.name]) == weight_counts(layer)
    shape = tuple(model.get_layer("stft").output.shape)
    assert f"(None, 64, 1) \u2192 {shape}" in nodes["stft"]["label"]


# --- kspec build --summary-format: counts equal Keras's ------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("key", list(SPECS))
def test_build_summary_formats_match_keras(
    key: str, built: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / f"{key}.yaml"
    path.write_text(SPECS[key])
    for api in apis_for(key):
        model = built[(key, api)]
        total = model.count_params()
        trainable, frozen = weight_counts(model)
        assert main(["build", str(path), "--api", api, "--summary-format", "json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == (
            total,
            trainable,
            frozen,
        )
        rows = {r["name"]: r for r in data["layers"]}
        for layer in model_layers(model):
            t, nt = weight_counts(layer)
            assert (rows[layer.name]["trainable_params"], rows[layer.name]["non_trainable_params"]) == (t, nt)
            assert rows[layer.name]["trainable"] == layer.trainable
        assert (
            main(["build", str(path), "--api", api, "--summary-format", "markdown", "--show-trainable"]) == 0
        )
        md = capsys.readouterr().out
        assert f"Total params: {total:,}" in md and "| Trainable |" in md
        assert all(f"| {layer.name} (" in md for layer in model_layers(model))
        assert main(["build", str(path), "--api", api]) == 0
        text = capsys.readouterr().out
        assert re.search(rf"Total params: {total:,}\b", text), text


# --- every example spec draws with every API it has ------------------------------------------


@pytest.mark.parametrize("path", spec_params())  # parsing the DOT of a ResNet takes pydot ~10 s
def test_every_example_spec_draws_every_layer_and_edge(path: Path) -> None:
    graph = kspec.resolve(kspec.load(path))
    apis = [a for a in APIS if a != "sequential" or graph.sequential_problem() is None]
    for api in apis:
        nodes, edges, g = parse_dot(make_graph(graph, api, PlotOptions(show_shapes=True)).to_string())
        assert {n.name for n in graph.nodes} | {i.name for i in graph.inputs} <= set(nodes)
        assert sorted(edges) == sorted((s, n.name) for n in graph.nodes for s in n.sources)
        assert graph.name in g.get_label()


@pytest.mark.skipif(find_dot() is None, reason="Graphviz dot is not installed")
@pytest.mark.parametrize("api", ["functional", "subclass"])
def test_boxes_are_as_tall_as_their_tables_and_the_title_clears_them(api: str) -> None:
    """Layout facts from Graphviz itself (`-Tplain`): an Input box without shape rows is no taller
    than one table row (it was padded to 0.5 in, so its arrow started below the box), and the
    title's lines sit above the top of every node."""
    dot = make_graph(
        kspec.resolve(kspec.load(Path(__file__).parent.parent / "specs" / "branching.yaml")),
        api,
        PlotOptions(),
    )
    plain = dot.create(prog=find_dot(), format="plain").decode()
    graph_line = next(line for line in plain.splitlines() if line.startswith("graph "))
    graph_height = float(graph_line.split()[3])
    nodes = {}
    for line in plain.splitlines():
        if line.startswith("node "):
            parts = line.split()
            nodes[parts[1].strip('"')] = (float(parts[3]), float(parts[5]))  # y centre, height
    input_y, input_height = nodes["features"]
    _, dense_height = nodes["embed_features"]  # header + params row
    assert input_height < 0.75 * dense_height, (input_height, dense_height)
    highest_top = max(y + h / 2 for y, h in nodes.values())
    title_lines = 3  # name, totals and the spacer line, at 14 pt
    assert graph_height - highest_top >= (title_lines - 0.5) * 14 / 72, (graph_height, highest_top)
