"""Deterministic preprocessing layers: the same input always gives the same output.

Random augmentation layers (RandomFlip, RandAugment, ...) are not here: see `UNCHECKED` in
`kspec.layers.coverage` for why.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import model_validator

from kspec.layers.registry import (
    LayerArgs,
    Shape,
    ShapeError,
    expect_rank,
    known,
    per_sample,
    register,
    zero_macs,
)
from kspec.layers.spatial import DataFormat, join, split
from kspec.schema.types import Axes, Bool, Int, Number, Numbers, PositiveInt


@register
class Normalization(LayerArgs):
    """Standardizes features with a fixed `mean` and `variance` (or ones learned by `adapt()`)."""

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """(x - mean) / std folds into one multiply-add per element, like BatchNormalization."""
        return per_sample(output)

    axis: Axes | None = (-1,)
    mean: Numbers | None = None
    variance: Numbers | None = None
    invert: Bool = False

    @model_validator(mode="after")
    def _both_or_neither(self) -> Normalization:
        if (self.mean is None) != (self.variance is None):
            raise ValueError("mean and variance must be given together (or neither, to adapt() them)")
        return self

    def weight_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        x = shapes[0]
        for a in self.axis or ():
            if not -len(x) <= a < len(x):
                raise ShapeError(f"axis {a} is out of range for a rank-{len(x)} input")
        kept = {a % len(x) for a in self.axis or ()}
        size = math.prod(known(x[a], "dimension of a kept axis") for a in kept)
        if self.mean is not None:
            for key, value in (("mean", self.mean), ("variance", self.variance)):
                if isinstance(value, tuple) and len(value) not in (1, size):
                    raise ShapeError(f"{key} has {len(value)} values for {size} features along axis")
            return 0, 0  # constants, not weights
        return 0, 2 * size + 1  # adapted mean and variance, and a sample count


def _image_size(height: int, width: int, shapes: list[Shape], data_format: str | None) -> Shape:
    x = shapes[0]
    if len(x) == 3 and data_format == "channels_first":
        # Keras takes a rank-3 input as one unbatched (channels, height, width) image: here the
        # batch is its channels axis and each sample is resized as a one-channel image.
        return (x[0], height, width)
    batch, _, channels = split(x, 2, data_format)
    return join(batch, [height, width], channels, data_format)


def _image(x: Shape) -> Shape:
    """A value-only image layer's input: an image batch, or a rank-3 tensor, which Keras takes as
    one unbatched image (the shape is unchanged either way)."""
    return expect_rank(x, (3, 4), "image batch (or a rank-3 tensor, one unbatched image to Keras)")


@register
class Resizing(LayerArgs):
    """Resizes images to `height` x `width`."""

    macs = zero_macs  # no multiply-accumulates (torchinfo counts none for resampling or lookups)

    height: PositiveInt
    width: PositiveInt
    interpolation: Literal["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area"] = "bilinear"
    crop_to_aspect_ratio: Bool = False
    pad_to_aspect_ratio: Bool = False
    fill_mode: Literal["constant"] = "constant"
    fill_value: Number = 0.0
    antialias: Bool = False
    data_format: DataFormat = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return _image_size(self.height, self.width, shapes, self.data_format)


@register
class CenterCrop(LayerArgs):
    """Crops the centre `height` x `width` of each image (resizing first when it is smaller)."""

    macs = zero_macs  # no multiply-accumulates (torchinfo counts none for resampling or lookups)

    height: PositiveInt
    width: PositiveInt
    data_format: DataFormat = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return _image_size(self.height, self.width, shapes, self.data_format)


def _count_input(x: Shape) -> None:
    """Keras's count encoding takes (batch, ids): on a rank-3 input it runs only when the last two
    axes have the same length (measured: (4, 4) runs, (4, 2), (1, 4) and (2, 1) fail), which is no
    rule a spec can rely on, so kspec refuses rank 3 and more (multi_hot takes them)."""
    if len(x) != 2:
        raise ShapeError(f"count takes (batch, ids) inputs of rank 2, got rank {len(x)}: {x}")


def _encoded(x: Shape, depth: int, mode: str) -> Shape:
    """Keras's output shape for `one_hot`/`multi_hot`/`count` encodings of integer ids."""
    if len(x) < 2 and mode != "one_hot":  # one id per sample (rank 1) one-hot encodes as (batch, depth)
        raise ShapeError(f"expects a rank-2 or higher input (batch included), got rank {len(x)}")
    if mode == "one_hot" and x[-1] != 1:
        return (*x, depth)
    return (*x[:-1], depth)


@register
class CategoryEncoding(LayerArgs):
    """Encodes integer ids in [0, num_tokens) as one-hot, multi-hot or count vectors."""

    macs = zero_macs  # no multiply-accumulates (torchinfo counts none for resampling or lookups)

    num_tokens: PositiveInt
    output_mode: Literal["one_hot", "multi_hot", "count"] = "multi_hot"
    sparse: Literal[False] = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if self.output_mode == "count":
            _count_input(shapes[0])
        return _encoded(shapes[0], self.num_tokens, self.output_mode)


@register
class Discretization(LayerArgs):
    """Buckets numbers by `bin_boundaries`: the bucket index, or its one-hot/multi-hot/count encoding."""

    macs = zero_macs  # no multiply-accumulates (torchinfo counts none for resampling or lookups)

    bin_boundaries: list[Number]
    num_bins: PositiveInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_trainable(cls, data: object) -> object:
        if isinstance(data, dict) and "trainable" in data:
            raise ValueError("trainable is not an argument of Keras's Discretization (it has no weights)")
        return data

    epsilon: Number = 0.01
    output_mode: Literal["int", "one_hot", "multi_hot", "count"] = "int"
    sparse: Literal[False] = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        x, depth = shapes[0], len(self.bin_boundaries) + 1
        if self.output_mode == "int":
            return x
        if self.output_mode == "one_hot":
            return (*x[:-1], depth) if x[-1] == 1 and len(x) > 1 else (*x, depth)
        # multi_hot and count: Keras drops the second axis (the samples of one example)
        expect_rank(x, tuple(range(2, 8)), "multi_hot/count input")
        return (x[0], *x[2:], depth)


@register
class Hashing(LayerArgs):
    """Hashes integers or strings into `num_bins` buckets (a fixed function, no weights)."""

    macs = zero_macs  # no multiply-accumulates (torchinfo counts none for resampling or lookups)

    num_bins: PositiveInt
    # An integer: a float mask_value fails on integer ids ("Cannot convert 0.0 to EagerTensor of
    # dtype int32") and check has no input dtypes; an integer mask works on every input.
    mask_value: Int | str | None = None
    salt: Int | list[Int] | None = None
    output_mode: Literal["int", "one_hot", "multi_hot", "count"] = "int"
    sparse: Literal[False] = False

    def output_shape(self, shapes: list[Shape]) -> Shape:
        if self.output_mode == "int":
            return shapes[0]
        if self.output_mode == "count":
            _count_input(shapes[0])
        expect_rank(shapes[0], tuple(range(2, 8)), "input of ids")  # rank 1 would encode the batch
        return (*shapes[0][:-1], self.num_bins)


@register
class AutoContrast(LayerArgs):
    """Stretches each image's values to fill `value_range` (per channel); shape unchanged."""

    macs = zero_macs  # no multiply-accumulates (torchinfo counts none for resampling or lookups)

    value_range: tuple[Number, Number] = (0.0, 255.0)
    data_format: DataFormat = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return _image(shapes[0])


@register
class Equalization(LayerArgs):
    """Histogram equalization of each image over `bins` levels of `value_range`; shape unchanged."""

    macs = zero_macs  # no multiply-accumulates (torchinfo counts none for resampling or lookups)

    value_range: tuple[Number, Number] = (0.0, 255.0)
    bins: PositiveInt = 256
    data_format: DataFormat = None

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return _image(shapes[0])
