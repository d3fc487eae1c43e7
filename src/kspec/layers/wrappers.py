"""SpectralNormalization: a Dense or convolution whose kernel is divided by its largest singular value."""

from __future__ import annotations

from kspec.layers.registry import LayerArgs, Shape, nested_layer, register
from kspec.schema.types import PositiveInt

_KERNEL_LAYERS = frozenset({"Dense", "Conv1D", "Conv2D", "Conv3D"})


@register
class SpectralNormalization(LayerArgs):
    """Wraps `layer` (Dense or ConvND) and normalizes its kernel by power iteration."""

    layer: nested_layer(_KERNEL_LAYERS)  # type: ignore[valid-type]
    power_iterations: PositiveInt = 1

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return self.layer.output_shape(shapes)

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """The wrapped layer's (the power iteration runs in training only)."""
        return self.layer.macs(shapes, output)

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        learn, fixed = self.layer.param_counts(shapes)
        out = getattr(self.layer, "units", None) or self.layer.filters
        return learn, fixed + out  # the power iteration's vector u, never trained
