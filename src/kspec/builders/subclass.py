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

from kspec.builders.blocks import BlockLayer, make_all, nested_layers, run_nodes
from kspec.builders.layers import call_checked, create_layer, create_layers, keras_inputs, prepare, store
from kspec.builders.ops import OpCall, deserialize_entries, layers_only, serialize_entry
from kspec.graph.blocks import has_blocks
from kspec.graph.resolve import Graph, Node


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
                **({"keywords": dict(node.keywords)} if node.keywords else {}),
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
    # A symbolic call builds every layer (weights exist, summary has counts) without data. The
    # layers are built from kspec's shapes first: otherwise Keras traces the whole `call` once to
    # build them and once more for the output (two passes where a hand-written model, called on
    # a batch of zeros, pays one trace and one cheap eager step: 1.2-1.6x slower to build).
    symbolic = keras_inputs(graph)
    try:
        _build_tree(graph, {node.name: node for node in graph.nodes}, model, model.graph_layers)
        model(symbolic[0] if len(symbolic) == 1 else symbolic)
        _build_from_shapes(graph, made)  # what the call left without a recorded shape
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
    _build_from_shapes(graph, made)
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


def _build_tree(graph: Graph, nodes: dict[str, Node], owner: Any, layers: list[Any]) -> None:
    """Build `owner`'s layers from kspec's shapes (`nodes`: the graph's nodes by name), each
    inside its owners' name scopes (the model's, then each enclosing block's), so the weights
    get the paths Keras gives when it builds them during the call (`model/block/layer/kernel`)."""
    with owner._open_name_scope():
        for layer in layers:
            if isinstance(layer, BlockLayer):
                _build_tree(graph, nodes, layer, layer.block_layers)
                shapes = [graph.shapes.get(name) for name in layer.block_config["inputs"]]
                if all(inner.built for inner in layer.block_layers) and None not in shapes:
                    layer.build(shapes[0] if len(shapes) == 1 else shapes)
            elif layer.name in nodes:
                _build_one(graph, nodes[layer.name], layer)


def _build_from_shapes(graph: Graph, made: dict[str, Any]) -> None:
    """After the call: record the input shape of the layers it left without one (see `_build_one`)."""
    for node in graph.nodes:  # by name: layers inside blocks too
        _build_one(graph, node, made[node.name])


def _build_one(graph: Graph, node: Node, layer: Any) -> None:
    """Build a layer with the input shape kspec inferred, as Keras's own `_maybe_build` would.

    Layers called with one tensor, a list or positional tensors take `build(shape)`,
    `build([shapes])` or `build(*shapes)`, as Keras maps them. A layer with
    Keras's default (empty) `build` is marked built only when it holds no unbuilt layers (the
    default would mark a wrapper built without its weights); it also records its input shape,
    so a weightless layer (Dropout, Flatten, Add...) shows its shape in the summary instead of
    "?": a subclassed model's layers have no Functional nodes to read it from. Shared layers
    and layers outside the registry are left to the call.
    """
    from keras.src.layers.layer import might_have_unbuilt_state
    from keras.src.utils.python_utils import is_default

    if isinstance(layer, OpCall) or node.shares or layer._build_shapes_dict:
        return  # an operation has no build; a shared layer is built by its first call
    if is_default(layer.build) and might_have_unbuilt_state(layer):
        return
    if layer.built and not is_default(layer.build):
        return  # built at creation (a nested model, a loaded layer)
    shapes = [graph.shapes.get(source) for source in node.sources[: node.positional_count]]
    if not shapes or any(shape is None for shape in shapes):
        return  # a layer outside the registry: kspec does not know its input shape
    if node.call_style == "single":
        layer.build(shapes[0])
    elif node.call_style == "list":
        layer.build(list(shapes))
    else:  # "args": layer(query, value[, key]) builds as build(query_shape, value_shape[, key_shape])
        layer.build(*shapes)
