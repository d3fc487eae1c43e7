"""`kspec train`: the example specs learn for real, the run folder is complete and reusable,
frozen layers stay frozen, and a killed run resumes where it stopped.

Expected values come from Keras itself (a reloaded model, `model.evaluate`, fresh builds with
the same seed), never from copies of kspec's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kspec
from conftest import ROOT
from kspec.cli import main

DIGITS = pytest.mark.xdist_group("digits_run")  # tests sharing the trained digits run

RUN_FILES = [
    "model.keras",
    "history.json",
    "metrics.json",
    "summary.txt",
    "model.png",
    "curves.png",
    "report.html",
    "run.json",
    "spec.yaml",
]


def small_spec(**train: object) -> str:
    """A tiny circles classifier with a frozen first layer (trains in about a second)."""
    t = {
        "data": {"type": "synthetic", "name": "circles", "samples": 400, "noise": 0.05},
        "epochs": 4,
        "batch_size": 32,
        "test_split": 0.25,
        **train,
    }
    return textwrap.dedent(f"""\
        name: circles_small
        api: functional
        seed: 11
        inputs: [{{name: xy, shape: [2]}}]
        layers:
          - {{type: Dense, name: frozen, units: 16, activation: relu, trainable: false}}
          - {{type: Dense, name: hidden, units: 16, activation: relu}}
          - {{type: Dense, name: out, units: 1, activation: sigmoid}}
        compile: {{optimizer: {{type: Adam, learning_rate: 0.01}}, loss: binary_crossentropy, metrics: [accuracy]}}
        train: {json.dumps(t)}
        """)


def write_spec(tmp_path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    result = kspec.train(ROOT / "specs" / "digits_mlp.yaml", out, quiet=True)
    return result


# ------------------------------------------------------------------------------ learning


@pytest.mark.slow
@DIGITS
def test_digits_mlp_learns_and_writes_the_run_folder(digits_run):
    out = digits_run.run_dir
    for name in RUN_FILES:
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert set(metrics) == {"loss", "accuracy"}
    assert metrics["accuracy"] >= 0.95
    history = json.load(open(os.path.join(out, "history.json")))
    assert history["epoch"] == list(range(1, len(history["epoch"]) + 1))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert history["loss"][-1] < history["loss"][0]
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["status"] == "finished" and run["rows"]["test"] == round(1797 * 0.2)
    assert not os.path.exists(os.path.join(out, "backup"))  # removed once training finished


@pytest.mark.slow
@DIGITS
def test_saved_model_reloads_and_matches_keras_accuracy(digits_run, keras):
    from kspec.training.data import take
    from kspec.training.run import prepare_data

    spec = kspec.load(ROOT / "specs" / "digits_mlp.yaml")
    arrays, _ = prepare_data(spec, kspec.resolve(spec))
    x, y = take(arrays, arrays.test)
    again = keras.models.load_model(os.path.join(digits_run.run_dir, "model.keras"), safe_mode=True)
    np.testing.assert_allclose(
        again.predict(x, verbose=0), digits_run.model.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )
    accuracy = float(np.mean(np.argmax(again.predict(x, verbose=0), axis=1) == y))
    assert accuracy == pytest.approx(digits_run.metrics["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_spiral_learns(tmp_path):
    result = kspec.train(ROOT / "specs" / "spiral.yaml", tmp_path / "spiral", epochs=25, quiet=True)
    assert result.metrics["accuracy"] >= 0.9
    import keras

    assert isinstance(result.model.optimizer._learning_rate, keras.optimizers.schedules.ExponentialDecay)


@pytest.mark.slow
def test_multi_output_losses_weights_and_metrics_by_output_name(tmp_path, keras):
    from kspec.training.data import take
    from kspec.training.run import prepare_data

    path = ROOT / "specs" / "iris_multi_output.yaml"
    result = kspec.train(path, tmp_path / "iris", quiet=True)
    m = result.metrics
    assert {"species_accuracy", "aux_accuracy", "species_loss", "aux_loss", "loss"} <= set(m)
    assert m["species_accuracy"] >= 0.85
    # The total test loss is the weighted sum of the per-output losses (weights 1.0 and 0.3),
    # computed here with Keras's loss function on the test rows.
    spec = kspec.load(path)
    arrays, _ = prepare_data(spec, kspec.resolve(spec))
    x, y = take(arrays, arrays.test)
    pred = result.model.predict(x, verbose=0)
    ce = keras.losses.SparseCategoricalCrossentropy()
    expected = float(ce(y["species"], pred["species"])) + 0.3 * float(ce(y["aux"], pred["aux"]))
    assert m["loss"] == pytest.approx(expected, rel=1e-4)
    assert m["species_accuracy"] == pytest.approx(
        float(np.mean(np.argmax(pred["species"], 1) == y["species"]))
    )


@pytest.mark.slow
def test_digits_cnn_one_hot_targets_subclass_api_and_spec_callbacks(tmp_path, keras):
    out = tmp_path / "cnn"
    result = kspec.train(ROOT / "specs" / "digits_cnn.yaml", out, epochs=4, api="subclass", quiet=True)
    assert result.metrics["accuracy"] >= 0.85
    assert type(result.model).__name__ == "SpecModel"
    assert (out / "epochs.csv").read_text().count("\n") == 5  # CSVLogger, path inside the run folder
    again = keras.models.load_model(out / "model.keras", safe_mode=True)
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-6)


# ------------------------------------------------------------------------------ frozen, NaN


@pytest.mark.slow
def test_frozen_layer_weights_are_bit_identical_after_fit(tmp_path, keras):
    spec = kspec.load(write_spec(tmp_path, small_spec()))
    before = kspec.build(spec, api="functional")  # same seed: the weights training starts from
    result = kspec.train(spec, tmp_path / "run", quiet=True)
    for b, a in zip(before.get_layer("frozen").get_weights(), result.model.get_layer("frozen").get_weights()):
        assert np.array_equal(a, b)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(
            before.get_layer("hidden").get_weights(), result.model.get_layer("hidden").get_weights()
        )
    ]
    assert all(changed)
    saved = keras.models.load_model(tmp_path / "run" / "model.keras")
    for b, a in zip(before.get_layer("frozen").get_weights(), saved.get_layer("frozen").get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_message(tmp_path, capsys):
    text = small_spec(epochs=3).replace(
        "{type: Adam, learning_rate: 0.01}", "{type: SGD, learning_rate: 1.0e+30}"
    )
    rc = main(["train", write_spec(tmp_path, text), "-o", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "NaN" in err and "Traceback" not in err
    assert json.load(open(tmp_path / "run" / "run.json"))["status"] == "failed"


# ------------------------------------------------------------------------------ resume


KILL_AFTER_EPOCH_2 = """
import os, signal, sys
from kspec.training.backup import EpochBackup
original = EpochBackup.on_epoch_end
def on_epoch_end(self, epoch, logs=None):
    original(self, epoch, logs)
    if epoch == 1:  # the backup of epoch 2 is on disk: die the hard way
        os.kill(os.getpid(), signal.SIGKILL)
EpochBackup.on_epoch_end = on_epoch_end
from kspec.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_run_killed_after_epoch_2_resumes_at_epoch_3(tmp_path, capsys):
    spec = write_spec(tmp_path, small_spec(epochs=5))
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_EPOCH_2, "train", spec, "-o", str(out), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == -9, proc.stderr
    assert json.load(open(out / "history.json"))["epoch"] == [1, 2]
    assert sorted(os.listdir(out / "backup")) == ["epoch-000002"]
    assert not (out / "model.keras").exists()
    first = json.load(open(out / "history.json"))

    rc = main(["train", spec, "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "resuming at epoch 3" in captured.err
    assert "Epoch 3/5" in captured.out and "Epoch 1/5" not in captured.out
    history = json.load(open(out / "history.json"))
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert history["loss"][:2] == first["loss"]  # the killed process's epochs are kept
    run = json.load(open(out / "run.json"))
    assert run["status"] == "finished" and run["initial_epoch"] == 2
    assert not (out / "backup").exists()


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_finished_epochs(tmp_path, capsys, monkeypatch):
    from kspec.training import backup

    original = backup.EpochBackup.on_epoch_end

    def interrupt_after_two(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(backup.EpochBackup, "on_epoch_end", interrupt_after_two)
    spec = write_spec(tmp_path, small_spec(epochs=5))
    rc = main(["train", spec, "-o", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 130
    assert "interrupted after epoch 2" in err and "Traceback" not in err
    assert json.load(open(tmp_path / "run" / "history.json"))["epoch"] == [1, 2]
    assert json.load(open(tmp_path / "run" / "run.json"))["status"] == "interrupted"
    assert (tmp_path / "run" / "backup" / "epoch-000002" / "model.weights.h5").exists()


# ------------------------------------------------------------------------------ run folders


def test_run_folder_of_another_spec_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"spec_hash": "0123456789abcdef", "name": "other"}))
    (out / "model.keras").write_text("precious")
    rc = main(["train", write_spec(tmp_path, small_spec()), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "another spec" in err and "--force" in err
    assert (out / "model.keras").read_text() == "precious"

    other = tmp_path / "not_a_run"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["train", write_spec(tmp_path, small_spec()), "-o", str(other)]) == 2
    assert "no run.json" in capsys.readouterr().err


@pytest.mark.slow
def test_force_overwrites_a_run_of_another_spec(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"spec_hash": "0123456789abcdef"}))
    assert (
        main(["train", write_spec(tmp_path, small_spec(epochs=1)), "-o", str(out), "--quiet", "--force"]) == 0
    )
    assert json.load(open(out / "run.json"))["status"] == "finished"


def test_spec_without_train_section_and_bad_overrides_exit_2(tmp_path, capsys):
    text = small_spec().split("train:")[0]
    assert main(["train", write_spec(tmp_path, text), "-o", str(tmp_path / "r")]) == 2
    assert "train:" in capsys.readouterr().err
    for flag, value in (("--epochs", "0"), ("--batch-size", "-4"), ("--epochs", "2.5")):
        capsys.readouterr()
        spec = write_spec(tmp_path, small_spec())
        with pytest.raises(SystemExit) as exit_info:
            main(["train", spec, "-o", str(tmp_path / "r"), flag, value])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"argument {flag}: expected a positive integer" in err, err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------ predict, evaluate


@pytest.mark.slow
@DIGITS
def test_predict_applies_the_runs_scaling_and_matches_keras(digits_run, tmp_path, capsys):
    from sklearn.datasets import load_digits

    from kspec.training.data import take
    from kspec.training.run import prepare_data

    spec = kspec.load(ROOT / "specs" / "digits_mlp.yaml")
    arrays, _ = prepare_data(spec, kspec.resolve(spec))
    raw = load_digits().data.astype("float32")[arrays.test]  # unscaled, as a user has them
    np.savez(tmp_path / "new.npz", x=raw)
    out = tmp_path / "pred.npz"
    assert main(["predict", digits_run.run_dir, "--input", str(tmp_path / "new.npz"), "-o", str(out)]) == 0
    assert f"digit ({len(arrays.test)}, 10)" in capsys.readouterr().out
    x, _ = take(arrays, arrays.test)
    expected = digits_run.model.predict(x, verbose=0)
    np.testing.assert_allclose(np.load(out)["digit"], expected, rtol=1e-5, atol=1e-5)

    # The same rows as CSV.
    header = ",".join(f"p{i}" for i in range(64))
    np.savetxt(tmp_path / "new.csv", raw, delimiter=",", header=header, comments="", fmt="%g")
    assert main(["predict", digits_run.run_dir, "--input", str(tmp_path / "new.csv"), "-o", str(out)]) == 0
    np.testing.assert_allclose(np.load(out)["digit"], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@DIGITS
def test_evaluate_reproduces_the_test_metrics(digits_run, capsys):
    assert main(["evaluate", digits_run.run_dir, "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for key, value in digits_run.metrics.items():
        assert again[key] == pytest.approx(value, rel=1e-5, abs=1e-6)


def test_predict_and_evaluate_need_a_finished_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2  # a bad RUN_DIR argument
    assert "not a finished kspec run" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "--input", "x.npz", "-o", "p.txt"]) == 2
