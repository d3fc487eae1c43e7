"""Blocks in the subclass API: every block instance is a `BlockLayer`, a real Keras layer made of
layers, nested in the model as the spec nests it.

    import kspec
    model = kspec.build(kspec.load("specs/resnet50.yaml"), api="subclass")
    model.summary(expand_nested=True)          # conv2 > conv2_block1 > conv2_block1_1_conv ...
    model.weights[3].path                      # 'resnet50/conv2/conv2_block1/conv2_block1_1_conv/kernel'

Layers inside a block keep their flat names (`conv2_block1_1_conv`), so one layer has one name
in every API (and the same seeded initial weights); the hierarchy is in the nesting itself.

The Functional and Sequential APIs build blocks inline: their models are layer-for-layer the
flat spec (`kspec expand`), the model Keras's own application code builds (same `model.layers`,
names and weight files), and `model.get_layer(name)` finds every layer.
"""

from __future__ import annotations

from typing import Any

import keras

from kspec.builders.layers import call_layer, create_layers, store
from kspec.builders.ops import deserialize_entries, layers_only, serialize_entry
from kspec.graph import blocks
from kspec.graph.resolve import Graph, Node
from kspec.schema.blocks import BlockInstance


def run_nodes(
    nodes: list[dict[str, Any]], layers: list[Any], values: dict[str, Any], training: Any = None
) -> None:
    """Call each node's layer on its sources; a block node sets each of its outputs.

    `training` given to the model (fit passes True) wins over a node's constant
    `call: {training: ...}`, as in a Keras Functional model (`functional.operation_fn`), so the
    subclass API trains and predicts like the Functional model an import came from."""
    for node, layer in zip(nodes, layers):
        call = dict(node.get("call") or {})
        if training is not None and "training" in call:
            call["training"] = training
        result = call_layer(
            layer, node["call_style"], [values[s] for s in node["sources"]], call, node.get("keywords")
        )
        outputs = node.get("outputs")
        if outputs is None:
            store(values, node["name"], node.get("output_count", 1), result)
        elif len(outputs) == 1:
            values[outputs[0]] = result
        else:
            values.update(zip(outputs, result))


@keras.saving.register_keras_serializable(package="kspec")
class BlockLayer(keras.layers.Layer):
    """One block instance as a Keras layer: its `call` runs the block's layers in order.

    Args:
        block_config: `{"block": NAME, "inputs": [names], "nodes": [{name, sources, call_style,
            layer, outputs?}], "outputs": [names]}`; names are the flat layer names.
        layers: the layers `block_config` describes, already made; None (loading) deserializes.
    """

    def __init__(self, block_config: dict[str, Any], layers: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block_config = block_config
        made = list(layers) if layers is not None else deserialize_entries(block_config["nodes"])
        # Operations (`ops.add`) are not layers: Keras tracks only the layers, in this order.
        self.block_layers = layers_only(made)
        self._block_all = made

    @property
    def layers(self) -> list[Any]:
        """The layers inside, in call order (what `summary(expand_nested=True)` shows)."""
        return list(self.block_layers)

    def build(self, input_shape: Any) -> None:
        # Building from a saved config: trace once so every inner layer makes its weights.
        if not all(layer.built for layer in self.block_layers):
            shapes = input_shape if len(self.block_config["inputs"]) > 1 else [input_shape]
            symbolic = [keras.KerasTensor(tuple(s)) for s in shapes]
            self.call(symbolic if len(symbolic) > 1 else symbolic[0])
        self.built = True

    def call(self, inputs: Any, training: Any = None) -> Any:
        names = self.block_config["inputs"]
        given = list(inputs) if len(names) > 1 else [inputs]
        values = dict(zip(names, given))
        run_nodes(self.block_config["nodes"], self._block_all, values, training)
        outputs = [values[name] for name in self.block_config["outputs"]]
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_output_spec(self, inputs: Any, **kwargs: Any) -> Any:
        # Keras's own default (trace `call` symbolically), spelled out: `compute_output_shape`
        # below is overridden, which would make Layer's version call it back.
        from keras.src import backend as keras_backend

        return keras_backend.compute_output_spec(self.call, inputs, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """From the traced call: what `model.summary()` shows for a subclass model's block row."""
        many = len(self.block_config["inputs"]) > 1
        shapes = list(input_shape) if many else [input_shape]
        symbolic = [keras.KerasTensor(tuple(s)) for s in shapes]
        spec = self.compute_output_spec(symbolic if many else symbolic[0])
        return keras.tree.map_structure(lambda t: tuple(t.shape), spec)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "block_config": self.block_config}


def _node_entry(node: Node, layer: Any) -> dict[str, Any]:
    return {
        "name": node.name,
        "sources": list(node.sources),
        "call_style": node.call_style,
        "call": dict(node.spec.call),
        "output_count": node.output_count,
        "layer": {"shared": node.shares}
        if node.shares
        else serialize_entry(layer, node.type, node.spec.args, node.name),
    }


def _instance_entry(inst: BlockInstance, layer: BlockLayer) -> dict[str, Any]:
    return {
        "name": inst.name,
        "sources": list(inst.inputs),
        "call_style": "single" if len(inst.inputs) == 1 else "list",
        "outputs": list(inst.outputs),
        "layer": keras.layers.serialize(layer),
    }


def nested_layers(graph: Graph, made: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The model's top-level (node entries, layers): plain layers and one `BlockLayer` per
    top-level instance, each holding its own layers and instances. `made` maps flat layer
    names to their Keras layers (each created once)."""

    def block_layer(inst: BlockInstance) -> BlockLayer:
        entries, layers = entries_of(blocks.children(graph, inst))
        config = {
            "block": inst.block,
            "inputs": list(inst.inputs),
            "nodes": entries,
            "outputs": list(inst.outputs),
        }
        return BlockLayer(config, layers=layers, name=inst.name)

    def entries_of(items: list[blocks.Item]) -> tuple[list[dict[str, Any]], list[Any]]:
        entries, layers = [], []
        for item in items:
            if isinstance(item, BlockInstance):
                layer = block_layer(item)
                entries.append(_instance_entry(item, layer))
            else:
                layer = made[item.name]
                entries.append(_node_entry(item, layer))
            layers.append(layer)
        return entries, layers

    return entries_of(blocks.top_level(graph))


def make_all(graph: Graph) -> dict[str, Any]:
    return create_layers(graph)


def layers_by_name(model: Any) -> dict[str, Any]:
    """Every layer of a built model by name, looking inside `BlockLayer`s (not other wrappers)."""
    out: dict[str, Any] = {}

    def visit(layers: list[Any]) -> None:
        for layer in layers:
            out[layer.name] = layer
            if isinstance(layer, BlockLayer):
                visit(layer.block_layers)

    visit(list(model.layers))
    return out
