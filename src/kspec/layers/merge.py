"""Merge layers: take a list of inputs and combine them into one."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import PlainValidator, WithJsonSchema

from kspec.layers.registry import (
    LayerArgs,
    Shape,
    ShapeError,
    axes_of,
    format_shape,
    per_sample,
    register,
    zero_macs,
)
from kspec.schema.types import Bool, Int


def _broadcast(shapes: list[Shape], layer: str) -> Shape:
    """Keras's elementwise merges broadcast like NumPy past the batch dimension, pairwise, left to
    right; an unknown length on either side stays unknown (as `Merge.compute_output_shape`)."""
    out: tuple[int | None, ...] = tuple(shapes[0][1:])
    for shape in shapes[1:]:
        a, b = (out, tuple(shape[1:])) if len(out) >= len(shape) - 1 else (tuple(shape[1:]), out)
        if not b:
            out = a
            continue
        merged = list(a[: len(a) - len(b)])
        for i, j in zip(a[len(a) - len(b) :], b):
            if i is None or j is None:
                merged.append(None)
            elif i == 1 or j == 1:
                merged.append(j if i == 1 else i)
            elif i != j:
                raise ShapeError(
                    f"{layer} needs inputs of the same shape, got "
                    + ", ".join(format_shape(s) for s in shapes)
                )
            else:
                merged.append(i)
        out = tuple(merged)
    batch = {s[0] for s in shapes} - {None}
    return (batch.pop() if len(batch) == 1 else None, *out)


class _Elementwise(LayerArgs):
    macs = zero_macs  # no multiply-accumulates
    call_style: ClassVar = "list"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 1000

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return _broadcast(shapes, self.keras_type)


@register
class Add(_Elementwise):
    """Sums its inputs element-wise (a residual connection)."""


@register
class Subtract(_Elementwise):
    """First input minus the second."""

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2


@register
class Multiply(_Elementwise):
    """Element-wise product of its inputs."""


@register
class Average(_Elementwise):
    """Element-wise mean of its inputs."""


@register
class Maximum(_Elementwise):
    """Element-wise maximum of its inputs."""


@register
class Minimum(_Elementwise):
    """Element-wise minimum of its inputs."""


@register
class Concatenate(LayerArgs):
    """Joins its inputs along `axis`; the other dimensions must match."""

    macs = zero_macs  # no multiply-accumulates

    call_style: ClassVar = "list"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 1000
    axis: Int = -1

    def output_shape(self, shapes: list[Shape]) -> Shape:
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(
                "Concatenate needs inputs of the same rank, got " + ", ".join(format_shape(s) for s in shapes)
            )
        (axis,) = axes_of(shapes[0], self.axis)
        out: list[int | None] = []
        for i, dims in enumerate(zip(*shapes)):
            if i == axis:
                out.append(None if any(d is None for d in dims) else sum(dims))  # type: ignore[arg-type]
                continue
            concrete = {d for d in dims if d is not None}
            if len(concrete) > 1:
                raise ShapeError(
                    f"Concatenate on axis {self.axis} needs the other dimensions to match, got "
                    + ", ".join(format_shape(s) for s in shapes)
                )
            out.append(concrete.pop() if concrete else None)
        return tuple(out)


def _dot_axes(v: Any) -> tuple[int, int]:
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if (
        isinstance(v, (list, tuple))
        and len(v) == 2
        and all(isinstance(a, int) and not isinstance(a, bool) for a in v)
    ):
        return (v[0], v[1])
    raise ValueError(f"must be an axis or a list of two axes (one per input), got {v!r}")


DotAxes = Annotated[
    tuple[int, int],
    PlainValidator(_dot_axes),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer"},
                {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
            ]
        }
    ),
]


@register
class Dot(LayerArgs):
    """Dot product of two inputs along `axes` (with normalize: true, the cosine similarity)."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """One multiply-accumulate per output element and per element of the contracted axis."""
        a = shapes[0]
        axis = a[self.axes[0] % len(a)]
        return None if axis is None else per_sample(output) * axis

    call_style: ClassVar = "list"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2
    axes: DotAxes
    normalize: Bool = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        a, b = (list(s) for s in shapes)
        if len(a) < 2 or len(b) < 2:
            raise ShapeError("Dot needs inputs of rank >= 2 (batch included)")
        axes = [self.axes[0] % len(a), self.axes[1] % len(b)]
        if 0 in axes or not (-len(a) <= self.axes[0] < len(a) and -len(b) <= self.axes[1] < len(b)):
            raise ShapeError(f"axes {list(self.axes)} must name non-batch axes of both inputs")
        if a[axes[0]] != b[axes[1]]:  # Keras compares them as given: an unknown length against 2 fails
            raise ShapeError(
                f"axis {axes[0]} of the first input ({a[axes[0]]}) and axis {axes[1]} of the "
                f"second ({b[axes[1]]}) must have the same size"
            )
        a.pop(axes[0])
        b.pop(axes[1])
        out = a + b[1:]
        return tuple(out + [1] if len(out) == 1 else out)
