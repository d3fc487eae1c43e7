"""`kspec tune`: the real KerasTuner over the spec's search spaces, distributed, resumable.

The search is judged from outside: best.yaml is loaded as a plain spec and trained on its own
with `kspec train`, against the spec's defaults trained the same way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import kspec
from kspec.cli import main

SPEC = "specs/digits_mlp_tune.yaml"


def _kspec(root, *args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "kspec", *map(str, args)], cwd=root, capture_output=True, text=True, **kwargs
    )


@pytest.mark.slow
def test_two_workers_find_a_model_at_least_as_good_as_the_defaults(tmp_path, root):
    out = tmp_path / "tune"
    done = _kspec(root, "tune", SPEC, "--trials", 4, "--workers", 2, "-o", out, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    # KerasTuner's distributed mode really ran: a chief and two tuners, each with its log
    assert sorted(os.listdir(out / "logs")) == ["chief.log", "tuner0.log", "tuner1.log"]
    trials = json.loads((out / "trials.json").read_text())
    assert [t["status"] for t in trials] == ["COMPLETED"] * 4
    spec = kspec.load(root / SPEC)
    assert trials[0]["values"] == spec.search.defaults()  # trial 0 is the spec's defaults
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best"]["score"] == min(t["score"] for t in trials)
    assert (out / "trials.csv").read_text().splitlines()[0].startswith("trial,status,score,")
    page = (out / "report.html").read_text()
    assert (
        'id="plot"' in page and "data:image/png;base64," in page and page.count("<tr") == 4 + 1
    )  # the header and one row per trial

    # best.yaml is a plain spec: no search space left, it builds and trains on its own
    best = kspec.load(out / "best.yaml")
    assert best.search is None
    for hp in summary["hyperparameters"]:
        assert hp["name"] in summary["best"]["values"]
    defaults_run = kspec.train(root / SPEC, tmp_path / "defaults", quiet=True)
    best_run = kspec.train(best, tmp_path / "best", quiet=True)
    assert best_run.history["val_loss"][-1] <= defaults_run.history["val_loss"][-1]
    assert best_run.metrics["accuracy"] >= defaults_run.metrics["accuracy"]


def _completed(out) -> list[dict]:
    rows = []
    project = out / "keras_tuner"
    for name in sorted(os.listdir(project)) if project.is_dir() else []:
        path = project / name / "trial.json"
        if name.startswith("trial_") and path.exists():
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            if data["status"] == "COMPLETED":
                rows.append(data)
    return rows


@pytest.mark.slow
def test_kill_9_during_tuning_then_rerun_keeps_the_finished_trials(tmp_path, root):
    out = tmp_path / "tune"
    argv = [
        sys.executable,
        "-m",
        "kspec",
        "tune",
        SPEC,
        "--trials",
        "3",
        "--tuner",
        "bayesian",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not _completed(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _completed(out)
    assert before, "no trial finished before the kill"
    again = _kspec(root, "tune", SPEC, "--trials", "3", "--tuner", "bayesian", "-o", out, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    after = {t["trial_id"]: t for t in _completed(out)}
    assert len(after) == 3
    for trial in before:  # kept as they were, not run again
        assert after[trial["trial_id"]]["score"] == trial["score"]
        assert after[trial["trial_id"]]["hyperparameters"]["values"] == trial["hyperparameters"]["values"]
    assert (out / "best.yaml").exists()


def test_bad_requests_are_exit_2_and_write_nothing(tmp_path, root, capsys):
    plain = tmp_path / "plain.yaml"
    plain.write_text((root / "specs" / "digits_mlp.yaml").read_text())
    out = tmp_path / "out"
    assert main(["tune", str(plain), "--trials", "2", "-o", str(out)]) == 2
    assert "no search spaces" in capsys.readouterr().err
    no_val = tmp_path / "noval.yaml"
    no_val.write_text((root / SPEC).read_text().replace("validation_split: 0.2", "validation_split: 0.0"))
    assert main(["tune", str(no_val), "--trials", "2", "-o", str(out)]) == 2
    assert "validation_split" in capsys.readouterr().err
    assert main(["tune", str(root / SPEC), "--trials", "0", "-o", str(out)]) == 2
    assert main(["tune", str(root / SPEC), "--trials", "2", "--objective", "f00", "-o", str(out)]) == 2
    assert "f00:min" in capsys.readouterr().err
    assert not out.exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["tune", str(root / SPEC), "--trials", "2", "-o", str(other)]) == 2
    assert "holds no kspec search" in capsys.readouterr().err
    assert os.listdir(other) == ["keep.txt"]


@pytest.mark.heavy
@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband"])
def test_every_tuner_writes_a_best_spec(tmp_path, root, tuner):
    out = tmp_path / tuner
    done = _kspec(root, "tune", SPEC, "--trials", 3, "--tuner", tuner, "-o", out, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert kspec.load(out / "best.yaml").search is None
    assert 1 <= len(json.loads((out / "trials.json").read_text())) <= 3
