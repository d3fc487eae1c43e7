"""Convolution layers."""

from __future__ import annotations

from typing import ClassVar, Literal

from kspec.rules.registry import LayerArgs, Shape, ShapeError, expect_rank, known, register
from kspec.spec.types import Activation, Bool, Constraint, Initializer, PositiveInt, Regularizer, int_tuple


def conv_length(size: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Keras's output length along one spatial axis."""
    if size is None:
        return None
    if padding == "same" or padding == "causal":
        return -(-size // stride)
    span = dilation * (kernel - 1) + 1
    if size < span:
        raise ShapeError(
            f"kernel of extent {span} is larger than the input ({size}) with padding 'valid'"
        )
    return (size - span) // stride + 1


class _Conv(LayerArgs):
    rank: ClassVar[int] = 2
    filters: PositiveInt
    padding: Literal["valid", "same"] = "valid"
    data_format: Literal["channels_last", "channels_first"] | None = None
    groups: PositiveInt = 1
    activation: Activation = None
    use_bias: Bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None

    def _channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def _split(self, x: Shape) -> tuple[list[int | None], int | None]:
        expect_rank(x, self.rank + 2)
        if self._channels_first():
            return list(x[2:]), x[1]
        return list(x[1:-1]), x[-1]

    def _join(self, batch: int | None, spatial: list[int | None], channels: int | None) -> Shape:
        if self._channels_first():
            return (batch, channels, *spatial)
        return (batch, *spatial, channels)

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        spatial, _ = self._split(x)
        k, s, d = self.kernel_size, self.strides, self.dilation_rate  # type: ignore[attr-defined]
        out = [conv_length(n, k[i], s[i], self.padding, d[i]) for i, n in enumerate(spatial)]
        return self._join(x[0], out, self.filters)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, c = self._split(shapes[0])
        c = known(c, "channel dimension")
        if c % self.groups or self.filters % self.groups:
            raise ShapeError(f"channels ({c}) and filters ({self.filters}) must be divisible by groups ({self.groups})")
        kernel = 1
        for k in self.kernel_size:  # type: ignore[attr-defined]
            kernel *= k
        return kernel * (c // self.groups) * self.filters + (self.filters if self.use_bias else 0), 0


@register
class Conv2D(_Conv):
    """2D convolution: `filters` kernels of `kernel_size` slide over height and width."""

    rank: ClassVar[int] = 2
    kernel_size: int_tuple(2)  # type: ignore[valid-type]
    strides: int_tuple(2) = (1, 1)  # type: ignore[valid-type]
    dilation_rate: int_tuple(2) = (1, 1)  # type: ignore[valid-type]
