"""Core layers: Dense, Dropout, Activation, Flatten."""

from __future__ import annotations

import math

from kspec.rules.registry import LayerArgs, Shape, ShapeError, expect_rank, known, register
from kspec.spec.types import (
    Activation as ActivationName,
)
from kspec.spec.types import (
    Bool,
    Constraint,
    Initializer,
    Int,
    PositiveInt,
    Rate,
    Regularizer,
    Str,
)


@register
class Dense(LayerArgs):
    """Fully connected: `units` outputs, each a weighted sum of the last axis plus a bias."""

    units: PositiveInt
    activation: ActivationName = None
    use_bias: Bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None
    lora_rank: PositiveInt | None = None
    lora_alpha: float | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) < 2:
            raise ShapeError(f"expects an input of rank >= 2 (batch included), got {x}")
        return x[:-1] + (self.units,)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        fan_in = known(shapes[0][-1], "last input dimension")
        return fan_in * self.units + (self.units if self.use_bias else 0), 0


@register
class Dropout(LayerArgs):
    """Sets a fraction `rate` of inputs to zero while training; no weights."""

    rate: Rate
    noise_shape: list[int | None] | None = None
    seed: Int | None = None


@register
class Activation(LayerArgs):
    """Applies an activation function element-wise."""

    activation: ActivationName


@register
class Flatten(LayerArgs):
    """Flattens all non-batch dimensions into one."""

    data_format: Str | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        rest = x[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)  # type: ignore[arg-type]
        return (x[0], size)


@register
class Reshape(LayerArgs):
    """Reshapes to `target_shape` (without batch); one dimension may be -1."""

    target_shape: list[Int]

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        target = list(self.target_shape)
        if any(d == 0 or d < -1 for d in target) or target.count(-1) > 1:
            raise ShapeError(f"target_shape must be positive integers with at most one -1, got {target}")
        rest = x[1:]
        if any(d is None for d in rest):
            return (x[0], *[None if d == -1 else d for d in target])
        total = math.prod(rest)  # type: ignore[arg-type]
        known_part = math.prod(d for d in target if d != -1)
        if -1 in target:
            if total % known_part:
                raise ShapeError(f"cannot reshape {x[1:]} ({total} values) to {tuple(target)}")
            target[target.index(-1)] = total // known_part
        elif known_part != total:
            raise ShapeError(
                f"cannot reshape {tuple(x[1:])} ({total} values) to {tuple(target)} ({known_part} values)"
            )
        return (x[0], *target)


def _unused() -> None:  # keeps expect_rank imported for rule authors adding entries here
    expect_rank((None,), 1)
