"""Operations that are not layers: the `keras.ops` calls a Keras 3 Functional graph contains.

`x + 3.0`, `x * y` or `ops.mean(x, axis=[1, 2])` on symbolic tensors become graph nodes of their
own (MobileNetV3's hard-swish, ConvNeXt's residual sums). A spec writes them as entries whose
`type` is `ops.NAME`, with Keras's argument names:

    - {type: ops.add, x2: 3.0}               # x + 3.0 (the input is x1)
    - {type: ops.subtract, x1: 1.0}          # 1.0 - x (the input is x2)
    - {type: ops.multiply, inputs: [a, b]}   # a * b
    - {type: ops.mean, axis: [1, 2], keepdims: true}

The list is closed: each entry names the Keras operation class it builds (`KERAS_OPS`) and
has its own shape rule; nothing else can run. Shapes include the batch axis, as in Keras.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import model_validator

from kspec.layers.registry import (
    CallStyle,
    LayerArgs,
    Shape,
    ShapeError,
    axes_of,
    per_sample,
    register_as,
    zero_macs,
)
from kspec.schema.types import Axes, Bool, DType, Int, Number

#: op type -> (Keras module, operation class): the only classes an op entry can build.
KERAS_OPS: dict[str, tuple[str, str]] = {}


def broadcast(a: Shape, b: Shape) -> Shape:
    """Keras's `broadcast_shapes` (None broadcasts like an unknown size)."""
    a, b = (1,) * (len(b) - len(a)) + tuple(a), (1,) * (len(a) - len(b)) + tuple(b)
    return _broadcast_aligned(a, b)


def broadcast_batched(a: Shape, b: Shape) -> Shape:
    """`broadcast` of two tensors that both start with the batch axis: of the same rank, or the
    shorter one's batch axis meets another axis of the longer. Keras lets that through (an
    unknown batch meets any length), but it runs only for batches of that length, or, against a
    length of 1, combines every sample with every other one: refused, as CustomScaleLayer does."""
    if len(a) != len(b):
        raise ShapeError(
            f"shapes {a} and {b} have different ranks: the batch axis of one would meet another "
            "axis of the other (samples would be mixed); give both operands the same rank"
        )
    return broadcast(a, b)


def _broadcast_aligned(a: Shape, b: Shape) -> Shape:
    out: list[int | None] = []
    for x, y in zip(a, b):
        if x == 1:
            out.append(y)
        elif x is None:
            out.append(None if y == 1 else y)
        elif y in (1, None) or y == x:
            out.append(x)
        else:
            raise ShapeError(f"shapes {a} and {b} do not broadcast")
    return tuple(out)


def _axis(x: Shape, axis: int) -> int:
    if not -len(x) <= axis < len(x):
        raise ShapeError(f"axis {axis} is out of range for a rank-{len(x)} tensor (batch included)")
    return axis % len(x)


def op(name: str, module: str, cls_name: str) -> Any:
    def deco(cls: type[LayerArgs]) -> type[LayerArgs]:
        KERAS_OPS[f"ops.{name}"] = (module, cls_name)
        return register_as(f"ops.{name}", cls)

    return deco


class _Op(LayerArgs):
    """An operation has no weights and no `trainable` flag; its tensors are passed positionally."""

    macs = zero_macs  # elementwise, reductions and reshaping: no multiply-accumulates (matmul has its own)

    @model_validator(mode="before")
    @classmethod
    def _no_trainable(cls, data: Any) -> Any:
        if isinstance(data, dict) and "trainable" in data:
            raise ValueError("trainable is not an argument of an operation (it has no weights)")
        return data

    call_style: ClassVar[CallStyle] = "args"
    #: Keras's positional argument names, in order (a constant may take a tensor's place).
    positional: ClassVar[tuple[str, ...]] = ("x",)

    def constants(self) -> dict[str, Any]:
        """Positional arguments given as numbers in the spec (e.g. `x2: 3.0`)."""
        return {k: getattr(self, k) for k in self.positional if getattr(self, k, None) is not None}


class _Binary(_Op):
    positional: ClassVar[tuple[str, ...]] = ("x1", "x2")
    max_inputs: ClassVar[int] = 2
    x1: Number | None = None
    x2: Number | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if len(shapes) + len(self.constants()) != 2:
            raise ShapeError("takes two operands: two inputs, or one input and x1 or x2 as a number")
        return broadcast_batched(shapes[0], shapes[1]) if len(shapes) == 2 else shapes[0]


for _name, _cls in [
    ("add", "Add"),
    ("subtract", "Subtract"),
    ("multiply", "Multiply"),
    ("divide", "Divide"),
    ("true_divide", "TrueDivide"),
    ("maximum", "Maximum"),
    ("minimum", "Minimum"),
    ("power", "Power"),
    ("equal", "Equal"),  # an Embedding's `mask_zero` mask is `ops.not_equal(tokens, 0)`
    ("not_equal", "NotEqual"),
]:
    op(_name, "keras.src.ops.numpy", _cls)(
        type(_cls, (_Binary,), {"__doc__": f"`ops.{_name}(x1, x2)`.", "__module__": __name__})
    )


class _Unary(_Op):
    pass


for _name, _module, _cls in [
    ("negative", "numpy", "Negative"),
    ("abs", "numpy", "Absolute"),
    ("sqrt", "numpy", "Sqrt"),
    ("square", "numpy", "Square"),
    ("exp", "numpy", "Exp"),
    ("log", "numpy", "Log"),
    ("tanh", "numpy", "Tanh"),
    ("sigmoid", "nn", "Sigmoid"),
    ("relu", "nn", "Relu"),
    ("relu6", "nn", "Relu6"),
    ("silu", "nn", "Silu"),
    ("hard_sigmoid", "nn", "HardSigmoid"),
    ("hard_silu", "nn", "HardSilu"),
]:
    op(_name, f"keras.src.ops.{_module}", _cls)(
        type(_cls, (_Unary,), {"__doc__": f"`ops.{_name}(x)`, element-wise.", "__module__": __name__})
    )


@op("gelu", "keras.src.ops.nn", "Gelu")
class Gelu(_Unary):
    """`ops.gelu(x, approximate)`, element-wise."""

    approximate: Bool = True


@op("softmax", "keras.src.ops.nn", "Softmax")
class Softmax(_Unary):
    """`ops.softmax(x, axis)`."""

    axis: Int = -1

    def output_shape(self, shapes: list[Shape]) -> Shape:
        _axis(shapes[0], self.axis)
        return shapes[0]


@op("clip", "keras.src.ops.numpy", "Clip")
class Clip(_Unary):
    """`ops.clip(x, x_min, x_max)`."""

    x_min: Number
    x_max: Number


@op("cast", "keras.src.ops.core", "Cast")
class Cast(_Unary):
    """`ops.cast(x, dtype)`."""

    dtype: DType = None


class _Reduce(_Unary):
    axis: Axes | None = None
    keepdims: Bool = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if self.axis is None:
            raise ShapeError("axis null reduces every axis, the batch axis too: name the axes (from 1)")
        axes = set(axes_of(x, self.axis))  # out of range, repeated or the batch axis: Keras fails
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(x))
        return tuple(d for i, d in enumerate(x) if i not in axes)


for _name, _cls in [("mean", "Mean"), ("sum", "Sum")]:
    op(_name, "keras.src.ops.numpy", _cls)(
        type(_cls, (_Reduce,), {"__doc__": f"`ops.{_name}(x, axis, keepdims)`.", "__module__": __name__})
    )


@op("max", "keras.src.ops.numpy", "Max")
class Max(_Reduce):
    """`ops.max(x, axis, keepdims)`."""

    initial: Number | None = None


@op("min", "keras.src.ops.numpy", "Min")
class Min(_Reduce):
    """`ops.min(x, axis, keepdims)`."""

    initial: Number | None = None


@op("reshape", "keras.src.ops.numpy", "Reshape")
class Reshape(_Unary):
    """`ops.reshape(x, newshape)`: `newshape` includes the batch axis (-1 or null: inferred)."""

    newshape: list[int | None]

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x, new = shapes[0], list(self.newshape)
        # The batch axis is the one free entry: Keras infers it from the sample's size, and the
        # other entries must hold each sample's values exactly (any other split mixes samples).
        if not new or new[0] not in (None, -1) or any(d is None or d < 1 for d in new[1:]):
            raise ShapeError(
                f"newshape {self.newshape}: its first entry is the batch axis (-1 or null) and "
                "the others are positive lengths"
            )
        sample = x[1:]
        if None not in sample and math.prod(sample) != math.prod(new[1:]):  # type: ignore[arg-type]
            raise ShapeError(f"cannot reshape samples of shape {sample} into {tuple(new[1:])}")
        return (x[0], *new[1:]) if x else tuple(new)


@op("transpose", "keras.src.ops.numpy", "Transpose")
class Transpose(_Unary):
    """`ops.transpose(x, axes)`: `axes` is a permutation of every axis, batch included."""

    axes: list[Int] | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        given = self.axes if self.axes is not None else list(reversed(range(len(x))))
        axes = axes_of(x, tuple(given), batch=True)  # each in range, none twice
        if len(axes) != len(x):
            raise ShapeError(f"axes {given} are not a permutation of the {len(x)} axes")
        if axes[0] != 0:
            raise ShapeError(f"axes {given} move the batch axis: the first must be 0")
        return tuple(x[a] for a in axes)


@op("expand_dims", "keras.src.ops.numpy", "ExpandDims")
class ExpandDims(_Unary):
    """`ops.expand_dims(x, axis)`."""

    axis: Axes

    def output_shape(self, shapes: list[Shape]) -> Shape:
        rank = len(shapes[0]) + len(self.axis)
        axes = set(axes_of((None,) * rank, self.axis))  # in the result: in range, once, not the batch
        rest = iter(shapes[0])
        return tuple(1 if i in axes else next(rest) for i in range(rank))


@op("squeeze", "keras.src.ops.numpy", "Squeeze")
class Squeeze(_Unary):
    """`ops.squeeze(x, axis)`: drops size-1 axes."""

    axis: Axes | None = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        if self.axis is None:
            return tuple(d for d in x if d != 1)
        axes = set(axes_of(x, self.axis))  # out of range, repeated or the batch axis: Keras fails
        for a in axes:
            if x[a] != 1:  # Keras cannot squeeze an unknown length either
                raise ShapeError(f"axis {a} has size {x[a]}, not 1")
        return tuple(d for i, d in enumerate(x) if i not in axes)


@op("concatenate", "keras.src.ops.numpy", "Concatenate")
class Concatenate(_Op):
    """`ops.concatenate([a, b, ...], axis)`: the inputs are passed as one list."""

    call_style: ClassVar[CallStyle] = "list"
    max_inputs: ClassVar[int] = 1 << 16
    positional: ClassVar[tuple[str, ...]] = ()
    axis: Int = 0

    def output_shape(self, shapes: list[Shape]) -> Shape:
        first = shapes[0]
        (a,) = axes_of(first, self.axis)  # along the batch axis the batch would change
        for s in shapes[1:]:
            if len(s) != len(first) or any(
                i != a and None not in (x, y) and x != y for i, (x, y) in enumerate(zip(first, s))
            ):
                raise ShapeError(f"shapes {first} and {s} differ outside axis {self.axis}")
        sizes = [s[a] for s in shapes]
        total = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
        return tuple(total if i == a else d for i, d in enumerate(first))


@op("matmul", "keras.src.ops.numpy", "Matmul")
class Matmul(_Op):
    """`ops.matmul(x1, x2)`."""

    positional: ClassVar[tuple[str, ...]] = ("x1", "x2")
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2

    def output_shape(self, shapes: list[Shape]) -> Shape:
        a, b = shapes
        if len(a) < 2 or len(b) < 2:
            raise ShapeError("matmul needs inputs of rank 2 or more")
        if len(b) == 2 and a[-1] is not None:
            raise ShapeError(
                f"x2 {b} is one vector per sample: its batch axis would be contracted with the "
                f"{a[-1]} features of x1 (it runs only for batches of that size)"
            )
        if None not in (a[-1], b[-2]) and a[-1] != b[-2]:
            raise ShapeError(f"inner dimensions differ: {a[-1]} and {b[-2]}")
        return (*broadcast_batched(a[:-2], b[:-2]), a[-2], b[-1])

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:  # type: ignore[override]
        """One multiply-accumulate per output element and inner index."""
        inner = shapes[0][-1]
        return None if inner is None else per_sample(output) * inner


OP_TYPES = frozenset(KERAS_OPS)
