"""Pooling layers: Max/Average pooling over windows, and global pooling, in 1D/2D/3D."""

from __future__ import annotations

from typing import ClassVar, Literal

from kspec.layers.registry import LayerArgs, Shape, alias, check_mask, register, zero_macs
from kspec.layers.spatial import DataFormat, join, split, window_length
from kspec.schema.types import Bool, int_tuple


class _Pool(LayerArgs):
    macs = zero_macs  # comparisons and sums, no multiply-accumulates (torchinfo's convention)
    rank: ClassVar[int] = 2
    padding: Literal["valid", "same"] = "valid"
    data_format: DataFormat = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        batch, spatial, channels = split(shapes[0], self.rank, self.data_format)
        p = self.pool_size  # type: ignore[attr-defined]
        s = self.strides or p  # type: ignore[attr-defined]
        out = [window_length(n, p[i], s[i], self.padding, 1, "pool window") for i, n in enumerate(spatial)]
        return join(batch, out, channels, self.data_format)


class _MaxPool(_Pool):
    #: The backward pass routes each gradient to its window's maximum, so frameworks keep where it
    #: was: one int64 index per output element (PyTorch's max_pool*d_with_indices). See docs/sizes.md.
    kept_index_bytes: ClassVar[int] = 8


@register
class MaxPooling1D(_MaxPool):
    """Keeps the maximum of each `pool_size` window along time."""

    rank: ClassVar[int] = 1
    pool_size: int_tuple(1) = (2,)  # type: ignore[valid-type]
    strides: int_tuple(1) | None = None  # type: ignore[valid-type]


@register
class MaxPooling2D(_MaxPool):
    """Keeps the maximum of each `pool_size` window over height and width."""

    pool_size: int_tuple(2) = (2, 2)  # type: ignore[valid-type]
    strides: int_tuple(2) | None = None  # type: ignore[valid-type]


@register
class MaxPooling3D(_MaxPool):
    """Keeps the maximum of each `pool_size` window over depth, height and width."""

    rank: ClassVar[int] = 3
    pool_size: int_tuple(3) = (2, 2, 2)  # type: ignore[valid-type]
    strides: int_tuple(3) | None = None  # type: ignore[valid-type]


@register
class AveragePooling1D(_Pool):
    """Averages each `pool_size` window along time."""

    rank: ClassVar[int] = 1
    pool_size: int_tuple(1)  # type: ignore[valid-type]
    strides: int_tuple(1) | None = None  # type: ignore[valid-type]


@register
class AveragePooling2D(_Pool):
    """Averages each `pool_size` window over height and width."""

    pool_size: int_tuple(2)  # type: ignore[valid-type]
    strides: int_tuple(2) | None = None  # type: ignore[valid-type]


@register
class AveragePooling3D(_Pool):
    """Averages each `pool_size` window over depth, height and width."""

    rank: ClassVar[int] = 3
    pool_size: int_tuple(3)  # type: ignore[valid-type]
    strides: int_tuple(3) | None = None  # type: ignore[valid-type]


class _GlobalPool(LayerArgs):
    macs = zero_macs  # comparisons and sums, no multiply-accumulates (torchinfo's convention)
    rank: ClassVar[int] = 2
    data_format: DataFormat = None
    keepdims: Bool = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        batch, spatial, channels = split(shapes[0], self.rank, self.data_format)
        if not self.keepdims:
            return (batch, channels)
        return join(batch, [1] * len(spatial), channels, self.data_format)


@register
class GlobalAveragePooling1D(_GlobalPool):
    """Averages over time: one value per channel (with `mask`, over the unmasked steps only)."""

    rank: ClassVar[int] = 1
    call_tensors: ClassVar[tuple[str, ...]] = ("inputs", "mask")

    def check_keyword_tensors(self, shapes: list[Shape], keywords: dict[str, list[Shape]]) -> None:
        batch, spatial, _ = split(shapes[0], self.rank, self.data_format)
        for mask in keywords.get("mask", []):
            check_mask(mask, (batch, *spatial, None))


@register
class GlobalAveragePooling2D(_GlobalPool):
    """Averages over height and width: one value per channel."""


@register
class GlobalAveragePooling3D(_GlobalPool):
    """Averages over depth, height and width: one value per channel."""

    rank: ClassVar[int] = 3


@register
class GlobalMaxPooling1D(_GlobalPool):
    """Maximum over time: one value per channel."""

    rank: ClassVar[int] = 1


@register
class GlobalMaxPooling2D(_GlobalPool):
    """Maximum over height and width: one value per channel."""


@register
class GlobalMaxPooling3D(_GlobalPool):
    """Maximum over depth, height and width: one value per channel."""

    rank: ClassVar[int] = 3


for _d in "123":
    alias(f"MaxPool{_d}D", globals()[f"MaxPooling{_d}D"])
    alias(f"AvgPool{_d}D", globals()[f"AveragePooling{_d}D"])
    alias(f"GlobalAvgPool{_d}D", globals()[f"GlobalAveragePooling{_d}D"])
    alias(f"GlobalMaxPool{_d}D", globals()[f"GlobalMaxPooling{_d}D"])
