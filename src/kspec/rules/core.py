"""Core layers: Dense, Embedding, activations, dropout and noise, and other weight-free layers."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import model_validator

from kspec.rules.registry import LayerArgs, Shape, ShapeError, expect_rank, known, register
from kspec.rules.spatial import DataFormat
from kspec.spec.types import Activation as ActivationName
from kspec.spec.types import (
    Axes,
    Bool,
    Constraint,
    Initializer,
    Int,
    NonNegativeNumber,
    Number,
    Numbers,
    PositiveInt,
    Rate,
    Regularizer,
)


def _lora(fan_in: int, fan_out: int, rank: int | None, frozen: int) -> tuple[int, int]:
    """LoRA freezes the full kernel and trains two low-rank factors: (trainable, frozen) weights."""
    if rank is None:
        return frozen, 0
    return rank * (fan_in + fan_out), frozen


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
    lora_alpha: Number | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) < 2:
            raise ShapeError(f"expects an input of rank >= 2 (batch included), got {x}")
        return x[:-1] + (self.units,)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        fan_in = known(shapes[0][-1], "last input dimension")
        learn, fixed = _lora(fan_in, self.units, self.lora_rank, fan_in * self.units)
        return learn + (self.units if self.use_bias else 0), fixed


@register
class Embedding(LayerArgs):
    """Maps integer ids in [0, input_dim) to learned vectors of size `output_dim`."""

    input_dim: PositiveInt
    output_dim: PositiveInt
    embeddings_initializer: Initializer = "uniform"
    embeddings_regularizer: Regularizer = None
    embeddings_constraint: Constraint = None
    mask_zero: Bool = False
    lora_rank: PositiveInt | None = None
    lora_alpha: Number | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return (*shapes[0], self.output_dim)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        return _lora(self.input_dim, self.output_dim, self.lora_rank, self.input_dim * self.output_dim)


@register
class Activation(LayerArgs):
    """Applies an activation function element-wise."""

    activation: ActivationName


@register
class ReLU(LayerArgs):
    """Rectified linear unit, optionally capped at `max_value` and leaky below `threshold`."""

    max_value: NonNegativeNumber | None = None
    negative_slope: NonNegativeNumber = 0.0
    threshold: NonNegativeNumber = 0.0


@register
class LeakyReLU(LayerArgs):
    """ReLU that lets a small `negative_slope` through for negative inputs."""

    negative_slope: NonNegativeNumber = 0.3


@register
class ELU(LayerArgs):
    """Exponential linear unit: `alpha * (exp(x) - 1)` for negative inputs."""

    alpha: Number = 1.0


@register
class Softmax(LayerArgs):
    """Softmax along `axis`: the values become probabilities that sum to 1."""

    axis: Axes = (-1,)


@register
class PReLU(LayerArgs):
    """Leaky ReLU whose negative slope is learned, per value (or shared along `shared_axes`)."""

    alpha_initializer: Initializer = "Zeros"
    alpha_regularizer: Regularizer = None
    alpha_constraint: Constraint = None
    shared_axes: Axes | None = None

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        x = shapes[0]
        dims = list(x[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(x):
                raise ShapeError(f"shared_axes entry {axis} is not a non-batch axis of a rank-{len(x)} input")
            dims[axis - 1] = 1
        return math.prod(known(d, "dimension (or list it in shared_axes)") for d in dims), 0


@register
class Rescaling(LayerArgs):
    """Multiplies by `scale` and adds `offset` (e.g. scale: 0.00392 maps pixels to [0, 1])."""

    scale: Numbers
    offset: Numbers = 0.0


@register
class Dropout(LayerArgs):
    """Sets a fraction `rate` of inputs to zero while training; no weights."""

    rate: Rate
    noise_shape: list[int | None] | None = None
    seed: Int | None = None


class _SpatialDropout(LayerArgs):
    rank: ClassVar[int] = 3
    rate: Rate
    seed: Int | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_trainable(cls, data: Any) -> Any:
        if isinstance(data, dict) and "trainable" in data:
            raise ValueError(
                "trainable is not an argument of Keras's spatial dropout layers (they have no weights)"
            )
        return data

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return expect_rank(shapes[0], self.rank)


@register
class SpatialDropout1D(_SpatialDropout):
    """Drops whole feature channels of a sequence while training."""


@register
class SpatialDropout2D(_SpatialDropout):
    """Drops whole feature maps of an image while training."""

    rank: ClassVar[int] = 4
    data_format: DataFormat = None


@register
class SpatialDropout3D(_SpatialDropout):
    """Drops whole feature volumes while training."""

    rank: ClassVar[int] = 5
    data_format: DataFormat = None


@register
class GaussianNoise(LayerArgs):
    """Adds zero-mean Gaussian noise of `stddev` while training (a regularizer)."""

    stddev: NonNegativeNumber
    seed: Int | None = None


@register
class GaussianDropout(LayerArgs):
    """Multiplies inputs by 1-centred Gaussian noise while training."""

    rate: Rate
    seed: Int | None = None


@register
class AlphaDropout(LayerArgs):
    """Dropout that keeps the mean and variance of SELU activations."""

    rate: Rate
    noise_shape: list[int | None] | None = None
    seed: Int | None = None


@register
class ActivityRegularization(LayerArgs):
    """Passes its input through and adds an L1/L2 penalty on it to the loss."""

    l1: NonNegativeNumber = 0.0
    l2: NonNegativeNumber = 0.0


@register
class Masking(LayerArgs):
    """Marks time steps whose features all equal `mask_value` as padding for later layers."""

    mask_value: Number = 0.0


@register
class Identity(LayerArgs):
    """Passes its input through unchanged."""
