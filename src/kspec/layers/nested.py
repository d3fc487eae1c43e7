"""A Sequential model used as a layer (ConvNeXt's stem and downsampling blocks), kept nested.

    - type: Sequential
      name: stem
      layers:
        - {type: Conv2D, name: stem_conv, filters: 96, kernel_size: 4, strides: 4}
        - {type: LayerNormalization, name: stem_layernorm, epsilon: 1.0e-6}

The inner layers are registry layers, validated by their own entries; the shape is folded
through them, and the counts are their sum, as Keras's summary shows a nested model as one row.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, PlainValidator, WithJsonSchema

from kspec.layers.registry import LayerArgs, Shape, ShapeError, nested_layer, register
from kspec.schema import types

_layer = nested_layer()


def _inner_layers(v: Any) -> list[LayerArgs]:
    if not isinstance(v, list) or not v:
        raise ValueError(f"must be a non-empty list of layers ({{type: Conv2D, ...}}), got {v!r}")
    out = []
    check = _layer.__metadata__[0].func  # the nested-layer validator of the registry
    for i, item in enumerate(v):
        if isinstance(item, dict) and item.get("type") == "Sequential":
            raise ValueError(f"layers[{i}]: a nested Sequential inside a nested Sequential is not supported")
        if isinstance(item, dict) and "name" in item and not types.is_name(item["name"]):
            raise ValueError(f"layers[{i}].name: {types.NAME_RULE}, got {item['name']!r}")
        if isinstance(item, dict) and str(item.get("type", "")).startswith("ops."):
            raise ValueError(f"layers[{i}]: a Sequential holds layers, not operations like {item['type']}")
        try:
            out.append(check(item))
        except ValueError as exc:
            raise ValueError(f"layers[{i}]: {exc}") from None
    names = [item["name"] for item in v if isinstance(item, dict) and "name" in item]
    if len(set(names)) != len(names):
        raise ValueError(f"layer names repeat inside the nested Sequential: {names}")
    return out


InnerLayers = Annotated[
    list[Any],
    PlainValidator(_inner_layers),
    WithJsonSchema({"type": "array", "items": {"type": "object", "required": ["type"]}, "minItems": 1}),
]


@register
class Sequential(LayerArgs):
    """A `keras.Sequential` of `layers`, used as one layer of the outer model."""

    layers: InnerLayers = Field(description="the inner layers, in order")

    def output_shape(self, shapes: list[Shape]) -> Shape:
        shape = shapes[0]
        for i, layer in enumerate(self.layers):
            try:
                shape = tuple(layer.output_shape([shape]))
            except ShapeError as exc:
                raise ShapeError(f"inner layer {i} ({layer.keras_type}): {exc}") from None
        return shape

    def param_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        trainable = frozen = 0
        shape = shapes[0]
        for layer in self.layers:
            t, f = layer.param_counts([shape])
            trainable, frozen = trainable + t, frozen + f
            shape = tuple(layer.output_shape([shape]))
        return (trainable, frozen) if self.trainable else (0, trainable + frozen)
