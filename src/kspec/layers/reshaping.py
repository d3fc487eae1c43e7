"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, and padding, cropping, upsampling in 1D/2D/3D."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from pydantic import field_validator

from kspec.layers.registry import LayerArgs, Shape, ShapeError, expect_rank, register, zero_macs
from kspec.layers.spatial import DataFormat, join, split
from kspec.schema.types import Int, PadPair, PositiveInt, int_tuple, pad_tuple


@register
class Flatten(LayerArgs):
    """Flattens all non-batch dimensions into one."""

    macs = zero_macs  # moves data only

    data_format: DataFormat = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        rest = x[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)  # type: ignore[arg-type]
        return (x[0], size)


@register
class Reshape(LayerArgs):
    """Reshapes to `target_shape` (without batch); one dimension may be -1."""

    macs = zero_macs  # moves data only

    target_shape: list[Int]

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = shapes[0]
        target = list(self.target_shape)
        if any(d == 0 or d < -1 for d in target) or target.count(-1) > 1:
            raise ShapeError(f"target_shape must be positive integers with at most one -1, got {target}")
        rest = x[1:]
        if any(d is None for d in rest):
            return (x[0], *[None if d == -1 else d for d in target])
        total = math.prod(rest)  # type: ignore[arg-type]
        known_part = math.prod(d for d in target if d != -1)
        if -1 in target:
            if total % known_part:
                raise ShapeError(f"cannot reshape {x[1:]} ({total} values) to {tuple(target)}")
            target[target.index(-1)] = total // known_part
        elif known_part != total:
            raise ShapeError(
                f"cannot reshape {tuple(x[1:])} ({total} values) to {tuple(target)} ({known_part} values)"
            )
        return (x[0], *target)


@register
class Permute(LayerArgs):
    """Reorders the non-batch axes: `dims` is a permutation of 1..rank (e.g. [2, 1] swaps two axes)."""

    macs = zero_macs  # moves data only

    dims: list[Int]

    @field_validator("dims")
    @classmethod
    def _permutation(cls, v: list[int]) -> list[int]:
        if sorted(v) != list(range(1, len(v) + 1)):
            raise ValueError(f"must be a permutation of 1..{len(v)} (axis 0 is the batch), got {v}")
        return v

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x = expect_rank(shapes[0], len(self.dims) + 1)
        return (x[0], *[x[d] for d in self.dims])


@register
class RepeatVector(LayerArgs):
    """Repeats a (batch, features) input `n` times into (batch, n, features)."""

    macs = zero_macs  # moves data only

    n: PositiveInt

    def output_shape(self, shapes: list[Shape]) -> Shape:
        b, f = expect_rank(shapes[0], 2)
        return (b, self.n, f)


def _cropped(size: int | None, before: int, after: int) -> int | None:
    if size is None:
        return None
    if before + after >= size:
        raise ShapeError(f"cropping {before}+{after} leaves nothing of a dimension of {size}")
    return size - before - after


def _padded(size: int | None, before: int, after: int) -> int | None:
    return None if size is None else size + before + after


class _Spatial(LayerArgs):
    """A layer that changes each spatial dimension on its own (pad, crop, upsample)."""

    macs = zero_macs  # moves data only

    rank: ClassVar[int] = 2

    def _dim(self, i: int, size: int | None) -> int | None:
        raise NotImplementedError

    def output_shape(self, shapes: list[Shape]) -> Shape:
        fmt = getattr(self, "data_format", None)  # the 1D crop/upsample layers have none
        batch, spatial, channels = split(shapes[0], self.rank, fmt)
        return join(batch, [self._dim(i, n) for i, n in enumerate(spatial)], channels, fmt)


class _Padding(_Spatial):
    def _dim(self, i: int, size: int | None) -> int | None:
        return _padded(size, *self.padding[i])  # type: ignore[attr-defined]


class _Cropping(_Spatial):
    def _dim(self, i: int, size: int | None) -> int | None:
        return _cropped(size, *self.cropping[i])  # type: ignore[attr-defined]


class _UpSampling(_Spatial):
    def _dim(self, i: int, size: int | None) -> int | None:
        return None if size is None else size * self.size[i]  # type: ignore[attr-defined]


@register
class ZeroPadding1D(_Padding):
    """Adds zeros at the start and end of the time axis: `padding` or [before, after]."""

    rank: ClassVar[int] = 1
    padding: PadPair = (1, 1)
    data_format: DataFormat = None

    def _dim(self, i: int, size: int | None) -> int | None:
        return _padded(size, *self.padding)


@register
class ZeroPadding2D(_Padding):
    """Adds rows and columns of zeros around an image."""

    padding: pad_tuple(2) = ((1, 1), (1, 1))  # type: ignore[valid-type]
    data_format: DataFormat = None


@register
class ZeroPadding3D(_Padding):
    """Adds zeros around a volume along depth, height and width."""

    rank: ClassVar[int] = 3
    padding: pad_tuple(3) = ((1, 1), (1, 1), (1, 1))  # type: ignore[valid-type]
    data_format: DataFormat = None


@register
class Cropping1D(_Cropping):
    """Removes steps from the start and end of the time axis: `cropping` or [before, after]."""

    rank: ClassVar[int] = 1
    cropping: PadPair = (1, 1)

    def _dim(self, i: int, size: int | None) -> int | None:
        return _cropped(size, *self.cropping)


@register
class Cropping2D(_Cropping):
    """Removes rows and columns from the edges of an image."""

    cropping: pad_tuple(2) = ((0, 0), (0, 0))  # type: ignore[valid-type]
    data_format: DataFormat = None


@register
class Cropping3D(_Cropping):
    """Removes slices from the edges of a volume along depth, height and width."""

    rank: ClassVar[int] = 3
    cropping: pad_tuple(3) = ((1, 1), (1, 1), (1, 1))  # type: ignore[valid-type]
    data_format: DataFormat = None


@register
class UpSampling1D(_UpSampling):
    """Repeats each time step `size` times."""

    rank: ClassVar[int] = 1
    size: PositiveInt = 2

    def _dim(self, i: int, size: int | None) -> int | None:
        return None if size is None else size * self.size


@register
class UpSampling2D(_UpSampling):
    """Enlarges an image by repeating rows and columns (`size`), or by interpolation."""

    size: int_tuple(2) = (2, 2)  # type: ignore[valid-type]
    data_format: DataFormat = None
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"] = "nearest"


@register
class UpSampling3D(_UpSampling):
    """Enlarges a volume by repeating slices along depth, height and width (`size`)."""

    rank: ClassVar[int] = 3
    size: int_tuple(3) = (2, 2, 2)  # type: ignore[valid-type]
    data_format: DataFormat = None
