"""Training data and compile arguments: every source, name mapping, memory-mapped npz, tf.data
batches, label handling, and located errors."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import kspec
from kspec.cli import main
from kspec.errors import SpecError
from kspec.training import data as D

TWO_IN_TWO_OUT = """\
name: two_by_two
seed: 4
inputs: [{name: a, shape: [3]}, {name: b, shape: [2]}]
layers:
  - {type: Concatenate, name: joined, inputs: [a, b]}
  - {type: Dense, name: hidden, units: 8, activation: relu}
  - {type: Dense, name: cls, units: 3, activation: softmax}
  - {type: Dense, name: reg, inputs: hidden, units: 1}
outputs: [cls, reg]
compile:
  optimizer: adam
  loss: {cls: sparse_categorical_crossentropy, reg: mse}
  metrics: {cls: [accuracy], reg: [mae]}
train:
  data: {type: npz, path: data.npz, x: {a: feat_a, b: feat_b}, y: {cls: label, reg: value}}
  epochs: 2
  batch_size: 16
"""


def spec_at(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return kspec.load(path)


def npz_for_two_by_two(path, n=64, compressed=False):
    rng = np.random.default_rng(0)
    save = np.savez_compressed if compressed else np.savez
    save(
        path,
        feat_a=rng.normal(size=(n, 3)).astype("float32"),
        feat_b=rng.normal(size=(n, 2)).astype("float32"),
        label=rng.integers(0, 3, n),
        value=rng.normal(size=(n, 1)).astype("float32"),
    )


# ------------------------------------------------------------------------------ sources


@pytest.mark.parametrize("name", ["circles", "xor", "gaussian", "spiral", "moons"])
def test_synthetic_sets_are_2d_binary_and_seeded(name):
    x, y = D.synthetic(name, samples=300, noise=0.1, seed=1)
    assert x.shape == (300, 2) and x.dtype == np.float32 and set(np.unique(y)) == {0, 1}
    assert 0.3 < y.mean() < 0.7 and np.abs(x).max() < 2
    again, _ = D.synthetic(name, samples=300, noise=0.1, seed=1)
    other, _ = D.synthetic(name, samples=300, noise=0.1, seed=2)
    assert np.array_equal(x, again) and not np.array_equal(x, other)


@pytest.mark.parametrize(
    "name,rows,features",
    [("digits", 1797, 64), ("iris", 150, 4), ("wine", 178, 13), ("breast_cancer", 569, 30)],
)
def test_sklearn_sets_are_split_and_standardized_on_training_rows(name, rows, features):
    spec = kspec.from_dict(
        {
            "inputs": [{"name": "x", "shape": [features]}],
            "layers": [{"type": "Dense", "units": 2}],
            "train": {"data": {"type": "sklearn", "name": name}, "validation_split": 0.25},
        }
    )
    from kspec.training.run import prepare_data

    arrays, _ = prepare_data(spec, kspec.resolve(spec))
    assert arrays.n == rows
    parts = [arrays.train, arrays.val, arrays.test]
    assert sum(len(p) for p in parts) == rows and len(np.unique(np.concatenate(parts))) == rows
    assert len(arrays.test) == round(rows * 0.2)
    train = arrays.x["x"][arrays.train]
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-4)
    assert np.all((np.abs(train.std(0) - 1) < 1e-3) | (train.std(0) == 0))


def test_npz_is_memory_mapped_when_stored_uncompressed(tmp_path):
    npz_for_two_by_two(tmp_path / "plain.npz")
    npz_for_two_by_two(tmp_path / "packed.npz", compressed=True)
    plain, packed = D.load_npz(str(tmp_path / "plain.npz")), D.load_npz(str(tmp_path / "packed.npz"))
    assert all(isinstance(a, np.memmap) for a in plain.values())
    assert not any(isinstance(a, np.memmap) for a in packed.values())
    with np.load(tmp_path / "plain.npz") as ref:
        for key in ref.files:
            np.testing.assert_array_equal(plain[key], ref[key])
            np.testing.assert_array_equal(packed[key], ref[key])


def test_npz_maps_arrays_to_inputs_and_outputs_by_name(tmp_path):
    npz_for_two_by_two(tmp_path / "data.npz")  # relative to the spec file
    spec = spec_at(tmp_path, TWO_IN_TWO_OUT)
    arrays = D.load_arrays(kspec.resolve(spec), spec.train["data"], spec.base_dir)
    assert set(arrays.x) == {"a", "b"} and set(arrays.y) == {"cls", "reg"}
    assert arrays.x["a"].shape == (64, 3) and arrays.y["reg"].shape == (64, 1)


@pytest.mark.parametrize(
    "change,path,message",
    [
        ("x: {a: feat_a, c: feat_b}", "train.data.x.c", "no input 'c'"),
        ("x: {a: feat_a}", "train.data.x", "no array given for input 'b'"),
        ("x: {a: feat_a, b: nope}", "train.data.x", "has no array 'nope'"),
        ("x: feat_a", "train.data.x", "has 2 inputs"),
    ],
)
def test_npz_mapping_errors_are_located(tmp_path, change, path, message):
    npz_for_two_by_two(tmp_path / "data.npz")
    spec = spec_at(tmp_path, TWO_IN_TWO_OUT.replace("x: {a: feat_a, b: feat_b}", change))
    with pytest.raises(SpecError) as err:
        D.load_arrays(kspec.resolve(spec), spec.train["data"], spec.base_dir)
    assert path in str(err.value) and message in str(err.value) and "spec.yaml:" in str(err.value)


def test_missing_data_file_is_a_spec_error(tmp_path):
    spec = kspec.loads(TWO_IN_TWO_OUT)  # not from a file: the data path is checked when loading data
    with pytest.raises(SpecError, match=r"train\.data\.path: no such file"):
        D.load_arrays(kspec.resolve(spec), spec.train["data"], str(tmp_path))


def test_csv_features_labels_and_outputs_by_column_name(tmp_path):
    (tmp_path / "t.csv").write_text(
        "a.1,a.2,a.3,b.1,b.2,cls,reg\n"
        + "\n".join(f"{i},{i + 1},{i + 2},{-i},{i * 2},{i % 3},{i / 10}" for i in range(20))
        + "\n"
    )
    text = TWO_IN_TWO_OUT.replace(
        "{type: npz, path: data.npz, x: {a: feat_a, b: feat_b}, y: {cls: label, reg: value}}",
        "{type: csv, path: t.csv, label: [cls, reg]}",
    )
    spec = spec_at(tmp_path, text)
    arrays = D.load_arrays(kspec.resolve(spec), spec.train["data"], spec.base_dir)
    np.testing.assert_array_equal(arrays.x["a"][3], [3, 4, 5])
    np.testing.assert_array_equal(arrays.x["b"][3], [-3, 6])
    assert arrays.y["cls"].dtype == np.int64 and arrays.y["cls"][4] == 1
    assert arrays.y["reg"][5] == pytest.approx(0.5)


def test_csv_bad_cell_names_row_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("f1,f2,y\n1,2,0\n3,oops,1\n")
    spec = spec_at(
        tmp_path,
        """\
        inputs: [{name: x, shape: [2]}]
        layers: [{type: Dense, units: 1}]
        train: {data: {type: csv, path: t.csv, label: y}}
        """,
    )
    with pytest.raises(SpecError, match=r"row 3, column 'f2': not a number: 'oops'"):
        D.load_arrays(kspec.resolve(spec), spec.train["data"], spec.base_dir)


def test_features_are_reshaped_to_the_input_and_mismatches_reported():
    spec = kspec.from_dict(
        {
            "inputs": [{"name": "img", "shape": [8, 8, 1]}],
            "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10}],
            "train": {"data": {"type": "sklearn", "name": "digits"}},
        }
    )
    arrays = D.load_arrays(kspec.resolve(spec), spec.train["data"], ".")
    assert arrays.x["img"].shape == (1797, 8, 8, 1)
    bad = kspec.from_dict(
        {
            "inputs": [{"name": "img", "shape": [8, 8, 2]}],
            "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10}],
            "train": {"data": {"type": "sklearn", "name": "digits"}},
        }
    )
    with pytest.raises(SpecError, match=r"shape \[64\] per row, the input expects \[8, 8, 2\]"):
        D.load_arrays(kspec.resolve(bad), bad.train["data"], ".")


def test_categorical_crossentropy_gets_one_hot_targets():
    spec = kspec.from_dict(
        {
            "inputs": [{"name": "x", "shape": [4]}],
            "layers": [{"type": "Dense", "units": 3, "activation": "softmax"}],
            "compile": {"loss": "categorical_crossentropy"},
            "train": {"data": {"type": "sklearn", "name": "iris"}},
        }
    )
    from kspec.training.run import prepare_data

    arrays, _ = prepare_data(spec, kspec.resolve(spec))
    y = next(iter(arrays.y.values()))
    assert y.shape == (150, 3) and np.all(y.sum(1) == 1)


# ------------------------------------------------------------------------------ tf.data


@pytest.mark.slow
def test_large_data_is_gathered_batch_by_batch_with_the_same_rows(tmp_path, monkeypatch, keras):
    npz_for_two_by_two(tmp_path / "data.npz")
    spec = spec_at(tmp_path, TWO_IN_TWO_OUT)
    arrays = D.load_arrays(kspec.resolve(spec), spec.train["data"], spec.base_dir)
    index = np.arange(5, 50)
    small = list(D.make_dataset(arrays, index, 16).as_numpy_iterator())
    monkeypatch.setattr(D, "IN_MEMORY_BYTES", 0)
    large = list(D.make_dataset(arrays, index, 16).as_numpy_iterator())
    assert len(small) == len(large) == 3
    for (xs, ys), (xl, yl) in zip(small, large):
        for key in ("a", "b"):
            np.testing.assert_array_equal(xs[key], xl[key])
        for key in ("cls", "reg"):
            np.testing.assert_array_equal(ys[key], yl[key])
    shuffled = np.concatenate([b[0]["a"] for b in D.make_dataset(arrays, index, 16, shuffle=True, seed=3)])
    np.testing.assert_array_equal(
        np.sort(shuffled, axis=0), np.sort(np.asarray(arrays.x["a"][index]), axis=0)
    )


@pytest.mark.slow
def test_two_input_two_output_npz_model_trains_end_to_end(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(TWO_IN_TWO_OUT)
    npz_for_two_by_two(tmp_path / "data.npz", n=120)
    rc = main(["train", str(path), "-o", str(tmp_path / "run"), "--quiet"])
    assert rc == 0
    metrics = json.load(open(tmp_path / "run" / "metrics.json"))
    assert {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"} <= set(metrics)


# ------------------------------------------------------------------------------ keras datasets


@pytest.mark.slow
def test_keras_dataset_offline_is_one_clear_line(tmp_path, capsys, monkeypatch, keras):
    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/mnist.npz: None -- [Errno -3]")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    path = tmp_path / "mnist.yaml"
    path.write_text(
        "inputs: [{name: x, shape: [28, 28]}]\nlayers: [{type: Flatten}, {type: Dense, units: 10}]\n"
        "compile: {loss: sparse_categorical_crossentropy}\ntrain: {data: {type: keras, name: mnist}}\n"
    )
    assert main(["train", str(path), "-o", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot load keras dataset 'mnist'" in err and "offline" in err


# ------------------------------------------------------------------------------ compile


@pytest.mark.slow
def test_compile_arguments_from_the_spec(keras):
    from kspec.training.compile import compile_kwargs

    spec = kspec.from_dict(
        {
            "inputs": [{"name": "x", "shape": [4]}],
            "layers": [
                {"type": "Dense", "name": "p", "units": 3},
                {"type": "Dense", "name": "q", "inputs": "x", "units": 1},
            ],
            "outputs": ["p", "q"],
            "compile": {
                "optimizer": {
                    "type": "SGD",
                    "momentum": 0.9,
                    "learning_rate": {
                        "type": "ExponentialDecay",
                        "initial_learning_rate": 0.1,
                        "decay_steps": 10,
                        "decay_rate": 0.5,
                    },
                },
                "loss": ["mse", {"type": "Huber", "delta": 2.0}],
                "loss_weights": [1.0, 0.5],
                "metrics": ["mae"],
            },
        }
    )
    kw = compile_kwargs(kspec.resolve(spec), spec.compile)
    opt = kw["optimizer"]
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9
    schedule = opt._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    assert float(schedule(10)) == pytest.approx(0.05)
    assert kw["loss"]["p"] == "mse" and isinstance(kw["loss"]["q"], keras.losses.Huber)
    assert kw["loss_weights"] == {"p": 1.0, "q": 0.5}
    assert kw["metrics"] == {"p": ["mae"], "q": ["mae"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    "compile_cfg,path,message",
    [
        ({"loss": {"nope": "mse"}}, "compile.loss.nope", "no output 'nope'"),
        (
            {"loss": "mse", "optimizer": {"type": "Adam", "learning_rat": 0.1}},
            "compile.optimizer",
            "learning_rat",
        ),
        ({"loss": "mse", "loss_weights": [1.0, 2.0]}, "compile.loss_weights", "2 loss weights for 1 output"),
        ({"optimizer": "adam"}, "compile", "training needs a loss"),
    ],
)
def test_compile_errors_are_located(compile_cfg, path, message, keras):
    from kspec.training.compile import compile_kwargs

    with pytest.raises(SpecError) as err:  # at load (argument names), or at the compile checks
        spec = kspec.from_dict(
            {
                "inputs": [{"name": "x", "shape": [4]}],
                "layers": [{"type": "Dense", "units": 1}],
                "compile": compile_cfg,
            }
        )
        compile_kwargs(kspec.resolve(spec), spec.compile)
    assert path in str(err.value) and message in str(err.value)


# ------------------------------------------------------------------ Playground features and regression


def test_feature_map_names_are_one_closed_list():
    from kspec.schema.model import FEATURE_NAMES

    assert tuple(D.FEATURE_MAPS) == FEATURE_NAMES


def test_feature_maps_compute_the_playground_features():
    p = np.array([[0.5, -0.25], [-1.0, 1.0]], dtype=np.float32)
    names = ["x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2"]
    out = D.feature_maps(p, names)
    want = np.array(
        [[0.5, -0.25, 0.25, 0.0625, -0.125, 1.0, -np.sqrt(0.5)], [-1, 1, 1, 1, -1, 0, 0]], dtype=np.float32
    )
    assert out.shape == (2, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out, want, atol=1e-6)


def test_a_spec_records_its_features_and_training_data_applies_them():
    spec = kspec.loads(
        "inputs: [{name: x, shape: [3]}]\nlayers: [{type: Dense, units: 1}]\n"
        "train: {data: {type: synthetic, name: spiral, samples: 50, features: [x1_sq, sin_x2, x1]}}\n"
    )
    arrays = D.load_arrays(kspec.resolve(spec), spec.train["data"], ".")
    raw, _ = D.synthetic("spiral", samples=50)
    x = arrays.x["x"]
    np.testing.assert_allclose(x[:, 0], raw[:, 0] ** 2, rtol=1e-6)
    np.testing.assert_allclose(x[:, 1], np.sin(np.pi * raw[:, 1]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x[:, 2], raw[:, 0])


def test_an_unknown_feature_is_a_located_error():
    with pytest.raises(kspec.SpecError) as err:
        kspec.loads(
            "inputs: [{name: x, shape: [2]}]\nlayers: [{type: Dense, units: 1}]\ntrain:\n"
            "  data: {type: synthetic, name: xor, features: [x1, cos_x1]}\n"
        )
    assert ":4:" in str(err.value) and "features" in str(err.value) and "cos_x1" in str(err.value)


def test_a_feature_count_that_differs_from_the_input_is_a_spec_error():
    spec = kspec.loads(
        "inputs: [{name: x, shape: [2]}]\nlayers: [{type: Dense, units: 1}]\n"
        "train: {data: {type: synthetic, name: xor, features: [x1, x2, x1_x2]}}\n"
    )
    with pytest.raises(kspec.SpecError, match=r"shape \[3\] per row, the input expects \[2\]"):
        D.load_arrays(kspec.resolve(spec), spec.train["data"], ".")


@pytest.mark.parametrize("name", ["plane", "multi_gaussian"])
def test_regression_sets_have_a_float_target_in_minus_one_one(name):
    x, y = D.synthetic(name, samples=400, noise=0.0, seed=3)
    assert x.shape == (400, 2) and y.shape == (400,) and y.dtype == np.float32
    assert -1 <= y.min() < -0.3 and 0.3 < y.max() <= 1
    if name == "plane":  # the mean of the coordinates: -1 to 1 across the plane
        np.testing.assert_allclose(y, (x[:, 0] + x[:, 1]) / 2, rtol=1e-5)
    else:  # the bump at (0, 2.5/6) is negative, at (0, -2.5/6) positive
        near = lambda cx, cy: np.hypot(x[:, 0] - cx, x[:, 1] - cy) < 0.05  # noqa: E731
        assert (y[near(0, 2.5 / 6)] < -0.7).all() and (y[near(0, -2.5 / 6)] > 0.7).all()
