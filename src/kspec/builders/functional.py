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
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=pack_outputs(graph, tensors),
        name=graph.name,
    )
