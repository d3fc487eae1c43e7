"""The Sequential API: a plain stack, for graphs that are a single chain."""

from __future__ import annotations

import keras

from kspec.builders.layers import create_layer, keras_complaint, keras_inputs, prepare
from kspec.graph.resolve import Graph


def build_sequential(graph: Graph) -> keras.Sequential:
    graph.require_sequential(("api",) if graph.spec.api == "sequential" else ())
    prepare(graph)
    layers = [create_layer(graph, node) for node in graph.nodes]
    try:
        # The whole stack at once: Keras builds its graph once. `add` per layer rebuilds it after
        # every layer, which makes building quadratic in depth (100 layers: 4x slower, 300: 11x).
        return keras.Sequential([keras_inputs(graph)[0], *layers], name=graph.name)
    except Exception:
        pass  # a layer cannot take its input: add them one at a time to name it
    prepare(graph)
    model = keras.Sequential(name=graph.name)
    model.add(keras_inputs(graph)[0])
    for node in graph.nodes:
        layer = create_layer(graph, node)
        try:
            model.add(layer)
        except Exception as exc:
            raise graph.spec.error(
                node.spec.path, f"{node.type} {node.name!r} cannot take its input: {keras_complaint(exc)}"
            ) from None
    return model
