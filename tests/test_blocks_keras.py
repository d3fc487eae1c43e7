"""Blocks built with Keras: ResNet50 and MobileNetV2 equal keras.applications (structure, counts,
predictions with the same weights); every API builds block specs to the same model; the
subclass API nests real layers; the Transformer example learns."""

from __future__ import annotations

import re

import numpy as np
import pytest

import kspec
from conftest import ROOT, SPECS
from kspec.schema.blocks import has_blocks

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("keras_specs")]

BLOCK_SPECS = [p for p in SPECS if has_blocks(kspec.schema.loader.parse(p.read_bytes(), str(p)).data)]
SMALL_BLOCK_SPECS = [p for p in BLOCK_SPECS if p.name not in ("resnet50.yaml", "mobilenet_v2.yaml")]


def _layers_with_weights(model):
    return {layer.name: layer for layer in model.layers if layer.weights}


@pytest.mark.parametrize(
    "spec_file, application, total",
    [("resnet50.yaml", "ResNet50", 25_636_712), ("mobilenet_v2.yaml", "MobileNetV2", 3_538_984)],
)
def test_application_spec_equals_keras_applications(spec_file, application, total, keras):
    """check == expand-then-check == Keras's own model, layer by layer; with Keras's weights
    loaded, the kspec-built model predicts the same."""
    reference = getattr(keras.applications, application)(weights=None)
    spec = kspec.load(ROOT / "specs" / spec_file)
    report = kspec.check(spec).to_dict()
    flat = kspec.check(kspec.from_dict(spec.document.data)).to_dict()
    assert [{k: v for k, v in r.items() if k != "block"} for r in report["layers"]] == flat["layers"]
    assert report["total_params"] == flat["total_params"] == reference.count_params() == total
    # by name (Keras orders a Functional model's layers by depth, not by creation); a layer Keras
    # names itself (`global_average_pooling2d`) may carry a suffix when other models came first
    ref_layers = {
        re.sub(r"_\d+$", "", layer.name) if not layer.weights else layer.name: layer
        for layer in reference.layers[1:]
    }
    assert len(report["layers"]) == len(ref_layers)
    for row in report["layers"]:
        layer = ref_layers.get(row["name"]) or ref_layers[re.sub(r"_\d+$", "", row["name"])]
        assert row["type"] == type(layer).__name__, row["name"]
        assert row["output_shape"] == list(layer.output.shape), row["name"]
        assert row["params"] == layer.count_params(), row["name"]
        assert row["trainable_params"] == sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    model = kspec.build(spec, api="functional")
    assert model.count_params() == total
    mine = _layers_with_weights(model)
    assert mine.keys() == _layers_with_weights(reference).keys()
    rng = np.random.default_rng(0)
    for name, layer in _layers_with_weights(reference).items():
        weights = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":  # statistics away from 0/1: really exercised
            weights = [w + rng.uniform(0, 0.1, w.shape).astype(w.dtype) for w in weights]
        layer.set_weights(weights)
        mine[name].set_weights(weights)
    x = rng.uniform(-1, 1, size=(2, 224, 224, 3)).astype("float32")
    want = reference.predict(x, verbose=0)
    assert np.isfinite(want).all() and want.std() > 0
    assert np.abs(model.predict(x, verbose=0) - want).max() <= 1e-5


def _batch(spec, n=4):
    rng = np.random.default_rng(0)
    out = []
    for i in spec.inputs:
        if i.dtype.startswith("int"):
            out.append(rng.integers(0, 10, size=(n, *i.shape)).astype(i.dtype))
        else:
            out.append(rng.normal(size=(n, *i.shape)).astype(i.dtype))
    return out[0] if len(out) == 1 else out


def _apis(spec):
    graph = kspec.resolve(spec)
    return [
        a
        for a in ("sequential", "functional", "subclass")
        if a != "sequential" or graph.sequential_problem() is None
    ]


def _block_spec_params():
    return [
        pytest.param(p, id=p.name, marks=[pytest.mark.heavy] if p not in SMALL_BLOCK_SPECS else [])
        for p in BLOCK_SPECS
    ]


@pytest.mark.parametrize("path", _block_spec_params())
def test_block_specs_build_the_same_model_in_every_api_and_flat(path, tmp_path):
    """check == expand-then-check == Keras, and equal predictions in every API with the seed."""
    spec = kspec.load(path)
    report = kspec.check(spec).to_dict()
    flat_file = tmp_path / "flat.yaml"
    from kspec.schema.flat import to_yaml

    flat_file.write_text(to_yaml(spec.document.data))
    flat = kspec.load(flat_file)
    assert kspec.check(flat).to_dict()["layers"] == [
        {k: v for k, v in r.items() if k != "block"} for r in report["layers"]
    ]
    x = _batch(spec)
    outputs = {}
    for api in _apis(spec):
        model = kspec.build(spec, api=api)
        assert model.count_params() == report["total_params"]
        outputs[api] = model.predict(x, verbose=0)
    outputs["flat"] = kspec.build(flat, api="functional").predict(x, verbose=0)
    for api, out in outputs.items():
        np.testing.assert_allclose(out, outputs["functional"], atol=1e-6, err_msg=api)


def test_subclass_nests_a_real_layer_per_block_and_reloads(tmp_path, keras, capsys):
    from kspec.builders import BlockLayer, SpecModel

    spec = kspec.load(ROOT / "specs" / "transformer_classifier.yaml")
    model = kspec.build(spec, api="subclass")
    assert isinstance(model, SpecModel)
    encoders = [layer for layer in model.layers if isinstance(layer, BlockLayer)]
    assert [e.name for e in encoders] == ["encoder1", "encoder2"]
    assert isinstance(encoders[0], keras.layers.Layer)
    inner = {layer.name: layer for layer in encoders[0].layers}
    assert type(inner["encoder1_attention"]).__name__ == "MultiHeadAttention"
    report = kspec.check(spec).to_dict()
    assert encoders[0].count_params() == report["blocks"][0]["params"] == 8544
    # the shape Keras's summary shows for a block row comes from the layer's own trace
    for encoder, row in zip(encoders, report["blocks"]):
        shape = encoder.compute_output_shape(encoder._build_shapes_dict["input_shape"])
        assert list(shape) == row["output_shape"]
    paths = [w.path for w in model.weights]
    assert any(p.startswith("transformer_classifier/encoder2/encoder2_ff_hidden/") for p in paths), paths
    model.summary(expand_nested=True)
    printed = capsys.readouterr().out
    assert "encoder1 (BlockLayer)" in printed and "└ encoder1_attention_norm" in printed
    x = _batch(spec)
    file = tmp_path / "t.keras"
    model.save(file)
    again = kspec.load_model(str(file))
    assert isinstance(again.layers[1], BlockLayer)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_sequential_takes_a_chain_of_blocks(keras):
    spec = kspec.load(ROOT / "specs" / "vgg_blocks.yaml")
    model = kspec.build(spec)  # the spec's api: sequential
    assert isinstance(model, keras.Sequential)
    assert [layer.name for layer in model.layers][:4] == [
        "image",
        "stage1_conv1",
        "stage1_conv2",
        "stage1_pool",
    ]


def test_frozen_layer_inside_a_subclass_block_stays_frozen(tmp_path):
    spec = kspec.loads(
        """
seed: 2
blocks:
  pair:
    params: {frozen: {type: bool, default: false}}
    layers:
      - {type: Dense, name: a, units: 3, trainable: "${not frozen}"}
      - {type: Dense, name: b, units: 2}
inputs: [{name: x, shape: [4]}]
layers:
  - {block: pair, name: p, frozen: true}
"""
    )
    report = kspec.check(spec)
    for api in ("functional", "subclass"):
        model = kspec.build(spec, api=api)
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == report.trainable_params == 8


def test_transformer_classifier_beats_chance_on_a_sequence_task(keras):
    """Label: does token 1 occur more often than token 2? Order-free, so attention can count."""
    spec = kspec.load(ROOT / "specs" / "transformer_classifier.yaml")
    model = kspec.build(spec)
    from kspec.training.compile import compile_kwargs

    model.compile(**compile_kwargs(kspec.resolve(spec), spec.compile))  # the spec's compile: section
    rng = np.random.default_rng(0)

    def data(n):
        x = rng.integers(0, 12, size=(n, 16)).astype("int32")
        y = ((x == 1).sum(axis=1) > (x == 2).sum(axis=1)).astype("int32")
        return x, y

    x, y = data(3000)
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    tx, ty = data(500)
    chance = max(ty.mean(), 1 - ty.mean())
    accuracy = float((model.predict(tx, verbose=0).argmax(axis=1) == ty).mean())
    assert accuracy > chance + 0.2, (accuracy, chance)


def test_operations_and_call_arguments_inside_blocks_in_every_api(tmp_path, keras):
    """`ops.*` entries and `call:` arguments work inside a block as at the top level: all APIs
    predict alike, and the subclass model (ops kept as data in its config) reloads."""
    spec = kspec.loads(
        """
name: hard_swish_blocks
seed: 3
blocks:
  hswish:
    params: {units: int}
    layers:
      - {type: Dense, name: dense, units: "${units}"}
      - {type: ops.add, name: plus3, x2: 3.0}
      - {type: ReLU, name: relu6, max_value: 6.0}
      - {type: ops.multiply, name: gate, x2: 0.16666666666666666}
      - {type: ops.multiply, name: out, inputs: [dense, gate]}
      - {type: Dropout, name: drop, rate: 0.5, call: {training: false}}
inputs: [{name: x, shape: [4]}]
layers:
  - {block: hswish, name: b1, units: 6}
  - {block: hswish, name: b2, units: 3}
"""
    )
    report = kspec.check(spec)
    assert report.complete and report.total_params == (4 * 6 + 6) + (6 * 3 + 3)
    x = np.random.default_rng(0).normal(size=(50, 4)).astype("float32")
    functional = kspec.build(spec, api="functional")
    subclass = kspec.build(spec, api="subclass")
    predicted = np.asarray(functional(x))
    np.testing.assert_allclose(np.asarray(subclass(x)), predicted, atol=1e-6)
    # Keras's Functional semantics in both APIs: a constant `training: false` holds when the
    # model is called without `training` (predict), and the model's `training=True` (fit) wins.
    assert not (predicted == 0).any()
    for model in (functional, subclass):
        assert 0.3 < (np.asarray(model(x, training=True)) == 0).mean() < 0.7  # Dropout(0.5) on
    dense = np.asarray(functional.get_layer("b1_dense")(x))
    b1 = keras.Model(functional.inputs, functional.get_layer("b1_drop").output)
    np.testing.assert_allclose(np.asarray(b1(x)), dense * np.clip(dense + 3.0, 0, 6) / 6, atol=1e-5)
    file = tmp_path / "hswish.keras"
    subclass.save(file)
    again = kspec.load_model(str(file))
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(subclass(x)), atol=1e-6)
