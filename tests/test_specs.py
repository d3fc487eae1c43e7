"""Every spec in specs/ loads, checks and builds with every API that applies, and the checker's
shapes and parameter counts equal those of the built Keras model."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import kspec
from conftest import SPECS, spec_params

APIS = ("sequential", "functional", "subclass")
pytestmark = pytest.mark.xdist_group("keras_specs")


@pytest.fixture(scope="session")
def built(keras):
    """(spec file, api) -> built model, built once per module."""
    cache: dict = {}

    def get(path, api):
        key = (str(path), api)
        if key not in cache:
            cache[key] = kspec.build(kspec.load(path), api=api)
        return cache[key]

    return get


def _apis(path) -> list[str]:
    graph = kspec.resolve(kspec.load(path))
    return [a for a in APIS if a != "sequential" or graph.sequential_problem() is None]


def _weight_count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def test_every_spec_checks_completely_without_keras():
    """In a fresh process: every spec checks with a shape and counts on every row, and neither
    Keras nor TensorFlow (nor any backend) is imported along the way."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, kspec\n"
        "paths = sys.argv[1:]\n"
        "out = {p: kspec.check(kspec.load(p)).to_dict() for p in paths}\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules)\n"
        "print(json.dumps({'reports': out, 'imported': heavy}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, SPECS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(proc.stdout)
    assert result["imported"] == []
    for path, report in result["reports"].items():
        assert report["layers"], path
        assert report["total_params"] == sum(r["params"] for r in report["layers"]), path
        for row in report["layers"]:
            assert row["output_shape"] is not None and row["params"] is not None, (path, row)
            assert row["params"] == row["trainable_params"] + row["non_trainable_params"], (path, row)


@pytest.mark.slow
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("path", spec_params())
def test_check_matches_keras(path, api, built):
    spec = kspec.load(path)
    if api not in _apis(path):
        with pytest.raises(kspec.SpecError, match="Sequential API cannot build"):
            kspec.build(spec, api=api)
        return
    report = kspec.check(spec).to_dict()
    model = built(path, api)
    assert model.count_params() == report["total_params"] or report["total_params"] is None
    if report["total_params"] is not None:
        assert _weight_count(model.trainable_weights) == report["trainable_params"]
        assert _weight_count(model.non_trainable_weights) == report["non_trainable_params"]
    from kspec.builders import layers_by_name

    layers = layers_by_name(model)  # subclass blocks nest their layers
    for row in report["layers"]:
        layer = layers[row["name"]]
        assert type(layer).__name__ == row["type"]
        if row["params"] is not None:
            assert layer.count_params() == row["params"], row["name"]
            assert _weight_count(layer.trainable_weights) == row["trainable_params"], row["name"]
        if row["output_shape"] is not None and api != "subclass":
            assert list(layer.output.shape) == row["output_shape"], row["name"]
        assert layer.trainable == row["trainable"]


@pytest.mark.slow
@pytest.mark.parametrize("path", spec_params())
def test_same_seed_same_weights_and_outputs(path, built):
    apis = _apis(path)
    models = {api: built(path, api) for api in apis}
    reference = models[apis[0]]

    def key(w) -> str:  # "<layer>/<variable>"; subclassed models prefix their own name
        return "/".join(w.path.split("/")[-2:])

    want_weights = {key(w): np.asarray(w) for w in reference.weights}
    for api, model in models.items():
        # by name: the Functional model orders a branching graph's weights differently
        got = {key(w): np.asarray(w) for w in model.weights}
        assert got.keys() == want_weights.keys(), api
        for name, value in got.items():
            np.testing.assert_array_equal(value, want_weights[name], err_msg=f"{api}: {name}")
    spec = kspec.load(path)
    rng = np.random.default_rng(0)
    batch = [rng.normal(size=(4, *i.shape)).astype("float32") for i in spec.inputs]
    x = batch[0] if len(batch) == 1 else batch
    want = reference.predict(x, verbose=0)
    for api, model in models.items():
        got = model.predict(x, verbose=0)
        if isinstance(want, dict):
            for k in want:
                np.testing.assert_allclose(got[k], want[k], atol=1e-6, err_msg=api)
        else:
            np.testing.assert_allclose(got, want, atol=1e-6, err_msg=api)


@pytest.mark.slow
@pytest.mark.parametrize("api", APIS)
def test_saved_model_reloads(api, built, keras, tmp_path):
    path = next(p for p in SPECS if p.name == "seed_sequential.yaml")
    model = built(path, api)
    file = tmp_path / f"{api}.keras"
    model.save(file)
    again = keras.models.load_model(file, safe_mode=True)
    assert type(again) is type(model)
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3, 1)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.slow
def test_subclass_model_is_a_real_subclass_and_branching_roundtrips(built, keras, tmp_path):
    path = next(p for p in SPECS if p.name == "branching.yaml")
    model = built(path, "subclass")
    assert type(model) is not keras.Model and isinstance(model, keras.Model)
    assert type(model).call is not keras.Model.call
    model.save(tmp_path / "b.keras")
    again = keras.models.load_model(tmp_path / "b.keras")
    x = [np.ones((2, 16), "float32"), np.ones((2, 8), "float32")]
    for k, v in model.predict(x, verbose=0).items():
        np.testing.assert_array_equal(again.predict(x, verbose=0)[k], v)


@pytest.mark.slow
@pytest.mark.parametrize("api", ["functional", "subclass"])
def test_frozen_layers_frozen_in_every_api(api, built):
    path = next(p for p in SPECS if p.name == "branching.yaml")
    model = built(path, api)
    frozen = {n.name for n in kspec.resolve(kspec.load(path)).nodes if not n.spec.trainable}
    assert frozen == {"embed_context"}
    for layer in model.layers:
        assert layer.trainable == (layer.name not in frozen)


FROZEN_WRAPPERS = """name: frozen_wrappers
seed: 1
inputs: [{name: x, shape: [5, 4]}]
layers:
  - {type: Bidirectional, layer: {type: LSTM, units: 3, return_sequences: true}, trainable: false}
  - {type: MultiHeadAttention, num_heads: 2, key_dim: 2, inputs: [bidirectional, bidirectional], trainable: false}
  - {type: Flatten}
  - {type: Dense, units: 1}
"""


@pytest.mark.slow
@pytest.mark.parametrize("api", ["functional", "subclass"])
def test_frozen_wrappers_stay_frozen_after_reload(api, keras, tmp_path):
    """Keras saves only the wrapper's flag; kspec.load_model pushes it into the sublayers again."""
    spec = kspec.loads(FROZEN_WRAPPERS)
    report = kspec.check(spec)
    model = kspec.build(spec, api=api)
    model.save(tmp_path / "m.keras")
    again = kspec.load_model(str(tmp_path / "m.keras"))
    for m in (model, again):
        assert _weight_count(m.trainable_weights) == report.trainable_params
        assert _weight_count(m.non_trainable_weights) == report.non_trainable_params


@pytest.mark.slow
@pytest.mark.parametrize("path", spec_params(), ids=lambda p: getattr(p, "name", p))
def test_subclass_build_traces_the_call_once_and_keeps_keras_weight_paths(path, keras, monkeypatch):
    """kspec builds each layer from the shapes it inferred before the model's first call, so
    Keras traces `SpecModel.call` once (it traced it twice: once to build the layers, once for
    the output), and the weights get the paths Keras gives when it builds them in that call."""
    from kspec.builders import SpecModel

    spec = kspec.load(path)
    calls = []
    original = SpecModel.call

    @functools.wraps(original)  # Keras reads `call`'s signature
    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SpecModel, "call", counted)
    model = kspec.build(spec, api="subclass")
    assert len(calls) == 1
    paths = [w.path for w in model.weights]
    inside = [p for p in paths if not p.startswith(f"{model.name}/")]
    assert not inside, inside
    layer_names = {layer.name for layer in model.layers}
    assert {p.split("/")[1] for p in paths} <= layer_names
