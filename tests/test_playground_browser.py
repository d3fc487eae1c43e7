"""The Playground in a real browser: Debian's Chromium, headless, driven by Playwright.

One walk through the page, as a learner would: a spec with an error is marked at its line, the
fixed spec fills the check table and the diagram, the spiral with x1², x2² and sin features trains
to a test accuracy of 0.9, Step trains exactly one batch, an edge's hover value is that weight
of the downloaded model, the downloaded spec trains to the same accuracy with `kspec train`, and
the shared URL opens the same setup in a fresh browser context.

The server binds 127.0.0.1 on a free port and is stopped at the end, like the browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

import kspec
from conftest import ROOT

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BAD = """\
name: spiral_page
seed: 1
inputs: [{name: x, shape: [2]}]
layers:
- {type: Dense, units: 8, activation: tanh, kernel_initializer: glorot_unifrom}
- {type: Dense, units: 8, activation: tanh}
- {type: Dense, name: out, units: 1, activation: sigmoid}
"""
GOOD = (
    BAD.replace("glorot_unifrom", "glorot_uniform")
    + """\
compile:
  optimizer: {type: Adam, learning_rate: 0.03}
  loss: binary_crossentropy
  metrics: [accuracy]
train:
  data: {type: synthetic, name: circles, samples: 500, noise: 0.0, seed: 0, features: [x1, x2]}
  test_split: 0.5
  batch_size: 10
  epochs: 25
"""
)


@pytest.fixture
def server(tmp_path):
    from kspec.playground import Limits, serve

    workdir = tmp_path / "work"
    workdir.mkdir()
    started: dict = {}
    ready = threading.Event()

    def on_ready(url, srv):
        started.update(url=url, server=srv)
        ready.set()

    thread = threading.Thread(
        target=serve,
        kwargs=dict(
            host="127.0.0.1", port=0, workdir=str(workdir), limits=Limits(max_trainings=2), ready=on_ready
        ),
        daemon=True,
    )
    thread.start()
    assert ready.wait(60), "the server did not start"
    yield started["url"], workdir
    started["server"].should_exit = True
    thread.join(30)
    assert not thread.is_alive()


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium (scripts/ensure_chromium.sh installs Debian's)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def text_of(page) -> str:
    return page.eval_on_selector("#spec", "e => e.value")


def wait_valid(page, contains: str | None = None):
    page.wait_for_function(
        "() => document.getElementById('error').textContent.includes('valid')", timeout=30_000
    )
    if contains:
        page.wait_for_function(
            f"() => document.getElementById('spec').value.includes({json.dumps(contains)})"
        )


def wait_state(page, expr: str, timeout=120_000):
    page.wait_for_function(
        f"() => {{ const s = document.body.dataset.state; return {expr}; }}", timeout=timeout
    )


def download(page, selector, target):
    with page.expect_download(timeout=60_000) as info:
        page.click(selector)
    info.value.save_as(str(target))
    return target


def test_the_playground_in_a_browser(server, browser, tmp_path, keras):
    url, workdir = server
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    wait_valid(page)

    # A spec with an error: marked at its line and column as it is typed.
    page.fill("#spec", BAD)
    page.wait_for_selector("#gutter .error", timeout=30_000)
    with pytest.raises(kspec.SpecError) as want:
        kspec.loads(BAD)
    assert page.inner_text("#gutter .error") == str(want.value.line) == "5"
    assert page.get_attribute("#error", "data-col") == str(want.value.col)
    assert "glorot_unifrom" in page.inner_text("#error")

    # Fixed: the check table and the diagram follow.
    page.fill("#spec", GOOD)
    wait_valid(page)
    page.wait_for_selector("#diagram[data-layers='3']", timeout=30_000)
    rows = page.eval_on_selector_all("#check-table tbody tr", "rs => rs.map(r => r.innerText.split('\\t'))")
    report = kspec.check(kspec.loads(GOOD)).to_dict()
    assert [r[0] for r in rows] == [la["name"] for la in report["layers"]]
    assert [int(r[3].replace(",", "")) for r in rows] == [la["params"] for la in report["layers"]]
    assert page.eval_on_selector("#diagram-img", "i => i.naturalWidth") > 0
    page.click("#add-layer")
    page.wait_for_selector("#diagram[data-layers='4']", timeout=30_000)
    page.click("#remove-layer")
    page.wait_for_selector("#diagram[data-layers='3']", timeout=30_000)

    # The spiral, with x1², x2², sin x1 and sin x2 turned on (each click edits the spec).
    page.click("#datasets button[data-name='spiral']")
    wait_valid(page, "name: spiral")
    page.wait_for_selector(".node.feature.off[data-feature='x1_sq']", timeout=60_000)
    for feature in ("x1_sq", "x2_sq", "sin_x1", "sin_x2"):
        page.click(f".node.feature[data-feature='{feature}']")
        wait_valid(page, feature)
    assert kspec.loads(text_of(page)).train["data"]["features"] == [
        "x1",
        "x2",
        "x1_sq",
        "x2_sq",
        "sin_x1",
        "sin_x2",
    ]
    assert "shape: [6]" in text_of(page)
    page.wait_for_selector(".node.feature[data-feature='sin_x2']:not(.off)", timeout=60_000)
    wait_state(page, "s === 'paused'")

    # Step: exactly one batch.
    assert page.inner_text("#batches") == "0"
    page.click("#step")
    page.wait_for_function("() => document.getElementById('batches').textContent === '1'", timeout=30_000)
    page.wait_for_timeout(500)
    assert page.inner_text("#batches") == "1" and page.inner_text("#epoch") == "0"
    stepped = keras.models.load_model(download(page, "#download-model", tmp_path / "step.keras"))
    assert int(stepped.optimizer.iterations.numpy()) == 1
    network_before = page.locator("#network").screenshot()
    boundary_before = page.locator("#boundary-box").screenshot()

    # Run to the end of the spec's epochs.
    page.click("#run")
    wait_state(page, "s === 'finished'", timeout=180_000)
    accuracy = float(page.get_attribute("#test-metric", "data-value"))
    assert accuracy >= 0.9, accuracy
    assert page.inner_text("#epoch") == "25"
    assert page.locator("#network").screenshot() != network_before
    assert page.locator("#boundary-box").screenshot() != boundary_before
    assert page.locator("#curves svg[data-metric='accuracy']").count() == 1

    # Hover an edge: the value shown is that weight of the model.
    point = page.evaluate(
        """() => {
          const hits = [...document.querySelectorAll('#edges path.hit')].filter(p => p.dataset.layer !== 'dense');
          const p = hits[Math.floor(hits.length / 2)], len = p.getTotalLength(), m = p.getPointAtLength(len * 0.5);
          const box = document.getElementById('edges').getBoundingClientRect();
          return {x: box.left + m.x, y: box.top + m.y};
        }"""
    )
    page.mouse.move(point["x"], point["y"])
    page.wait_for_selector("#tooltip:not(.hidden)")
    tip = page.eval_on_selector("#tooltip", "t => ({text: t.textContent, ...t.dataset})")
    shown = float(tip["text"].rsplit("weight ", 1)[1])
    model = keras.models.load_model(download(page, "#download-model", tmp_path / "trained.keras"))
    weight = float(model.get_layer(tip["layer"]).get_weights()[0][int(tip["i"]), int(tip["j"])])
    assert abs(shown - weight) <= 5e-5 and abs(float(tip["w"]) - weight) <= 1e-6

    # Hover a neuron's heatmap: it is drawn enlarged (three times, over its neighbours).
    unit = page.locator("#network .node.unit").nth(3)
    small = unit.bounding_box()
    unit.hover()
    page.wait_for_timeout(400)  # the CSS transition takes 0.12 s
    large = unit.bounding_box()
    assert large["width"] >= 2.5 * small["width"] and large["height"] >= 2.5 * small["height"], (small, large)

    # The downloaded spec trains to the same accuracy with `kspec train` (same seed).
    spec_path = download(page, "#download-spec", tmp_path / "spiral_page.yaml")
    assert spec_path.read_text() == text_of(page)
    run_dir = tmp_path / "cli-run"
    done = subprocess.run(
        [sys.executable, "-m", "kspec", "train", str(spec_path), "-o", str(run_dir), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a Keras import and 625 batches; minutes when the machine is shared
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] == pytest.approx(accuracy, abs=1e-6)

    # The run's report.
    page.click("#write-report")
    page.wait_for_selector("#report-link:not(.hidden)", timeout=120_000)
    report_page = page.request.get(page.eval_on_selector("#report-link", "a => a.href"))
    assert report_page.status == 200 and "spiral_page" in report_page.text()

    # The shared URL opens the same setup in a fresh context.
    page.check("#show-test")
    page.check("#discretize")
    shared = page.url
    assert "#spec=" in shared
    fresh = browser.new_context(viewport={"width": 1400, "height": 1100})
    other = fresh.new_page()
    other.goto(shared)
    other.wait_for_selector("body[data-ready='1']")
    wait_valid(other)
    assert text_of(other) == text_of(page)
    assert other.is_checked("#show-test") and other.is_checked("#discretize")
    assert other.get_attribute("#datasets button.on", "data-name") == "spiral"
    other.wait_for_selector(".node.feature[data-feature='sin_x1']:not(.off)", timeout=60_000)
    fresh.close()
    context.close()
    assert not errors, errors
    # Everything the server wrote is inside its folder.
    assert set(os.listdir(workdir)) <= {".kspec-playground"}
