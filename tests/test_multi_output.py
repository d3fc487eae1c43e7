"""Layers with several outputs: an LSTM/GRU/SimpleRNN with `return_state: true` returns
[output, *states]; the spec reads output K as `NAME:K` (`NAME` alone is output 0).

`kspec check` gives every output's shape without Keras; the functional and subclass APIs pass
each output on as Keras does (checked against a Keras model written by hand).
"""

from __future__ import annotations

import numpy as np
import pytest

import kspec

ENCODER = """
name: seq2vec
seed: 2
inputs: [{name: tokens, shape: [7, 3]}]
layers:
  - {type: LSTM, name: lstm, units: 5, return_sequences: true, return_state: true}
  - {type: Concatenate, name: state, inputs: [lstm:1, lstm:2]}
  - {type: GRU, name: gru, inputs: lstm, units: 4, return_state: true}
  - {type: Concatenate, name: cat, inputs: [state, gru:1]}
  - {type: Dense, name: head, units: 2}
outputs: [head, gru:1]
"""


def test_check_gives_every_output_shape():
    report = kspec.check(kspec.loads(ENCODER)).to_dict()
    rows = {r["name"]: r for r in report["layers"]}
    assert rows["lstm"]["output_shape"] == [None, 7, 5]
    assert rows["lstm"]["output_shapes"] == [[None, 7, 5], [None, 5], [None, 5]]
    assert rows["gru"]["output_shapes"] == [[None, 4], [None, 4]]
    assert rows["state"]["output_shape"] == [None, 10] and rows["cat"]["output_shape"] == [None, 14]
    assert "output_shapes" not in rows["head"]


def test_functional_and_subclass_pass_each_output_on_like_keras(keras):
    spec = kspec.loads(ENCODER)
    tokens = keras.Input((7, 3), name="tokens")
    seq, h, c = keras.layers.LSTM(5, return_sequences=True, return_state=True, name="lstm")(tokens)
    last, g = keras.layers.GRU(4, return_state=True, name="gru")(seq)
    cat = keras.layers.Concatenate()([keras.layers.Concatenate()([h, c]), g])
    reference = keras.Model(tokens, [keras.layers.Dense(2, name="head")(cat), g])
    report = kspec.check(spec)
    assert report.total_params == reference.count_params()
    x = np.random.default_rng(0).normal(size=(3, 7, 3)).astype("float32")
    results = {}
    for api in ("functional", "subclass"):
        model = kspec.build(spec, api=api)
        reference.set_weights(model.get_weights())
        out = model(x)
        results[api] = [np.asarray(out["head"]), np.asarray(out["gru:1"])]
        expected = [np.asarray(t) for t in reference(x)]
        for got, want in zip(results[api], expected):
            np.testing.assert_allclose(got, want, atol=1e-5, err_msg=api)
    with pytest.raises(kspec.SpecError, match="'lstm' has 3 outputs; Sequential passes one tensor on"):
        kspec.build(kspec.loads(ENCODER.replace("outputs: [head, gru:1]", "")), api="sequential")


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "[lstm:1, lstm:2]",
            "[lstm:1, lstm:3]",
            "layers[1].inputs[1]: 'lstm:3': 'lstm' has 3 outputs: lstm, lstm:1, lstm:2",
        ),
        ("[state, gru:1]", "[state, head:1]", "layers[3].inputs[1]: 'head' is defined later"),
        (
            "[state, gru:1]",
            "[state, state:1]",
            "layers[3].inputs[1]: 'state:1': 'state' has one output; read it as 'state'",
        ),
        (
            "outputs: [head, gru:1]",
            "outputs: [head, gru:2]",
            "outputs[1]: 'gru:2': 'gru' has 2 outputs: gru, gru:1",
        ),
        ("[lstm:1, lstm:2]", "[lstm:1, lstm:x]", "layers[1].inputs[1]: must be a name"),
    ],
)
def test_bad_output_reference_is_one_located_error(old, new, message):
    assert old in ENCODER
    with pytest.raises(kspec.SpecError) as err:
        kspec.check(kspec.loads(ENCODER.replace(old, new), file="s.yaml"))
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1, str(err.value)
