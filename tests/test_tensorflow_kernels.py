"""Arguments Keras accepts but TensorFlow's CPU kernels cannot run, refused by `kspec check` on
TensorFlow (`graph.checks.tensorflow_kernels`, each rule's `tensorflow_problem`).

Each refusal is proved against TensorFlow itself: over a grid of arguments, the real layer fails
(oneDNN's "could not create a primitive descriptor", or "Negative dimension size" when traced) exactly where
the rule says so, and runs everywhere else. A user sees one located error, never a traceback.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np

from kspec.layers import REGISTRY


def _problem(layer_type: str, args: dict, shape: tuple) -> bool:
    return REGISTRY[layer_type].model_validate(args).tensorflow_problem([(None, *shape)]) is not None


def test_conv_transpose_refusal_is_exactly_where_onednn_fails(keras):
    """Output padding 0 with padding same and an even kernel (any stride, 1D to 3D) has no
    oneDNN kernel; every neighbour of it runs."""
    wrong = []
    for rank, k, s, pad, op in itertools.product(
        (1, 2, 3), (1, 2, 3, 4, (2, 3)), (1, 2, 3), ("same", "valid"), (None, 0, 1)
    ):
        if (op is not None and op >= s) or (isinstance(k, tuple) and rank != 2):
            continue  # refused by Keras itself (output_padding < strides), or a 2D-only kernel
        layer_type = f"Conv{rank}DTranspose"
        args = {"filters": 2, "kernel_size": k, "strides": s, "padding": pad}
        if op is not None:
            args["output_padding"] = op
        shape = (4,) * rank + (2,)
        layer = getattr(keras.layers, layer_type)(**args)
        try:
            layer(np.ones((2, *shape), "float32"))
            fails = False
        except Exception as exc:  # noqa: BLE001  (TensorFlow raises AbortedError)
            assert "primitive descriptor" in str(exc), exc
            fails = True
        if fails != _problem(layer_type, args, shape):
            wrong.append((layer_type, args, "TensorFlow fails" if fails else "TensorFlow runs"))
    assert wrong == []


def test_adaptive_pooling_refusal_is_exactly_where_tensorflow_fails_when_traced(keras):
    """Traced as fit, predict and the subclass build trace it: TensorFlow fails for a length or
    an output_size of 1 on any axis and builds every other case (1D and 2D, both data formats)."""
    import tensorflow as tf

    wrong = []
    for kind, rank, fmt in itertools.product(("Max", "Average"), (1, 2), ("channels_last", "channels_first")):
        lengths, outs = ((1, 2, 3), (1, 2, 3)) if rank == 1 else ((1, 3), (1, 2))  # 2D: a smaller grid
        for sizes, size in itertools.product(
            itertools.product(lengths, repeat=rank), itertools.product(outs, repeat=rank)
        ):
            shape = (2, *sizes) if fmt == "channels_first" else (*sizes, 2)
            layer = getattr(keras.layers, f"Adaptive{kind}Pooling{rank}D")(size, data_format=fmt)
            try:
                tf.function(layer).get_concrete_function(tf.TensorSpec((None, *shape)))
                fails = False
            except Exception:  # noqa: BLE001  (TensorFlow raises ValueError or InvalidArgumentError)
                fails = True
            args = {"output_size": list(size), "data_format": fmt}
            if fails != _problem(f"Adaptive{kind}Pooling{rank}D", args, shape):
                wrong.append((kind, rank, fmt, shape, size, "fails" if fails else "builds"))
    assert wrong == []


SPEC = """\
kspec: 1
name: kernels
inputs:
  - {name: image, shape: [8, 8, 1]}
layers:
  - {type: Conv2DTranspose, name: up, filters: 2, kernel_size: 2, strides: 2, padding: same, output_padding: 0}
  - {type: AdaptiveMaxPooling2D, name: pool, output_size: [2, 1]}
  - {type: Flatten, name: flat}
  - {type: Dense, name: digit, units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train:
  data: {type: sklearn, name: digits}
  epochs: 1
"""


def _kspec(*args: str, cwd: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    return subprocess.run(
        [sys.executable, "-m", "kspec", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_check_and_train_refuse_them_on_tensorflow_with_located_errors(tmp_path):
    (tmp_path / "k.yaml").write_text(SPEC)
    for command in (["check", "k.yaml"], ["train", "k.yaml", "-o", "run"]):
        done = _kspec(*command, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert "k.yaml:6:" in done.stderr and "layers[0].output_padding" in done.stderr
        assert "oneDNN" in done.stderr
        assert "k.yaml:7:" in done.stderr and "layers[1].output_size" in done.stderr
        assert "Negative dimension size" in done.stderr
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_other_backends_accept_them(tmp_path):
    """JAX and PyTorch run these layers: the refusal is TensorFlow's alone (check imports no
    backend, so the spec's `backend:` decides)."""
    (tmp_path / "k.yaml").write_text(SPEC.replace("name: kernels\n", "name: kernels\nbackend: jax\n"))
    done = _kspec("check", "k.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr
