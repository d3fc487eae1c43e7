"""Interrupted training loses nothing: Ctrl-C or a kill at any moment of `kspec train`, and
every rerun completes without training a finished epoch again; on a seeded MLP without dropout
and without shuffling, the final weights and the optimizer's state equal an uninterrupted run's.

The reference is Keras itself: the uninterrupted run's saved model, loaded back, compared
variable by variable (layers and optimizer: its step counter and Adam's moments).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import kspec
from conftest import ROOT
from kspec.cli import main

# One worker computes the uninterrupted reference run (a session fixture) for every test here.
pytestmark = pytest.mark.xdist_group("interrupt_reference")

EPOCHS = 6
SPEC = textwrap.dedent(f"""\
    name: resume_mlp
    seed: 5
    inputs: [{{name: xy, shape: [2]}}]
    layers:
      - {{type: Dense, units: 32, activation: tanh}}
      - {{type: Dense, units: 32, activation: tanh}}
      - {{type: Dense, units: 1, activation: sigmoid}}
    compile: {{optimizer: {{type: Adam, learning_rate: 0.01}}, loss: binary_crossentropy, metrics: [accuracy]}}
    train:
      data: {{type: synthetic, name: moons, samples: 800, noise: 0.1}}
      epochs: {EPOCHS}
      batch_size: 16
      shuffle: false
      validation_split: 0.1
      test_split: 0.2
    """)
ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "KERAS_BACKEND": "tensorflow",
    "PYTHONPATH": str(ROOT / "src"),
}


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The uninterrupted run (same process as the reruns: Keras is imported once)."""
    folder = tmp_path_factory.mktemp("reference")
    spec = folder / "spec.yaml"
    spec.write_text(SPEC)
    from kspec.training.run import train

    train(str(spec), folder / "run", quiet=True)  # no reports: the weights are what is compared
    return state(folder / "run")


def state(run_dir) -> dict[str, list[np.ndarray]]:
    """Every variable of the saved model: layers' weights and the optimizer's variables."""
    model = kspec.load_model(str(run_dir / "model.keras"))
    return {
        "weights": [np.array(w) for w in model.get_weights()],
        "optimizer": [np.array(v) for v in model.optimizer.variables],
    }


def assert_same_state(run_dir, reference) -> None:
    got = state(run_dir)
    assert int(got["optimizer"][0]) == int(reference["optimizer"][0])  # the step counter
    for kind in ("weights", "optimizer"):
        assert len(got[kind]) == len(reference[kind]), kind
        for a, b in zip(got[kind], reference[kind]):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0, err_msg=kind)


def backed_up(run_dir) -> int:
    folder = run_dir / "backup"
    names = [n for n in os.listdir(folder) if n.startswith("epoch-")] if folder.is_dir() else []
    return max((int(n.split("-")[1]) for n in names), default=0)


def rerun_until_done(spec, run_dir, capsys) -> None:
    """Rerun in this process; it must resume at the backed-up epoch and never train it again."""
    done = backed_up(run_dir)
    finished_before = (run_dir / "run.json").exists() and json.load(open(run_dir / "run.json")).get(
        "status"
    ) == "finished"
    rc = main(["train", str(spec), "-o", str(run_dir)])
    out = capsys.readouterr()
    assert rc == 0, out.err
    if finished_before:
        assert "is complete" in out.err and "Epoch" not in out.out
        return
    run = json.load(open(run_dir / "run.json"))
    assert run["status"] == "finished" and run["initial_epoch"] == done, (run, done)
    for epoch in range(1, done + 1):  # finished epochs are not trained again
        assert f"Epoch {epoch}/{EPOCHS}" not in out.out
    history = json.load(open(run_dir / "history.json"))
    assert history["epoch"] == list(range(1, EPOCHS + 1))
    assert not (run_dir / "backup").exists()


def interrupt_at_random(spec, run_dir, sig: int, rng: random.Random) -> None:
    """Start `kspec train`, wait until it trains, send `sig` at a random moment."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kspec", "train", str(spec), "-o", str(run_dir), "--quiet"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "run.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 2.5))  # training takes about 1-3 s: before, during, after epochs
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 130, -signal.SIGKILL, -signal.SIGINT), (proc.returncode, err)


def kill_rounds(n: int, seed: int, tmp_path, reference, capsys) -> None:
    rng = random.Random(seed)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    for i in range(n):
        run_dir = tmp_path / f"run{i}"
        sig = signal.SIGKILL if i % 2 == 0 else signal.SIGINT
        interrupt_at_random(spec, run_dir, sig, rng)
        rerun_until_done(spec, run_dir, capsys)
        assert_same_state(run_dir, reference)


@pytest.mark.slow
def test_sigkill_and_sigint_at_random_moments_resume_exactly(tmp_path, reference, capsys):
    kill_rounds(
        2,
        seed=int(os.environ.get("KSPEC_KILL_SEED", "19")),
        tmp_path=tmp_path,
        reference=reference,
        capsys=capsys,
    )


@pytest.mark.heavy
def test_fifty_random_kills_resume_exactly(tmp_path, reference, capsys):
    kill_rounds(50, seed=1916, tmp_path=tmp_path, reference=reference, capsys=capsys)


@pytest.mark.slow
def test_ctrl_c_while_the_backup_is_written_resumes_exactly(tmp_path, reference, capsys, monkeypatch, keras):
    """A Ctrl-C inside the epoch backup (the weights file half written) keeps the previous
    epoch's backup whole; the rerun restores it, optimizer included."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    original = keras.Model.save_weights
    calls = []

    def interrupted_save(self, path, *args, **kwargs):
        calls.append(path)
        original(self, path, *args, **kwargs)
        if len(calls) == 3:
            with open(path, "r+b") as fh:  # as if the write had stopped half way
                fh.truncate(os.path.getsize(path) // 2)
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", interrupted_save)
    assert main(["train", str(spec), "-o", str(tmp_path / "run"), "--quiet"]) == 130
    assert "interrupted after epoch 2" in capsys.readouterr().err
    assert backed_up(tmp_path / "run") == 2
    assert [n for n in os.listdir(tmp_path / "run" / "backup")] == ["epoch-000002"]  # no partial file left
    monkeypatch.setattr(keras.Model, "save_weights", original)
    rerun_until_done(spec, tmp_path / "run", capsys)
    assert_same_state(tmp_path / "run", reference)


@pytest.mark.slow
def test_a_ctrl_c_that_tensorflow_turns_into_another_error_is_still_an_interrupt(
    tmp_path, reference, capsys, monkeypatch, keras
):
    """Found by the 50 random kills: a Ctrl-C that lands while TensorFlow's C++ fast path converts
    an op's arguments comes out of `fit` as a TypeError ("Failed to convert elements of (None,)
    to Tensor"), and the run ended with exit 1 and an error. kspec's SIGINT handler counts the
    Ctrl-C, so whatever it became is the interrupt: exit 130, the run resumable, exact."""
    import kspec.cli
    from kspec.training.fit import EpochTimer

    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    original = EpochTimer.on_epoch_end
    epochs = []

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)  # the last of kspec's callbacks: the epoch is backed up
        epochs.append(epoch)
        if len(epochs) == 2:
            try:
                kspec.cli._interrupt(signal.SIGINT, None)  # what the handler does on Ctrl-C
            except KeyboardInterrupt:
                raise TypeError("Failed to convert elements of (None,) to Tensor.") from None

    monkeypatch.setattr(EpochTimer, "on_epoch_end", on_epoch_end)
    assert main(["train", str(spec), "-o", str(tmp_path / "run"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted after epoch 2" in err and "TypeError" not in err
    assert json.load(open(tmp_path / "run" / "run.json"))["status"] == "interrupted"
    monkeypatch.setattr(EpochTimer, "on_epoch_end", original)
    rerun_until_done(spec, tmp_path / "run", capsys)
    assert_same_state(tmp_path / "run", reference)
    # a TypeError with no Ctrl-C before it stays an error (exit 1, named)
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: (_ for _ in ()).throw(TypeError("real bug")))
    assert main(["train", str(spec), "-o", str(tmp_path / "run2"), "--quiet"]) == 1
    assert "TypeError: real bug" in capsys.readouterr().err


KILL_BEFORE_SAVE = """
import os, signal, sys
import kspec.training.run as run
def save_model(model, path):
    os.kill(os.getpid(), signal.SIGKILL)  # every epoch is done, model.keras not yet written
run.save_model = save_model
from kspec.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_kill_between_last_epoch_and_model_keras_trains_nothing_again(tmp_path, reference, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", KILL_BEFORE_SAVE, "train", str(spec), "-o", str(run_dir), "--quiet"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert backed_up(run_dir) == EPOCHS and not (run_dir / "model.keras").exists()
    rerun_until_done(spec, run_dir, capsys)
    assert json.load(open(run_dir / "run.json"))["initial_epoch"] == EPOCHS
    assert_same_state(run_dir, reference)


@pytest.mark.heavy
def test_a_second_train_on_the_same_folder_is_refused_and_the_first_finishes(tmp_path, reference):
    """Two real `kspec train` processes on one run folder: the second exits 2 naming the first's
    process id; the first finishes with exactly the uninterrupted run's weights."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "kspec", "train", str(spec), "-o", str(run_dir), "--quiet"]
    first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    if second.returncode == 2:  # the first still held the folder
        assert f"process {first.pid}" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    else:  # the first had finished: the second found it complete (and, --quiet, said nothing)
        assert second.returncode == 0, second.stderr
    assert json.load(open(run_dir / "run.json"))["status"] == "finished"
    assert_same_state(run_dir, reference)


DROPOUT_SPEC = SPEC.replace(
    "  - {type: Dense, units: 1, activation: sigmoid}",
    "  - {type: Dropout, rate: 0.3}\n  - {type: Dense, units: 1, activation: sigmoid}",
)


@pytest.mark.slow
def test_a_resumed_run_with_dropout_draws_the_uninterrupted_runs_masks(tmp_path, monkeypatch):
    """Keras's weight files leave out Dropout's seed generator; the backup's rng.npz keeps it."""
    from kspec.training import fit
    from kspec.training.run import train

    assert "Dropout" in DROPOUT_SPEC
    spec = tmp_path / "spec.yaml"
    spec.write_text(DROPOUT_SPEC)
    train(str(spec), tmp_path / "reference", quiet=True)
    reference = state(tmp_path / "reference")

    def stop_after_epoch_3(self, epoch, logs=None):  # NanWatch runs after EpochBackup
        if epoch == 2:
            raise KeyboardInterrupt

    for run, keep_rng in (("run", True), ("without_rng", False)):
        with monkeypatch.context() as m:
            m.setattr(fit.NanWatch, "on_epoch_end", stop_after_epoch_3, raising=False)
            with pytest.raises(KeyboardInterrupt):
                train(str(spec), tmp_path / run, quiet=True)
        assert backed_up(tmp_path / run) == 3
        rng = tmp_path / run / "backup" / "epoch-000003" / "rng.npz"
        assert rng.is_file()
        if not keep_rng:
            rng.unlink()  # as a backup without it: the masks after epoch 3 differ
        result = train(str(spec), tmp_path / run, quiet=True)
        assert result.initial_epoch == 3
    assert_same_state(tmp_path / "run", reference)
    differs = state(tmp_path / "without_rng")["weights"]
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(differs, reference["weights"])) > 1e-4
