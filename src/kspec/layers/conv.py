"""Convolution layers: Conv, ConvTranspose, SeparableConv and DepthwiseConv in 1D/2D/3D."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import model_validator

from kspec.layers.registry import LayerArgs, Shape, ShapeError, alias, known, per_sample, register
from kspec.layers.spatial import DataFormat, join, split, transpose_length, window_length, window_taps
from kspec.schema.types import Activation, Bool, Constraint, Initializer, PositiveInt, Regularizer, int_tuple


def strides_or_dilation(layer: LayerArgs) -> LayerArgs:
    if max(layer.strides) > 1 and max(layer.dilation_rate) > 1:  # type: ignore[attr-defined]
        raise ValueError(
            "strides > 1 is not supported together with dilation_rate > 1, got "
            f"strides={list(layer.strides)} and dilation_rate={list(layer.dilation_rate)}"  # type: ignore[attr-defined]
        )
    return layer


class _Window(LayerArgs):
    """Arguments every convolution shares; subclasses add rank-sized `kernel_size`, `strides`..."""

    rank: ClassVar[int] = 2
    padding: Literal["valid", "same"] = "valid"
    data_format: DataFormat = None
    activation: Activation = None
    use_bias: Bool = True
    bias_initializer: Initializer = "zeros"
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    bias_constraint: Constraint = None

    #: Keras's Conv and ConvTranspose refuse strides > 1 with dilation_rate > 1; its depthwise
    #: and separable convolutions take them (the differential test checks both against Keras).
    strided_dilation: ClassVar[bool] = False

    @model_validator(mode="after")
    def _check_dilation(self) -> _Window:
        return self if self.strided_dilation else strides_or_dilation(self)  # type: ignore[return-value]

    def _kernel_volume(self) -> int:
        return math.prod(self.kernel_size)  # type: ignore[attr-defined]

    def _out_channels(self, channels: int | None) -> int | None:
        return self.filters  # type: ignore[attr-defined]

    def output_shape(self, shapes: list[Shape]) -> Shape:
        batch, spatial, channels = split(shapes[0], self.rank, self.data_format)
        k, s, d = self.kernel_size, self.strides, self.dilation_rate  # type: ignore[attr-defined]
        out = [window_length(n, k[i], s[i], self.padding, d[i]) for i, n in enumerate(spatial)]
        return join(batch, out, self._out_channels(channels), self.data_format)

    def _taps(self, shapes: list[Shape]) -> int | None:
        """(output position, kernel tap) pairs over all spatial axes that read real input."""
        _, spatial, _ = split(shapes[0], self.rank, self.data_format)
        if any(n is None for n in spatial):
            return None
        k, s, d = self.kernel_size, self.strides, self.dilation_rate  # type: ignore[attr-defined]
        taps = [window_taps(n, k[i], s[i], self.padding, d[i]) for i, n in enumerate(spatial)]  # type: ignore[arg-type]
        return math.prod(taps)

    def _bias_macs(self, output: Shape) -> int:
        return per_sample(output) if self.use_bias else 0


class _Conv(_Window):
    filters: PositiveInt
    groups: PositiveInt = 1
    kernel_initializer: Initializer = "glorot_uniform"
    kernel_regularizer: Regularizer = None
    kernel_constraint: Constraint = None

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, _, c = split(shapes[0], self.rank, self.data_format)
        c = known(c, "channel dimension")
        if c % self.groups or self.filters % self.groups:
            raise ShapeError(
                f"channels ({c}) and filters ({self.filters}) must be divisible by groups ({self.groups})"
            )
        bias = self.filters if self.use_bias else 0
        return self._kernel_volume() * (c // self.groups) * self.filters + bias, 0

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Each in-bounds kernel tap x input channels per group x filters, plus the bias per output."""
        taps = self._taps(shapes)
        _, _, c = split(shapes[0], self.rank, self.data_format)
        if taps is None or c is None:
            return None
        return taps * (c // self.groups) * self.filters + self._bias_macs(output)


@register
class Conv1D(_Conv):
    """1D convolution over a sequence: `filters` kernels of `kernel_size` steps slide along time."""

    rank: ClassVar[int] = 1
    padding: Literal["valid", "same", "causal"] = "valid"  # type: ignore[assignment]
    kernel_size: int_tuple(1)  # type: ignore[valid-type]
    strides: int_tuple(1) = (1,)  # type: ignore[valid-type]
    dilation_rate: int_tuple(1) = (1,)  # type: ignore[valid-type]


@register
class Conv2D(_Conv):
    """2D convolution: `filters` kernels of `kernel_size` slide over height and width."""

    rank: ClassVar[int] = 2
    kernel_size: int_tuple(2)  # type: ignore[valid-type]
    strides: int_tuple(2) = (1, 1)  # type: ignore[valid-type]
    dilation_rate: int_tuple(2) = (1, 1)  # type: ignore[valid-type]


@register
class Conv3D(_Conv):
    """3D convolution: `filters` kernels slide over depth, height and width."""

    rank: ClassVar[int] = 3
    kernel_size: int_tuple(3)  # type: ignore[valid-type]
    strides: int_tuple(3) = (1, 1, 1)  # type: ignore[valid-type]
    dilation_rate: int_tuple(3) = (1, 1, 1)  # type: ignore[valid-type]


class _ConvTranspose(_Window):
    filters: PositiveInt
    kernel_initializer: Initializer = "glorot_uniform"
    kernel_regularizer: Regularizer = None
    kernel_constraint: Constraint = None

    @model_validator(mode="after")
    def _check_output_padding(self) -> _ConvTranspose:
        op, strides = self.output_padding, self.strides  # type: ignore[attr-defined]
        if op is not None and any(p >= s for p, s in zip(op, strides)):
            raise ValueError(
                f"output_padding must be smaller than strides, got output_padding={list(op)} "
                f"and strides={list(strides)}"
            )
        return self

    def output_shape(self, shapes: list[Shape]) -> Shape:
        batch, spatial, _ = split(shapes[0], self.rank, self.data_format)
        k, s, d = self.kernel_size, self.strides, self.dilation_rate  # type: ignore[attr-defined]
        op = self.output_padding or (None,) * self.rank  # type: ignore[attr-defined]
        out = [transpose_length(n, k[i], s[i], self.padding, op[i], d[i]) for i, n in enumerate(spatial)]
        return join(batch, out, self.filters, self.data_format)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, _, c = split(shapes[0], self.rank, self.data_format)
        c = known(c, "channel dimension")
        return self._kernel_volume() * c * self.filters + (self.filters if self.use_bias else 0), 0

    def tensorflow_problem(self, shapes: list[Shape]) -> tuple[str, str] | None:
        """oneDNN has no primitive for an explicit output_padding of 0 with padding "same" and an
        even kernel along that axis ("could not create a primitive descriptor", whatever the
        strides): the output length would be (length - 1) * strides."""
        op, k = self.output_padding, self.kernel_size  # type: ignore[attr-defined]
        if self.padding != "same" or op is None:
            return None
        axes = [i for i, (p, n) in enumerate(zip(op, k)) if p == 0 and n % 2 == 0]
        if not axes:
            return None
        return "output_padding", (
            f"output_padding 0 with padding 'same' and an even kernel_size ({list(k)}) fails in "
            "TensorFlow's CPU kernel (oneDNN: 'could not create a primitive descriptor'); leave "
            "output_padding out (length x strides), use an odd kernel_size, or backend jax or torch"
        )

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Every input position scatters its channels through the whole kernel; plus the bias per output."""
        _, spatial, c = split(shapes[0], self.rank, self.data_format)
        if c is None or any(n is None for n in spatial):
            return None
        return math.prod(spatial) * self._kernel_volume() * c * self.filters + self._bias_macs(output)  # type: ignore[arg-type]


@register
class Conv1DTranspose(_ConvTranspose):
    """1D transposed convolution ("deconvolution"): upsamples a sequence by `strides`."""

    rank: ClassVar[int] = 1
    kernel_size: int_tuple(1)  # type: ignore[valid-type]
    strides: int_tuple(1) = (1,)  # type: ignore[valid-type]
    output_padding: int_tuple(1, minimum=0) | None = None  # type: ignore[valid-type]
    dilation_rate: int_tuple(1) = (1,)  # type: ignore[valid-type]


@register
class Conv2DTranspose(_ConvTranspose):
    """2D transposed convolution ("deconvolution"): upsamples height and width by `strides`."""

    rank: ClassVar[int] = 2
    kernel_size: int_tuple(2)  # type: ignore[valid-type]
    strides: int_tuple(2) = (1, 1)  # type: ignore[valid-type]
    output_padding: int_tuple(2, minimum=0) | None = None  # type: ignore[valid-type]
    dilation_rate: int_tuple(2) = (1, 1)  # type: ignore[valid-type]


@register
class Conv3DTranspose(_ConvTranspose):
    """3D transposed convolution ("deconvolution"): upsamples depth, height and width by `strides`."""

    rank: ClassVar[int] = 3
    kernel_size: int_tuple(3)  # type: ignore[valid-type]
    strides: int_tuple(3) = (1, 1, 1)  # type: ignore[valid-type]
    output_padding: int_tuple(3, minimum=0) | None = None  # type: ignore[valid-type]
    dilation_rate: int_tuple(3) = (1, 1, 1)  # type: ignore[valid-type]


class _Depthwise(_Window):
    strided_dilation: ClassVar[bool] = True
    depth_multiplier: PositiveInt = 1
    depthwise_initializer: Initializer = "glorot_uniform"
    depthwise_regularizer: Regularizer = None
    depthwise_constraint: Constraint = None

    def _depthwise(self, shapes: list[Shape]) -> int:
        _, _, c = split(shapes[0], self.rank, self.data_format)
        return self._kernel_volume() * known(c, "channel dimension") * self.depth_multiplier


class _SeparableConv(_Depthwise):
    filters: PositiveInt
    pointwise_initializer: Initializer = "glorot_uniform"
    pointwise_regularizer: Regularizer = None
    pointwise_constraint: Constraint = None

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, _, c = split(shapes[0], self.rank, self.data_format)
        pointwise = known(c, "channel dimension") * self.depth_multiplier * self.filters
        return self._depthwise(shapes) + pointwise + (self.filters if self.use_bias else 0), 0

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Depthwise taps x channels x multiplier, then a 1x1 convolution at every output position."""
        taps = self._taps(shapes)
        _, _, c = split(shapes[0], self.rank, self.data_format)
        if taps is None or c is None:
            return None
        positions = per_sample(output) // self.filters
        pointwise = positions * c * self.depth_multiplier * self.filters
        return taps * c * self.depth_multiplier + pointwise + self._bias_macs(output)


@register
class SeparableConv1D(_SeparableConv):
    """1D depthwise-separable convolution: a per-channel kernel, then a 1x1 convolution to `filters`."""

    rank: ClassVar[int] = 1
    kernel_size: int_tuple(1)  # type: ignore[valid-type]
    strides: int_tuple(1) = (1,)  # type: ignore[valid-type]
    dilation_rate: int_tuple(1) = (1,)  # type: ignore[valid-type]


@register
class SeparableConv2D(_SeparableConv):
    """2D depthwise-separable convolution: a per-channel kernel, then a 1x1 convolution to `filters`."""

    rank: ClassVar[int] = 2
    kernel_size: int_tuple(2)  # type: ignore[valid-type]
    strides: int_tuple(2) = (1, 1)  # type: ignore[valid-type]
    dilation_rate: int_tuple(2) = (1, 1)  # type: ignore[valid-type]


class _DepthwiseConv(_Depthwise):
    def _out_channels(self, channels: int | None) -> int | None:
        return None if channels is None else channels * self.depth_multiplier

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, _, c = split(shapes[0], self.rank, self.data_format)
        bias = known(c, "channel dimension") * self.depth_multiplier if self.use_bias else 0
        return self._depthwise(shapes) + bias, 0

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Each in-bounds kernel tap x channels x multiplier, plus the bias per output."""
        taps = self._taps(shapes)
        _, _, c = split(shapes[0], self.rank, self.data_format)
        if taps is None or c is None:
            return None
        return taps * c * self.depth_multiplier + self._bias_macs(output)


@register
class DepthwiseConv1D(_DepthwiseConv):
    """1D depthwise convolution: each channel gets its own `depth_multiplier` kernels."""

    rank: ClassVar[int] = 1
    kernel_size: int_tuple(1)  # type: ignore[valid-type]
    strides: int_tuple(1) = (1,)  # type: ignore[valid-type]
    dilation_rate: int_tuple(1) = (1,)  # type: ignore[valid-type]


@register
class DepthwiseConv2D(_DepthwiseConv):
    """2D depthwise convolution: each channel gets its own `depth_multiplier` kernels."""

    rank: ClassVar[int] = 2
    kernel_size: int_tuple(2)  # type: ignore[valid-type]
    strides: int_tuple(2) = (1, 1)  # type: ignore[valid-type]
    dilation_rate: int_tuple(2) = (1, 1)  # type: ignore[valid-type]


_ALIASES: list[tuple[str, type[LayerArgs]]] = [
    ("Convolution1D", Conv1D),
    ("Convolution2D", Conv2D),
    ("Convolution3D", Conv3D),
    ("Convolution1DTranspose", Conv1DTranspose),
    ("Convolution2DTranspose", Conv2DTranspose),
    ("Convolution3DTranspose", Conv3DTranspose),
    ("SeparableConvolution1D", SeparableConv1D),
    ("SeparableConvolution2D", SeparableConv2D),
]
for _name, _cls in _ALIASES:
    alias(_name, _cls)
