"""Adaptive pooling: average or max pooling to a fixed `output_size`, whatever the input size.

Six Keras classes, one rule: `AdaptiveAveragePooling1D` ... `AdaptiveMaxPooling3D` differ only
in the rank (1 to 3 spatial axes) and in how they pool, so the classes are made by one loop.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kspec.layers.registry import LayerArgs, Shape, register, zero_macs
from kspec.layers.spatial import DataFormat, join, split
from kspec.schema.types import int_tuple


class _Adaptive(LayerArgs):
    macs = zero_macs  # comparisons and sums, no multiply-accumulates (torchinfo's convention)
    rank: ClassVar[int] = 2
    data_format: DataFormat = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        batch, _, channels = split(shapes[0], self.rank, self.data_format)
        return join(batch, list(self.output_size), channels, self.data_format)  # type: ignore[attr-defined]

    def tensorflow_problem(self, shapes: list[Shape]) -> tuple[str, str] | None:
        """TensorFlow pools each axis with two windows, the larger ceil(length / output_size) + 1
        long: longer than the axis when its length or its output_size is 1. Traced (fit, predict,
        the subclass build) that is "Negative dimension size"; the max version's eager kernel
        dies with SIGFPE, no traceback. The windows come from the lengths, so none may be unknown."""
        _, spatial, _ = split(shapes[0], self.rank, self.data_format)
        if None in spatial:
            return "", (
                f"unknown spatial lengths {spatial}: TensorFlow's adaptive pooling computes its "
                'windows from the lengths ("Input spatial dimensions must be statically known"); '
                "give the input's lengths, or use backend jax or torch"
            )
        sizes = list(self.output_size)  # type: ignore[attr-defined]
        if 1 not in spatial and 1 not in sizes:
            return None
        return "output_size", (
            f"an output_size of 1 or an input length of 1 (lengths {spatial}, output_size {sizes}) "
            "fails in TensorFlow's adaptive pooling (its second window is longer than the axis: "
            "'Negative dimension size' when traced, SIGFPE in the max kernel); use global pooling "
            "(keepdims: true) for an output of 1, or backend jax or torch"
        )


def _make(kind: str, rank: int) -> type[_Adaptive]:
    what = {1: "a sequence down to `output_size` steps", 2: "an image down to `output_size` rows and columns"}
    namespace: dict[str, Any] = {
        "__doc__": f"{kind.replace('Average', 'Averages').replace('Max', 'Max-pools')} "
        f"{what.get(rank, 'a volume down to `output_size`')}.",
        "__module__": __name__,
        "__annotations__": {"output_size": int_tuple(rank)},
        "rank": rank,
    }
    return register(type(f"Adaptive{kind}Pooling{rank}D", (_Adaptive,), namespace))  # type: ignore[return-value]


AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D = (
    _make("Average", r) for r in (1, 2, 3)
)
AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D = (_make("Max", r) for r in (1, 2, 3))
