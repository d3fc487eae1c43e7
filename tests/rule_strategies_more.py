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
    shape = list(_shape(draw))
    i = draw(st.integers(1, len(shape)))
    shape[i - 1] = shape[-1]  # Keras multiplies by the scale from the right: it must fit the last axis
    return {"axis": i if draw(st.booleans()) else i - len(shape) - 1}, [tuple(shape)], None


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


# -- operations (kspec.layers.ops) and the nested Sequential ---------------------------------------


def _broadcastable(draw: Any, shape: tuple) -> tuple:
    """`shape` with some sizes replaced by 1 (and sometimes leading axes dropped)."""
    out = tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in shape)
    return out[draw(st.integers(0, len(out) - 1)) :] if draw(st.booleans()) else out


@st.composite
def s_binary(draw: Any) -> tuple:
    shape = _shape(draw)
    form = draw(st.integers(0, 2))
    if form == 0:
        return {}, [shape, _broadcastable(draw, shape)], None
    key = "x2" if form == 1 else "x1"
    return {key: draw(st.sampled_from([0.5, 2.0, 3.0]))}, [shape], None


@st.composite
def s_unary(draw: Any, extra: dict | None = None) -> tuple:
    return dict(extra or {}), [_shape(draw)], None


@st.composite
def s_reduce(draw: Any, initial: bool = False) -> tuple:
    shape = _shape(draw)
    rank = len(shape) + 1
    args: dict[str, Any] = {"keepdims": draw(st.booleans())}
    axes = draw(st.lists(st.integers(1, rank - 1), min_size=1, max_size=rank - 1, unique=True))
    args["axis"] = axes[0] if len(axes) == 1 and draw(st.booleans()) else axes
    return args, [shape], None


@st.composite
def s_op_reshape(draw: Any) -> tuple:
    shape = _shape(draw)
    flat = 1
    for d in shape:
        flat *= d
    return {"newshape": [-1, flat] if draw(st.booleans()) else [-1, 1, flat]}, [shape], None


@st.composite
def s_op_transpose(draw: Any) -> tuple:
    shape = _shape(draw)
    rest = draw(st.permutations(list(range(1, len(shape) + 1))))
    return {"axes": [0, *rest]}, [shape], None


@st.composite
def s_op_expand(draw: Any) -> tuple:
    shape = _shape(draw)
    return {"axis": draw(st.integers(1, len(shape) + 1))}, [shape], None


@st.composite
def s_op_squeeze(draw: Any) -> tuple:
    shape = _shape(draw)
    i = draw(st.integers(0, len(shape)))
    with_one = (*shape[:i], 1, *shape[i:])
    return {"axis": i + 1}, [with_one], None


@st.composite
def s_op_concat(draw: Any) -> tuple:
    shape = _shape(draw)
    axis = draw(st.integers(1, len(shape)))
    shapes = []
    for _ in range(draw(st.integers(2, 3))):
        s = list(shape)
        s[axis - 1] = draw(st.integers(1, 4))
        shapes.append(tuple(s))
    return {"axis": axis}, shapes, None


@st.composite
def s_op_matmul(draw: Any) -> tuple:
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    lead = _shape(draw, 0, 1)
    return {}, [(*lead, n, k), (*lead, k, m)], None


@st.composite
def s_nested_sequential(draw: Any) -> tuple:
    k = draw(st.integers(1, 3))
    layers = [
        {"type": "Conv2D", "name": "inner_conv", "filters": draw(st.integers(1, 4)), "kernel_size": k},
        {"type": "LayerNormalization", "name": "inner_norm"},
    ]
    if draw(st.booleans()):
        layers.append({"type": "Dense", "name": "inner_dense", "units": 2, "trainable": False})
    size = (draw(st.integers(k, k + 3)), draw(st.integers(k, k + 3)), draw(st.integers(1, 3)))
    return {"layers": layers}, [size], None


@st.composite
def s_nested_functional(draw: Any) -> tuple:
    """One or two model inputs, a branch and a merge, one or two outputs read as output 0."""
    features = draw(st.integers(1, 5))
    two = draw(st.booleans())
    model_inputs = [{"name": "in_a", "shape": [features]}] + (
        [{"name": "in_b", "shape": [features]}] if two else []
    )
    layers = [
        {"type": "Dense", "name": "inner_a", "inputs": "in_a", "units": draw(st.integers(1, 4))},
        {"type": "Dense", "name": "inner_b", "inputs": "in_b" if two else "in_a", "units": 3},
        {
            "type": "Dense",
            "name": "inner_c",
            "inputs": "inner_a",
            "units": 3,
            "trainable": draw(st.booleans()),
        },
        {"type": "Add", "name": "inner_sum", "inputs": ["inner_b", "inner_c"]},
    ]
    args = {"model_inputs": model_inputs, "layers": layers}
    return args, [(features,)] * (2 if two else 1), None


_BINARY = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "true_divide",
    "maximum",
    "minimum",
    "power",
    "equal",
    "not_equal",
]
_UNARY = [
    "negative",
    "abs",
    "sqrt",
    "square",
    "exp",
    "log",
    "tanh",
    "sigmoid",
    "relu",
    "relu6",
    "silu",
    "hard_sigmoid",
    "hard_silu",
]
MORE.update({f"ops.{n}": s_binary() for n in _BINARY})
MORE.update({f"ops.{n}": s_unary() for n in _UNARY})
MORE.update(
    {
        "ops.gelu": s_unary({"approximate": False}),
        "ops.softmax": s_unary({"axis": -1}),
        "ops.clip": s_unary({"x_min": 0.0, "x_max": 6.0}),
        "ops.cast": s_unary({"dtype": "float16"}),
        "ops.mean": s_reduce(),
        "ops.sum": s_reduce(),
        "ops.max": s_reduce(),
        "ops.min": s_reduce(),
        "ops.reshape": s_op_reshape(),
        "ops.transpose": s_op_transpose(),
        "ops.expand_dims": s_op_expand(),
        "ops.squeeze": s_op_squeeze(),
        "ops.concatenate": s_op_concat(),
        "ops.matmul": s_op_matmul(),
        "Sequential": s_nested_sequential(),
        "Functional": s_nested_functional(),
    }
)
