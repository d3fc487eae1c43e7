"""Hypothesis strategies for the registry entries added for importing (same contract as
`test_rules_vs_keras.STRATEGIES`: each returns `(args, input_shapes, input_dtype)`, shapes
without the batch dimension)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

FORMATS = [None, "channels_last", "channels_first"]


def _shape(draw: Any, lo: int = 1, hi: int = 3) -> tuple:
    return tuple(draw(st.lists(st.integers(1, 5), min_size=lo, max_size=hi)))


def _image(sizes: list, channels: int, fmt: str | None) -> tuple:
    return (channels, *sizes) if fmt == "channels_first" else (*sizes, channels)


def _tup(draw: Any, rank: int, lo: int, hi: int) -> tuple[Any, tuple[int, ...]]:
    if draw(st.booleans()):
        v = draw(st.integers(lo, hi))
        return v, (v,) * rank
    vs = draw(st.lists(st.integers(lo, hi), min_size=rank, max_size=rank))
    return vs, tuple(vs)


@st.composite
def s_conv_lstm(draw: Any, rank: int) -> tuple:
    fmt = draw(st.sampled_from(FORMATS))
    k_arg, k = _tup(draw, rank, 1, 3)
    args: dict[str, Any] = {
        "filters": draw(st.integers(1, 3)),
        "kernel_size": k_arg,
        "padding": draw(st.sampled_from(["valid", "same"])),
        "use_bias": draw(st.booleans()),
        "return_sequences": draw(st.booleans()),
    }
    if fmt is not None:
        args["data_format"] = fmt
    if draw(st.booleans()):
        args["strides"], _ = _tup(draw, rank, 1, 2)
    sizes = [draw(st.integers(kk, kk + 3)) for kk in k]
    return args, [(draw(st.integers(1, 3)), *_image(sizes, draw(st.integers(1, 3)), fmt))], None


@st.composite
def s_adaptive(draw: Any, rank: int) -> tuple:
    fmt = draw(st.sampled_from(FORMATS))
    out, sizes = _tup(draw, rank, 1, 3)
    args: dict[str, Any] = {"output_size": out}
    if fmt is not None:
        args["data_format"] = fmt
    spatial = [draw(st.integers(s, s + 4)) for s in sizes]
    return args, [_image(spatial, draw(st.integers(1, 3)), fmt)], None


@st.composite
def s_normalization(draw: Any) -> tuple:
    shape = _shape(draw)
    args: dict[str, Any] = {"invert": draw(st.booleans())}
    c = shape[-1]
    form = draw(st.integers(0, 2))
    if form == 1:
        args["mean"] = [draw(st.floats(-2, 2)) for _ in range(c)]
        args["variance"] = [draw(st.floats(0.5, 2)) for _ in range(c)]
    elif form == 2:
        args["mean"], args["variance"] = draw(st.floats(-2, 2)), draw(st.floats(0.5, 2))
    if form == 0 and len(shape) > 1 and draw(st.booleans()):
        args["axis"] = [-1, 1] if len(shape) > 1 else -1
    return args, [shape], None


@st.composite
def s_resize(draw: Any, crop: bool) -> tuple:
    fmt = draw(st.sampled_from(FORMATS))
    args: dict[str, Any] = {"height": draw(st.integers(1, 6)), "width": draw(st.integers(1, 6))}
    if fmt is not None:
        args["data_format"] = fmt
    if not crop:
        args["interpolation"] = draw(st.sampled_from(["bilinear", "nearest"]))
        args["crop_to_aspect_ratio"] = draw(st.booleans())
    return (
        args,
        [_image([draw(st.integers(2, 8)), draw(st.integers(2, 8))], draw(st.integers(1, 3)), fmt)],
        None,
    )


@st.composite
def s_category_encoding(draw: Any) -> tuple:
    mode = draw(st.sampled_from(["one_hot", "multi_hot", "count"]))
    shape = (draw(st.sampled_from([1, 3])),) if mode == "one_hot" else (draw(st.integers(1, 4)),)
    return {"num_tokens": draw(st.integers(2, 6)), "output_mode": mode}, [shape], "int32"


@st.composite
def s_discretization(draw: Any) -> tuple:
    bounds = sorted(draw(st.lists(st.floats(-3, 3), min_size=1, max_size=4, unique=True)))
    mode = draw(st.sampled_from(["int", "one_hot", "multi_hot", "count"]))
    shape = (draw(st.sampled_from([1, 3])),) if mode == "one_hot" else (draw(st.integers(1, 4)),)
    return {"bin_boundaries": bounds, "output_mode": mode}, [shape], None


@st.composite
def s_hashing(draw: Any) -> tuple:
    mode = draw(st.sampled_from(["int", "multi_hot", "count"]))
    return {"num_bins": draw(st.integers(1, 6)), "output_mode": mode}, [(draw(st.integers(1, 4)),)], "int32"


@st.composite
def s_image_op(draw: Any, equalize: bool) -> tuple:
    args: dict[str, Any] = {}
    if draw(st.booleans()):
        args["value_range"] = [0, 1]
    if equalize and draw(st.booleans()):
        args["bins"] = draw(st.integers(2, 256))
    return args, [(draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.sampled_from([1, 3])))], None


@st.composite
def s_rms(draw: Any) -> tuple:
    shape = _shape(draw)
    i = draw(st.integers(1, len(shape)))
    return {"axis": i if draw(st.booleans()) else i - len(shape) - 1}, [shape], None


@st.composite
def s_gqa(draw: Any) -> tuple:
    kv = draw(st.integers(1, 2))
    args: dict[str, Any] = {
        "head_dim": draw(st.integers(1, 4)),
        "num_query_heads": kv * draw(st.integers(1, 2)),
        "num_key_value_heads": kv,
        "use_bias": draw(st.booleans()),
        "use_gate": draw(st.booleans()),
    }
    tq, tv = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    d = draw(st.integers(1, 5))  # Keras requires the query's and the value's features to match
    shapes = [(tq, d), (tv, d)]
    if draw(st.booleans()):
        shapes.append((tv, draw(st.integers(1, 5))))
    return args, shapes, None


@st.composite
def s_reversible_embedding(draw: Any) -> tuple:
    args = {
        "input_dim": draw(st.integers(1, 20)),
        "output_dim": draw(st.integers(1, 6)),
        "tie_weights": draw(st.booleans()),
    }
    return args, [_shape(draw, 1, 2)], "int32"


@st.composite
def s_spectral(draw: Any) -> tuple:
    if draw(st.booleans()):
        return {"layer": {"type": "Dense", "units": draw(st.integers(1, 5))}}, [_shape(draw, 1, 2)], None
    k = draw(st.integers(1, 3))
    layer = {"type": "Conv2D", "filters": draw(st.integers(1, 4)), "kernel_size": k}
    size = (draw(st.integers(k, k + 3)), draw(st.integers(k, k + 3)), draw(st.integers(1, 3)))
    return {"layer": layer, "power_iterations": draw(st.integers(1, 2))}, [size], None


@st.composite
def s_layer_scale(draw: Any) -> tuple:
    shape = _shape(draw)
    return {"init_values": draw(st.floats(1e-6, 1)), "projection_dim": shape[-1]}, [shape], None


@st.composite
def s_custom_scale(draw: Any) -> tuple:
    shape = _shape(draw)
    return {"scale": draw(st.floats(0, 1))}, [shape, shape], None


@st.composite
def s_stochastic_depth(draw: Any) -> tuple:
    return {"drop_path_rate": draw(st.floats(0, 0.9))}, [_shape(draw)], None


MORE: dict[str, st.SearchStrategy] = {
    **{f"ConvLSTM{r}D": s_conv_lstm(r) for r in (1, 2, 3)},
    **{f"Adaptive{kind}Pooling{r}D": s_adaptive(r) for kind in ("Average", "Max") for r in (1, 2, 3)},
    "Normalization": s_normalization(),
    "Resizing": s_resize(crop=False),
    "CenterCrop": s_resize(crop=True),
    "CategoryEncoding": s_category_encoding(),
    "Discretization": s_discretization(),
    "Hashing": s_hashing(),
    "AutoContrast": s_image_op(equalize=False),
    "Equalization": s_image_op(equalize=True),
    "RMSNormalization": s_rms(),
    "GroupQueryAttention": s_gqa(),
    "ReversibleEmbedding": s_reversible_embedding(),
    "SpectralNormalization": s_spectral(),
    "LayerScale": s_layer_scale(),
    "CustomScaleLayer": s_custom_scale(),
    "StochasticDepth": s_stochastic_depth(),
}
