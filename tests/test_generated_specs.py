"""Whole generated specs against Keras: `kspec check` (no Keras) must report the per-layer output
shapes and the parameter counts that the built Keras Functional model has.

Hypothesis grows a spec step by step from one or two inputs (vectors, sequences, images or token
ids), over most registry families: chains, residual and concatenating branches merged by the merge
layers, self-attention, wrappers, frozen layers and extra outputs. The generator asks the registry
rules for the current shape only to stay inside what Keras accepts; the assertion is against Keras.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kspec
from kspec.layers import REGISTRY, ShapeError

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("KSPEC_SPEC_EXAMPLES", 60))  # more for a long local run
Shape = tuple  # without the batch dimension


def rule_shape(layer: dict[str, Any], shapes: list[Shape]) -> Shape | None:
    """The registry's output shape for a candidate layer, or None when the rule rejects it."""
    args = {k: v for k, v in layer.items() if k not in ("type", "name", "inputs")}
    try:
        rule = REGISTRY[layer["type"]].model_validate(args)
        out = rule.output_shape([(None, *s) for s in shapes])
        rule.param_counts([(None, *s) for s in shapes])
    except (ShapeError, ValueError):
        return None
    return tuple(out[1:])


def kind(shape: Shape) -> str:
    return {1: "vec", 2: "seq", 3: "img"}[len(shape)]


def same_shape_layer(draw: Any, shape: Shape) -> dict[str, Any]:
    """A layer whose output has the shape of its input (one side of a residual block)."""
    k = kind(shape)
    options: list[dict[str, Any]] = [
        {"type": "Dense", "units": shape[-1], "activation": draw(st.sampled_from([None, "relu"]))},
        {"type": "LayerNormalization"},
        {"type": "BatchNormalization"},
        {"type": "Activation", "activation": "tanh"},
    ]
    if k == "seq":
        options.append(
            {
                "type": "Conv1D",
                "filters": shape[-1],
                "kernel_size": draw(st.integers(1, 3)),
                "padding": draw(st.sampled_from(["same", "causal"])),
            }
        )
        options.append({"type": "LSTM", "units": shape[-1], "return_sequences": True})
    if k == "img":
        options.append(
            {
                "type": "Conv2D",
                "filters": shape[-1],
                "kernel_size": draw(st.integers(1, 3)),
                "padding": "same",
            }
        )
        options.append({"type": "DepthwiseConv2D", "kernel_size": 3, "padding": "same"})
    return draw(st.sampled_from(options))


def width_layer(draw: Any, shape: Shape) -> dict[str, Any]:
    """A layer that keeps every dimension but the last (one side of a concatenation)."""
    units = draw(st.integers(1, 6))
    if kind(shape) == "img":
        return {
            "type": draw(st.sampled_from(["Conv2D", "SeparableConv2D"])),
            "filters": units,
            "kernel_size": draw(st.integers(1, 3)),
            "padding": "same",
        }
    if kind(shape) == "seq" and draw(st.booleans()):
        return {"type": draw(st.sampled_from(["GRU", "SimpleRNN"])), "units": units, "return_sequences": True}
    return {"type": "Dense", "units": units}


def next_layers(draw: Any, shape: Shape) -> list[dict[str, Any]]:
    """Candidates for the next layer of a chain, given the current shape."""
    k = kind(shape)
    small = st.integers(1, 6)
    out: list[dict[str, Any]] = [
        {
            "type": "Dense",
            "units": draw(small),
            "use_bias": draw(st.booleans()),
            "activation": draw(st.sampled_from([None, "relu", "softmax"])),
        },
        {"type": "Dropout", "rate": 0.25},
        {"type": "BatchNormalization", "center": draw(st.booleans())},
        {"type": "LayerNormalization"},
        {
            "type": draw(
                st.sampled_from(
                    ["ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Identity", "UnitNormalization"]
                )
            )
        },
    ]
    if k == "vec":
        out += [
            {"type": "EinsumDense", "equation": "ab,bc->ac", "output_shape": draw(small), "bias_axes": "c"},
            {"type": "RepeatVector", "n": draw(st.integers(2, 5))},
            {"type": "Reshape", "target_shape": [shape[0], 1]},
            {"type": "Rescaling", "scale": 0.5, "offset": 1.0},
            {"type": "GaussianNoise", "stddev": 0.1},
        ]
    if k == "seq":
        t = shape[0]
        rnn = draw(st.sampled_from(["SimpleRNN", "LSTM", "GRU"]))
        out += [
            {
                "type": "Conv1D",
                "filters": draw(small),
                "kernel_size": draw(st.integers(1, 3)),
                "padding": draw(st.sampled_from(["valid", "same", "causal"])),
                "strides": draw(st.integers(1, 2)),
            },
            {
                "type": draw(st.sampled_from(["MaxPooling1D", "AveragePooling1D"])),
                "pool_size": 2,
                "padding": "same",
            },
            {"type": rnn, "units": draw(small), "return_sequences": draw(st.booleans())},
            {
                "type": "Bidirectional",
                "layer": {"type": rnn, "units": draw(small), "return_sequences": draw(st.booleans())},
                "merge_mode": draw(st.sampled_from(["concat", "sum", "ave", "mul"])),
            },
            {"type": draw(st.sampled_from(["GlobalAveragePooling1D", "GlobalMaxPooling1D"]))},
            {"type": "Flatten"},
            {"type": "EinsumDense", "equation": "...c,cd->...d", "output_shape": draw(small)},
            {"type": "TimeDistributed", "layer": {"type": "Dense", "units": draw(small)}},
            {"type": "Permute", "dims": [2, 1]},
            {"type": "SpatialDropout1D", "rate": 0.2},
            {"type": "ZeroPadding1D", "padding": draw(st.integers(0, 2))},
            {"type": "UpSampling1D", "size": 2},
            {"type": "SeparableConv1D", "filters": draw(small), "kernel_size": 1},
            {"type": "Conv1DTranspose", "filters": draw(small), "kernel_size": 2, "strides": 2},
        ]
        if t is not None and t > 2:
            out.append({"type": "Cropping1D", "cropping": [1, 1]})
        if None not in shape:
            out.append({"type": "Reshape", "target_shape": [t * shape[1]]})
    if k == "img":
        out += [
            {
                "type": "Conv2D",
                "filters": draw(small),
                "kernel_size": draw(st.integers(1, 3)),
                "padding": draw(st.sampled_from(["valid", "same"])),
                "strides": draw(st.integers(1, 2)),
            },
            {"type": "SeparableConv2D", "filters": draw(small), "kernel_size": 2, "padding": "same"},
            {"type": "DepthwiseConv2D", "kernel_size": 2, "depth_multiplier": draw(st.integers(1, 2))},
            {"type": "Conv2DTranspose", "filters": draw(small), "kernel_size": 2, "strides": 2},
            {
                "type": draw(st.sampled_from(["MaxPooling2D", "AveragePooling2D", "MaxPool2D"])),
                "pool_size": 2,
                "padding": draw(st.sampled_from(["valid", "same"])),
            },
            {
                "type": draw(
                    st.sampled_from(["GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAvgPool2D"])
                )
            },
            {"type": "Flatten"},
            {"type": "ZeroPadding2D", "padding": draw(st.integers(0, 2))},
            {"type": "Cropping2D", "cropping": 1},
            {"type": "UpSampling2D", "size": 2},
            {"type": "SpatialDropout2D", "rate": 0.1},
            {"type": "Reshape", "target_shape": [-1, shape[-1]]},
        ]
    return out


@st.composite
def specs(draw: Any) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    shapes: dict[str, Shape] = {}
    counter = iter(range(1000))

    def add(layer: dict[str, Any], sources: list[str]) -> str:
        shape = rule_shape(layer, [shapes[s] for s in sources])
        assert shape is not None, (layer, [shapes[s] for s in sources])
        name = f"l{next(counter)}"
        layer = {**layer, "name": name, "inputs": sources if len(sources) > 1 else sources[0]}
        if draw(st.integers(0, 7)) == 0 and not layer["type"].startswith("SpatialDropout"):
            layer["trainable"] = False
        layers.append(layer)
        shapes[name] = shape
        return name

    def step(current: str) -> str:
        shape = shapes[current]
        choice = draw(st.integers(0, 9))
        if choice == 0 and kind(shape) == "seq" and None not in shape:  # self-attention
            layer = {
                "type": "MultiHeadAttention",
                "num_heads": draw(st.integers(1, 3)),
                "key_dim": draw(st.integers(1, 4)),
            }
            return add(layer, [current, current])
        if choice in (1, 2):  # residual block merged element-wise
            layer = same_shape_layer(draw, shape)
            out = rule_shape(layer, [shape])
            if out == shape:
                branch = add(layer, [current])
                merge = draw(
                    st.sampled_from(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
                )
                return add({"type": merge}, [current, branch])
        if choice == 3:  # two branches concatenated on the last axis
            a, b = width_layer(draw, shape), width_layer(draw, shape)
            sa, sb = rule_shape(a, [shape]), rule_shape(b, [shape])
            if sa is not None and sb is not None and sa[:-1] == sb[:-1]:
                na, nb = add(a, [current]), add(b, [current])
                return add({"type": "Concatenate"}, [na, nb])
        candidates = next_layers(draw, shape)
        for _ in range(5):
            layer = draw(st.sampled_from(candidates))
            out = rule_shape(layer, [shape])
            if out is not None and 1 <= len(out) <= 3 and all(d is None or d <= 64 for d in out):
                return add(layer, [current])
        return current

    start = draw(st.sampled_from(["vec", "seq", "img", "tokens", "two"]))
    if start == "vec":
        inputs = [{"name": "x", "shape": [draw(st.integers(1, 8))]}]
    elif start == "seq":
        inputs = [{"name": "x", "shape": [draw(st.sampled_from([None, 3, 4, 6])), draw(st.integers(1, 5))]}]
    elif start == "img":
        inputs = [
            {
                "name": "x",
                "shape": [draw(st.integers(4, 9)), draw(st.integers(4, 9)), draw(st.integers(1, 3))],
            }
        ]
    elif start == "tokens":
        inputs = [{"name": "x", "shape": [draw(st.integers(2, 6))], "dtype": "int32"}]
    else:
        inputs = [
            {"name": "x", "shape": [draw(st.integers(1, 6))]},
            {"name": "y", "shape": [draw(st.integers(2, 5)), draw(st.integers(1, 4))]},
        ]
    for i in inputs:
        shapes[i["name"]] = tuple(i["shape"])

    current = "x"
    if start == "tokens":
        current = add(
            {
                "type": "Embedding",
                "input_dim": draw(st.integers(2, 30)),
                "output_dim": draw(st.integers(1, 6)),
                "mask_zero": draw(st.booleans()),
            },
            ["x"],
        )
    outputs: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        before = current
        current = step(current)
        if current != before and draw(st.integers(0, 9)) == 0:
            outputs.append(current)
    if start == "two":
        other = add({"type": draw(st.sampled_from(["LSTM", "GRU"])), "units": draw(st.integers(1, 4))}, ["y"])
        if kind(shapes[current]) != "vec":
            current = add({"type": "Flatten"}, [current])
        if shapes[current] == shapes[other] and draw(st.booleans()):
            current = add({"type": "Dot", "axes": 1, "normalize": draw(st.booleans())}, [current, other])
        elif None not in shapes[current]:
            current = add({"type": "Concatenate"}, [current, other])
        else:
            current = add(
                {"type": "Add"},
                [add({"type": "Dense", "units": 3}, [current]), add({"type": "Dense", "units": 3}, [other])],
            )
    if current in ("x", "y"):
        current = add({"type": "Dense", "units": 2}, [current])
    outputs = [o for o in outputs if o != current] + [current]
    return {"name": "generated", "inputs": inputs, "layers": layers, "outputs": outputs}


def weight_sizes(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) for w in weights)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec_dict=specs())
def test_check_matches_the_built_functional_model(keras: Any, spec_dict: dict[str, Any]) -> None:
    spec = kspec.from_dict(spec_dict)
    report = kspec.check(spec).to_dict()
    assert report["unchecked"] == []
    model = kspec.build(spec, "functional")
    for row in report["layers"]:
        layer = model.get_layer(row["name"])
        want = [
            list(layer.output.shape),
            layer.count_params(),
            weight_sizes(layer.trainable_weights),
            weight_sizes(layer.non_trainable_weights),
        ]
        got = [row["output_shape"], row["params"], row["trainable_params"], row["non_trainable_params"]]
        assert got == want, f"layer {row['name']} ({row['type']}): kspec {got}, Keras {want}\n{spec_dict}"
    assert report["total_params"] == model.count_params()
    assert report["trainable_params"] == weight_sizes(model.trainable_weights)
    assert report["non_trainable_params"] == weight_sizes(model.non_trainable_weights)


@settings(
    max_examples=max(EXAMPLES // 4, 5),
    deadline=None,
    derandomize=EXAMPLES <= 60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec_dict=specs())
def test_check_totals_match_every_api(keras: Any, spec_dict: dict[str, Any]) -> None:
    """The subclass API (and Sequential, for chains) reach the same totals, frozen layers included."""
    spec = kspec.from_dict(spec_dict)
    report = kspec.check(spec).to_dict()
    apis = ["subclass"] + (["sequential"] if report["sequential"] else [])
    for api in apis:
        model = kspec.build(spec, api)
        got = [
            model.count_params(),
            weight_sizes(model.trainable_weights),
            weight_sizes(model.non_trainable_weights),
        ]
        want = [report["total_params"], report["trainable_params"], report["non_trainable_params"]]
        assert got == want, f"{api}: Keras {got}, kspec {want}\n{spec_dict}"
