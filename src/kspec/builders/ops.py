"""Build the spec's `ops.NAME` entries as the Keras operations a Functional graph records."""

from __future__ import annotations

import importlib
from typing import Any

from kspec.layers.ops import KERAS_OPS
from kspec.layers.registry import lookup


class OpCall:
    """A Keras operation (`keras.src.ops.numpy.Add`, ...) with the operands the spec fixed as numbers.

    Calling it with the node's input tensors fills the remaining positional slots in order, so
    `{type: ops.subtract, x1: 1.0}` computes `1.0 - x` exactly as Keras recorded it.
    """

    def __init__(self, op_type: str, args: dict[str, Any], name: str) -> None:
        module, cls_name = KERAS_OPS[op_type]  # the closed list: nothing else can be built
        rule = lookup(op_type)
        self.op_type = op_type
        self.positional: tuple[str, ...] = rule.positional if rule is not None else ()  # type: ignore[attr-defined]
        self.constants = {k: args[k] for k in self.positional if args.get(k) is not None}
        config = {k: v for k, v in args.items() if k not in self.positional}
        self.op = getattr(importlib.import_module(module), cls_name)(**config, name=name or None)
        self.name = self.op.name
        self.trainable_weights: list[Any] = []
        self.non_trainable_weights: list[Any] = []

    def count_params(self) -> int:
        return 0

    def __call__(self, *tensors: Any) -> Any:
        if not self.positional:
            return self.op(*tensors)
        given = iter(tensors)
        values = [self.constants[k] if k in self.constants else next(given) for k in self.positional]
        return self.op(*values)


def serialize_entry(layer: Any, op_type: str, args: dict[str, Any], name: str) -> dict[str, Any]:
    """A node's `layer` entry in a subclass/block config: an operation as `{op, args, name}`
    (from the closed list, never code), a layer as Keras serializes it."""
    import keras

    if isinstance(layer, OpCall):
        return {"op": op_type, "args": dict(args), "name": name}
    return keras.layers.serialize(layer)  # type: ignore[no-any-return]


def deserialize_entry(entry: dict[str, Any]) -> Any:
    import keras

    if "op" in entry:  # one of the closed list of operations, never code
        return OpCall(entry["op"], entry["args"], entry["name"])
    return keras.layers.deserialize(entry)


def deserialize_entries(nodes: list[dict[str, Any]]) -> list[Any]:
    """Each node's callable, in order; `{"shared": NAME}` is the layer of node NAME again."""
    made: dict[str, Any] = {}
    out = []
    for node in nodes:
        entry = node["layer"]
        if "shared" in entry:
            layer = made.get(entry["shared"]) if isinstance(entry["shared"], str) else None
            if layer is None:  # a damaged or hand-edited config: never guess
                raise ValueError(f"node {node.get('name')!r} shares an unknown layer {entry['shared']!r}")
        else:
            layer = deserialize_entry(entry)
        made[node["name"]] = layer
        out.append(layer)
    return out


def layers_only(made: list[Any]) -> list[Any]:
    """The Keras layers among a node list's callables, each once (a shared layer is one layer):
    Keras tracks those (weights, summary)."""
    seen: set[int] = set()
    out = []
    for x in made:
        if not isinstance(x, OpCall) and id(x) not in seen:
            seen.add(id(x))
            out.append(x)
    return out
