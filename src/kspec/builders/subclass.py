"""The subclassing API: a real `keras.Model` subclass whose `call` runs the graph.

`SpecModel.__init__` creates the layers from a plain, JSON-serializable description of the
graph, and `get_config` returns that description, so `model.save()` and
`keras.models.load_model()` round-trip (import kspec first so Keras knows the class):

    import kspec, keras
    model = kspec.build(kspec.load("specs/seed_subclass.yaml"), api="subclass")
    model.save("m.keras")
    again = keras.models.load_model("m.keras")
"""

from __future__ import annotations

from typing import Any

import keras

from kspec.builders.blocks import make_all, nested_layers, run_nodes
from kspec.builders.layers import call_checked, create_layer, create_layers, keras_inputs, prepare, store
from kspec.builders.ops import OpCall, deserialize_entries, layers_only, serialize_entry
from kspec.graph.blocks import has_blocks
from kspec.graph.resolve import Graph


@keras.saving.register_keras_serializable(package="kspec")
class SpecModel(keras.Model):
    """A model subclass that runs a kspec graph.

    Args:
        graph_config: `{"inputs": [{name, shape, dtype}], "nodes": [{name, sources, call_style,
            layer}], "outputs": [names]}` where `layer` is `keras.layers.serialize(...)` output.
        layers: the layers `graph_config` describes, already made (the builder passes them so
            each layer is created once); None (loading) deserializes them from `graph_config`.
    """

    def __init__(self, graph_config: dict[str, Any], layers: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph_config = graph_config
        self.input_names_ = [i["name"] for i in graph_config["inputs"]]
        self.output_names_ = list(graph_config["outputs"])
        # A list attribute: Keras tracks the layers (weights, summary, saving) in this order.
        made = list(layers) if layers is not None else deserialize_entries(graph_config["nodes"])
        # Operations (`ops.add`) are not layers: Keras tracks only the layers, in this order.
        self.graph_layers = layers_only(made)
        self._graph_all = made

    def call(self, inputs: Any, training: Any = None) -> Any:
        if isinstance(inputs, dict):
            values = {name: inputs[name] for name in self.input_names_}
        elif isinstance(inputs, (list, tuple)):
            values = dict(zip(self.input_names_, inputs))
        else:
            values = {self.input_names_[0]: inputs}
        run_nodes(self.graph_config["nodes"], self._graph_all, values, training)
        if len(self.output_names_) == 1:
            return values[self.output_names_[0]]
        return {name: values[name] for name in self.output_names_}

    def get_config(self) -> dict[str, Any]:
        return {"graph_config": self.graph_config, "name": self.name}


def graph_config(graph: Graph, layers: list[Any] | None = None) -> dict[str, Any]:
    """The JSON description `SpecModel` is built from (layers serialized by Keras)."""
    nodes = []
    for i, node in enumerate(graph.nodes):
        layer = layers[i] if layers is not None else None if node.shares else create_layer(graph, node)
        nodes.append(
            {
                "name": node.name,
                "sources": node.sources,
                "call_style": node.call_style,
                "call": dict(node.spec.call),
                "output_count": node.output_count,
                "layer": {"shared": node.shares}
                if node.shares
                else serialize_entry(layer, node.type, node.spec.args, node.name),
            }
        )
    return _config(graph, nodes)


def _config(graph: Graph, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype} for i in graph.inputs],
        "nodes": nodes,
        "outputs": list(graph.outputs),
    }


def build_subclass(graph: Graph) -> SpecModel:
    prepare(graph)
    if has_blocks(graph):  # block instances become nested `BlockLayer`s
        made = make_all(graph)
        entries, layers = nested_layers(graph, made)
        model = SpecModel(_config(graph, entries), layers=layers, name=graph.name)
    else:
        made = create_layers(graph)
        layers = [made[node.name] for node in graph.nodes]
        model = SpecModel(graph_config(graph, layers), layers=layers, name=graph.name)
    # A symbolic call builds every layer (weights exist, summary has counts) without data.
    symbolic = keras_inputs(graph)
    try:
        model(symbolic[0] if len(symbolic) == 1 else symbolic)
        _record_input_shapes(graph, made)
        return model
    except Exception:
        pass  # one pass per layer only when needed (it doubles build time): name the layer at fault
    values = {i.name: t for i, t in zip(graph.inputs, symbolic)}
    for node in graph.nodes:
        result = call_checked(graph, node, made[node.name], [values[s] for s in node.sources])
        store(values, node.name, node.output_count, result)
    try:
        model(symbolic[0] if len(symbolic) == 1 else symbolic)
    except Exception:
        _blame(graph, made)  # every layer took its symbolic input: run them on zeros to find which fails
        raise
    _record_input_shapes(graph, made)
    return model


def _blame(graph: Graph, made: dict[str, Any]) -> None:
    """Raise a located `SpecError` naming the first layer that fails on a batch of zeros."""
    import numpy as np

    values: dict[str, Any] = {
        i.name: np.zeros((1, *[d or 1 for d in i.shape]), dtype=i.dtype) for i in graph.inputs
    }
    for node in graph.nodes:
        result = call_checked(graph, node, made[node.name], [values[s] for s in node.sources])
        store(values, node.name, node.output_count, result)


def _record_input_shapes(graph: Graph, made: dict[str, Any]) -> None:
    """Give weightless layers (Dropout, Flatten, Add...) the input shape kspec inferred.

    A subclassed model's layers have no Functional nodes, so Keras's summary reads a layer's
    shape from what its `build` recorded; layers that keep Keras's default (empty) `build` never
    record one and show "?". Calling that default `build` records the shape and creates nothing.
    """
    from keras.src.utils.python_utils import is_default

    for node in graph.nodes:  # by name: layers inside blocks too
        layer = made[node.name]
        if isinstance(layer, OpCall) or node.shares:
            continue  # an operation has no build; a shared layer was built by its first call
        if layer._build_shapes_dict or not is_default(layer.build):
            continue
        shapes = [graph.shapes.get(source) for source in node.sources]
        if any(shape is None for shape in shapes):
            continue  # a layer outside the registry: kspec does not know its input shape
        layer.build(shapes[0] if node.call_style == "single" else list(shapes))
