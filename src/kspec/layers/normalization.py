"""Normalization layers: batch, layer, group and unit normalization."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from kspec.layers.registry import (
    LayerArgs,
    Shape,
    ShapeError,
    axes_of,
    check_mask,
    known,
    per_sample,
    register,
)
from kspec.schema.types import Axes, Bool, Constraint, Initializer, Int, Number, Regularizer


def _axis(x: Shape, axis: int) -> int:
    if not -len(x) <= axis < len(x) or axis % len(x) == 0:
        raise ShapeError(f"axis {axis} is not a non-batch axis of a rank-{len(x)} input")
    return axis % len(x)


@register
class BatchNormalization(LayerArgs):
    """Normalizes each channel over the batch; gamma/beta learn, moving mean/variance never train.
    With `mask` (the input's positions), training statistics use the unmasked positions only."""

    call_tensors: ClassVar[tuple[str, ...]] = ("inputs", "mask")

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        for mask in keywords.get("mask", []):
            check_mask(mask, shapes[0])

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Inference folds the statistics into one multiply-add per element, plus gamma and beta."""
        return per_sample(output) * max(1, int(self.center) + int(self.scale))

    axis: Int = -1
    momentum: Number = 0.99
    epsilon: Number = 0.001
    center: Bool = True
    scale: Bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    moving_mean_initializer: Initializer = "zeros"
    moving_variance_initializer: Initializer = "ones"
    beta_regularizer: Regularizer = None
    gamma_regularizer: Regularizer = None
    beta_constraint: Constraint = None
    gamma_constraint: Constraint = None
    renorm: Bool = False
    renorm_clipping: dict[str, Any] | None = None
    renorm_momentum: Number = 0.99
    synchronized: Bool = False

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        x = shapes[0]
        c = known(x[_axis(x, self.axis)], "channel dimension")
        # renorm adds a moving stddev and the renorm mean and stddev, none of them trained
        return c * (int(self.center) + int(self.scale)), (5 if self.renorm else 2) * c


@register
class LayerNormalization(LayerArgs):
    """Normalizes each example over `axis` (the features), then scales by gamma and shifts by beta."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Mean and variance (one multiply-accumulate per element each), plus gamma and beta."""
        return per_sample(output) * (2 + int(self.center) + int(self.scale))

    axis: Axes = (-1,)
    epsilon: Number = 0.001
    center: Bool = True
    scale: Bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    beta_regularizer: Regularizer = None
    gamma_regularizer: Regularizer = None
    beta_constraint: Constraint = None
    gamma_constraint: Constraint = None
    #: deprecated by Keras (use RMSNormalization), still written in every config: gamma only
    rms_scaling: Bool = False

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        x = shapes[0]
        gamma = self.scale or self.rms_scaling
        beta = self.center and not self.rms_scaling
        axes = axes_of(x, self.axis, batch=not (gamma or beta))
        if self.epsilon == 0 and all(x[a] == 1 for a in axes):
            raise ShapeError(
                "epsilon 0 over normalized axes of length 1: their variance is always 0 and "
                "Keras divides 0 by 0 (NaN); give epsilon above 0"
            )
        if not (gamma or beta):
            # No weights: Keras normalizes over any axes, the batch axis and unknown lengths too.
            axes_of(x, self.axis, batch=True)
            return 0, 0
        size = math.prod(known(x[a], "normalized dimension") for a in axes_of(x, self.axis))
        return size * (int(gamma) + int(beta)), 0


@register
class GroupNormalization(LayerArgs):
    """Normalizes channels in `groups` groups per example (groups: -1 is instance normalization)."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Mean and variance (one multiply-accumulate per element each), plus gamma and beta."""
        return per_sample(output) * (2 + int(self.center) + int(self.scale))

    groups: Int = 32
    axis: Int = -1
    epsilon: Number = 0.001
    center: Bool = True
    scale: Bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    beta_regularizer: Regularizer = None
    gamma_regularizer: Regularizer = None
    beta_constraint: Constraint = None
    gamma_constraint: Constraint = None

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        x = shapes[0]
        c = known(x[_axis(x, self.axis)], "channel dimension")
        groups = c if self.groups == -1 else self.groups
        if groups <= 0 or groups > c or c % groups:
            raise ShapeError(f"{c} channels cannot be split into groups={self.groups} groups of equal size")
        rest = [d for i, d in enumerate(x[1:], 1) if i != _axis(x, self.axis)]
        if self.epsilon == 0 and c // groups == 1 and all(d == 1 for d in rest):
            raise ShapeError(
                "epsilon 0 over groups of one value each: their variance is always 0 and Keras "
                "divides 0 by 0 (NaN); give epsilon above 0"
            )
        return c * (int(self.center) + int(self.scale)), 0


@register
class UnitNormalization(LayerArgs):
    """Scales each example to unit L2 norm along `axis`."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """The squared norm (one multiply-accumulate per element), then one multiply per element."""
        return 2 * per_sample(output)

    axis: Axes = (-1,)

    def output_shape(self, shapes: list[Shape]) -> Shape:
        axes_of(shapes[0], self.axis, batch=True)
        return shapes[0]
