"""`kspec import --blocks`: repeated units (layers named `<prefix>_...`, as Keras's applications
name them) become `blocks:`, used only where kspec's own expansion gives exactly the flat graph.
The block spec then builds the source model: same counts, and the source's weights give the
source's predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml

import kspec
from kspec.importer import import_dict
from kspec.importer.blocks import find_blocks

pytestmark = pytest.mark.slow


def residual_stack(keras: Any) -> Any:
    """Three residual units named like keras.applications (`stage_block1_...`), two widths."""
    from keras import layers

    x = keras.Input((8,), name="x")
    h = layers.Dense(8, name="stem")(x)
    for i, units in enumerate((16, 32, 16), start=1):
        p = f"stage_block{i}_"
        y = layers.Dense(units, activation="relu", name=p + "1_dense")(h)
        y = layers.Dropout(0.1, name=p + "1_drop")(y)
        y = layers.Dense(8, name=p + "2_dense")(y)
        h = layers.Activation("relu", name=p + "out")(layers.Add(name=p + "add")([h, y]))
    return keras.Model(x, layers.Dense(2, name="head")(h), name="stack")


def test_repeated_units_become_one_block_with_parameters(keras: Any, tmp_path: Any, capsys: Any) -> None:
    from kspec.cli import main

    keras.backend.clear_session()
    model = residual_stack(keras)
    path, out = str(tmp_path / "stack.keras"), str(tmp_path / "stack.yaml")
    weights = str(tmp_path / "stack.weights.h5")
    model.save(path)
    assert main(["import", path, "-o", out, "--blocks", "--weights", weights]) == 0
    assert "1 block(s) for repeated units" in capsys.readouterr().out
    spec = kspec.load(out)
    raw = yaml.safe_load(open(out).read())  # the file as written (Spec.raw is expanded)
    assert list(raw["blocks"]) == ["block1"] and raw["blocks"]["block1"]["params"] == {"units": "int"}
    assert [e.get("block") for e in raw["layers"]] == [None, "block1", "block1", "block1", None]
    assert [e.get("units") for e in raw["layers"][1:4]] == [16, 32, 16]
    flat = kspec.from_dict(import_dict(model)[0])
    rows = [{k: v for k, v in r.items() if k != "block"} for r in kspec.check(spec).to_dict()["layers"]]
    assert rows == kspec.check(flat).to_dict()["layers"]  # the same graph, row for row
    x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    for api in ("functional", "subclass"):
        rebuilt = kspec.build(spec, api=api, weights=weights)
        assert rebuilt.count_params() == model.count_params()
        assert np.abs(np.asarray(rebuilt(x)) - np.asarray(model(x))).max() <= 1e-5, api


def test_no_repeats_keep_the_flat_spec(keras: Any, tmp_path: Any, capsys: Any) -> None:
    from kspec.cli import main

    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="out_dense")(keras.layers.Dense(3, name="in_dense")(x)))
    path, out = str(tmp_path / "m.keras"), str(tmp_path / "m.yaml")
    model.save(path)
    assert main(["import", path, "-o", out, "--blocks"]) == 0
    assert "no repeated blocks found, the spec is flat" in capsys.readouterr().out
    assert "blocks" not in yaml.safe_load(open(out).read())
    assert find_blocks(import_dict(model)[0]) is None


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["ResNet50", "MobileNetV2", "DenseNet121", "EfficientNetB0"])
def test_applications_import_with_blocks_and_no_loss(keras: Any, tmp_path: Any, name: str) -> None:
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3))
    flat = import_dict(model)[0]
    blocked = find_blocks(flat)
    assert blocked is not None and blocked["blocks"]
    spec = kspec.from_dict(blocked)
    assert kspec.check(spec).total_params == model.count_params()
    weights = str(tmp_path / "w.weights.h5")
    model.save_weights(weights)
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    rebuilt = kspec.build(spec, api="functional", weights=weights)
    assert np.abs(np.asarray(rebuilt(x, training=False)) - np.asarray(model(x, training=False))).max() <= 1e-5
