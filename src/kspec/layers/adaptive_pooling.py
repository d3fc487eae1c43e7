"""Adaptive pooling: average or max pooling to a fixed `output_size`, whatever the input size."""

from __future__ import annotations

from typing import ClassVar

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


@register
class AdaptiveAveragePooling1D(_Adaptive):
    """Averages a sequence down to `output_size` steps."""

    rank: ClassVar[int] = 1
    output_size: int_tuple(1)  # type: ignore[valid-type]


@register
class AdaptiveAveragePooling2D(_Adaptive):
    """Averages an image down to `output_size` rows and columns."""

    output_size: int_tuple(2)  # type: ignore[valid-type]


@register
class AdaptiveAveragePooling3D(_Adaptive):
    """Averages a volume down to `output_size`."""

    rank: ClassVar[int] = 3
    output_size: int_tuple(3)  # type: ignore[valid-type]


@register
class AdaptiveMaxPooling1D(_Adaptive):
    """Max-pools a sequence down to `output_size` steps."""

    rank: ClassVar[int] = 1
    output_size: int_tuple(1)  # type: ignore[valid-type]


@register
class AdaptiveMaxPooling2D(_Adaptive):
    """Max-pools an image down to `output_size` rows and columns."""

    output_size: int_tuple(2)  # type: ignore[valid-type]


@register
class AdaptiveMaxPooling3D(_Adaptive):
    """Max-pools a volume down to `output_size`."""

    rank: ClassVar[int] = 3
    output_size: int_tuple(3)  # type: ignore[valid-type]
