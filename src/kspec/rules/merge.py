"""Merge layers: take a list of inputs and combine them into one."""

from __future__ import annotations

from typing import ClassVar

from kspec.rules.registry import LayerArgs, Shape, ShapeError, format_shape, register
from kspec.spec.types import Int


def _broadcast(shapes: list[Shape], layer: str) -> Shape:
    """Keras's elementwise merges broadcast like NumPy (batch dimension included)."""
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    padded = [(None,) * 0 + tuple([1] * (rank - len(s))) + tuple(s) for s in shapes]
    for dims in zip(*padded):
        concrete = {d for d in dims if d is not None and d != 1}
        if len(concrete) > 1:
            raise ShapeError(
                f"{layer} needs inputs of the same shape, got "
                + ", ".join(format_shape(s) for s in shapes)
            )
        if concrete:
            out.append(concrete.pop())
        elif all(d == 1 for d in dims):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)


class _Elementwise(LayerArgs):
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

    call_style: ClassVar = "list"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 1000
    axis: Int = -1

    def output_shape(self, shapes: list[Shape]) -> Shape:
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError(
                "Concatenate needs inputs of the same rank, got "
                + ", ".join(format_shape(s) for s in shapes)
            )
        axis = self.axis % rank
        if axis == 0:
            raise ShapeError("Concatenate cannot join along the batch axis")
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
