"""Topology diagrams of a spec, as built by each of the three APIs.

>>> import kspec
>>> spec = kspec.loads("name: tiny\\ninputs: [{name: x, shape: [4]}]\\nlayers: [{type: Dense, units: 2}]")
>>> dot = make_graph(kspec.resolve(spec), "subclass", PlotOptions(show_shapes=True))
>>> "subclassed keras.Model" in dot.to_string()
True

Unlike `keras.utils.plot_model`, a subclassed model is drawn whole (every layer its `call`
runs, every connection), and each layer can show its parameter counts; frozen layers are
greyed and tagged. The diagram is built as a `pydot.Dot` first (one function per kind of
node), then rendered (`diagram_render`), then written atomically (`kspec.files`).
Drawing needs no TensorFlow when every layer is in the checker's registry.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, fields
from typing import Any

import pydot

from kspec.graph.resolve import Graph, Node
from kspec.report import diagram_blocks
from kspec.report.diagram_facts import Facts, collect
from kspec.report.diagram_render import format_of, render
from kspec.schema.model import APIS

#: What each API's model is, as the diagram's title says it.
TITLES = {
    "sequential": "keras.Sequential",
    "functional": "functional keras.Model",
    "subclass": "subclassed keras.Model (SpecModel)",
}

# Modest colours: a tint per kind of node, grey for frozen layers.
COLOURS = {
    "input": "#e3f0dc",
    "layer": "#dde8f5",
    "output": "#fbe9d0",
    "frozen": "#e4e4e4",
    "frozen_body": "#f4f4f4",
    "border": "#5b6b7b",
    "frozen_text": "#666666",
    "edge": "#44505c",
}
FONT = "Helvetica"


@dataclass
class PlotOptions:
    """Keras's `plot_model` options, plus `show_params` (on by default)."""

    show_shapes: bool = False
    show_dtype: bool = False
    show_layer_names: bool = True
    show_layer_activations: bool = False
    show_trainable: bool = False
    show_params: bool = True
    rankdir: str = "TB"
    expand_nested: bool = False
    dpi: int = 200
    #: Block instances open this many levels deep (deeper ones: one box each); None: all open.
    depth: int | None = None

    @classmethod
    def from_kwargs(cls, **options: Any) -> PlotOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown plot option(s) {unknown}; known: {sorted(known)}")
        made = cls(**options)
        if made.rankdir not in ("TB", "LR", "BT", "RL"):
            raise ValueError(f"rankdir must be TB, LR, BT or RL, got {made.rankdir!r}")
        return made


# --- labels -----------------------------------------------------------------------------


def _row(key: str, value: str, colour: str | None = None) -> str:
    # One cell per row, the key small and grey before its value: a two-column table gives
    # both columns a share of the header's width, so short values sat in wide empty boxes.
    font = f' color="{colour}"' if colour else ""
    return (
        f'<tr><td align="left" balign="left"><font point-size="9" color="{COLOURS["border"]}">'
        f"{html.escape(key)}</font>  <font{font}>{html.escape(value)}</font></td></tr>"
    )


def _table(header: str, fill: str, rows: list[str], body_fill: str = "white") -> str:
    return (
        f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4" bgcolor="{body_fill}" '
        f'color="{COLOURS["border"]}"><tr><td bgcolor="{fill}">{header}</td></tr>'
        + "".join(rows)
        + "</table>>"
    )


def _header(name: str, type_: str, show_name: bool, tags: list[str], colour: str | None = None) -> str:
    font = f' color="{colour}"' if colour else ""
    text = (
        f"<b>{html.escape(name)}</b> : {html.escape(type_)}" if show_name else f"<b>{html.escape(type_)}</b>"
    )
    if tags:
        text += f' <font point-size="10"><i>({html.escape(", ".join(tags))})</i></font>'
    return f"<font{font}>{text}</font>"


def _params_text(f: Facts) -> str:
    if f.params is None:
        return "?"
    if f.non_trainable_params == 0:
        return f"{f.params:,}"
    if f.trainable_params == 0:
        return f"{f.params:,} (non-trainable)"
    return f"{f.params:,} ({f.trainable_params:,} trainable, {f.non_trainable_params:,} non-trainable)"


def _node_id(name: str) -> str:
    # Always quoted: a layer may be called `node` or `edge`, which are DOT keywords.
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- one function per kind of node -------------------------------------------------------


def input_node(name: str, shape: str, dtype: str, options: PlotOptions) -> pydot.Node:
    """A model input (`keras.Input`)."""
    rows = []
    if options.show_shapes:
        rows.append(_row("shape", shape))
    if options.show_dtype:
        rows.append(_row("dtype", dtype))
    label = _table(_header(name, "Input", options.show_layer_names, []), COLOURS["input"], rows)
    return pydot.Node(_node_id(name), label=label, tooltip=f"{name} (Input): shape {shape}, dtype {dtype}")


def layer_node(node: Node, facts: Facts, is_output: bool, options: PlotOptions) -> pydot.Node:
    """One layer: name and type, then the rows the options ask for; frozen layers greyed."""
    frozen = not facts.trainable
    text_colour = COLOURS["frozen_text"] if frozen else None
    tags = (["frozen"] if frozen else []) + (["output"] if is_output else [])
    rows = []
    if options.show_layer_activations and facts.activation:
        rows.append(_row("activation", facts.activation, text_colour))
    if options.show_shapes:
        ins = [s or "?" for s in facts.inputs]
        shown_in = ins[0] if len(ins) == 1 else "[" + ", ".join(ins) + "]"
        rows.append(_row("shape", f"{shown_in} \u2192 {facts.output or '?'}", text_colour))
    if options.show_dtype:
        rows.append(_row("dtype", facts.dtype, text_colour))
    if options.show_params:
        rows.append(_row("params", _params_text(facts), text_colour))
    if options.show_trainable:
        rows.append(_row("trainable", "yes" if facts.trainable else "no", text_colour))
    fill = COLOURS["frozen"] if frozen else COLOURS["output"] if is_output else COLOURS["layer"]
    label = _table(
        _header(node.name, node.type, options.show_layer_names, tags, text_colour),
        fill,
        rows,
        COLOURS["frozen_body"] if frozen else "white",
    )
    tooltip = (
        f"{node.name} ({node.type}): params={facts.params} trainable={facts.trainable_params} "
        f"non_trainable={facts.non_trainable_params} frozen={frozen}"
    )
    return pydot.Node(_node_id(node.name), label=label, tooltip=tooltip)


def nested_cluster(node: Node, facts: Facts, is_output: bool, options: PlotOptions) -> pydot.Cluster | None:
    """With `expand_nested`, a wrapper layer (Bidirectional, TimeDistributed) as a box around
    its wrapped layer(s); None for layers that wrap nothing."""
    inner = [
        (key, value)
        for key, value in node.spec.args.items()
        if key in ("layer", "backward_layer") and isinstance(value, dict) and "type" in value
    ]
    if not options.expand_nested or not inner:
        return None
    cluster = pydot.Cluster(
        f"nested_{node.name}",
        label=f"{node.name} : {node.type}",
        style="rounded,dashed",
        color=COLOURS["border"],
        fontname=FONT,
        fontsize="11",
    )
    cluster.add_node(layer_node(node, facts, is_output, options))
    for key, value in inner:
        rows = [_row(k, str(v)) for k, v in value.items() if k in ("units", "filters", "activation", "rate")]
        name = f"{node.name}/{key}"
        cluster.add_node(
            pydot.Node(
                _node_id(name),
                label=_table(_header(name, str(value["type"]), True, ["wrapped"]), COLOURS["layer"], rows),
                tooltip=f"{name} ({value['type']}): wrapped by {node.name}",
            )
        )
        cluster.add_edge(
            pydot.Edge(_node_id(name), _node_id(node.name), style="dashed", arrowhead="odiamond")
        )
    return cluster


def model_frame(graph: Graph, api: str) -> pydot.Cluster:
    """The box a subclassed model's layers sit in: what `SpecModel.call` runs."""
    return pydot.Cluster(
        "model",
        label="SpecModel.call(): self.graph_layers in call order",
        style="rounded,dashed",
        color=COLOURS["border"],
        fontname=FONT,
        fontsize="11",
        labeljust="r",
        labelloc="b",
        fontcolor=COLOURS["border"],
    )


#: Names of positional call arguments, for edges into layers called as `layer(a, b, ...)`.
ARG_NAMES = {
    "MultiHeadAttention": ("query", "value", "key"),
    "GroupQueryAttention": ("query", "value", "key"),
}


def edge(source: str, target: str, argument: str | None = None) -> pydot.Edge:
    """A tensor passed from `source` to `target` (`argument`: which positional argument it is)."""
    attrs: dict[str, Any] = {"color": COLOURS["edge"]}
    if argument is not None:
        attrs.update(label=f" {argument}", fontsize="9", fontcolor=COLOURS["edge"], fontname=FONT)
    return pydot.Edge(_node_id(source), _node_id(target), **attrs)


# --- the whole graph ---------------------------------------------------------------------


def make_graph(graph: Graph, api: str, options: PlotOptions | None = None) -> pydot.Dot:
    """The diagram of `graph` as built with `api`, as a `pydot.Dot` (nothing rendered yet)."""
    options = options or PlotOptions()
    if api not in APIS:
        raise ValueError(f"unknown API {api!r}; choose one of {', '.join(APIS)}")
    if api == "sequential":
        graph.require_sequential()
    facts, input_dtypes = collect(graph)
    # The trailing blank line keeps the title off the first node (it touched the Input box).
    title = f"{graph.name} - {TITLES[api]}" + _totals(facts.values()) + "\n "
    dot = pydot.Dot(
        graph_type="digraph",
        rankdir=options.rankdir,
        label=title,
        labelloc="t",
        fontname=FONT,
        fontsize="14",
        compound="true",
        nodesep="0.3",
        ranksep="0.35",
        concentrate="false",
    )
    # No minimum size: a one-row table (an Input without shape rows) was padded to 0.5 in tall,
    # so its arrow started below the box.
    dot.set_node_defaults(shape="plaintext", fontname=FONT, fontsize="11", margin="0", width="0", height="0")
    dot.set_edge_defaults(arrowsize="0.7", penwidth="1.1")
    for inp in graph.inputs:
        shape = facts_shape(graph, inp.name)
        dot.add_node(input_node(inp.name, shape, input_dtypes[inp.name], options))
    holder: pydot.Dot | pydot.Cluster = dot
    if api == "subclass":
        holder = model_frame(graph, api)
        dot.add_subgraph(holder)  # type: ignore[arg-type]  # a Cluster is a subgraph
    outputs = set(graph.outputs)

    def add_layer(parent: Any, node: Node) -> None:
        cluster = nested_cluster(node, facts[node.name], node.name in outputs, options)
        if cluster is not None:
            parent.add_subgraph(cluster)
        else:
            parent.add_node(layer_node(node, facts[node.name], node.name in outputs, options))

    # block instances: nested clusters, collapsed into one box from `options.depth` levels down
    hidden = diagram_blocks.place(graph, holder, api, options.depth, options.show_shapes, add_layer)
    drawn: set[tuple[str, str]] = set()
    for node in graph.nodes:
        many = len(node.sources) > 1 and node.call_style == "args"
        target = hidden.get(node.name)
        by_keyword = _keyword_of(node)
        for k, source in enumerate(node.sources):
            names = ARG_NAMES.get(node.type, ())
            argument = (names[k] if k < len(names) else str(k)) if many else None
            argument = by_keyword.get(k, argument)  # `initial_state`, `mask`: passed by name
            source, _, output = source.partition(":")  # `lstm:1`: an edge from lstm, labelled
            if output:
                argument = f"output {output}" + (f" -> {argument}" if argument else "")
            if target is None and source not in hidden:
                dot.add_edge(edge(source, node.name, argument))
                continue
            ends = (hidden.get(source, _node_id(source)), target or _node_id(node.name))
            if ends[0] != ends[1] and ends not in drawn:  # edges inside a collapsed block vanish
                drawn.add(ends)
                dot.add_edge(pydot.Edge(*ends, color=COLOURS["edge"]))
    return dot


def _keyword_of(node: Any) -> dict[int, str]:
    """The argument name of each of a node's sources passed by keyword (`inputs:` by name)."""
    out: dict[int, str] = {}
    for key, where in node.keywords.items():
        for k in where if isinstance(where, list) else [where]:
            out[k] = key
    return out


def _totals(facts: Any) -> str:
    """The title's second line: total, trainable and non-trainable counts (as Keras's summary)."""
    rows = list(facts)
    if any(f.params is None for f in rows):
        return ""
    trainable = sum(f.trainable_params for f in rows)
    frozen = sum(f.non_trainable_params for f in rows)
    return f"\n{trainable + frozen:,} params: {trainable:,} trainable, {frozen:,} non-trainable"


def facts_shape(graph: Graph, input_name: str) -> str:
    from kspec.layers.registry import format_shape

    inp = next(i for i in graph.inputs if i.name == input_name)
    return format_shape((None, *inp.shape))


# --- files ---------------------------------------------------------------------------------


def _targets(graph: Graph, path: str, api: str) -> list[tuple[str, str]]:
    """(api, file) pairs to write. `api="all"`: `path` is a folder (or a file name whose stem
    gets `_<api>`); Sequential is left out when the graph branches."""
    if api != "all":
        return [(api, path)]
    apis = [a for a in APIS if a != "sequential" or graph.sequential_problem() is None]
    if os.path.splitext(path)[1] and not path.endswith(os.sep) and not os.path.isdir(path):
        stem, suffix = os.path.splitext(path)
        return [(a, f"{stem}_{a}{suffix}") for a in apis]
    return [(a, os.path.join(path, f"{graph.name}_{a}.png")) for a in apis]


def plot(spec: Any, path: str | os.PathLike[str], api: str | None = None, **options: Any) -> list[str]:
    """Draw `spec` (a `Spec` or a resolved `Graph`) as built with `api` into `path`.

    `api` defaults to the spec's own `api`, as on the command line.
    `path`'s suffix picks the format (.png, .svg, .dot). `api="all"` writes one file per API
    into the folder `path` (`<name>_<api>.png`), leaving out Sequential when the graph branches.
    Options are Keras's `plot_model` ones (`show_shapes`, `show_dtype`, `show_layer_names`,
    `show_layer_activations`, `show_trainable`, `rankdir`, `expand_nested`, `dpi`) plus
    `show_params`. Returns the paths written.
    """
    from kspec.files import write_bytes
    from kspec.graph.resolve import resolve

    graph = spec if isinstance(spec, Graph) else resolve(spec)
    opts = PlotOptions.from_kwargs(**options)
    api = api or graph.spec.api
    path = os.fspath(path)
    if api not in (*APIS, "all"):
        raise ValueError(f"unknown API {api!r}; choose one of {', '.join(APIS)} or all")
    written = []
    rendered = []
    for one_api, target in _targets(graph, path, api):  # render all first: a failure writes nothing
        rendered.append((target, render(make_graph(graph, one_api, opts), format_of(target), dpi=opts.dpi)))
    for target, data in rendered:
        write_bytes(target, data)
        written.append(target)
    return written
