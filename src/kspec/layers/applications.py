"""The layer classes `keras.applications` defines for itself (not in `keras.layers`).

The builders take them from the Keras module that defines them (`builders.objects`): they are
Keras's own code, so a spec naming them imports nothing the user did not install with Keras.
"""

from __future__ import annotations

from typing import ClassVar

from kspec.layers.registry import LayerArgs, Shape, ShapeError, known, per_sample, register, zero_macs
from kspec.schema.types import Number, PositiveInt, Rate

#: Where each class lives (read by the builders; kept beside the rules so both stay in step).
KERAS_MODULES = {
    "LayerScale": "keras.src.applications.convnext",
    "StochasticDepth": "keras.src.applications.convnext",
    "CustomScaleLayer": "keras.src.applications.inception_resnet_v2",
}


@register
class LayerScale(LayerArgs):
    """ConvNeXt's per-channel learned scale: `x * gamma`, gamma of `projection_dim` starting at `init_values`."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """One multiply per element by its channel's gamma."""
        return per_sample(output)

    init_values: Number
    projection_dim: PositiveInt

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        if self.projection_dim == 1:  # a gamma of one value broadcasts against any last axis
            return 1, 0
        last = known(shapes[0][-1], "last input dimension")
        if last != 1 and last != self.projection_dim:
            raise ShapeError(f"projection_dim {self.projection_dim} does not broadcast with {last} channels")
        return self.projection_dim, 0

    def output_shape(self, shapes: list[Shape]) -> Shape:
        self.weight_counts(shapes)
        x = shapes[0]
        return (*x[:-1], self.projection_dim if x[-1] == 1 else x[-1])


@register
class StochasticDepth(LayerArgs):
    """ConvNeXt's drop-path: drops the whole residual branch of a sample with `drop_path_rate` while training."""

    macs = zero_macs  # an identity at inference

    drop_path_rate: Rate


@register
class CustomScaleLayer(LayerArgs):
    """InceptionResNetV2's residual sum `inputs[0] + inputs[1] * scale`, called on a list of two tensors."""

    macs = zero_macs  # elementwise scale and add, no weights

    call_style: ClassVar = "list"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2
    scale: Number

    def output_shape(self, shapes: list[Shape]) -> Shape:
        a, b = shapes
        if len(a) != len(b) or any(
            x is not None and y is not None and x != y and 1 not in (x, y) for x, y in zip(a, b)
        ):
            raise ShapeError(f"the two inputs do not broadcast: {a} and {b}")
        return tuple(x if x not in (None, 1) else y for x, y in zip(a, b))
