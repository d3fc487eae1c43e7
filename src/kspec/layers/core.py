"""Core layers: Dense, Embedding, activations, dropout and noise, and other weight-free layers."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, ClassVar

from pydantic import Field, PlainValidator, WithJsonSchema, model_validator

from kspec.layers.registry import (
    LayerArgs,
    Shape,
    ShapeError,
    axes_of,
    expect_rank,
    known,
    per_sample,
    register,
    zero_macs,
)
from kspec.layers.spatial import DataFormat
from kspec.schema.types import Activation as ActivationName
from kspec.schema.types import (
    Axes,
    Bool,
    Constraint,
    Fraction,
    Initializer,
    Int,
    NonNegativeNumber,
    Number,
    Numbers,
    PositiveInt,
    Rate,
    Regularizer,
    Str,
)


def _no_quantization(v: Any) -> None:
    if v is not None:
        raise ValueError(
            "quantization_config is not supported: kspec builds float models (quantize the built model), "
            f"got {v!r}"
        )
    return None


#: Keras 3.14+ writes `quantization_config: null` in every Dense/EinsumDense/Embedding config.
NoQuantization = Annotated[None, PlainValidator(_no_quantization), WithJsonSchema({"type": "null"})]


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
    quantization_config: NoQuantization = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if len(x) < 2:
            raise ShapeError(f"expects an input of rank >= 2 (batch included), got {x}")
        return x[:-1] + (self.units,)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        fan_in = known(shapes[0][-1], "last input dimension")
        learn, fixed = _lora(fan_in, self.units, self.lora_rank, fan_in * self.units)
        return learn + (self.units if self.use_bias else 0), fixed

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """in x units per position (every axis but the last), plus the bias per output."""
        fan_in = shapes[0][-1]
        if fan_in is None:
            return None
        positions = per_sample(output) // self.units
        return positions * (fan_in * self.units + (self.units if self.use_bias else 0))


@register
class Embedding(LayerArgs):
    """Maps integer ids in [0, input_dim) to learned vectors of size `output_dim`."""

    macs = zero_macs  # no multiply-accumulates

    input_dim: PositiveInt
    output_dim: PositiveInt
    embeddings_initializer: Initializer = "uniform"
    embeddings_regularizer: Regularizer = None
    embeddings_constraint: Constraint = None
    activity_regularizer: Regularizer = None
    mask_zero: Bool = False
    lora_rank: PositiveInt | None = None
    lora_alpha: Number | None = None
    quantization_config: NoQuantization = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return (*shapes[0], self.output_dim)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        return _lora(self.input_dim, self.output_dim, self.lora_rank, self.input_dim * self.output_dim)


@register
class Activation(LayerArgs):
    """Applies an activation function element-wise."""

    macs = zero_macs  # no multiply-accumulates

    activation: ActivationName


@register
class ReLU(LayerArgs):
    """Rectified linear unit, optionally capped at `max_value` and leaky below `threshold`."""

    macs = zero_macs  # no multiply-accumulates

    max_value: NonNegativeNumber | None = None
    negative_slope: NonNegativeNumber = 0.0
    threshold: NonNegativeNumber = 0.0


@register
class LeakyReLU(LayerArgs):
    """ReLU that lets a small `negative_slope` through for negative inputs."""

    macs = zero_macs  # no multiply-accumulates

    negative_slope: NonNegativeNumber = 0.3


@register
class ELU(LayerArgs):
    """Exponential linear unit: `alpha * (exp(x) - 1)` for negative inputs."""

    macs = zero_macs  # no multiply-accumulates

    alpha: Number = 1.0


@register
class Softmax(LayerArgs):
    """Softmax along `axis`: the values become probabilities that sum to 1 (`mask`: where false,
    a probability of about 0)."""

    macs = zero_macs  # no multiply-accumulates
    #: the mask broadcasts against the input (Keras adds a large negative number where it is false)
    call_tensors: ClassVar[tuple[str, ...]] = ("inputs", "mask")

    axis: Axes = (-1,)

    def output_shape(self, shapes: list[Shape]) -> Shape:
        axes_of(shapes[0], self.axis, batch=True)
        return shapes[0]


@register
class PReLU(LayerArgs):
    """Leaky ReLU whose negative slope is learned, per value (or shared along `shared_axes`)."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """One multiply-accumulate per element (the learned slope times the negative part)."""
        return per_sample(output)

    alpha_initializer: Initializer = "Zeros"
    alpha_regularizer: Regularizer = None
    alpha_constraint: Constraint = None
    shared_axes: Axes | None = None

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        x = shapes[0]
        dims = list(x[1:])
        for axis in self.shared_axes or ():
            # Keras sets `param_shape[axis - 1] = 1` (Python indexing, so -1 and 0 count from the end)
            if not -len(dims) <= axis - 1 < len(dims):
                raise ShapeError(f"shared_axes entry {axis} is not a non-batch axis of a rank-{len(x)} input")
            dims[axis - 1] = 1
        return math.prod(known(d, "dimension (or list it in shared_axes)") for d in dims), 0


@register
class Rescaling(LayerArgs):
    """Multiplies by `scale` and adds `offset` (e.g. scale: 0.00392 maps pixels to [0, 1])."""

    macs = zero_macs  # no multiply-accumulates

    scale: Numbers
    offset: Numbers = 0.0


@register
class Dropout(LayerArgs):
    """Sets a fraction `rate` of inputs to zero while training; no weights."""

    macs = zero_macs  # no multiply-accumulates

    rate: Fraction  # Keras takes 0 to 1, both included (rate 1 drops everything)
    noise_shape: list[int | None] | None = None
    seed: Int | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return _check_noise_shape(self.noise_shape, shapes[0], self.rate)


def _check_noise_shape(noise_shape: list[int | None] | None, x: Shape, rate: float) -> Shape:
    """A dropout mask's shape, as Keras makes it: entry i is the input's axis i (batch included)
    where it is None, and the mask then broadcasts against the input from the right, so each of
    its entries must be 1 or the length of the axis it meets. Keras ignores it at rate 0 (and
    TensorFlow's dropout at rate 1)."""
    if noise_shape is None or rate == 0 or rate == 1:
        return x
    if len(noise_shape) > len(x):
        raise ShapeError(
            f"noise_shape {noise_shape} has {len(noise_shape)} entries; the input has rank {len(x)} "
            "(batch included): give at most one per axis"
        )
    concrete = [x[i] if n is None else n for i, n in enumerate(noise_shape)]
    shift = len(x) - len(concrete)
    for k in range(1, len(concrete) + 1):
        m, d = concrete[-k], x[-k]
        if m is None and shift:  # an unknown length (the batch's) taken from another axis than it meets
            raise ShapeError(
                f"noise_shape {noise_shape} has {len(noise_shape)} entries for an input of rank {len(x)}: "
                f"entry {len(concrete) - k} takes the unknown length of axis {len(concrete) - k} "
                f"but meets axis {len(x) - k}; give one entry per axis"
            )
        if m is not None and m != 1 and d is not None and m != d:
            raise ShapeError(
                f"noise_shape {noise_shape} does not broadcast to the input's shape {list(x)}: "
                f"entry {len(concrete) - k} is {m} against an axis of length {d}"
            )
    return x


class _SpatialDropout(LayerArgs):
    macs = zero_macs  # no multiply-accumulates

    rank: ClassVar[int] = 3
    rate: Fraction  # Keras takes 0 to 1, both included (rate 1 drops everything)
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

    macs = zero_macs  # no multiply-accumulates

    stddev: Fraction  # Keras refuses a stddev outside [0, 1] when the layer is created
    seed: Int | None = None


@register
class GaussianDropout(LayerArgs):
    """Multiplies inputs by 1-centred Gaussian noise while training."""

    macs = zero_macs  # no multiply-accumulates

    rate: Rate  # below 1: Keras divides by 1 - rate when the layer runs
    seed: Int | None = None


@register
class AlphaDropout(LayerArgs):
    """Dropout that keeps the mean and variance of SELU activations."""

    macs = zero_macs  # no multiply-accumulates

    rate: Rate  # below 1: Keras divides by 1 - rate when the layer runs
    noise_shape: list[int | None] | None = None
    seed: Int | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return _check_noise_shape(self.noise_shape, shapes[0], self.rate)


@register
class ActivityRegularization(LayerArgs):
    """Passes its input through and adds an L1/L2 penalty on it to the loss."""

    macs = zero_macs  # no multiply-accumulates

    l1: NonNegativeNumber = 0.0
    l2: NonNegativeNumber = 0.0


@register
class Masking(LayerArgs):
    """Marks time steps whose features all equal `mask_value` as padding for later layers."""

    macs = zero_macs  # no multiply-accumulates

    mask_value: Number = 0.0


@register
class Identity(LayerArgs):
    """Passes its input through unchanged."""

    macs = zero_macs  # no multiply-accumulates


_EINSUM_FORMS = [  # Keras's three accepted forms, with "..." written as "0"
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), False),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), True),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), False),
]


def _einsum_form(equation: str) -> tuple[str, str, str, bool] | None:
    for pattern, left_elided in _EINSUM_FORMS:
        m = pattern.fullmatch(equation.replace("...", "0"))
        if m:
            return m.group(1), m.group(2), m.group(3), left_elided
    return None


def _einsum_equation(v: Any) -> str:
    if not isinstance(v, str) or _einsum_form(v) is None:
        raise ValueError(
            f"must be an einsum equation like 'ab,bc->ac', '...b,bc->...c' or 'ab...,bc->ac...', got {v!r}"
        )
    return v


def _partial_shape(v: Any) -> tuple[int | None, ...]:
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return (v,)
    if isinstance(v, (list, tuple)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in v
    ):
        return tuple(v)
    raise ValueError(f"must be a positive integer or a list of positive integers or nulls, got {v!r}")


EinsumEquation = Annotated[str, PlainValidator(_einsum_equation), WithJsonSchema({"type": "string"})]
PartialShape = Annotated[
    tuple[int | None, ...],
    PlainValidator(_partial_shape),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}},
            ]
        }
    ),
]


def einsum_shapes(
    equation: str, bias_axes: str | None, x: Shape, partial: tuple[int | None, ...]
) -> tuple[list[int | None], list[int | None], list[int] | None]:
    """(output shape, kernel shape, bias shape) exactly as Keras's `_analyze_einsum_string` derives them."""
    form = _einsum_form(equation)
    assert form is not None  # validated with the arguments
    input_spec, weight_spec, output_spec, left = form
    elided = len(x) - len(input_spec)
    if "..." not in equation and elided != 0:
        # Keras's analysis lets it through, then ops.einsum fails on the first batch
        raise ShapeError(
            f"equation {equation!r} names {len(input_spec)} input axes (batch included) but the input "
            f"has rank {len(x)}; use '...' for the axes it leaves out"
        )
    out: list[int | None] = [x[0], *partial]
    if elided > 0 and left:
        for i in range(1, elided):
            out.insert(1, x[i])
    elif elided > 0:
        out.extend(x[len(x) - elided :])
    if left:
        in_map = {d: i + elided - len(x) for i, d in enumerate(input_spec)}
        out_map = {d: i + elided for i, d in enumerate(output_spec)}
    else:
        in_map = {d: i for i, d in enumerate(input_spec)}
        out_map = {d: i for i, d in enumerate(output_spec)}
    if len(out) != len(output_spec) + max(elided, 0) or elided < 0:
        raise ShapeError(
            f"equation {equation!r} and output_shape {list(partial)} do not fit an input of rank {len(x)}"
        )
    for d in input_spec:
        if d in out_map and out[out_map[d]] is not None and out[out_map[d]] != x[in_map[d]]:
            raise ShapeError(
                f"input and output_shape disagree on dimension {d!r}: {x[in_map[d]]} vs {out[out_map[d]]}"
            )
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise ShapeError(f"output dimension {d!r} is in neither the input nor the weight spec")
    kernel: list[int | None] = []
    for d in weight_spec:
        if d in out_map:
            kernel.append(out[out_map[d]])
        elif d in in_map:
            kernel.append(x[in_map[d]])
        else:
            raise ShapeError(f"weight dimension {d!r} is in neither the input nor the output spec")
    bias: list[int] | None = None
    if bias_axes is not None:
        offset = elided if left else 0
        for d in bias_axes:
            if d not in output_spec:
                raise ShapeError(f"bias axis {d!r} is not in the output spec {output_spec!r}")
        first = min(output_spec.find(d) for d in bias_axes)
        bias = [
            known(out[output_spec.find(d) + offset], f"output dimension {d!r}") if d in bias_axes else 1
            for d in output_spec[first:]
        ]
    return out, kernel, bias


@register
class EinsumDense(LayerArgs):
    """A dense layer written as an einsum `equation` ("abc,cd->abd"): projects any axes to `output_shape`."""

    equation: EinsumEquation
    # `output_shape` is the method every rule has, so the argument is stored under another name
    output_shape_: PartialShape = Field(alias="output_shape")
    activation: ActivationName = None
    bias_axes: Str | None = None
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None
    lora_rank: PositiveInt | None = None
    lora_alpha: Number | None = None
    quantization_config: NoQuantization = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return tuple(einsum_shapes(self.equation, self.bias_axes, shapes[0], self.output_shape_)[0])

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, kernel, bias = einsum_shapes(self.equation, self.bias_axes, shapes[0], self.output_shape_)
        dims = [known(d, "kernel dimension") for d in kernel]
        full = math.prod(dims)
        if self.lora_rank is None:
            learn, fixed = full, 0
        else:
            learn, fixed = self.lora_rank * (math.prod(dims[:-1]) + dims[-1]), full
        return learn + (math.prod(bias) if bias else 0), fixed

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """The product of every index's size in the equation (batch left out), plus the bias per output."""
        inputs, _, out = self.equation.partition("->")
        x_idx, _, k_idx = inputs.partition(",")
        if "." in self.equation:
            return None  # broadcast axes: no rule
        _, kernel, bias = einsum_shapes(self.equation, self.bias_axes, shapes[0], self.output_shape_)
        sizes: dict[str, int | None] = {}
        for letters, dims in ((x_idx, shapes[0]), (k_idx, kernel), (out, output)):
            for letter, dim in zip(letters, dims):
                sizes.setdefault(letter, dim)
        batch = x_idx[0] if x_idx and x_idx[0] in out and x_idx[0] not in k_idx else None
        dims = [d for letter, d in sizes.items() if letter != batch]
        if any(d is None for d in dims):
            return None
        return math.prod(dims) + (per_sample(output) if bias else 0)  # type: ignore[arg-type]
