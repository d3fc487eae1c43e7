"""kspec serve, without a browser: the API, the controls' edits, the limits and hostile requests.

The app runs in-process through Starlette's TestClient (no socket); `Host` is 127.0.0.1 as for a
real loopback server. Training tests drive the training thread directly and check it against
Keras and against `kspec train`.
"""

from __future__ import annotations

import base64
import json
import os
import time

import numpy as np
import pytest

import kspec
from kspec.playground import edits, is_loopback
from kspec.playground.app import Playground, make_app
from kspec.playground.policy import Limits, load_spec

starlette_testclient = pytest.importorskip("starlette.testclient")

TINY = "inputs: [{name: x, shape: [2]}]\nlayers:\n- {type: Dense, units: 3}\n- {type: Dense, units: 1}\n"
PLANE = """\
name: plane_tiny
seed: 2
inputs: [{name: x, shape: [3]}]
layers:
- {type: Dense, name: h1, units: 5, activation: tanh}
- {type: Dense, name: h2, units: 3, activation: relu}
- {type: Dense, name: out, units: 1, activation: sigmoid}
compile:
  optimizer: {type: Adam, learning_rate: 0.05}
  loss: binary_crossentropy
  metrics: [accuracy]
train:
  data: {type: synthetic, name: xor, samples: 200, noise: 0.0, features: [x1, x2, x1_x2]}
  test_split: 0.25
  batch_size: 16
  epochs: 3
"""


@pytest.fixture
def client(tmp_path):
    pg = Playground(str(tmp_path), limits=Limits(max_body=200_000, max_params=100_000, max_trainings=2))
    with starlette_testclient.TestClient(make_app(pg), base_url="http://127.0.0.1") as c:
        c.pg = pg  # type: ignore[attr-defined]
        yield c


def post(client, url, body):
    return client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


# ------------------------------------------------------------------ page and spec endpoints


def test_the_page_and_its_assets_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "kspec Playground" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("app.js", "style.css", "favicon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200
    # Offline: nothing the page loads lives on another host.
    for name in ("index.html", "app.js", "style.css"):
        text = client.pg.assets[name].decode()
        assert "https://" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")


def test_check_is_kspec_check(client):
    r = post(client, "/api/check", {"text": PLANE})
    assert r.status_code == 200 and r.json()["ok"]
    assert r.json()["report"] == json.loads(json.dumps(kspec.check(kspec.loads(PLANE)).to_dict()))


def test_a_spec_error_comes_back_at_its_line_and_column(client):
    bad = TINY.replace("units: 3", "units: -3")
    r = post(client, "/api/check", {"text": bad})
    assert r.status_code == 422
    err = r.json()["error"]
    with pytest.raises(kspec.SpecError) as want:
        kspec.loads(bad)
    assert (err["line"], err["col"]) == (want.value.line, want.value.col) == (3, 24)
    assert err["path"] == "layers[0].units"


def test_diagram_is_svg_of_the_spec(client):
    r = post(client, "/api/diagram", {"text": PLANE})
    svg = r.json()["svg"]
    assert r.status_code == 200 and "<svg" in svg and "h1" in svg and "plane_tiny" in svg


# ------------------------------------------------------------------ the controls edit the spec


def edited(text, **edit):
    out = edits.apply_edit(text, edit)
    return out, kspec.loads(out)


def test_layer_and_neuron_buttons_edit_the_spec():
    _, spec = edited(edits.DEFAULT_SPEC, op="add_layer")
    assert [la.args["units"] for la in spec.layers] == [4, 2, 2, 1]
    _, spec = edited(edits.DEFAULT_SPEC, op="remove_layer")
    assert [la.args["units"] for la in spec.layers] == [4, 1]
    _, spec = edited(edits.DEFAULT_SPEC, op="neurons", layer=1, delta=1)
    assert [la.args["units"] for la in spec.layers] == [4, 3, 1]
    _, spec = edited(edits.DEFAULT_SPEC, op="neurons", layer=0, delta=-1)
    assert [la.args["units"] for la in spec.layers] == [3, 2, 1]


def test_training_controls_write_into_the_spec():
    _, spec = edited(edits.DEFAULT_SPEC, op="learning_rate", value=0.3)
    assert spec.compile["optimizer"] == {"type": "Adam", "learning_rate": 0.3}
    _, spec = edited(edits.DEFAULT_SPEC, op="activation", value="relu")
    assert [la.args.get("activation") for la in spec.layers] == ["relu", "relu", "sigmoid"]
    _, spec = edited(edits.DEFAULT_SPEC, op="regularization", kind="L2", value=0.01)
    assert all(la.args["kernel_regularizer"] == {"type": "L2", "l2": 0.01} for la in spec.layers)
    _, spec = edited(edits.DEFAULT_SPEC, op="problem", value="regression")
    assert spec.train["data"]["name"] == "plane" and spec.compile["loss"] == "mse"
    assert spec.layers[-1].args["activation"] == "linear"
    _, spec = edited(edits.DEFAULT_SPEC, op="test_split", value=0.3)
    assert spec.train["test_split"] == 0.3
    _, spec = edited(edits.DEFAULT_SPEC, op="noise", value=0.25)
    assert spec.train["data"]["noise"] == 0.25


def test_features_and_datasets_keep_the_input_shape_in_step():
    text, spec = edited(edits.DEFAULT_SPEC, op="features", value=["x1", "x2", "x1_sq", "x2_sq", "sin_x1"])
    assert tuple(spec.inputs[0].shape) == (5,) and spec.train["data"]["features"][-1] == "sin_x1"
    on, spec = edited(edits.DEFAULT_SPEC, op="toggle_feature", name="sin_x2")
    assert spec.train["data"]["features"] == ["x1", "x2", "sin_x2"] and tuple(spec.inputs[0].shape) == (3,)
    _, spec = edited(on, op="toggle_feature", name="x1")
    assert spec.train["data"]["features"] == ["x2", "sin_x2"] and tuple(spec.inputs[0].shape) == (2,)
    _, spec = edited(text, op="dataset", name="spiral")
    assert spec.train["data"]["name"] == "spiral" and tuple(spec.inputs[0].shape) == (5,)
    _, spec = edited(text, op="dataset", name="iris")
    assert spec.train["data"] == {"type": "sklearn", "name": "iris"} and tuple(spec.inputs[0].shape) == (4,)
    assert spec.layers[-1].args["units"] == 3 and spec.compile["loss"] == "sparse_categorical_crossentropy"
    assert kspec.check(spec).total_params is not None


def test_json_stays_json(client):
    as_json = json.dumps(kspec.loads(edits.DEFAULT_SPEC).raw)
    r = post(client, "/api/edit", {"text": as_json, "edit": {"op": "add_layer"}})
    assert r.status_code == 200 and json.loads(r.json()["text"])["layers"][2]["units"] == 2


def test_a_bad_edit_is_a_4xx(client):
    assert post(client, "/api/edit", {"text": TINY, "edit": {"op": "format_disk"}}).status_code == 422
    assert post(client, "/api/edit", {"text": TINY, "edit": "add_layer"}).status_code == 400


# ------------------------------------------------------------------ what a spec from a browser may ask


@pytest.mark.parametrize(
    "change,message",
    [
        ("plugins: [os]\n", "imports no modules"),
        ("train: {data: {type: npz, path: ../../etc/passwd.npz}}\n", "outside the server's folder"),
        ("train: {data: {type: csv, path: /etc/passwd, label: y}}\n", "outside the server's folder"),
        ("train: {data: {type: keras, name: mnist}}\n", "download"),
        ("train: {data: {type: synthetic, name: xor, samples: 900000}}\n", "at most"),
        ("train: {data: {type: synthetic, name: xor}, epochs: 100000}\n", "at most"),
        ("train: {data: {type: synthetic, name: xor, noise: .inf}}\n", "must be a finite number"),
    ],
)
def test_a_spec_cannot_reach_outside_or_past_the_limits(client, change, message):
    r = post(client, "/api/check", {"text": TINY + change})
    assert r.status_code == 422 and message in r.json()["error"]["message"]


def test_numbers_json_cannot_carry_never_reach_the_answer(client):
    """A NaN (which JSON cannot carry) is refused at check time, like every .nan/.inf in a spec."""
    text = (
        TINY
        + "train: {data: {type: synthetic, name: xor}, callbacks: [{type: EarlyStopping, min_delta: .nan}]}\n"
    )
    r = post(client, "/api/check", {"text": text})
    assert r.status_code == 422 and "must be a finite number" in r.json()["error"]["message"]
    assert "NaN" not in r.text


def test_unsafe_layers_are_refused_whatever_the_request_says(client):
    text = "inputs: [{name: x, shape: [2]}]\nlayers: [{type: Lambda, function: 'lambda x: x'}]\n"
    r = post(client, "/api/check", {"text": text, "allow_unsafe": True})
    assert r.status_code == 422 and "Lambda" in r.json()["error"]["message"]


def test_the_parameter_limit_is_the_servers(tmp_path):
    with pytest.raises(kspec.SpecError, match="this server allows 100"):
        load_spec(TINY.replace("units: 3", "units: 300"), str(tmp_path), Limits(max_params=100))


# ------------------------------------------------------------------ hostile requests


def test_hostile_requests_get_a_clear_4xx_and_the_server_stays_up(client, tmp_path):
    before = set(os.listdir(tmp_path.parent))
    huge = client.post("/api/check", content=b"{" + b" " * 300_000 + b"}")
    assert huge.status_code == 413 and "too large" in huge.json()["error"]
    chunked = client.post("/api/check", content=iter([b'{"text": "', b"a" * 150_000, b"a" * 150_000, b'"}']))
    assert chunked.status_code == 413
    bad_utf8 = client.post("/api/check", content=b'{"text": "\xff\xfe"}')
    assert bad_utf8.status_code == 400 and "UTF-8" in bad_utf8.json()["error"]
    assert client.post("/api/check", content=b"[1, 2]").status_code == 400
    assert client.post("/api/check", content=b"{nope").status_code == 400
    assert post(client, "/api/check", {"text": 42}).status_code == 400
    deep = "a: " + "[" * 5000 + "]" * 5000
    r = post(client, "/api/check", {"text": deep})
    assert r.status_code == 422 and r.json()["error"]["line"] == 1
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, k in zip("abcdefgh", "bcdefghi")
    )
    assert post(client, "/api/check", {"text": bomb}).status_code == 422
    for url in (
        "/api/session/..%2F..%2Fetc/events",
        "/api/session/abc/events",
        "/api/session/aaaaaaaa%00bbb/model.keras",
        "/runs/aaaaaaaaaa/..%2F..%2Fpasswd",
        "/runs/aaaaaaaaaa/.htaccess",
        "/static/..%2Fapp.py",
        "/static/../../../etc/passwd",
        "/etc/passwd",
    ):
        r = client.get(url)
        assert 400 <= r.status_code < 500, (url, r.status_code)
    assert 400 <= post(client, "/api/session/../../x/reset", {"text": TINY}).status_code < 500
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400  # DNS rebinding
    codes = set()
    for i in range(1000):
        body = [b"{", b"\xff", b"[]", b'{"text": 1}', b"null"][i % 5]
        codes.add(client.post("/api/check", content=body).status_code)
    assert codes <= {400, 422} and codes
    assert post(client, "/api/check", {"text": TINY}).status_code == 200
    assert set(os.listdir(tmp_path.parent)) == before  # nothing written beside the folder
    assert set(os.listdir(tmp_path)) <= {".kspec-playground"}


def test_a_non_loopback_server_wants_its_token(tmp_path):
    pg = Playground(str(tmp_path), token="s3cret-token")
    with starlette_testclient.TestClient(make_app(pg), base_url="http://192.0.2.7") as c:
        assert c.get("/").status_code == 403
        assert c.get("/api/initial", headers={"x-kspec-token": "wrong"}).status_code == 403
        first = c.get("/?token=s3cret-token")
        assert first.status_code == 200 and "kspec_token" in first.headers["set-cookie"]
        assert c.get("/api/initial").status_code == 200  # the cookie carries it now


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")


def test_the_command_line_warns_about_a_public_host_and_prints_a_token_url(capsys):
    from kspec.playground import announce

    lines = announce("0.0.0.0", 8765, "tok123")
    assert "WARNING" in lines[0] and "not loopback" in lines[0]
    assert lines[1].endswith("http://0.0.0.0:8765/?token=tok123  (Ctrl+C stops it)")
    assert announce("127.0.0.1", 8765, None) == [
        "kspec serve: the Playground is at http://127.0.0.1:8765/  (Ctrl+C stops it)"
    ]


# ------------------------------------------------------------------ training


def wait(trainer, cond, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if cond(trainer):
            return
        if trainer.state == "error":
            raise AssertionError(trainer.error)
        time.sleep(0.02)
    raise AssertionError(f"timed out in state {trainer.state}")


@pytest.mark.slow
def test_training_steps_one_batch_and_frames_match_keras(client, keras):
    assert post(client, "/api/session/tab-00000001/reset", {"text": PLANE}).status_code == 200
    trainer = client.pg.sessions.get("tab-00000001")
    wait(trainer, lambda t: t.state == "paused")
    assert trainer.batches == 0 and int(trainer.model.optimizer.iterations.numpy()) == 0
    before = [w.copy() for w in trainer.model.get_weights()]
    assert post(client, "/api/session/tab-00000001/step", {}).status_code == 200
    wait(trainer, lambda t: t.batches == 1 and t.frame.get("layers"))
    time.sleep(0.3)  # nothing more happens after a step
    assert trainer.batches == 1 and int(trainer.model.optimizer.iterations.numpy()) == 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, trainer.model.get_weights()))

    # The frame is the model: edges are its kernels, heatmaps its activations, the boundary its output.
    done = trainer.submit(lambda t: (t.frames.frame(), t.model.get_weights())).result(30)
    frame, weights = done
    h1 = frame["layers"][0]
    np.testing.assert_allclose(h1["kernel"], weights[0][:, :5], rtol=1e-6)
    np.testing.assert_allclose(frame["layers"][1]["kernel"], weights[2], rtol=1e-6)
    grid = trainer.frames.grid_x
    h1_out = np.tanh(grid @ weights[0] + weights[1])
    got = np.frombuffer(base64.b64decode(h1["heatmaps"][2]), dtype=np.uint8) / 127.5 - 1
    np.testing.assert_allclose(got, np.clip(h1_out[:, 2], -1, 1), atol=1 / 127.5 + 1e-6)
    prob = trainer.model.predict_on_batch(grid)[:, 0]
    boundary = np.frombuffer(base64.b64decode(frame["boundary"]), dtype=np.uint8) / 127.5 - 1
    np.testing.assert_allclose(boundary, 2 * prob - 1, atol=1 / 127.5 + 1e-5)
    assert len(trainer.setup["inputs"]) == 7 and len(trainer.setup["points"]["test"]) == 50

    # Run to the end; the history has training and test metrics per epoch.
    assert post(client, "/api/session/tab-00000001/run", {}).status_code == 200
    wait(trainer, lambda t: t.state == "finished")
    assert trainer.epoch == 3 and trainer.history["epoch"] == [1, 2, 3]
    assert {"loss", "accuracy", "test_loss", "test_accuracy"} <= set(trainer.history)

    model_file = client.get("/api/session/tab-00000001/model.keras")
    assert model_file.status_code == 200
    path = client.pg.folder("tab-00000001") + "/downloaded.keras"
    open(path, "wb").write(model_file.content)
    loaded = kspec.load_model(path)
    x = trainer.frames.grid_x[:64]
    np.testing.assert_allclose(loaded.predict_on_batch(x), trainer.model.predict_on_batch(x), atol=1e-6)

    report = post(client, "/api/session/tab-00000001/report", {})
    assert report.status_code == 200
    page = client.get(report.json()["url"])
    assert page.status_code == 200 and "plane_tiny" in page.text
    assert client.get("/runs/tab-00000001/metrics.json").json()["accuracy"] == pytest.approx(
        trainer.history["test_accuracy"][-1], abs=1e-6
    )


@pytest.mark.slow
def test_the_playground_trains_as_kspec_train_does(client, tmp_path):
    """Same seed, same batches in the same order: the same test accuracy and loss."""
    post(client, "/api/session/tab-00000002/reset", {"text": PLANE})
    trainer = client.pg.sessions.get("tab-00000002")
    wait(trainer, lambda t: t.state == "paused")
    post(client, "/api/session/tab-00000002/run", {})
    wait(trainer, lambda t: t.state == "finished")
    spec_file = tmp_path / "plane_tiny.yaml"
    spec_file.write_text(PLANE)
    result = kspec.train(str(spec_file), str(tmp_path / "cli-run"), quiet=True)
    assert result.metrics["accuracy"] == pytest.approx(trainer.history["test_accuracy"][-1], abs=1e-6)
    assert result.metrics["loss"] == pytest.approx(trainer.history["test_loss"][-1], abs=1e-4)
    assert result.history["loss"] == pytest.approx(trainer.history["loss"], abs=1e-4)


@pytest.mark.slow
def test_concurrent_trainings_are_limited(client):
    sessions = client.pg.sessions
    long = PLANE.replace("epochs: 3", "epochs: 1000")  # still running while the test looks
    for sid in ("tab-0000000a", "tab-0000000b"):
        assert post(client, f"/api/session/{sid}/reset", {"text": long}).status_code == 200
        wait(sessions.get(sid), lambda t: t.state == "paused")
        assert post(client, f"/api/session/{sid}/run", {}).status_code == 200
    third = post(client, "/api/session/tab-0000000c/reset", {"text": long})
    assert third.status_code == 429 and "allows 2" in third.json()["error"]
    # A reset in the same tab replaces its training rather than adding one.
    assert post(client, "/api/session/tab-0000000a/reset", {"text": long}).status_code == 200
    wait(sessions.get("tab-0000000a"), lambda t: t.state == "paused")
    # A paused training makes room for a new tab (it is closed); running ones never do.
    assert post(client, "/api/session/tab-0000000c/reset", {"text": long}).status_code == 200
    assert sessions.get("tab-0000000a") is None and sessions.get("tab-0000000b") is not None


@pytest.mark.slow
def test_a_model_off_the_plane_gets_statistics(client):
    text = (
        "seed: 1\ninputs: [{name: x, shape: [4]}]\nlayers:\n- {type: Dense, units: 6, activation: relu}\n"
        "- {type: Dense, units: 3, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy, "
        "metrics: [accuracy]}\ntrain: {data: {type: sklearn, name: iris}, epochs: 1}\n"
    )
    post(client, "/api/session/tab-0000000d/reset", {"text": text})
    trainer = client.pg.sessions.get("tab-0000000d")
    wait(trainer, lambda t: t.state == "paused")
    frame = trainer.frame
    assert frame["kind"] == "stats" and [la["name"] for la in frame["layers"]] == ["dense", "dense_1"]
    assert sum(frame["layers"][0]["weights"]["counts"]) == 4 * 6
    assert frame["layers"][0]["activations"]["zero"] >= 0
