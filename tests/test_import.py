"""`kspec import`: Keras models (applications, hand-written in Keras's styles, files) as specs.

No loss means, for each model: `kspec check` of the imported spec gives every layer Keras's
output shape and the model Keras's total/trainable/non-trainable counts; the model built from
the spec with the original's weights predicts what the original predicts (max abs diff <= 1e-5);
importing the rebuilt model gives the identical spec.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
import pytest

import kspec
from kspec.importer import import_dict
from kspec.importer.writer import spec_text

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fresh_names(keras: Any) -> None:
    """Keras names unnamed layers and operations from process-wide counters (`dense_7` after six
    other Dense layers in this worker): reset them, so what a test expects does not depend on
    which tests ran before it in the same process."""
    keras.backend.clear_session()


#: One of each kind of feature the applications need, at a small input size. `make test` runs the
#: first (it has ops, Rescaling and call arguments; the hand-written models below cover nested
#: Sequential and LayerNormalization); the others are `heavy` (each costs 30-90 s of CPU here).
REPRESENTATIVE = [
    ("MobileNetV3Small", 32),  # hard-swish as ops: x + 3, x * (1/6); Rescaling; call(training=False)
    pytest.param("MobileNetV2", 32, marks=pytest.mark.heavy),  # ZeroPadding2D, DepthwiseConv2D, ReLU(6), Add
    pytest.param(
        "EfficientNetB0", 32, marks=pytest.mark.heavy
    ),  # Normalization, Rescaling, Multiply, Reshape
    pytest.param("ConvNeXtTiny", 32, marks=pytest.mark.heavy),  # nested Sequential stem, LayerScale, ops.add
    pytest.param("DenseNet121", 32, marks=pytest.mark.heavy),  # 120 Concatenates, AveragePooling2D
]
SMALLEST = {
    "InceptionV3": 75,
    "InceptionResNetV2": 75,
    "Xception": 71,
    "NASNetLarge": 331,
    "NASNetMobile": 224,
}


def weight_count(weights: list[Any]) -> int:
    return sum(math.prod(w.shape) for w in weights)


def assert_no_loss(model: Any, tmp_path: Any, apis: tuple[str, ...] = ("functional",)) -> dict[str, Any]:
    spec_dict, _ = import_dict(model)
    text = spec_text(spec_dict)
    spec = kspec.loads(text)
    report = kspec.check(spec)
    assert report.complete, report.to_dict()["unchecked"]
    assert report.total_params == model.count_params()
    assert report.trainable_params == weight_count(model.trainable_weights)
    assert report.non_trainable_params == weight_count(model.non_trainable_weights)
    ops = getattr(model, "operations", model.layers)  # a Sequential has layers only
    keras_shapes = {  # a shared layer has one output per call: its first is its own entry's
        op.name: tuple(op._inbound_nodes[0].outputs[0].shape) for op in ops if op._inbound_nodes
    }
    checked = 0
    for node in report.graph.nodes:
        if node.name in keras_shapes:
            assert tuple(node.output_shape) == keras_shapes[node.name], node.name
            checked += 1
    assert checked >= len(report.graph.nodes) // 2  # default op names may differ; layers never do
    weights = str(tmp_path / "w.weights.h5")
    model.save_weights(weights)
    inputs = [_sample(t) for t in model.inputs]
    x = inputs[0] if len(inputs) == 1 else inputs
    expected = _numpy(model(x, training=False))  # eager: no tf.function tracing of a big graph
    for api in apis:
        rebuilt = kspec.build(spec, api=api, weights=weights)
        got = _numpy(rebuilt(x, training=False))
        if isinstance(got, dict):  # several outputs: by name, in the spec's order (Keras's)
            got = [got[name] for name in spec.outputs]
        for a, b in zip(_flat(got), _flat(expected), strict=True):
            assert np.abs(a - b).max() <= 1e-5, api
        if api == spec.api:  # the model a `kspec build` of the spec gives
            again = import_dict(rebuilt)[0]  # export + reimport: the identical spec
            assert again == spec_dict, [
                (a, b) for a, b in zip(again["layers"], spec_dict["layers"]) if a != b
            ][:2]
    return spec_dict


def _sample(tensor: Any) -> Any:
    """Two random samples for a model input: masks as booleans, token ids as small integers."""
    rng = np.random.default_rng(0)
    shape = (2, *tensor.shape[1:])
    if tensor.dtype == "bool":
        return rng.uniform(0, 1, shape) > 0.3
    if "int" in str(tensor.dtype):
        return rng.integers(0, 5, shape).astype(tensor.dtype)
    return rng.uniform(0, 1, shape).astype("float32")


def _numpy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: np.asarray(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [np.asarray(v) for v in value]
    return np.asarray(value)


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value[k] for k in sorted(value)]
    return list(value) if isinstance(value, (list, tuple)) else [value]


@pytest.mark.parametrize("name,size", REPRESENTATIVE)
def test_representative_applications_import_with_no_loss(
    keras: Any, tmp_path: Any, name: str, size: int
) -> None:
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    assert_no_loss(model, tmp_path)


def all_applications() -> list[str]:
    from kspec.importer.source import application_names

    return application_names()


@pytest.mark.heavy
@pytest.mark.parametrize("name", all_applications())
def test_every_application_imports_with_no_loss(keras: Any, tmp_path: Any, name: str) -> None:
    size = SMALLEST.get(name, 64)
    top = name not in ("NASNetLarge", "NASNetMobile") or size in (224, 331)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), include_top=top)
    assert_no_loss(model, tmp_path)


# -- hand-written models, in Keras's three styles -------------------------------------------------------


def test_functional_model_with_ops_nested_sequential_and_call_arguments(keras: Any, tmp_path: Any) -> None:
    from keras import layers, ops

    x = keras.Input((8, 8, 3), name="image")
    stem = keras.Sequential(
        [layers.Conv2D(8, 2, strides=2, name="stem_conv"), layers.LayerNormalization()], name="stem"
    )
    h = stem(x)
    gate = layers.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)  # hard sigmoid as ops
    h = h * gate
    h = 1.0 - ops.mean(h, axis=[1, 2], keepdims=True)
    h = layers.Dropout(0.5)(h, training=False)
    h = ops.reshape(h, (-1, 8))
    out = layers.Dense(3, name="head")(ops.concatenate([h, h], axis=-1))
    model = keras.Model(x, out, name="handmade")
    spec = assert_no_loss(model, tmp_path, apis=("functional", "subclass"))
    types = [e["type"] for e in spec["layers"]]
    assert "Sequential" in types and {"ops.add", "ops.multiply", "ops.mean", "ops.subtract"} <= set(types)
    assert {"type": "ops.subtract", "x1": 1.0} == {
        k: v for k, v in spec["layers"][types.index("ops.subtract")].items() if k in ("type", "x1")
    }
    assert any(e.get("call") == {"training": False} for e in spec["layers"])


def test_shared_layers_import_as_reuse_entries(keras: Any, tmp_path: Any) -> None:
    """A layer called on two inputs, and one called on its own output: one layer, one set of
    weights, and `{reuse: NAME}` entries in call order, wherever Keras's config lists the layer."""
    from keras import layers

    left, right = keras.Input((8,), name="left"), keras.Input((8,), name="right")
    enc = layers.Dense(5, activation="tanh", name="enc")
    mix = layers.Dense(5, name="mix")
    a = enc(left)
    b = enc(layers.Dense(8, name="pre")(right))  # the second call waits for `pre`
    c = mix(mix(layers.Add(name="sum")([a, b])))
    out = layers.Dense(2, name="head")(layers.Concatenate(name="cat")([c, a]))
    model = keras.Model([left, right], out, name="siamese")
    spec = assert_no_loss(model, tmp_path, apis=("functional", "subclass"))
    reuse = [e for e in spec["layers"] if "reuse" in e]
    assert reuse == [
        {"reuse": "enc", "name": "enc_call2", "inputs": "pre"},
        {"reuse": "mix", "name": "mix_call2"},
    ]
    assert kspec.check(kspec.from_dict(spec)).total_params == model.count_params()


def test_layers_with_several_outputs_import_as_name_k_references(keras: Any, tmp_path: Any) -> None:
    from keras import layers

    tokens = keras.Input((6, 3), name="tokens")
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True, name="lstm")(tokens)
    last, g = layers.GRU(3, return_state=True, name="gru")(seq)
    out = layers.Dense(2, name="head")(layers.Concatenate(name="cat")([h, c, g]))
    model = keras.Model(tokens, [out, last], name="states")
    spec = assert_no_loss(model, tmp_path, apis=("functional", "subclass"))
    entries = {e.get("name", e["type"]): e for e in spec["layers"]}  # `lstm`, `gru`: default names
    assert entries["cat"]["inputs"] == ["lstm:1", "lstm:2", "gru:1"]
    assert "inputs" not in entries["GRU"] and spec["outputs"] == ["head", "gru"]  # reads output 0 above


def test_nested_functional_model_is_kept_nested(keras: Any, tmp_path: Any) -> None:
    """A Functional model with two inputs and two outputs used as a layer: one `Functional`
    entry holding its own inputs, layers and outputs; the outer model reads output 1 as `NAME:1`."""
    from keras import layers

    a, b = keras.Input((8,), name="a_in"), keras.Input((8,), name="b_in")
    h = layers.Add(name="enc_add")(
        [layers.Dense(6, activation="relu", name="enc_d1")(a), layers.Dense(6, name="enc_d2")(b)]
    )
    encoder = keras.Model([a, b], [layers.Dense(3, name="enc_out")(h), h], name="encoder")
    x, y = keras.Input((8,), name="x"), keras.Input((8,), name="y")
    first, second = encoder([x, y])
    out = layers.Dense(2, name="head")(layers.Concatenate(name="cat")([first, second]))
    model = keras.Model([x, y], out, name="outer")
    spec = assert_no_loss(model, tmp_path, apis=("functional", "subclass"))
    nested = spec["layers"][0]
    assert nested["type"] == "Functional" and nested["name"] == "encoder"
    assert [i["name"] for i in nested["model_inputs"]] == ["a_in", "b_in"]
    assert nested["outputs"] == ["enc_out", "enc_add"]
    assert spec["layers"][1]["inputs"] == ["encoder", "encoder:1"]
    rebuilt = kspec.build(kspec.from_dict(spec))
    assert isinstance(rebuilt.get_layer("encoder"), keras.Model)  # nested in Keras too


def test_attention_called_with_keyword_tensors_imports_positionally(keras: Any, tmp_path: Any) -> None:
    """`mha(query=q, value=v)` and `mha(query=a, value=a, key=a)`: the spec wires [query, value, key]."""
    from keras import layers

    q, v = keras.Input((5, 8), name="q"), keras.Input((7, 8), name="v")
    a = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="cross")(query=q, value=v)
    s = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="self_att")(query=a, value=a, key=a)
    model = keras.Model([q, v], layers.Dense(3, name="head")(s))
    spec = assert_no_loss(model, tmp_path, apis=("functional", "subclass"))
    assert [e.get("inputs") for e in spec["layers"][:2]] == [["q", "v"], ["cross", "cross", "cross"]]


def test_sequential_model_imports_as_a_sequential_spec(keras: Any, tmp_path: Any) -> None:
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2, name="out")],
        name="seq",
    )
    spec = assert_no_loss(model, tmp_path, apis=("sequential", "functional", "subclass"))
    assert spec == {
        "name": "seq",
        "api": "sequential",
        "inputs": [{"name": "input", "shape": [6]}],
        "layers": [
            {"type": "Dense", "units": 4, "activation": "relu"},
            {"type": "Dense", "name": "out", "units": 2},
        ],
    }


def test_subclassed_model_is_refused_with_one_clear_error(keras: Any) -> None:
    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x: Any) -> Any:
            return self.dense(x) * 2

    with pytest.raises(kspec.SpecError, match="subclassed keras.Model.*Functional API"):
        kspec.import_model(Net())


# -- files and the command line ---------------------------------------------------------------------


def small_model(keras: Any) -> Any:
    x = keras.Input((5,), name="x")
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(x)
    return keras.Model(x, keras.layers.Dense(3, name="d")(hidden), name="small")


def run_cli(capsys: Any, *argv: str) -> tuple[int, str]:
    from kspec.cli import main

    rc = main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_import_keras_file_and_json_then_build_with_weights(keras: Any, tmp_path: Any, capsys: Any) -> None:
    model = small_model(keras)
    path = str(tmp_path / "small.keras")
    model.save(path)
    (tmp_path / "small.json").write_text(model.to_json())
    out, weights = str(tmp_path / "small.yaml"), str(tmp_path / "small.weights.h5")
    rc, text = run_cli(capsys, "import", path, "-o", out, "--weights", weights)
    assert rc == 0, text
    rc, _ = run_cli(capsys, "import", str(tmp_path / "small.json"), "-o", str(tmp_path / "from_json.json"))
    assert rc == 0
    assert json.loads((tmp_path / "from_json.json").read_text()) == kspec.load(out).raw
    built = kspec.build(kspec.load(out), weights=weights)
    x = np.ones((2, 5), "float32")
    assert np.abs(built.predict(x, verbose=0) - model.predict(x, verbose=0)).max() <= 1e-6
    rc, text = run_cli(capsys, "build", out, "--weights", weights, "--api", "subclass")
    assert rc == 0 and "Total params: 39" in text


def test_train_starts_from_init_weights(keras: Any, tmp_path: Any) -> None:
    model = small_model(keras)
    weights = str(tmp_path / "w.weights.h5")
    model.save_weights(weights)
    spec_dict, _ = import_dict(model)
    spec_dict["inputs"] = [{"name": "x", "shape": [4]}]  # iris has 4 features
    spec_dict["layers"][0]["trainable"] = False
    spec_dict["layers"][1]["units"] = 3
    with pytest.raises(kspec.SpecError, match="do not fit"):
        kspec.build(kspec.from_dict(spec_dict), weights=weights)
    spec_dict["inputs"] = [{"name": "x", "shape": [5]}]
    spec_dict["compile"] = {"loss": "mse"}
    spec_dict["train"] = {"data": {"type": "synthetic", "name": "xor", "samples": 64}, "epochs": 1}
    spec_dict["inputs"] = [{"name": "x", "shape": [2]}]
    model2 = (
        keras.Model(
            keras.Input((2,), name="x"),
            keras.layers.Dense(1, name="d")(
                keras.layers.Dense(4, activation="tanh", name="dense")(keras.Input((2,)))
            ),
        )
        if False
        else None
    )
    del model2
    x = keras.Input((2,), name="x")
    base = keras.Model(
        x, keras.layers.Dense(1, name="d")(keras.layers.Dense(4, activation="tanh", name="dense")(x))
    )
    base.save_weights(weights)
    spec_dict["layers"] = [
        {"type": "Dense", "units": 4, "activation": "tanh", "trainable": False},
        {"type": "Dense", "name": "d", "units": 1},
    ]
    result = kspec.train(kspec.from_dict(spec_dict), str(tmp_path / "run"), quiet=True, init_weights=weights)
    trained = kspec.load_model(os.path.join(result.run_dir, "model.keras"))
    frozen = trained.get_layer("dense").get_weights()
    for a, b in zip(frozen, base.get_layer("dense").get_weights()):
        np.testing.assert_array_equal(a, b)  # frozen: still exactly the initial weights


@pytest.mark.parametrize(
    "make, message",
    [
        ("corrupt", "m.keras: is not a zip archive"),
        ("not_keras_json", "not a Keras model"),
        ("lambda", "m.keras: config.layers[1]: refused: layer Lambda runs or loads code"),
        ("custom", "m.keras: config.layers[1]: refused: class 'Twice' from module"),
        ("function", "m.keras: config.layers[0]: refused: a function ('get_file' from module 'keras.utils')"),
        (
            "function_json",
            "m.json: config.layers[0]: refused: a function ('get_file' from module 'keras.utils')",
        ),
        ("app", "unknown application 'MobileNetV9'; did you mean"),
        ("text", "neither a .keras file nor JSON"),
    ],
)
def test_bad_input_is_one_clear_error_and_writes_nothing(
    keras: Any, tmp_path: Any, capsys: Any, monkeypatch: Any, make: str, message: str
) -> None:
    """Refused by kspec.modelfile's allow-list, as data, before Keras deserializes anything."""

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Keras was handed a model file that kspec should have refused")

    source = str(tmp_path / "m.keras")
    hostile = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"layers": [{"module": "keras.utils", "class_name": "function", "config": "get_file"}]},
    }
    if make == "corrupt":
        small_model(keras).save(source)
        data = open(source, "rb").read()
        open(source, "wb").write(data[: len(data) // 3])
    elif make == "not_keras_json":
        source = str(tmp_path / "m.json")
        open(source, "w").write(json.dumps({"name": "x", "layers": [1, 2]}))
    elif make == "lambda":
        x = keras.Input((3,))
        keras.Model(x, keras.layers.Lambda(lambda t: t * 2)(x)).save(source)
    elif make == "custom":

        @keras.saving.register_keras_serializable(package="mine")
        class Twice(keras.layers.Layer):
            def call(self, t: Any) -> Any:
                return t * 2

        x = keras.Input((3,))
        keras.Model(x, Twice()(x)).save(source)
    elif make == "function":
        import zipfile

        with zipfile.ZipFile(source, "w") as zf:
            zf.writestr("config.json", json.dumps(hostile))
            zf.writestr("metadata.json", "{}")
    elif make == "function_json":
        source = str(tmp_path / "m.json")
        open(source, "w").write(json.dumps(hostile))
    elif make == "app":
        source = "keras.applications:MobileNetV9"
    else:
        source = str(tmp_path / "m.txt")
        open(source, "w").write("hello")
    if make != "app":  # every file is refused before Keras reads it
        for name in ("load_model", "model_from_json"):
            monkeypatch.setattr(keras.models, name, never)
        monkeypatch.setattr(keras.saving, "load_model", never)
    out = tmp_path / "out.yaml"
    rc, text = run_cli(capsys, "import", source, "-o", str(out), "--weights", str(tmp_path / "w.weights.h5"))
    assert rc == 2, text
    assert message in text and "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "w.weights.h5").exists()


def test_check_recognises_keras_files_and_points_to_import(keras: Any, tmp_path: Any, capsys: Any) -> None:
    model = small_model(keras)
    model.save(str(tmp_path / "m.keras"))
    (tmp_path / "m.json").write_text(model.to_json())
    for name in ("m.keras", "m.json"):
        rc, text = run_cli(capsys, "check", str(tmp_path / name))
        assert rc == 2 and "kspec import" in text and len(text.strip().splitlines()) == 1, text


def test_json_output_and_stable_key_order(keras: Any, tmp_path: Any, capsys: Any) -> None:
    model = small_model(keras)
    a, b = str(tmp_path / "a.json"), str(tmp_path / "b.yaml")
    assert run_cli(capsys, "import", model_path(model, tmp_path), "-o", a)[0] == 0
    assert run_cli(capsys, "import", model_path(model, tmp_path), "-o", b)[0] == 0
    data = json.loads(open(a).read())
    assert list(data) == ["name", "inputs", "layers"]
    assert list(data["layers"][0]) == ["type", "name", "units", "activation"]
    assert kspec.load(b).raw == data


def model_path(model: Any, tmp_path: Any) -> str:
    path = str(tmp_path / "model.keras")
    if not os.path.exists(path):
        model.save(path)
    return path


def test_init_weights_with_several_processes_is_refused_in_one_line(tmp_path: Any, capsys: Any) -> None:
    """Data-parallel runs do not load --init-weights (yet): say so instead of ignoring it."""
    from kspec.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text(
        "inputs: [{name: x, shape: [2]}]\nlayers: [{type: Dense, units: 1}]\ncompile: {loss: mse}\n"
        "train: {data: {type: synthetic, name: xor, samples: 32}, epochs: 1}\n"
    )
    rc = main(
        ["train", str(spec), "-o", str(tmp_path / "run"), "--workers", "2", "--init-weights", "w.weights.h5"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--init-weights is not supported with --workers/--coordinator yet" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
