"""Shared layers: `{reuse: NAME, inputs: ...}` calls an earlier layer again with the same weights.

`kspec check` counts a shared layer's weights once, as Keras does, and refuses a second call
whose input does not fit those weights, all without Keras; the functional and subclass APIs
build one Keras layer called twice (checked against Keras's own model), the Sequential API
says why it cannot.
"""

from __future__ import annotations

import numpy as np
import pytest

import kspec

SIAMESE = """
name: siamese
seed: 1
inputs:
  - {name: left, shape: [6]}
  - {name: right, shape: [6]}
layers:
  - {type: Dense, name: encoder, inputs: left, units: 6, activation: tanh}
  - {reuse: encoder, inputs: right}
  - {type: Subtract, name: diff, inputs: [encoder, encoder_call2]}
  - {reuse: encoder, name: again, inputs: diff}
  - {type: Dense, name: score, units: 1, activation: sigmoid}
"""


def test_check_counts_a_shared_layer_once_and_names_its_calls():
    report = kspec.check(kspec.loads(SIAMESE)).to_dict()
    rows = {r["name"]: r for r in report["layers"]}
    assert list(rows) == ["encoder", "encoder_call2", "diff", "again", "score"]
    assert rows["encoder"]["params"] == 6 * 6 + 6
    assert rows["encoder_call2"]["params"] == 0 and rows["encoder_call2"]["output_shape"] == [None, 6]
    assert rows["again"]["params"] == 0
    assert report["total_params"] == 42 + 7


def test_functional_and_subclass_build_one_layer_called_three_times(keras, tmp_path):
    spec = kspec.loads(SIAMESE)
    report = kspec.check(spec)
    left = keras.Input((6,), name="left")
    right = keras.Input((6,), name="right")
    encoder = keras.layers.Dense(6, activation="tanh", name="encoder")
    a, b = encoder(left), encoder(right)
    reference = keras.Model(
        [left, right], keras.layers.Dense(1, activation="sigmoid")(encoder(keras.layers.Subtract()([a, b])))
    )
    assert report.total_params == reference.count_params() == 6 * 6 + 6 + 7
    x = [np.random.default_rng(0).normal(size=(3, 6)).astype("float32") for _ in range(2)]
    out = {}
    for api in ("functional", "subclass"):
        model = kspec.build(spec, api=api)
        assert model.count_params() == report.total_params
        assert sum(1 for layer in model.layers if layer.name == "encoder") == 1
        if api == "functional":
            reference.set_weights(model.get_weights())
            assert len(model.get_layer("encoder")._inbound_nodes) == 3
        out[api] = np.asarray(model(x))
    np.testing.assert_allclose(out["functional"], np.asarray(reference(x)), atol=1e-6)
    np.testing.assert_allclose(out["subclass"], out["functional"], atol=1e-6)  # same seed, same weights
    file = tmp_path / "siamese.keras"
    kspec.build(spec, api="subclass").save(file)
    again = kspec.load_model(str(file))
    np.testing.assert_allclose(np.asarray(again(x)), out["subclass"], atol=1e-6)
    chain = kspec.loads(
        "inputs: [{name: x, shape: [3]}]\nlayers:\n  - {type: Dense, name: d, units: 3}\n  - {reuse: d}\n"
    )
    with pytest.raises(
        kspec.SpecError, match="'d_call2' calls the layer 'd' again; Sequential calls each layer once"
    ):
        kspec.build(chain, api="sequential")


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "right, shape: [6]",
            "right, shape: [5]",
            "s.yaml:9:30: layers[1].inputs: 'encoder_call2' calls 'encoder' on input shape(s) (None, 5) that "
            "need 36 parameters; 'encoder' has 42",
        ),
        ("reuse: encoder, name: again", "reuse: nope, name: again", "layers[3].reuse: unknown layer 'nope'"),
        (
            "reuse: encoder, name: again",
            "reuse: left, name: again",
            "layers[3].reuse: 'left' is a model input",
        ),
        (
            "reuse: encoder, name: again",
            "reuse: score, name: again",
            "layers[3].reuse: 'score' is defined later",
        ),
        ("name: again,", "name: again, units: 3,", "layers[3].units: a `reuse:` entry calls 'encoder' again"),
    ],
)
def test_bad_reuse_is_one_located_error(old, new, message):
    assert old in SIAMESE
    with pytest.raises(kspec.SpecError) as err:
        kspec.check(kspec.loads(SIAMESE.replace(old, new), file="s.yaml"))
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)


def test_reuse_inside_a_block_is_refused():
    text = """
name: b
blocks:
  twice:
    layers:
      - {type: Dense, name: d, units: 3}
      - {reuse: d}
inputs: [{name: x, shape: [3]}]
layers:
  - {block: twice}
"""
    with pytest.raises(
        kspec.SpecError,
        match=r"blocks.twice.layers\[1\].reuse: `reuse:` \(a shared layer\) is for entries outside blocks",
    ):
        kspec.check(kspec.loads(text))


def test_the_json_schema_offers_reuse_and_call():
    import jsonschema
    import yaml

    from kspec.schema.json_schema import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    data = yaml.safe_load(SIAMESE)
    data["layers"][1]["call"] = {"training": False}
    validator.validate(data)
    data["layers"][1]["units"] = 3  # a reuse entry has no arguments of its own
    assert not validator.is_valid(data)
