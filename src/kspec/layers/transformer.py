"""Layers of modern transformer stacks: RMSNormalization, GroupQueryAttention, ReversibleEmbedding."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from kspec.layers.attention import MHA_CALL_TENSORS, check_attention_masks
from kspec.layers.core import NoQuantization
from kspec.layers.registry import LayerArgs, Shape, ShapeError, known, per_sample, register, zero_macs
from kspec.schema.types import (
    Axes,
    Bool,
    Constraint,
    DType,
    Fraction,
    Initializer,
    Int,
    Number,
    PositiveInt,
    Regularizer,
)


@register
class RMSNormalization(LayerArgs):
    """Divides by the root mean square over `axis`, then multiplies by a learned scale."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """One multiply per element by its scale (as LayerNormalization's rule counts gamma)."""
        return per_sample(output)

    axis: Axes = (-1,)
    epsilon: Number = 1e-6

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        return math.prod(self._scale(shapes[0])), 0

    def _scale(self, x: Shape) -> tuple[int, ...]:
        """The scale's shape as Keras builds it: the lengths of the axes in sorted order."""
        for a in self.axis:
            if not -len(x) <= a < len(x):
                raise ShapeError(f"axis {a} is out of range for a rank-{len(x)} input")
        if len({a % len(x) for a in self.axis}) < len(self.axis):
            raise ShapeError(f"axis {list(self.axis)} names the same axis twice")
        return tuple(known(x[a], "normalized dimension") for a in sorted(self.axis))

    def output_shape(self, shapes: list[Shape]) -> Shape:
        # Keras multiplies by the scale from the right (broadcasting), whatever the axes: the scale
        # must fit the trailing axes, or the result changes shape or fails.
        x, scale = shapes[0], self._scale(shapes[0])
        trailing = x[len(x) - len(scale) :] if len(scale) <= len(x) else None
        if trailing is None or any(s not in (1, t) for s, t in zip(scale, trailing)):
            raise ShapeError(
                f"Keras multiplies the input by a scale of shape {scale} (the lengths along axis "
                f"{list(self.axis)}) from the right: it does not fit the input's last axes {x[-len(scale) :]}"
            )
        return x


@register
class GroupQueryAttention(LayerArgs):
    """Attention whose `num_query_heads` share `num_key_value_heads` key/value heads: (query, value[, key])."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Projections of query (all heads), key and value (the shared heads), the scores and the
        weighted sum per query head, and the output projection (biases one MAC per output)."""
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        tq, tv, fq, fk, fv, fo = query[1], value[1], query[-1], key[-1], value[-1], output[-1]
        if tq is None or tv is None or fq is None or fk is None or fv is None or fo is None:
            return None
        d, hq, hkv = self.head_dim, self.num_query_heads, self.num_key_value_heads
        proj = tq * fq * hq * d + tv * fk * hkv * d + tv * fv * hkv * d
        attend = 2 * tq * tv * hq * d
        out = tq * hq * d * fo
        bias = (tq * hq * d + 2 * tv * hkv * d + tq * fo) if self.use_bias else 0
        return proj + attend + out + bias

    call_style: ClassVar = "args"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 3
    call_tensors: ClassVar[tuple[str, ...]] = MHA_CALL_TENSORS

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        check_attention_masks(shapes, keywords)

    head_dim: PositiveInt
    num_query_heads: PositiveInt
    num_key_value_heads: PositiveInt
    dropout: Fraction = 0.0  # a Dropout layer inside, as in MultiHeadAttention: 0 to 1
    use_bias: Bool = True
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

    def _dims(self, shapes: list[Shape]) -> tuple[int, int, int]:
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if any(len(s) != 3 for s in (query, value, key)):
            raise ShapeError("query, value and key must be (batch, positions, features)")
        if self.num_query_heads % self.num_key_value_heads:
            raise ShapeError(
                f"num_query_heads ({self.num_query_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )
        if query[-1] != value[-1]:
            raise ShapeError(f"query and value need the same feature size, got {query[-1]} and {value[-1]}")
        if value[1] != key[1]:
            raise ShapeError("value and key need the same length")
        return (
            known(query[-1], "query feature dimension"),
            known(key[-1], "key feature dimension"),
            known(value[-1], "value feature dimension"),
        )

    def output_shape(self, shapes: list[Shape]) -> Shape:
        self._dims(shapes)
        return shapes[0]

    def call_output_shapes(self, shapes: list[Shape], call: dict[str, Any]) -> list[Shape]:
        """`call: {return_attention_scores: true}` adds the scores (batch, num_query_heads,
        query length, key length) as output 1."""
        out = self.output_shape(shapes)
        if not call.get("return_attention_scores"):
            return [out]
        key = shapes[2] if len(shapes) > 2 else shapes[1]
        return [out, (out[0], self.num_query_heads, shapes[0][1], key[1])]

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        mq, mk, mv = self._dims(shapes)
        h, kv, d, b = self.num_query_heads, self.num_key_value_heads, self.head_dim, int(self.use_bias)
        total = mq * h * d + b * h * d  # query projection
        total += (mk + mv) * kv * d + 2 * b * kv * d  # key and value projections
        if self.use_gate:
            total += mq * h * d + b * h * d
        return total + h * d * mq + b * mq, 0  # output projection back to the query's features


@register
class ReversibleEmbedding(LayerArgs):
    """An Embedding that can also project vectors back to logits over the vocabulary (`reverse=True`)."""

    macs = zero_macs  # a lookup, as Embedding

    input_dim: PositiveInt
    output_dim: PositiveInt
    tie_weights: Bool = True
    embeddings_initializer: Initializer = "uniform"
    embeddings_regularizer: Regularizer = None
    embeddings_constraint: Constraint = None
    activity_regularizer: Regularizer = None
    mask_zero: Bool = False
    reverse_dtype: DType = None
    logit_soft_cap: Number | None = None
    quantization_config: NoQuantization = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return (*shapes[0], self.output_dim)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        table = self.input_dim * self.output_dim
        return table if self.tie_weights else 2 * table, 0
