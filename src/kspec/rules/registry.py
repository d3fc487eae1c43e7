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

Shapes include the batch dimension (`None`). `tests/test_registry_vs_keras.py` builds every
entry in Keras with generated arguments and compares shapes and counts.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from kspec.spec.types import Bool, DType

Shape = tuple[int | None, ...]
CallStyle = Literal["single", "list", "args"]


class ShapeError(ValueError):
    """A layer cannot take the shapes it is given; the message says why."""


class LayerArgs(BaseModel):
    """Base of every registry entry: Keras's common layer arguments plus the rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trainable: Bool = True
    dtype: DType = None

    #: How the builders call the layer: one tensor, a list of tensors (merge layers), or
    #: positional tensors (`MultiHeadAttention(query, value, key)`).
    call_style: ClassVar[CallStyle] = "single"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    #: Keras class name; set by `register`.
    keras_type: ClassVar[str] = ""

    def output_shape(self, shapes: list[Shape]) -> Shape:
        """Output shape for the given input shapes (batch dimension included)."""
        return shapes[0]

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        """(weights that train unless frozen, weights that never train), e.g. BN's moving stats."""
        return 0, 0

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


def alias(name: str, cls: type[LayerArgs]) -> None:
    """Keras's other name for the same class (`MaxPool2D` for `MaxPooling2D`)."""
    REGISTRY[name] = cls


def expect_rank(shape: Shape, rank: int | tuple[int, ...], what: str = "input") -> Shape:
    """Check the rank (batch dimension included) and return the shape."""
    ranks = (rank,) if isinstance(rank, int) else rank
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(
            f"expects a rank-{want} {what} (batch included), got shape {format_shape(shape)}"
        )
    return shape


def known(dim: int | None, what: str) -> int:
    """A dimension that must be known to count parameters."""
    if dim is None:
        raise ShapeError(f"needs a known {what}, got None")
    return dim


def format_shape(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def load_all() -> dict[str, type[LayerArgs]]:
    """Import every rule module (each registers its classes) and return the registry."""
    import kspec.rules  # noqa: F401  (importing registers every rule)

    return REGISTRY


def describe(cls: type[Any]) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
