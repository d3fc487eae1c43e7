"""Normalization layers."""

from __future__ import annotations

from kspec.rules.registry import LayerArgs, Shape, known, register
from kspec.spec.types import Bool, Constraint, Initializer, Int, Number, Regularizer


@register
class BatchNormalization(LayerArgs):
    """Normalizes each channel over the batch; gamma/beta learn, moving mean/variance never train."""

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
    synchronized: Bool = False

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        x = shapes[0]
        c = known(x[self.axis % len(x)], "channel dimension")
        return c * (int(self.center) + int(self.scale)), 2 * c
