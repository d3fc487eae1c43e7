"""Model files from others are read as data before Keras deserializes them (kspec.modelfile)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT
from kspec.errors import SpecError
from kspec.modelfile import (
    MAX_CONFIG_BYTES,
    MAX_MEMBERS,
    check_config,
    inspect_keras_archive,
    inspect_model_file,
)


def dense(name="d", **extra):
    cfg = {
        "name": name,
        "units": 2,
        "activation": "relu",
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {}},
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
    }
    cfg.update(extra)
    return {"module": "keras.layers", "class_name": "Dense", "config": cfg, "registered_name": None}


def sequential(*layers, **top):
    cfg = {"module": "keras", "class_name": "Sequential", "config": {"name": "m", "layers": list(layers)}}
    cfg.update(top)
    return cfg


def archive(path, config, *, members=None, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        if config is not None:
            zf.writestr("config.json", config if isinstance(config, (bytes, str)) else json.dumps(config))
        for name, data in (members or {}).items():
            zf.writestr(name, data)
    return str(path)


GOOD = sequential(
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
    dense(),
    {
        "module": "keras.layers",
        "class_name": "Bidirectional",
        "config": {"layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"units": 2}}},
    },
    compile_config={
        "loss": {
            "module": "builtins",
            "class_name": "function",
            "config": "mean_squared_error",
            "registered_name": "function",
        },
        "optimizer": {
            "module": "keras.optimizers",
            "class_name": "Adam",
            "config": {
                "learning_rate": {
                    "module": "keras.optimizers.schedules",
                    "class_name": "ExponentialDecay",
                    "config": {},
                }
            },
        },
    },
)

# Each: (what, a config that must be refused, the path the error must name, words it must say).
FUNCTION = {"class_name": "function"}
HOSTILE = [
    (
        "CVE-2025-8747 get_file",
        [{"module": "keras.utils", "config": "get_file", **FUNCTION}],
        "layers[1]",
        "function",
    ),
    (
        "CVE-2025-9906 safe mode switched off",
        [{"module": "keras.config", "config": "enable_unsafe_deserialization", **FUNCTION}],
        "layers[1]",
        "function",
    ),
    ("os.system", [{"module": "os", "config": "system", **FUNCTION}], "layers[1]", "function"),
    (
        "builtins eval by name",
        [{"module": "builtins", "config": "eval(1)", **FUNCTION}],
        "layers[1]",
        "malformed",
    ),
    (
        "lambda bytecode",
        [{"class_name": "__lambda__", "config": {"code": "4wAAAA=="}}],
        "layers[1]",
        "lambda",
    ),
    ("__main__ class", [{"module": "__main__", "class_name": "Evil", "config": {}}], "layers[1]", "module"),
    (
        "subprocess class",
        [{"module": "subprocess", "class_name": "Popen", "config": {}}],
        "layers[1]",
        "module",
    ),
    (
        "keras.src.utils class",
        [{"module": "keras.src.utils.file_utils", "class_name": "X", "config": {}}],
        "layers[1]",
        "module",
    ),
    (
        "Lambda layer",
        [{"module": "keras.layers", "class_name": "Lambda", "config": {}}],
        "layers[1]",
        "Lambda",
    ),
    (
        "TFSMLayer",
        [{"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/x"}}],
        "layers[1]",
        "TFSMLayer",
    ),
    (
        "TFSMLayer inside a wrapper",
        [
            {
                "module": "keras.layers",
                "class_name": "TimeDistributed",
                "config": {"layer": {"module": "keras.layers", "class_name": "TFSMLayer", "config": {}}},
            }
        ],
        "layers[1].config.layer",
        "TFSMLayer",
    ),
    ("custom registered name", [dict(dense(), registered_name="evil>Dense")], "layers[1]", "registered"),
    (
        "function as activation",
        [dense(activation={"module": "keras.saving", "config": "load_model", **FUNCTION})],
        "layers[1].config.activation",
        "function",
    ),
    ("typespec", [{"class_name": "__typespec__", "module": "os", "config": []}], "layers[1]", "special"),
    ("non-string class name", [{"class_name": ["Dense"], "config": {}}], "layers[1]", "not a string"),
    (
        "lower-case class",
        [{"module": "keras.layers", "class_name": "get_file", "config": {}}],
        "layers[1]",
        "not a class name",
    ),
    (
        "deep in compile_config",
        [],
        "compile_config.metrics[0]",
        "function",
    ),
]


@pytest.mark.parametrize("what,layers,where,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_objects_are_refused_naming_their_path(what, layers, where, words, tmp_path):
    cfg = copy.deepcopy(GOOD)
    cfg["config"]["layers"][1:1] = layers
    if what == "deep in compile_config":
        cfg["compile_config"]["metrics"] = [{"module": "keras.utils", "config": "get_file", **FUNCTION}]
    path = archive(tmp_path / "m.keras", cfg)
    with pytest.raises(SpecError) as info:
        inspect_keras_archive(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert ("config." + where if not where.startswith("compile") else where) in message, message
    assert words.lower() in message.lower() and "\n" not in message and len(message) < 400, message


def test_keras_own_objects_pass():
    check_config(GOOD, "m.keras")


def test_the_torch_backends_optimizer_passes_and_nothing_else_of_keras_backend():
    """On torch, Keras saves `keras.optimizers.Adam` as the torch backend's subclass."""
    cfg = copy.deepcopy(GOOD)
    torch_adam = {
        "module": "keras.src.backend.torch.optimizers.torch_adam",
        "class_name": "Adam",
        "config": {},
    }
    cfg["compile_config"] = {"optimizer": torch_adam}
    check_config(cfg, "m.keras")
    for module in (
        "keras.src.backend.torch.core",
        "keras.src.backend",
        "keras.src.backend.tensorflow.optimizer",
    ):
        cfg["compile_config"] = {"optimizer": dict(torch_adam, module=module)}
        with pytest.raises(SpecError, match="refused: class 'Adam'"):
            check_config(cfg, "m.keras")


def test_top_level_must_be_a_model(tmp_path):
    with pytest.raises(SpecError, match="top-level object is not a model"):
        inspect_keras_archive(archive(tmp_path / "m.keras", dense()))


def test_spec_model_allowed_only_under_its_own_registration():
    own = {
        "module": "kspec.builders.subclass",
        "class_name": "SpecModel",
        "config": {},
        "registered_name": "kspec>SpecModel",
    }
    check_config(own, "m.keras")
    with pytest.raises(SpecError, match="registered as"):
        check_config(dict(own, registered_name="evil>X"), "m.keras")
    with pytest.raises(SpecError, match="module"):
        check_config(dict(own, module="evil.mod"), "m.keras")


def test_long_hostile_names_are_truncated(tmp_path):
    cfg = sequential({"module": "os" * 5000, "class_name": "X", "config": {}})
    with pytest.raises(SpecError) as info:
        check_config(cfg, "m.keras")
    assert len(str(info.value)) < 300


# --- the archive itself ------------------------------------------------------------------


def test_not_a_zip_is_named_as_such(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"hello, I am not a zip\n" * 10)
    with pytest.raises(SpecError, match="is not a zip archive"):
        inspect_keras_archive(path)


def test_missing_config(tmp_path):
    with pytest.raises(SpecError, match="no config.json"):
        inspect_keras_archive(archive(tmp_path / "m.keras", None))


def test_config_bomb_is_refused_before_reading(tmp_path):
    """A small archive whose config.json inflates past the limit: refused from its header, and a
    header that lies is caught by reading at most the limit."""
    padded = b'{"a": "' + b" " * (MAX_CONFIG_BYTES + 10) + b'"}'
    path = archive(tmp_path / "m.keras", padded, compress=zipfile.ZIP_DEFLATED)
    assert os.path.getsize(path) < 200_000
    with pytest.raises(SpecError, match="config.json"):
        inspect_keras_archive(path)


def test_weights_bomb_by_ratio(tmp_path):
    path = archive(
        tmp_path / "m.keras",
        GOOD,
        members={"model.weights.h5": b"\0" * (40 * 2**20)},
        compress=zipfile.ZIP_DEFLATED,
    )
    with pytest.raises(SpecError, match="decompression bomb"):
        inspect_keras_archive(path)


def test_too_many_members(tmp_path):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(GOOD))
        for i in range(MAX_MEMBERS + 1):
            zf.writestr(f"assets/{i}", b"")
    with pytest.raises(SpecError, match="members"):
        inspect_keras_archive(path)


@pytest.mark.parametrize("name", ["../escape", "/abs", "assets/../../x", "C:evil", "a" * 600])
def test_unsafe_member_names(name, tmp_path):
    with pytest.raises(SpecError, match="unsafe name"):
        inspect_keras_archive(archive(tmp_path / "m.keras", GOOD, members={name: b"x"}))


def test_duplicate_members(tmp_path):
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(GOOD))
        with pytest.warns(UserWarning):
            zf.writestr("config.json", json.dumps(GOOD))
    with pytest.raises(SpecError, match="twice"):
        inspect_keras_archive(path)


@pytest.mark.parametrize(
    "text,words",
    [
        (b"{not json", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON|deeper"),
        (b"\xff\xfe", "JSON"),
    ],
)
def test_bad_json(text, words, tmp_path):
    with pytest.raises(SpecError, match=words):
        inspect_keras_archive(archive(tmp_path / "m.keras", text))


def test_hdf5_refused(tmp_path):
    path = tmp_path / "m.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(SpecError, match="legacy HDF5"):
        inspect_model_file(path)
    disguised = tmp_path / "m.keras"
    disguised.write_bytes(path.read_bytes())
    with pytest.raises(SpecError, match="legacy HDF5"):
        inspect_model_file(disguised)


def test_folder_and_fifo_are_refused_without_blocking(tmp_path):
    folder = tmp_path / "dir.keras"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(GOOD))
    with pytest.raises(SpecError, match="not a regular file"):
        inspect_model_file(folder)
    fifo = tmp_path / "fifo.keras"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a regular file"):
        inspect_model_file(fifo)
    with pytest.raises(SpecError, match="no such model file"):
        inspect_model_file(tmp_path / "missing.keras")


def test_inspection_imports_no_keras(tmp_path):
    path = archive(tmp_path / "m.keras", GOOD)
    code = f"import sys, kspec.modelfile as m; m.inspect_keras_archive({path!r}); print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- Keras's own files pass, hostile ones never reach Keras --------------------------------


@pytest.mark.slow
def test_keras_saved_models_pass_and_load(tmp_path, keras):
    """Models Keras itself saves (all three APIs, compiled with function losses and a schedule)
    pass the inspection and load; the loaded model predicts what the saved one did."""
    import numpy as np

    import kspec
    from kspec.files import save_model

    for name, api in (
        ("branching.yaml", "functional"),
        ("seed_sequential.yaml", "sequential"),
        ("seed_subclass.json", "subclass"),
    ):
        spec = kspec.load(ROOT / "specs" / name)
        model = kspec.build(spec, api=api)
        model.compile(
            optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)),
            loss=keras.losses.mean_squared_error,
            metrics=[keras.metrics.mean_absolute_error],
        )
        path = tmp_path / f"{api}.keras"
        save_model(model, path)
        assert inspect_keras_archive(path)["class_name"] in ("Functional", "Sequential", "SpecModel")
        again = kspec.load_model(str(path))
        inputs = kspec.resolve(spec).inputs
        feed = {
            i.name: np.linspace(-1, 1, 2 * int(np.prod(i.shape)), dtype="float32").reshape(2, *i.shape)
            for i in inputs
        }
        feed = next(iter(feed.values())) if len(feed) == 1 else feed
        a, b = model.predict(feed, verbose=0), again.predict(feed, verbose=0)
        flat = [a] if not isinstance(a, (list, dict)) else list(a.values() if isinstance(a, dict) else a)
        again_flat = (
            [b] if not isinstance(b, (list, dict)) else list(b.values() if isinstance(b, dict) else b)
        )
        for x, y in zip(flat, again_flat, strict=True):
            np.testing.assert_allclose(x, y, atol=1e-6)


@pytest.mark.slow
def test_lambda_bytecode_never_runs_even_where_keras_would(tmp_path, keras):
    """A real `Lambda` whose function writes a marker: kspec refuses the file before Keras sees it
    (Keras would run it with safe_mode=False; kspec refuses it with its default safe mode)."""
    import kspec

    marker = tmp_path / "pwned"
    fn = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307 - the attack under test
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(fn)])
    path = tmp_path / "evil.keras"
    model.save(path)
    marker.unlink(missing_ok=True)  # saving traced the function once
    with pytest.raises(SpecError, match=r"config\.layers\[\d\]: refused: layer Lambda runs or loads code"):
        kspec.load_model(str(path))
    assert not marker.exists()


def _huge_dense_archive(path, units):
    """A few-hundred-byte archive whose config asks Keras for a (1000 x units) Dense kernel."""
    config = sequential(
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 1000]}},
        dense("huge", units=units),
    )
    return archive(path, config)


@pytest.mark.slow
def test_a_model_file_over_the_parameter_limit_is_refused_before_allocating(tmp_path):
    """The config, not the weights file, decides what Keras allocates: `kspec predict` on a run
    whose tiny model.keras asks for 2e9 parameters (8 GB) is refused under the default limit with
    one line and exit 2, and the process never grows past what importing Keras costs."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    _huge_dense_archive(run / "model.keras", units=2_000_000)
    assert (run / "model.keras").stat().st_size < 2000
    np = pytest.importorskip("numpy")
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 1000), "float32"))
    probe = (
        "import resource, sys\n"
        "from kspec.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KSPEC_MAX_PARAMS"}
    for extra, limit in (([], "1,000,000,000"), (["--max-params", "1000"], "1,000")):
        out = subprocess.run(
            [sys.executable, "-c", probe, "predict", str(run), "--input", str(tmp_path / "x.npz"), *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert out.returncode == 2, out.stderr
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        asked = 1000 * 2_000_000 + 2_000_000  # kernel + bias
        assert len(errors) == 1 and f"{asked:,} parameters" in errors[0], out.stderr
        assert f"over the limit of {limit}" in errors[0] and "'huge'" in errors[0]
        peak_mib = int(out.stderr.rsplit("peak", 1)[1])
        assert peak_mib < 2000, peak_mib  # 2e9 float32 weights would be 7,600 MiB
    assert not (tmp_path / "predictions.npz").exists()


@pytest.mark.slow
def test_load_model_counts_what_the_config_asks_for(tmp_path, keras):
    """Under the limit the count costs nothing visible: the same check passes a Keras-saved model
    and `max_params=0` turns it off; over it, `kspec.load_model` refuses."""
    import kspec

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="d")])
    path = str(tmp_path / "m.keras")
    model.save(path)
    assert kspec.load_model(path, max_params=36).count_params() == 36
    with pytest.raises(SpecError, match=r"has 36 parameters .* over the limit of 35; the largest layer, 'd'"):
        kspec.load_model(path, max_params=35)
    assert kspec.load_model(path, max_params=0).count_params() == 36
    big = _huge_dense_archive(tmp_path / "big.keras", units=100_000)
    with pytest.raises(SpecError, match=r"100,100,000 parameters"):
        kspec.load_model(big, max_params=1_000_000)
