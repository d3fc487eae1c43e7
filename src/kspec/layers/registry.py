"""The layer registry: one entry per Keras layer type kspec can check without Keras.

An entry is a pydantic model of the layer's constructor arguments (validation and JSON
Schema come from it) with two methods beside the arguments: the output-shape rule and the
parameter formula. Adding a layer type is adding one such class:

    @register
    class RepeatVector(LayerArgs):
        n: PositiveInt

        def output_shape(self, shapes):
            (b, f) = expect_rank(shapes[0], 2)
            return (b, self.n, f)

Shapes include the batch dimension (`None`). `tests/test_rules_vs_keras.py` builds every
entry in Keras with generated arguments and compares shapes and counts.
"""

from __future__ import annotations

import importlib
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, WithJsonSchema

from kspec.schema.types import Bool, DType

Shape = tuple[int | None, ...]
CallStyle = Literal["single", "list", "args"]


class ShapeError(ValueError):
    """A layer cannot take the shapes it is given; the message says why."""


class LayerArgs(BaseModel):
    """Base of every registry entry: Keras's common layer arguments plus the rules."""

    # defer_build: a class builds its validator on first use, so `kspec check` pays only for
    # the layer types a spec uses, not for the whole registry.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    trainable: Bool = True
    dtype: DType = None

    #: How the builders call the layer: one tensor, a list of tensors (merge layers), or
    #: positional tensors (`MultiHeadAttention(query, value, key)`).
    call_style: ClassVar[CallStyle] = "single"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    #: The tensor arguments of the layer's call by Keras's names, the positional ones first
    #: (`max_inputs` of them): `inputs:` as a list fills those in order, `inputs:` as a mapping
    #: names them (`{sequences: x, initial_state: [h, c], mask: m}`). Empty: list form only.
    call_tensors: ClassVar[tuple[str, ...]] = ()
    #: Those of `call_tensors` that take a list of tensors (an RNN's `initial_state`).
    list_tensors: ClassVar[frozenset[str]] = frozenset()
    #: Keras class name; set by `register`.
    keras_type: ClassVar[str] = ""
    #: Bytes per output element the layer keeps for its backward pass besides its output (max
    #: pooling: the argmax index); `kspec check`'s forward/backward pass size adds them.
    kept_index_bytes: ClassVar[int] = 0

    def output_shape(self, shapes: list[Shape]) -> Shape:
        """Output shape for the given input shapes (batch dimension included)."""
        return shapes[0]

    def output_shapes(self, shapes: list[Shape]) -> list[Shape]:
        """Every output's shape, for a layer that returns several tensors (an LSTM with
        `return_state`); the spec reads output K as `NAME:K`, and `NAME` is output 0."""
        return [self.output_shape(shapes)]

    def call_output_shapes(self, shapes: list[Shape], call: dict[str, Any]) -> list[Shape]:
        """Every output's shape when the layer is called with the spec's `call:` arguments
        (MultiHeadAttention's `return_attention_scores: true` adds the scores as output 1)."""
        return self.output_shapes(shapes)

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        """Raise a `ShapeError` unless the keyword tensors (`initial_state`, masks; by name, each
        a list of shapes) fit a call on the positional `shapes`. They change no output shape."""

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        """(weights that train unless frozen, weights that never train), e.g. BN's moving stats."""
        return 0, 0

    def tensorflow_problem(self, shapes: list[Shape]) -> tuple[str, str] | None:
        """(argument, reason) when TensorFlow's CPU kernels fail on arguments Keras accepts and
        the other backends run (`graph.checks.tensorflow_kernels` refuses them on TensorFlow)."""
        return None

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """Multiply-accumulates of one forward pass for ONE sample (batch dimension left out).

        Every registry entry defines its rule (`tests/test_macs.py` enforces it); None here means
        "no rule", which `kspec check` shows as `?`. Convention (torchinfo's): a weighted layer
        costs one MAC per weight it applies per output position, its bias counted as one MAC per
        output; elementwise layers (activations, dropout, reshaping, pooling) cost 0.
        See docs/sizes.md.
        """
        return None

    def param_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        """(trainable, non_trainable) as Keras reports them, honouring `trainable: false`."""
        learnable, fixed = self.weight_counts(shapes)
        return (learnable, fixed) if self.trainable else (0, learnable + fixed)


REGISTRY: dict[str, type[LayerArgs]] = {}


def register(cls: type[LayerArgs]) -> type[LayerArgs]:
    """Class decorator: the class name is the Keras layer name."""
    cls.keras_type = cls.__name__
    REGISTRY[cls.__name__] = cls
    return cls


def register_as(name: str, cls: type[LayerArgs]) -> type[LayerArgs]:
    """Register under a name that is not the class name (`ops.add`, see `kspec.layers.ops`)."""
    cls.keras_type = name
    REGISTRY[name] = cls
    return cls


def alias(name: str, cls: type[LayerArgs]) -> None:
    """Keras's other name for the same class (`MaxPool2D` for `MaxPooling2D`)."""
    REGISTRY[name] = cls


def expect_rank(shape: Shape, rank: int | tuple[int, ...], what: str = "input") -> Shape:
    """Check the rank (batch dimension included) and return the shape."""
    ranks = (rank,) if isinstance(rank, int) else rank
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"expects a rank-{want} {what} (batch included), got shape {format_shape(shape)}")
    return shape


def axes_of(shape: Shape, axes: int | tuple[int, ...], *, batch: bool = False) -> tuple[int, ...]:
    """Axes (negative ones counted from the end) as non-negative indices into `shape`.

    Out of range, repeated (`[1, -2]` on a rank-3 input is axis 1 twice) or, unless `batch`,
    the batch axis: a `ShapeError`, as Keras fails on them when the layer runs.
    """
    rank = len(shape)
    out: list[int] = []
    for axis in (axes,) if isinstance(axes, int) else axes:
        if not -rank <= axis < rank:
            raise ShapeError(f"axis {axis} is out of range for a rank-{rank} input (batch included)")
        if axis % rank == 0 and not batch:
            raise ShapeError(f"axis {axis} is the batch axis of a rank-{rank} input")
        if axis % rank in out:
            raise ShapeError(f"axis {axis} is listed twice (the same axis as {out[out.index(axis % rank)]})")
        out.append(axis % rank)
    return tuple(out)


def known(dim: int | None, what: str) -> int:
    """A dimension that must be known to count parameters."""
    if dim is None:
        raise ShapeError(f"needs a known {what}, got None")
    return dim


def zero_macs(self: LayerArgs, shapes: list[Shape], output: Shape) -> int:
    """The MAC rule of layers that multiply-accumulate nothing (activations, dropout, reshaping...)."""
    return 0


def per_sample(shape: Shape) -> int:
    """Elements of one sample of `shape` (batch dimension left out; unknown lengths count 1)."""
    return math.prod(d if d is not None else 1 for d in shape[1:])


def check_mask(mask: Shape, of: Shape, what: str = "mask") -> None:
    """A mask marks positions: the shape of `of` without its last (feature) axis."""
    want = tuple(of[:-1])
    if len(mask) != len(want) or any(m is not None and w is not None and m != w for m, w in zip(mask, want)):
        raise ShapeError(f"{what} needs shape {format_shape(want)}, got {format_shape(mask)}")


def format_shape(shape: Shape) -> str:
    return (
        "("
        + ", ".join("None" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


#: The rule module of every layer type, so that checking a spec imports only the families it
#: uses (each pydantic class costs about a millisecond to create). `tests/test_architecture.py`
#: asserts this table equals what the modules register.
RULE_MODULES: dict[str, str] = {
    # nested.py
    "Functional": "nested",
    "Sequential": "nested",
    # ops.py: operations that are not layers (`type: ops.add`)
    "ops.abs": "ops",
    "ops.add": "ops",
    "ops.cast": "ops",
    "ops.clip": "ops",
    "ops.concatenate": "ops",
    "ops.divide": "ops",
    "ops.equal": "ops",
    "ops.exp": "ops",
    "ops.expand_dims": "ops",
    "ops.gelu": "ops",
    "ops.hard_sigmoid": "ops",
    "ops.hard_silu": "ops",
    "ops.log": "ops",
    "ops.matmul": "ops",
    "ops.max": "ops",
    "ops.maximum": "ops",
    "ops.mean": "ops",
    "ops.min": "ops",
    "ops.minimum": "ops",
    "ops.multiply": "ops",
    "ops.negative": "ops",
    "ops.not_equal": "ops",
    "ops.power": "ops",
    "ops.relu": "ops",
    "ops.relu6": "ops",
    "ops.reshape": "ops",
    "ops.sigmoid": "ops",
    "ops.silu": "ops",
    "ops.softmax": "ops",
    "ops.sqrt": "ops",
    "ops.square": "ops",
    "ops.squeeze": "ops",
    "ops.subtract": "ops",
    "ops.sum": "ops",
    "ops.tanh": "ops",
    "ops.transpose": "ops",
    "ops.true_divide": "ops",
    # adaptive_pooling.py
    "AdaptiveAveragePooling1D": "adaptive_pooling",
    "AdaptiveAveragePooling2D": "adaptive_pooling",
    "AdaptiveAveragePooling3D": "adaptive_pooling",
    "AdaptiveMaxPooling1D": "adaptive_pooling",
    "AdaptiveMaxPooling2D": "adaptive_pooling",
    "AdaptiveMaxPooling3D": "adaptive_pooling",
    # applications.py
    "CustomScaleLayer": "applications",
    "LayerScale": "applications",
    "StochasticDepth": "applications",
    # conv_lstm.py
    "ConvLSTM1D": "conv_lstm",
    "ConvLSTM2D": "conv_lstm",
    "ConvLSTM3D": "conv_lstm",
    # preprocessing.py
    "AutoContrast": "preprocessing",
    "CategoryEncoding": "preprocessing",
    "CenterCrop": "preprocessing",
    "Discretization": "preprocessing",
    "Equalization": "preprocessing",
    "Hashing": "preprocessing",
    "Normalization": "preprocessing",
    "Resizing": "preprocessing",
    # transformer.py
    "GroupQueryAttention": "transformer",
    "RMSNormalization": "transformer",
    "ReversibleEmbedding": "transformer",
    # wrappers.py
    "SpectralNormalization": "wrappers",
    # attention.py
    "AdditiveAttention": "attention",
    "Attention": "attention",
    "MultiHeadAttention": "attention",
    # conv.py
    "Conv1D": "conv",
    "Conv1DTranspose": "conv",
    "Conv2D": "conv",
    "Conv2DTranspose": "conv",
    "Conv3D": "conv",
    "Conv3DTranspose": "conv",
    "Convolution1D": "conv",
    "Convolution1DTranspose": "conv",
    "Convolution2D": "conv",
    "Convolution2DTranspose": "conv",
    "Convolution3D": "conv",
    "Convolution3DTranspose": "conv",
    "DepthwiseConv1D": "conv",
    "DepthwiseConv2D": "conv",
    "SeparableConv1D": "conv",
    "SeparableConv2D": "conv",
    "SeparableConvolution1D": "conv",
    "SeparableConvolution2D": "conv",
    # core.py
    "Activation": "core",
    "ActivityRegularization": "core",
    "AlphaDropout": "core",
    "Dense": "core",
    "Dropout": "core",
    "ELU": "core",
    "EinsumDense": "core",
    "Embedding": "core",
    "GaussianDropout": "core",
    "GaussianNoise": "core",
    "Identity": "core",
    "LeakyReLU": "core",
    "Masking": "core",
    "PReLU": "core",
    "ReLU": "core",
    "Rescaling": "core",
    "Softmax": "core",
    "SpatialDropout1D": "core",
    "SpatialDropout2D": "core",
    "SpatialDropout3D": "core",
    # merge.py
    "Add": "merge",
    "Average": "merge",
    "Concatenate": "merge",
    "Dot": "merge",
    "Maximum": "merge",
    "Minimum": "merge",
    "Multiply": "merge",
    "Subtract": "merge",
    # normalization.py
    "BatchNormalization": "normalization",
    "GroupNormalization": "normalization",
    "LayerNormalization": "normalization",
    "UnitNormalization": "normalization",
    # pooling.py
    "AveragePooling1D": "pooling",
    "AveragePooling2D": "pooling",
    "AveragePooling3D": "pooling",
    "AvgPool1D": "pooling",
    "AvgPool2D": "pooling",
    "AvgPool3D": "pooling",
    "GlobalAveragePooling1D": "pooling",
    "GlobalAveragePooling2D": "pooling",
    "GlobalAveragePooling3D": "pooling",
    "GlobalAvgPool1D": "pooling",
    "GlobalAvgPool2D": "pooling",
    "GlobalAvgPool3D": "pooling",
    "GlobalMaxPool1D": "pooling",
    "GlobalMaxPool2D": "pooling",
    "GlobalMaxPool3D": "pooling",
    "GlobalMaxPooling1D": "pooling",
    "GlobalMaxPooling2D": "pooling",
    "GlobalMaxPooling3D": "pooling",
    "MaxPool1D": "pooling",
    "MaxPool2D": "pooling",
    "MaxPool3D": "pooling",
    "MaxPooling1D": "pooling",
    "MaxPooling2D": "pooling",
    "MaxPooling3D": "pooling",
    # recurrent.py
    "Bidirectional": "recurrent",
    "GRU": "recurrent",
    "LSTM": "recurrent",
    "SimpleRNN": "recurrent",
    "TimeDistributed": "recurrent",
    # reshaping.py
    "Cropping1D": "reshaping",
    "Cropping2D": "reshaping",
    "Cropping3D": "reshaping",
    "Flatten": "reshaping",
    "Permute": "reshaping",
    "RepeatVector": "reshaping",
    "Reshape": "reshaping",
    "UpSampling1D": "reshaping",
    "UpSampling2D": "reshaping",
    "UpSampling3D": "reshaping",
    "ZeroPadding1D": "reshaping",
    "ZeroPadding2D": "reshaping",
    "ZeroPadding3D": "reshaping",
}


def lookup(layer_type: str) -> type[LayerArgs] | None:
    """The registry entry of `layer_type`, importing its rule module on first use; None if absent."""
    cls = REGISTRY.get(layer_type)
    if cls is None and layer_type in RULE_MODULES:
        importlib.import_module(f"kspec.layers.{RULE_MODULES[layer_type]}")
        cls = REGISTRY.get(layer_type)
    return cls


def known_types() -> frozenset[str]:
    """Every layer type the registry has a rule for (without importing the rules)."""
    return frozenset(RULE_MODULES)


def load_all() -> dict[str, type[LayerArgs]]:
    """Import every rule module (each registers its classes) and return the whole registry."""
    for module in sorted(set(RULE_MODULES.values())):
        importlib.import_module(f"kspec.layers.{module}")
    return REGISTRY


def describe(cls: type[Any]) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def argument_names(cls: type[LayerArgs]) -> list[str]:
    """The spec keys a registry entry accepts (a field's alias where it has one)."""
    return [f.alias or key for key, f in cls.model_fields.items()]


def nested_layer(allowed: frozenset[str] | None = None) -> Any:
    """A layer argument that is itself a layer (`Bidirectional.layer: {type: LSTM, units: 8}`).

    The mapping is validated by the registry entry of its `type`; the value becomes that
    entry's instance, so the wrapper's rules can ask it for shapes and counts.
    """

    def check(v: Any) -> LayerArgs:
        from kspec.schema import names

        if not isinstance(v, dict) or not isinstance(v.get("type"), str):
            raise ValueError(f"must be a layer given as {{type: LSTM, units: 8, ...}}, got {v!r}")
        ltype = v["type"]
        choices = allowed if allowed is not None else known_types()
        cls = lookup(ltype) if ltype in choices else None
        if cls is None:
            raise ValueError(names.unknown("layer type", ltype, choices))
        args = {k: x for k, x in v.items() if k not in ("type", "name")}
        accepted = argument_names(cls)
        for key in args:
            if key not in accepted:
                from kspec.schema.types import ArgumentError

                # located at the nested key itself, like a top-level layer's unknown argument
                raise ArgumentError(
                    f"{ltype} has no argument {key!r}" + names.did_you_mean(key, accepted), (key,)
                )
        try:
            return cls.model_validate(args)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "required key is missing"
            raise ValueError(f"{ltype} {where}: {msg}") from None

    props: dict[str, Any] = {"type": {"enum": sorted(allowed)} if allowed else {"type": "string"}}
    schema = {"type": "object", "required": ["type"], "properties": props}
    return Annotated[Any, PlainValidator(check), WithJsonSchema(schema)]
