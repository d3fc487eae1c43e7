"""A nested Functional model in a spec: `{type: Functional, model_inputs, layers, outputs}`,
checked without Keras (shapes traced through its layers, counts summed as Keras's summary
shows a nested model in one row) and built as a real nested `keras.Model`."""

from __future__ import annotations

import numpy as np
import pytest

import kspec

SPEC = """
name: outer
inputs: [{name: x, shape: [8]}]
layers:
  - type: Functional
    name: encoder
    model_inputs: [{name: enc_in, shape: [8]}]
    layers:
      - {type: Dense, name: enc_hidden, units: 6, activation: relu}
      - {type: Dense, name: enc_code, units: 3}
  - {type: Dense, name: head, units: 2}
"""


def test_check_traces_the_nested_model_and_keras_agrees(keras):
    spec = kspec.loads(SPEC)
    report = kspec.check(spec).to_dict()
    rows = {r["name"]: r for r in report["layers"]}
    assert rows["encoder"]["output_shape"] == [None, 3]
    assert rows["encoder"]["params"] == (8 * 6 + 6) + (6 * 3 + 3)
    model = kspec.build(spec)
    inner = model.get_layer("encoder")
    assert isinstance(inner, keras.Model) and [layer.name for layer in inner.layers][1:] == [
        "enc_hidden",
        "enc_code",
    ]
    assert model.count_params() == report["total_params"]
    x = np.ones((2, 8), "float32")
    assert np.asarray(model(x)).shape == (2, 2)


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "shape: [8]}]\n    layers",
            "shape: [5]}]\n    layers",
            "model input 'enc_in' has shape (None, 5), got (None, 8)",
        ),
        ("units: 3}", "units: 3, inputs: nowhere}", "inner layer 'enc_code' reads ['nowhere']"),
        (
            "units: 3}",
            "units: 3, unitz: 1}",
            "layers[1]: Dense has no argument 'unitz'; did you mean 'units'?",
        ),
    ],
)
def test_bad_nested_model_is_one_located_error(old, new, message):
    assert old in SPEC
    with pytest.raises(kspec.SpecError) as err:
        kspec.check(kspec.loads(SPEC.replace(old, new), file="s.yaml"))
    text = str(err.value)
    assert text.startswith("s.yaml:") and "layers[0]" in text and message in text, text
    assert len(text.splitlines()) == 1
