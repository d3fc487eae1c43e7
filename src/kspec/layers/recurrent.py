"""Recurrent layers (SimpleRNN, LSTM, GRU) and the wrappers Bidirectional and TimeDistributed."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import PlainValidator, WithJsonSchema, model_validator

from kspec.layers.registry import (
    LayerArgs,
    Shape,
    ShapeError,
    check_mask,
    expect_rank,
    format_shape,
    known,
    nested_layer,
    register,
)
from kspec.schema.types import (
    Activation,
    Bool,
    Constraint,
    Initializer,
    Int,
    Number,
    PositiveInt,
    Regularizer,
)


def _no_stateful(v: Any) -> bool:
    if v is True:
        raise ValueError("stateful is not supported: kspec inputs have no fixed batch size")
    if v is not False:
        raise ValueError(f"must be false, got {v!r}")
    return False


Stateful = Annotated[bool, PlainValidator(_no_stateful), WithJsonSchema({"const": False})]


#: An RNN's call: `layer(sequences, initial_state=[...], mask=m)`.
RNN_CALL_TENSORS = ("sequences", "initial_state", "mask")


def check_rnn_keywords(
    sequences: Shape, keywords: dict[str, list[Shape]], states: list[Shape], what: str = "initial_state"
) -> None:
    """`initial_state` must be one tensor per state, each of the state's shape; `mask` is
    (batch, time)."""
    given = keywords.get("initial_state")
    if given is not None:
        if len(given) != len(states):
            raise ShapeError(f"{what} takes {len(states)} tensor(s) (the layer's states), got {len(given)}")
        for k, (got, want) in enumerate(zip(given, states)):
            if len(got) != len(want) or any(
                g is not None and w is not None and g != w for g, w in zip(got[1:], want[1:])
            ):
                raise ShapeError(f"{what}[{k}] needs shape {format_shape(want)}, got {format_shape(got)}")
    for mask in keywords.get("mask", []):
        check_mask(mask, sequences[:2] + (None,))


class _RNN(LayerArgs):
    call_tensors: ClassVar[tuple[str, ...]] = RNN_CALL_TENSORS
    list_tensors: ClassVar[frozenset[str]] = frozenset({"initial_state"})

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        b = shapes[0][0]
        check_rnn_keywords(shapes[0], keywords, [(b, self.units)] * self.states)

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Every step applies all gate weights (input and recurrent kernels, biases) once."""
        steps, features = shapes[0][1], shapes[0][-1]
        if steps is None or features is None:
            return None
        return steps * (self.gates * self.units * (features + self.units) + self._bias())

    #: weight matrices per unit: 1 (SimpleRNN), 4 gates (LSTM), 3 gates (GRU)
    gates: ClassVar[int] = 1
    units: PositiveInt
    activation: Activation = "tanh"
    use_bias: Bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    recurrent_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    recurrent_constraint: Constraint = None
    bias_constraint: Constraint = None
    dropout: Number = 0.0  # Keras clips the RNN dropouts into [0, 1]
    recurrent_dropout: Number = 0.0
    seed: Int | None = None
    return_sequences: Bool = False
    #: true: the layer returns [output, *states] (`NAME:1`, `NAME:2` in the spec)
    return_state: Bool = False
    go_backwards: Bool = False
    stateful: Stateful = False
    unroll: Bool = False
    zero_output_for_mask: Bool = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        b, t, _ = expect_rank(shapes[0], 3, "(batch, time, features) input")
        return (b, t, self.units) if self.return_sequences else (b, self.units)

    def output_shapes(self, shapes: list[Shape]) -> list[Shape]:
        out = self.output_shape(shapes)
        if not self.return_state:
            return [out]
        return [out, *[(out[0], self.units)] * self.states]

    #: state tensors `return_state` adds: LSTM has h and c
    states: ClassVar[int] = 1

    def _bias(self) -> int:
        return self.gates * self.units if self.use_bias else 0

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        features = known(expect_rank(shapes[0], 3, "(batch, time, features) input")[2], "feature dimension")
        return self.gates * self.units * (features + self.units) + self._bias(), 0


@register
class SimpleRNN(_RNN):
    """Fully connected recurrent layer: the output feeds back as the next step's state."""


@register
class LSTM(_RNN):
    """Long short-term memory: a recurrent layer with input, forget and output gates."""

    gates: ClassVar[int] = 4
    states: ClassVar[int] = 2
    recurrent_activation: Activation = "sigmoid"
    unit_forget_bias: Bool = True
    use_cudnn: Bool | Literal["auto"] = "auto"


@register
class GRU(_RNN):
    """Gated recurrent unit: a recurrent layer with update and reset gates."""

    gates: ClassVar[int] = 3
    recurrent_activation: Activation = "sigmoid"
    reset_after: Bool = True
    use_cudnn: Bool | Literal["auto"] = "auto"

    def _bias(self) -> int:
        # reset_after keeps separate input and recurrent biases
        return super()._bias() * (2 if self.reset_after else 1)


_RNN_TYPES = frozenset({"SimpleRNN", "LSTM", "GRU"})


@register
class Bidirectional(LayerArgs):
    """Runs a recurrent `layer` forwards and a copy backwards, and merges both outputs (`merge_mode`).

    `merge_mode: null` returns both directions as two outputs, `NAME` and `NAME:1`; with
    `return_state: true` on the inner layer the states follow, the forward layer's first."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """The forward and the backward layer, each over the whole sequence."""
        fwd = self.layer.macs(shapes, self.layer.output_shape(shapes))
        back_layer = self.backward_layer or self.layer
        back = back_layer.macs(shapes, back_layer.output_shape(shapes))
        return None if fwd is None or back is None else fwd + back

    call_tensors: ClassVar[tuple[str, ...]] = RNN_CALL_TENSORS
    list_tensors: ClassVar[frozenset[str]] = frozenset({"initial_state"})

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        """`initial_state`: the forward layer's states, then the backward layer's (Keras halves it)."""
        b = shapes[0][0]
        units = [self.layer.units, (self.backward_layer or self.layer).units]
        states: list[Shape] = [(b, u) for u in units for _ in range(self.layer.states)]
        check_rnn_keywords(shapes[0], keywords, states)

    layer: nested_layer(_RNN_TYPES)  # type: ignore[valid-type]
    merge_mode: Literal["concat", "sum", "ave", "mul"] | None = "concat"
    backward_layer: nested_layer(_RNN_TYPES) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _check(self) -> Bidirectional:
        back = self.backward_layer
        if back is not None and back.return_state != self.layer.return_state:
            raise ValueError("backward_layer needs the same return_state as layer")
        if back is None and self.layer.go_backwards:
            raise ValueError(
                "layer needs go_backwards: false without a backward_layer "
                "(Keras makes the backward copy with go_backwards: true)"
            )
        if back is not None:
            fwd = self.layer
            if back.go_backwards == fwd.go_backwards:
                raise ValueError("backward_layer needs a go_backwards value different from layer's")
            if back.return_sequences != fwd.return_sequences:
                raise ValueError("backward_layer needs the same return_sequences as layer")
            if back.units != fwd.units:
                raise ValueError(
                    f"backward_layer needs the same units as layer ({fwd.units}), got {back.units}"
                )
        return self

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return self.output_shapes(shapes)[0]

    def output_shapes(self, shapes: list[Shape]) -> list[Shape]:
        """Keras's order: the merged output (`merge_mode: null`: forward, then backward), then
        with `return_state` the forward layer's states, then the backward layer's."""
        out, *states = self.layer.output_shapes(shapes)
        if self.merge_mode is None:
            merged = [out, out]
        elif self.merge_mode == "concat":
            merged = [(*out[:-1], out[-1] * 2)]
        else:
            merged = [out]
        return [*merged, *states, *states]

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        fwd = self.layer.param_counts(shapes)
        back = (self.backward_layer or self.layer).param_counts(shapes)
        return fwd[0] + back[0], fwd[1] + back[1]


@register
class TimeDistributed(LayerArgs):
    """Applies `layer` to every time step (axis 1) of its input separately, with shared weights."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """The wrapped layer's MACs for one time step, times the number of steps."""
        inner = self._inner(shapes)
        one = self.layer.macs(inner, self.layer.output_shape(inner))
        steps = shapes[0][1]
        return None if one is None or steps is None else one * steps

    layer: nested_layer()  # type: ignore[valid-type]
    call_tensors: ClassVar[tuple[str, ...]] = ("inputs", "mask")

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        for mask in keywords.get("mask", []):
            check_mask(mask, shapes[0][:2] + (None,))  # one flag per time step

    @model_validator(mode="after")
    def _check(self) -> TimeDistributed:
        if self.layer.max_inputs != 1:
            raise ValueError(f"layer must take one input; {self.layer.keras_type} takes several")
        return self

    def _inner(self, shapes: list[Shape]) -> list[Shape]:
        x = shapes[0]
        if len(x) < 3:
            raise ShapeError(f"expects an input of rank >= 3 (batch, time, ...), got rank {len(x)}")
        return [(x[0], *x[2:])]

    def output_shape(self, shapes: list[Shape]) -> Shape:
        out = self.layer.output_shape(self._inner(shapes))
        return (out[0], shapes[0][1], *out[1:])

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        return self.layer.param_counts(self._inner(shapes))
