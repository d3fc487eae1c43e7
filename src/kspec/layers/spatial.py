"""Shape arithmetic shared by convolution, pooling and reshaping rules (no layers here)."""

from __future__ import annotations

from typing import Literal

from kspec.layers.registry import Shape, ShapeError, expect_rank

DataFormat = Literal["channels_last", "channels_first"] | None


def split(x: Shape, rank: int, data_format: str | None) -> tuple[int | None, list[int | None], int | None]:
    """(batch, spatial dims, channels) of a rank-`rank` spatial input in either data format."""
    expect_rank(x, rank + 2)
    if data_format == "channels_first":
        return x[0], list(x[2:]), x[1]
    return x[0], list(x[1:-1]), x[-1]


def join(
    batch: int | None, spatial: list[int | None], channels: int | None, data_format: str | None
) -> Shape:
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def window_length(
    size: int | None, window: int, stride: int, padding: str, dilation: int = 1, what: str = "kernel"
) -> int | None:
    """Output length of a sliding window (convolution or pooling) along one axis, as Keras computes it."""
    if size is None:
        return None
    if padding in ("same", "causal"):
        return -(-size // stride)
    span = dilation * (window - 1) + 1
    if size < span:
        raise ShapeError(f"{what} of extent {span} is larger than the input ({size}) with padding 'valid'")
    return (size - span) // stride + 1


def transpose_length(
    size: int | None, kernel: int, stride: int, padding: str, output_padding: int | None, dilation: int = 1
) -> int | None:
    """Output length of a transposed convolution along one axis (Keras's `deconv_output_length`)."""
    if size is None:
        return None
    span = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        return size * stride + max(span - stride, 0) if padding == "valid" else size * stride
    pad = span // 2 if padding == "same" else 0
    return (size - 1) * stride + span - 2 * pad + output_padding


def window_taps(size: int, window: int, stride: int, padding: str, dilation: int = 1) -> int:
    """(output position, kernel tap) pairs along one axis whose tap lands inside the input.

    Taps on zero padding multiply nothing, so they are not counted (as XLA's cost analysis does
    not count them); for 'valid' padding this is output length x window.
    """
    span = dilation * (window - 1) + 1
    out = window_length(size, window, stride, padding, dilation)
    assert out is not None
    if padding == "same":
        before = max((out - 1) * stride + span - size, 0) // 2
    elif padding == "causal":
        before = span - 1
    else:
        before = 0
    return sum(1 for o in range(out) for t in range(window) if 0 <= o * stride - before + t * dilation < size)
