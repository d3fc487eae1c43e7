"""Attention layers: MultiHeadAttention."""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import Field

from kspec.rules.registry import LayerArgs, Shape, ShapeError, format_shape, known, register
from kspec.spec.types import (
    Axes,
    Bool,
    Constraint,
    Initializer,
    Int,
    PositiveInt,
    PositiveInts,
    Rate,
    Regularizer,
)


@register
class MultiHeadAttention(LayerArgs):
    """Multi-head attention: `num_heads` heads of size `key_dim` attend from query to value (and key)."""

    call_style: ClassVar = "args"  # layer(query, value) or layer(query, value, key)
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 3

    num_heads: PositiveInt
    key_dim: PositiveInt
    value_dim: PositiveInt | None = None
    dropout: Rate = 0.0
    use_bias: Bool = True
    # `output_shape` is the method every rule has, so the argument is stored under another name
    output_shape_: PositiveInts | None = Field(None, alias="output_shape")
    attention_axes: Axes | None = None
    sliding_window: PositiveInt | None = None
    flash_attention: Bool | None = None
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None
    use_gate: Bool = False
    seed: Int | None = None

    def _shapes(self, shapes: list[Shape]) -> tuple[Shape, Shape, Shape]:
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if len(query) < 3 or len({len(query), len(value), len(key)}) > 1:
            raise ShapeError(
                "query, value and key need the same rank, at least 3 (batch, positions, features), "
                f"got {', '.join(format_shape(s) for s in shapes)}"
            )
        if value[1:-1] != key[1:-1]:
            raise ShapeError(
                f"value {format_shape(value)} and key {format_shape(key)} must match "
                "in every dimension but the last"
            )
        return query, value, key

    def output_shape(self, shapes: list[Shape]) -> Shape:
        query, _, _ = self._shapes(shapes)
        return query[:-1] + (self.output_shape_ or (query[-1],))

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        query, value, key = self._shapes(shapes)
        dq = known(query[-1], "query feature dimension")
        dv = known(value[-1], "value feature dimension")
        dk = known(key[-1], "key feature dimension")
        heads, kd = self.num_heads, self.key_dim
        vd = self.value_dim or kd
        out = math.prod(self.output_shape_ or (dq,))
        bias = int(self.use_bias)
        total = (dq + bias) * heads * kd  # query projection
        total += (dk + bias) * heads * kd  # key projection
        total += (dv + bias) * heads * vd  # value projection
        if self.use_gate:
            total += (dq + bias) * heads * vd  # gate projection of the query
        total += heads * vd * out + bias * out  # output projection
        return total, 0
