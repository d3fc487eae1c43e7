"""Model summaries: Keras's own text, or the same rows as JSON or Markdown."""

from __future__ import annotations

import io
import json
from typing import Any

from kspec.graph.resolve import Graph


def keras_summary(model: Any, *, show_trainable: bool = False, expand_nested: bool = False) -> str:
    """Exactly what `model.summary()` prints."""
    buf = io.StringIO()
    model.summary(
        print_fn=lambda line, **_: buf.write(line + "\n"),
        show_trainable=show_trainable,
        expand_nested=expand_nested,
    )
    return buf.getvalue().rstrip("\n")


def _shape(layer: Any) -> Any:
    try:
        out = layer.output.shape
        return list(out)
    except Exception:
        return None


def summary_rows(model: Any, graph: Graph | None = None) -> list[dict[str, Any]]:
    """One row per layer, with counts from Keras's weights (same numbers as `summary()`)."""
    shapes = {n.name: n.output_shape for n in graph.nodes} if graph else {}
    rows = []
    for layer in model.layers:
        trainable = count_weights(layer.trainable_weights)
        frozen = count_weights(layer.non_trainable_weights)
        shape = _shape(layer)
        inferred = shapes.get(layer.name)
        if shape is None and inferred is not None:
            shape = list(inferred)
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": shape,
                "params": trainable + frozen,
                "trainable_params": trainable,
                "non_trainable_params": frozen,
                "trainable": bool(layer.trainable),
            }
        )
    return rows


def count_weights(weights: Any) -> int:
    """Number of values in a list of Keras variables (what `count_params` adds up)."""
    total = 0
    for weight in weights:
        size = 1
        for d in weight.shape:
            size *= int(d)
        total += size
    return total


def summary_dict(model: Any, graph: Graph | None = None) -> dict[str, Any]:
    rows = summary_rows(model, graph)
    trainable = count_weights(model.trainable_weights)
    frozen = count_weights(model.non_trainable_weights)
    return {
        "name": model.name,
        "class": type(model).__name__,
        "layers": rows,
        "total_params": trainable + frozen,
        "trainable_params": trainable,
        "non_trainable_params": frozen,
    }


def summary_markdown(model: Any, graph: Graph | None = None, show_trainable: bool = False) -> str:
    data = summary_dict(model, graph)
    head = ["Layer (type)", "Output Shape", "Param #"] + (["Trainable"] if show_trainable else [])
    lines = [
        f"**Model: {data['name']}** ({data['class']})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * len(head)) + "|",
    ]
    for r in data["layers"]:
        shape = (
            "(" + ", ".join("None" if d is None else str(d) for d in r["output_shape"]) + ")"
            if r["output_shape"] is not None
            else "?"
        )
        cells = [f"{r['name']} ({r['type']})", shape, f"{r['params']:,}"]
        if show_trainable:
            cells.append("Y" if r["trainable"] else "N")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Total params: {data['total_params']:,}  ",
        f"Trainable params: {data['trainable_params']:,}  ",
        f"Non-trainable params: {data['non_trainable_params']:,}",
    ]
    return "\n".join(lines)


def summary_text(
    model: Any,
    fmt: str = "text",
    *,
    show_trainable: bool = False,
    expand_nested: bool = False,
    graph: Graph | None = None,
) -> str:
    if fmt == "json":
        return json.dumps(summary_dict(model, graph))
    if fmt == "markdown":
        return summary_markdown(model, graph, show_trainable)
    return keras_summary(model, show_trainable=show_trainable, expand_nested=expand_nested)


def keras_check(report: Any) -> Any:
    """`kspec check --keras`: fill in what the registry could not check from the built model."""
    from kspec.builders import build_model

    model = build_model(report.graph, "functional")
    by_name = {r["name"]: r for r in summary_rows(model)}
    for node in report.graph.nodes:
        row = by_name.get(node.name)
        if row is not None and node.params is None:
            node.output_shape = tuple(row["output_shape"]) if row["output_shape"] is not None else None
            node.trainable_params = row["trainable_params"]
            node.non_trainable_params = row["non_trainable_params"]
            node.note = ""
    return report
