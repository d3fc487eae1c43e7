"""`kspec train --backend jax|torch` end to end, one subprocess per backend: the run folder is
complete and records the backend, its metrics are finite, `kspec predict` and `kspec evaluate`
work on that run on the same backend (and evaluate on this process's own), and a run
interrupted by a real Ctrl-C resumes.

The references are Keras's own, on the same backend: the saved model loaded with
`keras.saving.load_model` (its predictions, its `evaluate`), and the uninterrupted run's weights
and optimizer state against the resumed run's. The subprocess starts with KERAS_BACKEND=tensorflow,
so `--backend` must win over it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT

EPOCHS = 4
SPEC = textwrap.dedent(f"""\
    name: backend_moons
    seed: 3
    inputs: [{{name: xy, shape: [2]}}]
    layers:
      - {{type: Dense, name: hidden, units: 16, activation: tanh}}
      - {{type: Dense, name: prob, units: 1, activation: sigmoid}}
    compile: {{optimizer: {{type: Adam, learning_rate: 0.01}}, loss: binary_crossentropy, metrics: [accuracy]}}
    train:
      data: {{type: synthetic, name: moons, samples: 320, noise: 0.1}}
      epochs: {EPOCHS}
      batch_size: 32
      shuffle: false
      validation_split: 0.1
      test_split: 0.2
    """)

SCRIPT = r"""
import contextlib, io, json, os, signal, sys
import numpy as np
from kspec.cli import main

spec, work, backend = sys.argv[1:]
run, resumed, out = os.path.join(work, "run"), os.path.join(work, "resumed"), {}
out["train_rc"] = main(["train", spec, "-o", run, "--backend", backend, "--quiet"])

import keras  # imported by the run above, on its backend
from kspec.training import fit

out["keras_backend"] = keras.backend.backend()
plain = fit.NanWatch.on_epoch_end

def ctrl_c_after_epoch_2(self, epoch, logs=None):  # a real SIGINT, as a Ctrl-C at a terminal
    plain(self, epoch, logs)
    if epoch == 1:
        os.kill(os.getpid(), signal.SIGINT)

fit.NanWatch.on_epoch_end = ctrl_c_after_epoch_2
err = io.StringIO()
with contextlib.redirect_stderr(err):
    out["interrupted_rc"] = main(["train", spec, "-o", resumed, "--backend", backend, "--quiet"])
fit.NanWatch.on_epoch_end = plain
out["interrupted_err"] = err.getvalue()
out["interrupted_run"] = json.load(open(os.path.join(resumed, "run.json")))
out["resume_rc"] = main(["train", spec, "-o", resumed, "--backend", backend, "--quiet"])

x = np.random.default_rng(0).normal(size=(50, 2)).astype("float32")
np.savez(os.path.join(work, "new.npz"), xy=x)
preds = os.path.join(work, "preds.npz")
out["predict_rc"] = main(["predict", run, "--input", os.path.join(work, "new.npz"), "-o", preds,
                          "--backend", backend])
text = io.StringIO()
with contextlib.redirect_stdout(text):
    out["evaluate_rc"] = main(["evaluate", run, "--format", "json", "--backend", backend])
out["evaluate"] = json.loads(text.getvalue())

# Keras's own view of the two runs, on the same backend
model = keras.saving.load_model(os.path.join(run, "model.keras"))
again = keras.saving.load_model(os.path.join(resumed, "model.keras"))
out["predict_max_diff"] = float(np.max(np.abs(np.load(preds)["prob"] - model.predict(x, verbose=0))))
pairs = [*zip(model.get_weights(), again.get_weights()),
         *zip([np.array(v) for v in model.optimizer.variables], [np.array(v) for v in again.optimizer.variables])]
out["resume_max_diff"] = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in pairs)
out["resume_steps"] = [int(np.array(model.optimizer.iterations)), int(np.array(again.optimizer.iterations))]
if backend == "torch":
    import torch
    out["torch_module"] = isinstance(model, torch.nn.Module)
print("RESULT" + json.dumps(out))
"""

# The run folder: the contract's files, plus run.json and the spec kspec trained.
RUN_FILES = {"model.keras", "history.json", "metrics.json", "summary.txt", "model.png", "curves.png",
             "report.html", "run.json", "spec.yaml"}  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_kspec_train_predict_evaluate_and_resume_on_a_backend(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    env = {
        **os.environ,
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(ROOT / "src"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(spec), str(tmp_path), backend],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=840,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    got = json.loads(line[len("RESULT") :])
    assert got["train_rc"] == 0 and got["keras_backend"] == backend, got

    run = tmp_path / "run"
    assert RUN_FILES <= set(os.listdir(run)), sorted(os.listdir(run))
    info = json.loads((run / "run.json").read_text())
    assert info["backend"] == backend and info["status"] == "finished" and info["finished_epochs"] == EPOCHS
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == list(range(1, EPOCHS + 1))
    series = [v for k, v in history.items() if k != "epoch"]
    assert series and all(len(v) == EPOCHS and all(math.isfinite(x) for x in v) for v in series), history
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= {"loss", "accuracy"} and all(math.isfinite(v) for v in metrics.values())
    assert history["loss"][-1] < history["loss"][0]  # it trained

    # predict and evaluate on the same backend: Keras's own predictions, the same test metrics
    assert got["predict_rc"] == 0 and got["predict_max_diff"] <= 1e-6, got
    assert got["evaluate_rc"] == 0
    for key, value in metrics.items():
        assert np.isclose(got["evaluate"][key], value, rtol=1e-5, atol=1e-6), (key, got["evaluate"], metrics)

    # and on this process's backend (TensorFlow under make test): the run folder is portable
    from kspec.training.run import evaluate

    elsewhere = evaluate(str(run))
    for key, value in metrics.items():
        assert np.isclose(elsewhere[key], value, rtol=1e-5, atol=1e-6), (key, elsewhere, metrics)

    # Ctrl-C after epoch 2, the same command again: it resumes at epoch 2 and ends where the
    # uninterrupted run ended (weights and Adam's moments), having trained each epoch once
    assert got["interrupted_rc"] == 130, got
    assert "interrupted after epoch 2" in got["interrupted_err"], got["interrupted_err"]
    assert got["interrupted_run"]["status"] == "interrupted" and got["interrupted_run"]["backend"] == backend
    assert got["resume_rc"] == 0
    resumed = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert resumed["status"] == "finished" and resumed["initial_epoch"] == 2 and resumed["backend"] == backend
    assert json.loads((tmp_path / "resumed" / "history.json").read_text())["epoch"] == list(
        range(1, EPOCHS + 1)
    )
    assert got["resume_steps"][0] == got["resume_steps"][1] > 0
    assert got["resume_max_diff"] <= 1e-6, got["resume_max_diff"]
    if backend == "torch":
        assert got["torch_module"] is True
