"""report.html: one self-contained page with every part of a run, and it renders in a browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from kspec.report.curves import metric_names, plot_curves
from kspec.report.html import render, write_report

SECTIONS = ["metrics", "summary", "topology", "curves", "history", "spec"]
HISTORY = {
    "epoch": [1, 2, 3],
    "loss": [0.9, 0.5, 0.3],
    "accuracy": [0.6, 0.8, 0.9],
    "val_loss": [1.0, 0.6, None],
    "val_accuracy": [0.5, 0.7, 0.8],
}


def fake_run(folder, *, diagram: bool = True) -> str:
    """A run folder with every file `kspec train` writes (no Keras needed)."""
    os.makedirs(folder, exist_ok=True)
    join = lambda name: os.path.join(folder, name)  # noqa: E731
    json.dump(
        {
            "name": "tiny <run>",
            "api": "functional",
            "epochs": 3,
            "batch_size": 8,
            "status": "finished",
            "rows": {"train": 80, "validation": 10, "test": 10},
        },
        open(join("run.json"), "w"),
    )
    json.dump({"loss": 0.31, "accuracy": 0.9}, open(join("metrics.json"), "w"))
    json.dump(HISTORY, open(join("history.json"), "w"))
    json.dump(
        {
            "name": "tiny",
            "class": "Functional",
            "total_params": 10,
            "trainable_params": 6,
            "non_trainable_params": 4,
            "layers": [
                {
                    "name": "frozen",
                    "type": "Dense",
                    "output_shape": [None, 2],
                    "params": 4,
                    "trainable": False,
                },
                {"name": "out", "type": "Dense", "output_shape": [None, 2], "params": 6, "trainable": True},
            ],
        },
        open(join("summary.json"), "w"),
    )
    open(join("spec.yaml"), "w").write("name: tiny\ndescription: a <script>alert(1)</script> & more\n")
    plot_curves(HISTORY, join("curves.png"))
    if diagram:
        plot_curves({"epoch": [1], "loss": [1.0]}, join("model.png"))  # any PNG stands in for the diagram
    else:
        open(join("diagram_note.txt"), "w").write("the topology diagram could not be drawn: no dot\n")
    return folder


def test_report_has_every_section_inlined_and_escaped(tmp_path):
    page = render(fake_run(str(tmp_path / "run")))
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in page
    assert page.count('src="data:image/png;base64,') == 2
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page  # no network
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page and "<script>alert" not in page
    assert "tiny &lt;run&gt;" in page
    assert 'class="frozen"' in page and "0.9" in page


def test_missing_diagram_gives_a_note_not_a_failure(tmp_path):
    page = render(fake_run(str(tmp_path / "run"), diagram=False))
    assert page.count("data:image/png") == 1 and "could not be drawn: no dot" in page


def test_curves_pair_training_and_validation_metrics(tmp_path):
    assert metric_names(HISTORY) == ["loss", "accuracy"]
    assert metric_names(
        {"epoch": [1], "out_loss": [1], "loss": [1], "out_mae": [1], "learning_rate": [1]}
    ) == ["loss", "out_loss", "out_mae"]
    path = tmp_path / "c.png"
    plot_curves({"epoch": [], "loss": []}, path)  # no finished epochs: still an image
    assert path.stat().st_size > 0


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def browser(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    exe = chromium()
    assert exe
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--hide-scrollbars",
    ]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (apt-get install --no-install-recommends chromium)"
)
def test_report_of_a_real_run_renders_in_headless_chromium(tmp_path):
    import kspec

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: circles_report\nseed: 2\ninputs: [{name: xy, shape: [2]}]\nlayers:\n"
        "  - {type: Dense, name: hidden, units: 8, activation: relu}\n"
        "  - {type: Dense, name: out, units: 1, activation: sigmoid}\n"
        "compile: {optimizer: adam, loss: binary_crossentropy, metrics: [accuracy]}\n"
        "train: {data: {type: synthetic, name: circles, samples: 200}, epochs: 3, validation_split: 0.2}\n"
    )
    run = tmp_path / "run"
    kspec.train(spec, run, quiet=True)
    url = (run / "report.html").resolve().as_uri()

    dom = browser(["--virtual-time-budget=5000", "--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in dom.stdout
    images = re.search(r'<body data-images="(\d+)/(\d+)"', dom.stdout)
    assert images, "the page's load script did not run"
    loaded, total = map(int, images.groups())
    assert total == 1 + (run / "model.png").exists() and loaded == total  # every image decoded
    assert "circles_report" in dom.stdout and "accuracy" in dom.stdout

    shot = tmp_path / "report.png"
    done = browser([f"--screenshot={shot}", "--window-size=1200,2000", url], tmp_path)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[:2] == (2000, 1200)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1])[::97], axis=0)) > 20  # not a blank page
    keep = os.environ.get("KSPEC_TEST_ARTIFACTS")  # a folder to keep the screenshot in, for a look
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(shot, os.path.join(keep, "report.png"))


def test_write_report_writes_report_html(tmp_path):
    folder = fake_run(str(tmp_path / "run"))
    path = write_report(folder)
    assert path.endswith("report.html") and open(path).read().startswith("<!DOCTYPE html>")
