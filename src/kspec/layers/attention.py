"""Attention layers: MultiHeadAttention, and the dot-product and additive Attention layers."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from kspec.layers.registry import (
    LayerArgs,
    Shape,
    ShapeError,
    check_mask,
    format_shape,
    known,
    per_sample,
    register,
)
from kspec.schema.types import (
    AtMostOne,
    Axes,
    Bool,
    Constraint,
    Fraction,
    Initializer,
    Int,
    PositiveInt,
    PositiveInts,
    Regularizer,
)

#: MultiHeadAttention's and GroupQueryAttention's call: positional query, value, key, then masks.
MHA_CALL_TENSORS = ("query", "value", "key", "query_mask", "value_mask", "key_mask", "attention_mask")


def check_attention_masks(shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
    """Padding masks mark positions of their tensor; `attention_mask` is (batch, Tq, Tk)."""
    query, value = shapes[0], shapes[1]
    key = shapes[2] if len(shapes) > 2 else value
    for name, of in (("query_mask", query), ("value_mask", value), ("key_mask", key)):
        for mask in keywords.get(name, []):
            check_mask(mask, of, name)
    for mask in keywords.get("attention_mask", []):
        want = (query[0], *query[1:-1], *key[1:-1])
        if len(mask) != len(want) or any(
            m is not None and w is not None and m != w for m, w in zip(mask, want)
        ):
            raise ShapeError(f"attention_mask needs shape {format_shape(want)}, got {format_shape(mask)}")


@register
class MultiHeadAttention(LayerArgs):
    """Multi-head attention: `num_heads` heads of size `key_dim` attend from query to value (and key)."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Projections (per position, bias included), scores and weighted sums per head, output projection."""
        query, value, key = self._shapes(shapes)
        dq, dv, dk = query[-1], value[-1], key[-1]
        if dq is None or dv is None or dk is None:
            return None
        tq, tv, tk = per_sample(query) // dq, per_sample(value) // dv, per_sample(key) // dk
        heads, kd, bias = self.num_heads, self.key_dim, int(self.use_bias)
        vd = self.value_dim or kd
        out = math.prod(self.output_shape_ or (dq,))  # type: ignore[arg-type]
        total = tq * (dq + bias) * heads * kd + tk * (dk + bias) * heads * kd + tv * (dv + bias) * heads * vd  # type: ignore[operator]
        if self.use_gate:
            total += tq * (dq + bias) * heads * vd  # type: ignore[operator]
        total += heads * tq * tk * kd + heads * tq * tk * vd  # scores, then the weighted sum of values
        return total + tq * (heads * vd * out + bias * out)

    call_style: ClassVar = "args"  # layer(query, value) or layer(query, value, key)
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 3
    call_tensors: ClassVar[tuple[str, ...]] = MHA_CALL_TENSORS

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        check_attention_masks(shapes, keywords)

    num_heads: PositiveInt
    key_dim: PositiveInt
    value_dim: PositiveInt | None = None
    dropout: Fraction = 0.0  # a Dropout layer inside: 0 to 1
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

    def call_output_shapes(self, shapes: list[Shape], call: dict[str, Any]) -> list[Shape]:
        """`call: {return_attention_scores: true}` adds the scores as output 1:
        (batch dims, num_heads, query attention dims, key attention dims), as Keras computes them.
        """
        out = self.output_shape(shapes)
        if not call.get("return_attention_scores"):
            return [out]
        query, _, key = self._shapes(shapes)
        rank = len(query)
        axes = self.attention_axes
        attn = (
            tuple(range(1, rank - 1))
            if axes is None
            else tuple(a if a >= 0 else rank + a for a in ((axes,) if isinstance(axes, int) else axes))
        )
        if any(not 0 < a < rank - 1 for a in attn):
            raise ShapeError(f"attention_axes {axes} must be between the batch and the feature axis")
        batch = [i for i in range(rank - 1) if i not in attn]
        return [
            out,
            (*[query[i] for i in batch], self.num_heads, *[query[a] for a in attn], *[key[a] for a in attn]),
        ]

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


class _Attention(LayerArgs):
    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """A score per (query, key) pair over the features, then the weighted sum of values."""
        query, value, key = self._shapes(shapes)
        tq, tv = query[1], value[1]
        d, dv = max(query[-1] or 0, key[-1] or 0), value[-1]
        if None in (tq, tv, dv) or not d:
            return None
        return tq * tv * d + tq * tv * dv  # type: ignore[operator]

    call_style: ClassVar = "list"  # layer([query, value]) or layer([query, value, key])
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 3
    #: `mask`: [query_mask, value_mask]
    call_tensors: ClassVar[tuple[str, ...]] = ("query", "value", "key", "mask")
    list_tensors: ClassVar[frozenset[str]] = frozenset({"mask"})

    def call_output_shapes(self, shapes: list[Shape], call: dict[str, Any]) -> list[Shape]:
        """`call: {return_attention_scores: true}` adds the scores (batch, Tq, Tv) as output 1."""
        out = self.output_shape(shapes)
        if not call.get("return_attention_scores"):
            return [out]
        query, _, key = self._shapes(shapes)
        return [out, (*query[:-1], key[-2])]

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        masks = keywords.get("mask", [])
        if len(masks) > 2:
            raise ShapeError(f"mask takes [query_mask] or [query_mask, value_mask], got {len(masks)} tensors")
        for mask, of, what in zip(masks, shapes, ("query_mask", "value_mask")):
            check_mask(mask, of, f"mask ({what})")

    use_scale: Bool = False
    dropout: AtMostOne = 0.0  # applied only when above 0; Keras fails above 1

    def _shapes(self, shapes: list[Shape]) -> tuple[Shape, Shape, Shape]:
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if len(query) != 3 or len(value) != 3 or len(key) != 3:
            raise ShapeError(
                "query, value and key must be (batch, positions, features), got "
                + ", ".join(format_shape(s) for s in shapes)
            )
        if None not in (value[1], key[1]) and value[1] != key[1]:
            raise ShapeError(f"value {format_shape(value)} and key {format_shape(key)} need the same length")
        dq, dk = query[-1], key[-1]
        fits = dq == dk or (self._adds() and 1 in (dq, dk))
        if None not in (dq, dk) and not fits:
            raise ShapeError(
                f"query {format_shape(query)} and key {format_shape(key)} need the same feature size"
            )
        return query, value, key

    def _adds(self) -> bool:
        """Whether the score adds query and key (so a feature size of 1 broadcasts) or multiplies them."""
        return False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        query, value, _ = self._shapes(shapes)
        return (*query[:-1], value[-1])


@register
class Attention(_Attention):
    """Dot-product (Luong) attention of a query over a value sequence: [query, value] or [query, value, key]."""

    score_mode: Literal["dot", "concat"] = "dot"
    seed: Int | None = None

    def _adds(self) -> bool:
        return self.score_mode == "concat"

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        self._shapes(shapes)
        return int(self.use_scale) + int(self.score_mode == "concat"), 0


@register
class AdditiveAttention(_Attention):
    """Additive (Bahdanau) attention of a query over a value sequence: [query, value] or [query, value, key]."""

    use_scale: Bool = True
    seed: Int | None = None

    def _adds(self) -> bool:
        return True

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        query, _, _ = self._shapes(shapes)
        return known(query[-1], "query feature dimension") if self.use_scale else 0, 0
