"""Stage 3: build a resolved graph as a Keras model with one of the three construction APIs.

>>> import kspec
>>> spec = kspec.loads("inputs: [{name: x, shape: [4]}]\\nlayers: [{type: Dense, units: 2}]")
>>> model = kspec.build(spec, api="subclass")
>>> model.count_params()
10
"""

from __future__ import annotations

import sys
from typing import Any

from kspec._keras import import_keras

import_keras()  # before any builder module's `import keras`: TensorFlow's start-up chatter removed

from kspec.builders.blocks import BlockLayer, layers_by_name  # noqa: E402
from kspec.builders.functional import build_functional  # noqa: E402
from kspec.builders.sequential import build_sequential  # noqa: E402
from kspec.builders.subclass import SpecModel, build_subclass  # noqa: E402
from kspec.errors import SpecError  # noqa: E402
from kspec.graph.resolve import Graph  # noqa: E402
from kspec.schema.model import APIS  # noqa: E402

_BUILDERS = {"sequential": build_sequential, "functional": build_functional, "subclass": build_subclass}


def build_model(graph: Graph, api: str) -> Any:
    """Build `graph` with `api`; a spec the API cannot express is a `SpecError`."""
    if api not in _BUILDERS:
        raise SpecError(f"unknown API {api!r}; choose one of {', '.join(APIS)}", file=graph.spec.file)
    # Keras walks a model's graph recursively (ops/function.py map_graph), one frame per layer of
    # depth, so a 1000-layer chain overflows Python's default limit of 1000 in any API.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000 + 5 * len(graph.nodes)))
    model = _BUILDERS[api](graph)
    _freeze(model, graph)
    return model


def _freeze(model: Any, graph: Graph) -> None:
    """Set `trainable = False` again on frozen layers, now that they are built.

    Keras's `trainable=False` constructor argument does not reach sublayers (Bidirectional's
    RNNs, TimeDistributed's layer, MultiHeadAttention's projections, created later): their
    weights would still train and count as trainable. The setter propagates to every sublayer.
    """
    frozen = {node.name for node in graph.nodes if not node.spec.trainable}
    for name, layer in layers_by_name(model).items():  # inside subclass blocks too
        if name in frozen:
            _propagate_frozen(layer)


def _propagate_frozen(layer: Any) -> None:
    # TF's tracking skips `x.trainable = False` when it is already False, hence the flip.
    layer.trainable = True
    layer.trainable = False


def refreeze(model: Any) -> Any:
    """After `load_model`: push each frozen layer's `trainable = False` into its sublayers again.

    Keras saves the flag of the wrapper only, so a reloaded frozen Bidirectional or
    MultiHeadAttention would otherwise train its inner weights.
    """
    for layer in layers_by_name(model).values():
        if not layer.trainable:
            _propagate_frozen(layer)
    return model


__all__ = ["APIS", "build_model", "refreeze", "SpecModel", "BlockLayer", "layers_by_name"]
