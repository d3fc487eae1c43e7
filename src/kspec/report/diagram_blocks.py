"""Block instances in diagrams: a labelled cluster per instance, nested as the spec nests them,
or one box per instance below `PlotOptions.depth` (collapsed).

The subclass API builds each instance as a `BlockLayer`, which the cluster label says; the
Functional and Sequential APIs build blocks inline, so there the cluster only groups layers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pydot

from kspec.graph import blocks
from kspec.graph.resolve import Graph, Node
from kspec.layers.registry import format_shape
from kspec.schema.blocks import BlockInstance

#: Cluster fills by nesting level: nested blocks read as nested boxes.
FILLS = ("#f3f7fb", "#e8eff7", "#dde7f2")
BORDER = "#5b6b7b"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def collapsed_id(inst: BlockInstance) -> str:
    return '"' + ("block:" + inst.name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _params(graph: Graph, inst: BlockInstance) -> str:
    trainable, frozen = blocks.instance_params(graph, inst)
    if trainable is None or frozen is None:
        return "? params"
    return f"{trainable + frozen:,} params"


def _title(inst: BlockInstance, api: str) -> str:
    copy = f" #{inst.copy}" if inst.copy is not None else ""
    kind = f"BlockLayer ({inst.block}{copy})" if api == "subclass" else f"block {inst.block}{copy}"
    return f"{inst.name} : {kind}"


def collapsed_node(graph: Graph, inst: BlockInstance, api: str, show_shapes: bool) -> pydot.Node:
    """A collapsed instance: one box with its name, block, output shape and parameter total."""
    rows = []
    if show_shapes:
        ins = [format_shape(s) if s is not None else "?" for s in (graph.shapes.get(n) for n in inst.inputs)]
        outs = [format_shape(s) if s is not None else "?" for s in blocks.instance_shapes(graph, inst)]
        rows.append(("shape", f"{', '.join(ins)} \u2192 {', '.join(outs)}"))
    rows.append(("params", _params(graph, inst)))
    rows.append(("layers", str(len(inst.layer_names()))))
    body = "".join(
        f'<tr><td align="left"><font point-size="10">{html.escape(k)}</font></td>'
        f'<td align="left">{html.escape(v)}</td></tr>'
        for k, v in rows
    )
    label = (
        f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4" color="{BORDER}" '
        f'bgcolor="white" style="rounded"><tr><td colspan="2" bgcolor="{FILLS[1]}"><b>'
        f"{html.escape(_title(inst, api))}</b> <i>(collapsed)</i></td></tr>{body}</table>>"
    )
    return pydot.Node(
        collapsed_id(inst), label=label, tooltip=f"{inst.qualified_name}: {_params(graph, inst)}"
    )


def place(
    graph: Graph,
    holder: Any,
    api: str,
    depth: int | None,
    show_shapes: bool,
    add_layer: Callable[[Any, Node], None],
) -> dict[str, str]:
    """Add every layer to `holder`, those in blocks inside nested clusters. Returns the drawn
    node id of each layer hidden in a collapsed instance (edges to it go to the instance)."""
    hidden: dict[str, str] = {}
    counter = [0]

    def instance(parent: Any, inst: BlockInstance, level: int) -> None:
        if depth is not None and level >= depth:
            parent.add_node(collapsed_node(graph, inst, api, show_shapes))
            for name in inst.layer_names():
                hidden[name] = collapsed_id(inst)
            return
        counter[0] += 1
        cluster = pydot.Cluster(
            f"block_{counter[0]}_{_safe(inst.name)}",
            label=f"{_title(inst, api)}  \u2013  {_params(graph, inst)}",
            style="rounded,filled",
            fillcolor=FILLS[min(level, len(FILLS) - 1)],
            color=BORDER,
            fontname="Helvetica",
            fontsize="11",
            labeljust="l",
            labelloc="t",
            fontcolor=BORDER,
        )
        for item in blocks.children(graph, inst):
            if isinstance(item, BlockInstance):
                instance(cluster, item, level + 1)
            else:
                add_layer(cluster, item)
        parent.add_subgraph(cluster)

    for item in blocks.top_level(graph):
        if isinstance(item, BlockInstance):
            instance(holder, item, 0)
        else:
            add_layer(holder, item)
    return hidden
