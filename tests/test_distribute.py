"""Data-parallel training on several processes (JAX, gloo on CPU) against one process.

The MNIST MLP spec (specs/mnist_mlp.yaml) runs on an offline stand-in for MNIST (random 28x28
images, the same shapes), with shuffling off so one process sees the same global batches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kspec.cli import main

ROWS, BATCH = 640, 64


@pytest.fixture()
def mnist_spec(tmp_path, root):
    rng = np.random.default_rng(0)
    x = rng.random((ROWS, 28, 28)).astype("float32")
    y = (x[:, :14].mean(axis=(1, 2)) * 40).astype("int64") % 10
    np.savez(tmp_path / "mnist_like.npz", x=x, y=y)
    text = (root / "specs" / "mnist_mlp.yaml").read_text()
    text = text.replace(
        "data: {type: keras, name: mnist}",
        "data: {type: npz, path: mnist_like.npz, x: x, y: y}\n  test_split: 0.0\n  shuffle: false",
    )
    text = text.replace("epochs: 5", "epochs: 2").replace("batch_size: 128", f"batch_size: {BATCH}")
    text = text.replace("validation_split: 0.1", "validation_split: 0.0")
    path = tmp_path / "mnist.yaml"
    path.write_text(text)
    return path


def _kspec(root, *args, timeout=900):
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [sys.executable, "-m", "kspec", *map(str, args)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _weights(path):
    import keras

    return keras.models.load_model(path).get_weights()


def _history(run_dir):
    return json.loads((run_dir / "history.json").read_text())


@pytest.mark.slow
def test_two_processes_end_with_the_weights_of_one(mnist_spec, tmp_path, root):
    # The spec's `distribute:` section asks for the 2 processes; --workers 1 overrides it below.
    mnist_spec.write_text(mnist_spec.read_text() + "distribute: {strategy: data_parallel, workers: 2}\n")
    two = _kspec(root, "train", mnist_spec, "-o", tmp_path / "two", "--quiet")
    assert two.returncode == 0, two.stderr[-3000:]
    prints = [json.loads((tmp_path / "two" / "logs" / f"process-{i}.json").read_text()) for i in (0, 1)]
    assert prints[0]["weights_sha256"] == prints[1]["weights_sha256"]  # identical on both processes
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert (run["processes"], run["global_batch_size"], run["per_process_batch_size"]) == (
        2,
        BATCH,
        BATCH // 2,
    )
    assert run["status"] == "finished" and run["backend"] == "jax" and "logs" in run["files"]
    assert "processes: 2 (global batch 64" in (tmp_path / "two" / "report.html").read_text()
    assert sorted(os.listdir(tmp_path / "two" / "logs")) == [
        "process-0.json", "process-0.log", "process-1.json", "process-1.log"
    ]  # fmt: skip
    assert not (tmp_path / "two" / "backup").exists()  # the finished run needs no backup
    assert not [n for n in os.listdir(tmp_path / "two") if n.startswith(".kspec-")]

    one = _kspec(
        root, "train", mnist_spec, "-o", tmp_path / "one", "--workers", 1, "--backend", "jax", "--quiet"
    )
    assert one.returncode == 0, one.stderr[-3000:]
    assert json.loads((tmp_path / "one" / "run.json").read_text())["processes"] == 1
    a, b = _weights(tmp_path / "two" / "model.keras"), _weights(tmp_path / "one" / "model.keras")
    assert [w.shape for w in a] == [w.shape for w in b]
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    print(f"max abs weight difference, 2 processes vs 1: {diff:.3g}")
    assert diff <= 1e-5, diff
    assert any(float(np.max(np.abs(w))) > 0 for w in a)
    # The same loss curve: the same epochs, the same loss at each (the global batch is the same).
    h2, h1 = _history(tmp_path / "two"), _history(tmp_path / "one")
    assert h2["epoch"] == h1["epoch"] == [1, 2]
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-5)
    assert h2["loss"][1] < h2["loss"][0]  # it trained


def test_bad_distributed_requests_are_exit_2_and_write_nothing(mnist_spec, tmp_path, capsys):
    out = tmp_path / "run"
    cases = [
        (["--workers", "3"], "cannot be split evenly over 3 processes"),
        (["--workers", "2", "--batch-size", "1000"], "fewer than one global batch of 1000"),
        (["--workers", "2", "--backend", "tensorflow"], "runs on JAX"),
        (["--coordinator", "127.0.0.1:1"], "go together"),
        (["--coordinator", "nohost", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
        (
            ["--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "2"],
            r"--process-id must be in [0, 2)",
        ),
        (
            ["--workers", "2", "--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "0"],
            "not both",
        ),
    ]
    for flags, message in cases:
        assert main(["train", str(mnist_spec), "-o", str(out), *flags]) == 2, flags
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (flags, err)
        assert not out.exists(), flags


def test_a_bad_distribute_section_is_located_exit_2_and_writes_nothing(mnist_spec, tmp_path, capsys):
    text = mnist_spec.read_text()
    for section, message in (
        ("distribute: {strategy: horovod}", "distribute.strategy"),
        ("distribute: {workers: 0}", "distribute.workers"),
        ("distribute: {timeout: -5}", "distribute.timeout"),
    ):
        mnist_spec.write_text(text + section + "\n")
        assert main(["train", str(mnist_spec), "-o", str(tmp_path / "run")]) == 2, section
        err = capsys.readouterr().err
        line = text.count("\n") + 1
        assert f"mnist.yaml:{line}:" in err and message in err and err.count("\n") == 1, (section, err)
        assert not (tmp_path / "run").exists()


def test_cluster_launchers_environment_is_detected(monkeypatch):
    from kspec.training.distribute import cluster_from

    for name in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert cluster_from(None, None, None, 60) is None  # a plain run
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert cluster_from(None, None, None, 60) is None  # one task is not a distributed run
    monkeypatch.setenv("SLURM_NTASKS", "4")
    found = cluster_from(None, None, None, 60)
    assert found is not None and found.coordinator is None  # JAX reads the rest from SLURM
    flags = cluster_from("10.0.0.1:1234", 4, 3, 30)  # the flags win
    assert flags is not None and (flags.coordinator, flags.num_processes, flags.process_id) == (
        "10.0.0.1:1234",
        4,
        3,
    )


@pytest.mark.slow
def test_mirrored_strategy_trains_on_tensorflow_and_is_refused_elsewhere(tmp_path, keras):
    """`strategy: mirrored`: one process, every local device, through tf.distribute."""
    import kspec
    from kspec.training.distribute import DistributeError, model_scope

    assert keras.backend.backend() == "tensorflow"
    spec = kspec.loads(
        "name: mirrored\nseed: 3\ninputs: [{name: xy, shape: [2]}]\n"
        "layers: [{type: Dense, units: 8, activation: tanh}, {type: Dense, units: 1, activation: sigmoid}]\n"
        "compile: {optimizer: adam, loss: binary_crossentropy, metrics: [accuracy]}\n"
        "train: {data: {type: synthetic, name: moons, samples: 200}, epochs: 2, batch_size: 20}\n"
        "distribute: {strategy: mirrored}\n"
    )
    import tensorflow as tf

    with model_scope(spec):
        assert tf.distribute.has_strategy()
        assert isinstance(tf.distribute.get_strategy(), tf.distribute.MirroredStrategy)
    result = kspec.train(spec, tmp_path / "run", quiet=True)
    assert result.history["epoch"] == [1, 2] and "accuracy" in result.metrics
    assert isinstance(result.model.distribute_strategy, tf.distribute.MirroredStrategy)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    try:
        with pytest.raises(DistributeError, match="mirrored is TensorFlow's"):
            model_scope(spec)
    finally:
        monkeypatch.undo()


@pytest.mark.slow
def test_a_coordinator_that_does_not_answer_is_an_error_within_the_timeout(mnist_spec, tmp_path, root):
    import socket

    with socket.socket() as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    done = _kspec(
        root, "train", mnist_spec, "-o", tmp_path / "run", "--coordinator", f"127.0.0.1:{port}",
        "--num-processes", 2, "--process-id", 1, "--distribute-timeout", 5, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "could not join the distributed run" in done.stderr and "within 5 s" in done.stderr
    assert time.monotonic() - start < 120
    assert not (tmp_path / "run").exists()


def _pid_of(process_id: int, run_dir) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if str(run_dir).encode() in argv and b"--process-id" in argv:
            if argv[argv.index(b"--process-id") + 1] == str(process_id).encode():
                return int(entry)
    return None


def _wait_for_epochs(path, count, launcher, deadline):
    while time.monotonic() < deadline and launcher.poll() is None:
        try:
            if len(json.loads(path.read_text())["epoch"]) >= count:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)


KILL_EPOCHS = 40


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
@pytest.mark.parametrize(
    "rerun",
    [False, pytest.param(True, marks=pytest.mark.heavy)],  # the rerun: two more launches (make test-all)
    ids=["kill", "kill-and-resume"],
)
def test_kill_9_of_one_worker_stops_the_run_and_leaves_it_resumable(mnist_spec, tmp_path, root, rerun):
    run_dir = tmp_path / "run"
    argv = ["train", mnist_spec, "-o", run_dir, "--workers", 2, "--epochs", KILL_EPOCHS, "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "kspec", *map(str, argv)], cwd=root, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_epochs(run_dir / "history.json", 2, launcher, time.monotonic() + 600)
        victim = _pid_of(1, run_dir)
        assert victim is not None and launcher.poll() is None, "the run ended before the kill"
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        _, err = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert time.monotonic() - killed < 60  # no hang: the launcher stopped process 0 itself
    assert launcher.returncode == 1, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: process 1 stopped (killed by SIGKILL); "), err
    assert "the other processes were stopped too" in err and "run the same command again" in err
    assert _pid_of(0, run_dir) is None  # the other process is gone too

    # Resumable and not half-written: run.json says where it stopped, that epoch's backup is
    # complete, and no temporary file is left in the folder.
    run = json.loads((run_dir / "run.json").read_text())
    backups = sorted(os.listdir(run_dir / "backup"))
    assert run["status"] == "interrupted" and run["reason"] == "process 1 stopped (killed by SIGKILL)"
    assert backups == [f"epoch-{run['finished_epochs']:06d}"] and run["finished_epochs"] >= 1
    assert (run_dir / "backup" / backups[0] / "model.weights.h5").is_file()
    assert f"epochs 1-{run['finished_epochs']} are kept in" in err
    assert not [n for n in os.listdir(run_dir) if n.startswith(".kspec-")]
    assert _history(run_dir)["epoch"][: run["finished_epochs"]] == list(range(1, run["finished_epochs"] + 1))
    if not rerun:
        return

    done_before = run["finished_epochs"]
    again = _kspec(root, *argv)
    assert again.returncode == 0, again.stderr[-3000:]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["initial_epoch"] >= done_before
    assert _history(run_dir)["epoch"] == list(range(1, KILL_EPOCHS + 1))
    prints = [json.loads((run_dir / "logs" / f"process-{i}.json").read_text()) for i in (0, 1)]
    assert prints[0]["weights_sha256"] == prints[1]["weights_sha256"]
    # The resumed run is the uninterrupted one (shuffling off; the optimizer state is restored).
    one = _kspec(
        root,
        "train",
        mnist_spec,
        "-o",
        tmp_path / "one",
        "--backend",
        "jax",
        "--epochs",
        KILL_EPOCHS,
        "--quiet",
    )
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = _weights(run_dir / "model.keras"), _weights(tmp_path / "one" / "model.keras")
    diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    print(f"max abs weight difference, killed and resumed 2 processes vs 1: {diff:.3g}")
    assert diff <= 1e-5, diff


@pytest.mark.heavy  # one and two processes at tiny sizes: the benchmark script does not rot
def test_the_distributed_benchmark_runs(root):
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "distributed.py"), "--quick"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ratio 2 / 1 processes: **" in done.stdout and "max abs difference" in done.stdout


@pytest.mark.heavy  # two processes joined by hand, as on a cluster (one command per host)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 of a process group member")
def test_without_the_launcher_the_survivor_of_a_kill_9_exits_at_once_with_one_line(
    mnist_spec, tmp_path, root
):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}

    def start(i, out):
        argv = ["train", mnist_spec, "-o", out, "--epochs", 3000, "--coordinator", f"127.0.0.1:{port}",
                "--num-processes", 2, "--process-id", i, "--distribute-timeout", 60]  # fmt: skip
        return subprocess.Popen(
            [sys.executable, "-m", "kspec", *map(str, argv)], cwd=root, env=env, stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip

    run_dir = tmp_path / "run"
    first, second = start(0, run_dir), start(1, tmp_path / "run1")
    try:
        _wait_for_epochs(run_dir / "history.json", 2, first, time.monotonic() + 600)
        assert first.poll() is None and second.poll() is None
        second.kill()
        killed = time.monotonic()
        _, err = first.communicate(timeout=120)
    finally:
        for p in (first, second):
            if p.poll() is None:
                p.kill()
    assert time.monotonic() - killed < 30  # not JAX's heartbeat timeout (60 s) and its abort
    assert first.returncode == 1, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: process 0: training stopped (") and "run the same command again" in last
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted" and run["finished_epochs"] >= 1
    assert sorted(os.listdir(run_dir / "backup")) == [f"epoch-{run['finished_epochs']:06d}"]
