"""Convolutional LSTMs (ConvLSTM1D/2D/3D): an LSTM whose gates are convolutions over each frame."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import model_validator

from kspec.layers.conv import strides_or_dilation
from kspec.layers.recurrent import RNN_CALL_TENSORS, Stateful, check_rnn_keywords
from kspec.layers.registry import LayerArgs, Shape, ShapeError, known, register
from kspec.layers.spatial import DataFormat, window_length
from kspec.schema.types import (
    Activation,
    Bool,
    Constraint,
    Initializer,
    Int,
    Number,
    PositiveInt,
    Regularizer,
    int_tuple,
)


class _ConvLSTM(LayerArgs):
    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Each step convolves the input and the state for all 4 gates at every output position."""
        x = shapes[0]
        steps, channels = x[1], (x[2] if self.data_format == "channels_first" else x[-1])
        spatial = output[2:-1] if self.return_sequences else output[1:-1]
        if self.data_format == "channels_first":
            spatial = output[3:] if self.return_sequences else output[2:]
        if steps is None or channels is None or None in spatial:
            return None
        taps = math.prod(self.kernel_size)  # type: ignore[attr-defined]
        positions = math.prod(spatial)  # type: ignore[arg-type]
        per_step = 4 * self.filters * positions * (taps * (channels + self.filters) + int(self.use_bias))
        return steps * per_step

    rank: ClassVar[int] = 2
    call_tensors: ClassVar[tuple[str, ...]] = RNN_CALL_TENSORS
    list_tensors: ClassVar[frozenset[str]] = frozenset({"initial_state"})

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        state = self.output_shapes(shapes)[0]
        state = (state[0], *state[2:]) if self.return_sequences else state
        check_rnn_keywords(shapes[0], keywords, [state, state])

    filters: PositiveInt
    padding: Literal["valid", "same"] = "valid"
    data_format: DataFormat = None
    activation: Activation = "tanh"
    recurrent_activation: Activation = "sigmoid"
    use_bias: Bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    unit_forget_bias: Bool = True
    kernel_regularizer: Regularizer = None
    recurrent_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    recurrent_constraint: Constraint = None
    bias_constraint: Constraint = None
    dropout: Number = 0.0  # Keras clips the dropouts into [0, 1], as for LSTM
    recurrent_dropout: Number = 0.0
    seed: Int | None = None
    return_sequences: Bool = False
    #: true: the layer returns [output, h, c] (`NAME:1`, `NAME:2`), each state one frame
    return_state: Bool = False
    go_backwards: Bool = False
    stateful: Stateful = False
    unroll: Bool = False
    zero_output_for_mask: Bool = False

    @model_validator(mode="after")
    def _check_dilation(self) -> _ConvLSTM:
        return strides_or_dilation(self)  # type: ignore[return-value]  # Keras's conv rule, per gate

    def _split(self, x: Shape) -> tuple[int | None, int | None, list[int | None], int | None]:
        if len(x) != self.rank + 3:
            raise ShapeError(
                f"expects a rank-{self.rank + 3} (batch, time, {self.rank} spatial axes, channels) input, "
                f"got rank {len(x)}"
            )
        if self.data_format == "channels_first":
            return x[0], x[1], list(x[3:]), x[2]
        return x[0], x[1], list(x[2:-1]), x[-1]

    def output_shape(self, shapes: list[Shape]) -> Shape:
        b, t, spatial, _ = self._split(shapes[0])
        if None in spatial:  # the cell's state has the frame's shape: Keras builds it from the lengths
            raise ShapeError(f"needs known spatial lengths (the state has the frame's shape), got {spatial}")
        k, s, d = self.kernel_size, self.strides, self.dilation_rate  # type: ignore[attr-defined]
        out = [window_length(n, k[i], s[i], self.padding, d[i]) for i, n in enumerate(spatial)]
        frame = (self.filters, *out) if self.data_format == "channels_first" else (*out, self.filters)
        return (b, t, *frame) if self.return_sequences else (b, *frame)

    def output_shapes(self, shapes: list[Shape]) -> list[Shape]:
        out = self.output_shape(shapes)
        if not self.return_state:
            return [out]
        state = (out[0], *out[2:]) if self.return_sequences else out  # the last frame's h and c
        return [out, state, state]

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, _, _, c = self._split(shapes[0])
        c = known(c, "channel dimension")
        volume = math.prod(self.kernel_size)  # type: ignore[attr-defined]
        gates = 4 * self.filters
        return volume * c * gates + volume * self.filters * gates + (gates if self.use_bias else 0), 0


@register
class ConvLSTM1D(_ConvLSTM):
    """LSTM over a sequence of 1D signals, each gate a 1D convolution: (batch, time, steps, channels)."""

    rank: ClassVar[int] = 1
    kernel_size: int_tuple(1)  # type: ignore[valid-type]
    strides: int_tuple(1) = (1,)  # type: ignore[valid-type]
    dilation_rate: int_tuple(1) = (1,)  # type: ignore[valid-type]


@register
class ConvLSTM2D(_ConvLSTM):
    """LSTM over a sequence of images, each gate a 2D convolution: (batch, time, rows, cols, channels)."""

    kernel_size: int_tuple(2)  # type: ignore[valid-type]
    strides: int_tuple(2) = (1, 1)  # type: ignore[valid-type]
    dilation_rate: int_tuple(2) = (1, 1)  # type: ignore[valid-type]


@register
class ConvLSTM3D(_ConvLSTM):
    """LSTM over a sequence of volumes, each gate a 3D convolution."""

    rank: ClassVar[int] = 3
    kernel_size: int_tuple(3)  # type: ignore[valid-type]
    strides: int_tuple(3) = (1, 1, 1)  # type: ignore[valid-type]
    dilation_rate: int_tuple(3) = (1, 1, 1)  # type: ignore[valid-type]
