"""The Functional API: `keras.Model(inputs, outputs)` over the graph; any DAG works."""

from __future__ import annotations

from typing import Any

import keras

from kspec.builders.layers import call_checked, create_layer, keras_inputs, pack_outputs, prepare, store
from kspec.graph.resolve import Graph


def build_functional(graph: Graph) -> keras.Model:
    prepare(graph)
    inputs = keras_inputs(graph)
    tensors = {i.name: t for i, t in zip(graph.inputs, inputs)}
    made: dict[str, Any] = {}
    for node in graph.nodes:  # one at a time: a layer Keras refuses is named before the next is made
        layer = made[node.name] = made[node.shares] if node.shares else create_layer(graph, node)
        result = call_checked(graph, node, layer, [tensors[s] for s in node.sources])
        store(tensors, node.name, node.output_count, result)
    model = keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=pack_outputs(graph, tensors),
        name=graph.name,
    )
    _in_spec_order(model, graph)
    return model


def _in_spec_order(model: keras.Model, graph: Graph) -> None:
    """Order the model's layers as the spec lists them.

    Keras orders a Functional model's layers by walking back from its outputs, taken in sorted
    key order when they are a dict (several outputs); a weights file keys the layers of one class
    by that order (`bidirectional`, `bidirectional_1`). The spec's order is the order of the model
    an import came from, so its weights file (and its config order) fit the rebuilt model. The
    layers and their wiring are unchanged; only the list that `model.layers` reads is sorted.
    """
    rank = {i.name: k - len(graph.inputs) for k, i in enumerate(graph.inputs)}
    rank.update({node.name: k for k, node in enumerate(graph.nodes) if not node.shares})
    operations = list(model._operations)
    order = sorted(range(len(operations)), key=lambda k: (rank.get(operations[k].name, len(rank)), k))
    model._operations = [operations[k] for k in order]
