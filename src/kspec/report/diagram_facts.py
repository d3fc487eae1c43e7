"""What a diagram says about each layer: shapes, parameter counts, dtype, activation.

Taken from the resolved graph (the checker's registry), so drawing needs no TensorFlow. Only
when a layer is outside the registry is the Functional model built with Keras (imported here,
lazily) to read that layer's shapes and counts; the same layer objects make up all three APIs,
so the numbers hold for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kspec.graph.resolve import Graph, Node
from kspec.layers.registry import format_shape
from kspec.report.summary import count_weights


@dataclass
class Facts:
    """One layer, as drawn. Shapes are display text ("(None, 3)"); None means unknown."""

    inputs: list[str | None]
    output: str | None
    trainable_params: int | None
    non_trainable_params: int | None
    dtype: str
    activation: str | None
    trainable: bool

    @property
    def params(self) -> int | None:
        if self.trainable_params is None or self.non_trainable_params is None:
            return None
        return self.trainable_params + self.non_trainable_params


def _shape_text(shape: Any) -> str | None:
    if shape is None:
        return None
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return "[" + ", ".join(format_shape(tuple(s)) for s in shape) + "]"
    return format_shape(tuple(shape))


def _activation(node: Node) -> str | None:
    value = node.spec.args.get("activation")
    if value is None and node.type == "Activation":
        return None
    if isinstance(value, dict):
        return str(value.get("type", "?"))
    return None if value is None else str(value)


def _keras_shapes_and_counts(graph: Graph) -> dict[str, tuple[str | None, int, int]]:
    """Per layer name: (output shape text, trainable, non-trainable), from the built model."""
    from kspec.builders import build_model

    model = build_model(graph, "functional")
    out: dict[str, tuple[str | None, int, int]] = {}
    for layer in model.layers:
        try:
            output = layer.output
            shape: Any = (
                [tuple(t.shape) for t in output] if isinstance(output, (list, tuple)) else tuple(output.shape)
            )
        except Exception:
            shape = None
        trainable = count_weights(layer.trainable_weights)
        frozen = count_weights(layer.non_trainable_weights)
        out[layer.name] = (_shape_text(shape), trainable, frozen)
    return out


def needs_keras(graph: Graph) -> bool:
    """True when some layer's shape or counts are unknown to the registry."""
    return any(n.params is None or n.output_shape is None for n in graph.nodes)


def collect(graph: Graph) -> tuple[dict[str, Facts], dict[str, str]]:
    """(facts per layer name, dtype per input name)."""
    keras_facts = _keras_shapes_and_counts(graph) if needs_keras(graph) else {}
    shapes: dict[str, str | None] = {i.name: _shape_text((None, *i.shape)) for i in graph.inputs}
    facts: dict[str, Facts] = {}
    for node in graph.nodes:
        output, trainable, frozen = (
            _shape_text(node.output_shape),
            node.trainable_params,
            node.non_trainable_params,
        )
        if node.name in keras_facts and (output is None or node.params is None):
            k_shape, k_trainable, k_frozen = keras_facts[node.name]
            output = output or k_shape
            if node.params is None:
                trainable, frozen = k_trainable, k_frozen
        shapes[node.name] = output
        facts[node.name] = Facts(
            inputs=[shapes.get(s) for s in node.sources],
            output=output,
            trainable_params=trainable,
            non_trainable_params=frozen,
            dtype=str(node.spec.args.get("dtype") or "float32"),
            activation=_activation(node),
            trainable=node.spec.trainable,
        )
    return facts, {i.name: i.dtype or "float32" for i in graph.inputs}
