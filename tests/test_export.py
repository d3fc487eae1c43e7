"""`kspec export`: the SavedModel loaded by TensorFlow and the ONNX file run by onnxruntime give the
Keras model's predictions (max abs diff <= 1e-5) for the MNIST MLP and the small CNN."""

from __future__ import annotations

import numpy as np
import pytest

import kspec
from conftest import ROOT
from kspec.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["mnist_mlp.yaml", "small_cnn.yaml"])
def test_saved_model_and_onnx_predict_like_keras(name, tmp_path, keras, capsys):
    spec_path = str(ROOT / "specs" / name)
    assert main(["export", spec_path, "--format", "keras", "-o", str(tmp_path / "m.keras")]) == 0
    model = kspec.load_model(str(tmp_path / "m.keras"))
    graph = kspec.resolve(kspec.load(spec_path))
    x = np.random.default_rng(0).uniform(0, 255, size=(5, *graph.inputs[0].shape)).astype("float32")
    want = np.asarray(model.predict(x, verbose=0))

    # the exports come from the same model (.keras is what a run folder holds)
    from kspec.training.export import export

    export(model, "saved_model", str(tmp_path / "sm"))
    export(model, "onnx", str(tmp_path / "m.onnx"))

    import tensorflow as tf

    loaded = tf.saved_model.load(str(tmp_path / "sm"))  # keep it: its variables live in this object
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(served), want, rtol=0, atol=1e-5)

    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_bad_output_name_is_exit_2(tmp_path, capsys):
    code = main(
        ["export", str(ROOT / "specs/mnist_mlp.yaml"), "--format", "onnx", "-o", str(tmp_path / "m.txt")]
    )
    assert code == 2 and ".onnx" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
