"""No spec runs code; resources are bounded; outputs are never half-written (see SECURITY.md)."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
import tracemalloc

import pytest

import kspec
from conftest import ROOT
from kspec.cli import main
from kspec.schema import limits
from kspec.schema.loader import MAX_BYTES, MAX_NODES

SMALL = "inputs:\n  - {name: x, shape: [4]}\nlayers:\n  - {type: Dense, units: 3, activation: relu}\n  - {type: Dense, units: 2}\n"
SMALL_PARAMS = (4 * 3 + 3) + (3 * 2 + 2)  # Dense: inputs*units + units


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- YAML tags never construct objects -----------------------------------------------------

TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:builtins.dict {{}}",
    "!!binary aGVsbG8=",
    "!!set {{a, b}}",
    "!!timestamp 2001-12-14",
    "!custom 3",
]


@pytest.mark.parametrize("tag", TAGS)
def test_yaml_tags_are_refused_and_never_run(tag, tmp_path):
    marker = tmp_path / "pwned"
    text = f"name: {tag.format(marker=marker)}\n" + SMALL
    with pytest.raises(kspec.SpecError, match=r"^s\.yaml:1:7: name: YAML tag .* is not allowed"):
        kspec.loads(text, file="s.yaml")
    assert not marker.exists()


def test_tag_inside_a_layer_is_refused_with_its_path():
    text = SMALL.replace("activation: relu", "activation: !!python/name:os.getcwd ''")
    with pytest.raises(kspec.SpecError) as info:
        kspec.loads(text, file="s.yaml")
    assert info.value.path == ("layers", 0, "activation")
    assert (info.value.line, info.value.col) == (4, text.splitlines()[3].index("!!") + 1)


def test_plain_yaml_features_still_work():
    """Anchors, aliases and merge keys are data, not code: they load, and a key written beside
    a merge overrides the merged one (it is not a duplicate)."""
    text = textwrap.dedent("""\
        inputs: [{name: x, shape: [4]}]
        layers:
          - &d {type: Dense, activation: relu, units: 3}
          - &e {<<: *d, units: 2}
          - *e
          - {<<: [*e, *d], activation: tanh}
        """)
    spec = kspec.loads(text, file="s.yaml")
    assert [layer.args for layer in spec.layers] == [
        {"activation": "relu", "units": 3},
        {"activation": "relu", "units": 2},
        {"activation": "relu", "units": 2},
        {"activation": "tanh", "units": 2},
    ]
    bad = text.replace("units: 2}", "units: 2, units: 4}")
    col = bad.splitlines()[3].rindex("units") + 1  # the second `units` on line 4
    with pytest.raises(
        kspec.SpecError, match=rf"^s\.yaml:4:{col}: layers\[1\]\.units: duplicate key 'units'"
    ):
        kspec.loads(bad, file="s.yaml")


# --- Lambda and other code-running layers ----------------------------------------------------

LAMBDA = "inputs:\n  - {name: x, shape: [4]}\nlayers:\n  - {type: Lambda, function: 'lambda x: x'}\n"


@pytest.mark.parametrize("layer_type", ["Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"])
def test_unsafe_layers_refused_without_allow_unsafe(layer_type, tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(LAMBDA.replace("Lambda", layer_type))
    assert main(["check", str(spec)]) == 2
    line = _error_line(capsys)
    col = spec.read_text().splitlines()[3].index(layer_type) + 1
    assert re.match(
        rf"^error: {re.escape(str(spec))}:4:{col}: layers\[0\]\.type: {layer_type} layers run code", line
    )
    assert "--allow-unsafe" in line


def test_allow_unsafe_lets_check_through(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(LAMBDA)
    assert main(["check", str(spec), "--allow-unsafe"]) == 0
    assert kspec.load(spec, allow_unsafe=True).layers[0].type == "Lambda"


def test_unsafe_callbacks_refused():
    text = SMALL + "train:\n  data: {type: sklearn, name: iris}\n  callbacks: [{type: RemoteMonitor}]\n"
    with pytest.raises(
        kspec.SpecError, match=r"train\.callbacks\[0\]: callback 'RemoteMonitor' .* not allowed"
    ):
        kspec.loads(text, file="s.yaml")


def test_no_unsafe_load_model_in_the_source():
    """Every `load_model` call in kspec keeps Keras's safe mode (the default) unless a caller opts out."""
    offenders = []
    for path in (ROOT / "src" / "kspec").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "safe_mode=False" in line.replace(" ", "") or "enable_unsafe_deserialization" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, offenders


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_keras_file_with_a_lambda_refuses_to_load(keras, tmp_path):
    """A .keras file whose Lambda holds Python bytecode does not load through kspec's loader."""
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(kspec.SpecError, match=r"refused: layer Lambda runs or loads code"):
        kspec.load_model(str(path))  # kspec's inspection refuses it before Keras reads the config
    # the run-folder loader behind `kspec predict` / `kspec evaluate` refuses it too
    from kspec.training.run import load_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    os.replace(path, run / "model.keras")
    with pytest.raises(kspec.SpecError, match=r"model\.keras: config\.layers\[1\]: refused: layer Lambda"):
        load_run(str(run))


# --- plugins: code only from modules the user names ------------------------------------------

PLUGIN = textwrap.dedent("""\
    import pathlib
    import keras

    pathlib.Path({marker!r}).write_text("imported")


    @keras.saving.register_keras_serializable(package="kspec_test_plugin")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2
    """)


@pytest.fixture()
def plugin_spec(tmp_path, monkeypatch):
    name = f"kspec_test_plugin_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    marker = tmp_path / "imported.txt"
    (tmp_path / f"{name}.py").write_text(PLUGIN.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"plugins: [{name}]\n" + "inputs:\n  - {name: x, shape: [4]}\nlayers:\n  - {type: Doubler}\n"
    )
    yield spec, name, marker
    sys.modules.pop(name, None)


def test_plugin_named_only_in_the_spec_is_not_imported(plugin_spec, capsys, tmp_path):
    spec, name, marker = plugin_spec
    assert main(["check", str(spec)]) == 0  # check never imports: the layer is reported unchecked
    capsys.readouterr()
    assert main(["build", str(spec), "--save", str(tmp_path / "m.keras")]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"error: {spec}:1:11: plugins[0]: plugin module {name!r} is code")
    assert f"--plugin {name}" in line
    assert not marker.exists() and name not in sys.modules
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_plugin_named_by_the_user_is_imported(plugin_spec, capsys, keras):
    spec, name, marker = plugin_spec
    assert main(["build", str(spec), "--plugin", name]) == 0
    assert marker.exists()
    assert "doubler" in capsys.readouterr().out.lower()


def test_custom_layer_needs_plugins_in_the_spec(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("inputs:\n  - {name: x, shape: [4]}\nlayers:\n  - {type: Doubler}\n")
    assert main(["check", str(spec), "--plugin", "json"]) == 2
    assert "(custom layers need their module in `plugins:`)" in _error_line(capsys)


@pytest.mark.parametrize("module", ["os; rm -rf /", "../evil", "a..b", ""])
def test_plugin_names_must_be_module_names(module):
    with pytest.raises(kspec.SpecError, match=r"plugins\[0\]: must be a Python module name"):
        kspec.loads(f"plugins: [{json.dumps(module)}]\n" + SMALL, file="s.yaml")


# --- resource limits -------------------------------------------------------------------------


def _bomb(levels: int = 9) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefghijkl"[: levels - 1], "bcdefghijklm"[: levels - 1]):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _peak(fn) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        fn()
        error = None
    except BaseException as exc:  # noqa: BLE001
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


@pytest.mark.parametrize("levels", [7, 9, 12])
def test_alias_bomb_refused_with_bounded_memory(levels):
    """10**levels leaves; refused before expansion: memory stays a few MB whatever the level."""
    error, peak = _peak(lambda: kspec.loads(_bomb(levels), file="bomb.yaml"))
    assert isinstance(error, kspec.SpecError), error
    assert f"more than {MAX_NODES:,} nodes" in str(error)
    assert peak < 5 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_recursive_alias_refused():
    with pytest.raises(kspec.SpecError, match="recursive alias"):
        kspec.loads("a: &a {b: *a}\n" + SMALL, file="s.yaml")


def test_huge_file_refused_before_reading(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.write(b"# " + b"x" * (50 * 2**20) + b"\n")
    error, peak = _peak(lambda: kspec.load(path))
    assert isinstance(error, kspec.SpecError) and "file too large" in str(error)
    assert (error.line, error.col) == (1, 1)
    assert peak < 2**20, f"peak {peak / 2**20:.1f} MiB: the file was read"


def test_huge_text_refused():
    with pytest.raises(kspec.SpecError, match=f"the limit is {MAX_BYTES}"):
        kspec.loads("#" * (MAX_BYTES + 1))


def test_deep_nesting_refused():
    for depth in (101, 3000):
        with pytest.raises(kspec.SpecError, match="nested more than 100 levels"):
            kspec.loads("name: " + "[" * depth + "]" * depth + "\n" + SMALL, file="s.yaml")


def test_memory_estimate():
    # weights, gradients, Adam's two moments: 4 copies; float32 = 4 bytes, float16 = 2, float64 = 8
    assert limits.estimate_bytes(10**9) == 10**9 * 4 * 4
    assert limits.estimate_bytes(10, "float16") == 10 * 2 * 4
    assert limits.estimate_bytes(10, "float64") == 10 * 8 * 4
    default = limits.DEFAULT_MAX_PARAMS
    assert limits.estimate_bytes(default) <= 20 * 2**30  # the default fits a 24 GiB machine


def test_limit_sources(monkeypatch):
    assert limits.max_params({}) == limits.DEFAULT_MAX_PARAMS
    assert limits.max_params({"KSPEC_MAX_PARAMS": "1e6"}) == 10**6
    assert limits.max_params({"KSPEC_MAX_PARAMS": "5_000"}) == 5000
    assert limits.max_params({"KSPEC_MAX_PARAMS": "5"}, override=7) == 7
    with pytest.raises(kspec.SpecError, match="KSPEC_MAX_PARAMS must be a number"):
        limits.max_params({"KSPEC_MAX_PARAMS": "lots"})


@pytest.fixture()
def no_layers_created(monkeypatch):
    """Fail if any Keras layer is created (the limit must act before allocation)."""
    import kspec.builders.layers as build_layers

    def refuse(*args, **kwargs):
        raise AssertionError("a Keras layer was created")

    monkeypatch.setattr(build_layers, "make_layer", refuse)


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_env_limit_refuses_before_any_layer_exists(monkeypatch, no_layers_created, keras):
    monkeypatch.setenv("KSPEC_MAX_PARAMS", str(SMALL_PARAMS - 1))
    spec = kspec.loads(SMALL, file="s.yaml")
    for api in ("sequential", "functional", "subclass"):
        with pytest.raises(kspec.SpecError) as info:
            kspec.build(spec, api=api)
        assert f"the model has {SMALL_PARAMS:,} parameters" in str(info.value)
        assert f"over the limit of {SMALL_PARAMS - 1:,}" in str(info.value)
        assert info.value.path == ("layers", 0)  # the largest layer


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_max_params_flag(tmp_path, capsys, monkeypatch, keras):
    monkeypatch.setenv("KSPEC_MAX_PARAMS", "1")  # the flag wins over the environment
    spec = tmp_path / "s.yaml"
    spec.write_text(SMALL)
    out = tmp_path / "m.keras"
    assert main(["build", str(spec), "--max-params", str(SMALL_PARAMS - 1), "--save", str(out)]) == 2
    assert f"over the limit of {SMALL_PARAMS - 1:,}" in _error_line(capsys)
    assert not out.exists()
    assert main(["build", str(spec), "--max-params", str(SMALL_PARAMS), "--save", str(out)]) == 0
    assert out.exists()
    monkeypatch.setenv("KSPEC_MAX_PARAMS", "0")  # 0: no limit
    assert main(["build", str(spec)]) == 0


def test_check_reports_counts_even_over_the_limit(tmp_path, capsys, monkeypatch):
    """`check` allocates nothing, so it still shows a too-big model's counts."""
    monkeypatch.setenv("KSPEC_MAX_PARAMS", "1")
    spec = tmp_path / "s.yaml"
    spec.write_text(SMALL)
    assert main(["check", str(spec), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_params"] == SMALL_PARAMS


# --- atomic outputs ----------------------------------------------------------------------------


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    from kspec.files import atomic_path, write_text

    target = tmp_path / "report.html"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["report.html"]


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_failed_build_keeps_existing_model_file(tmp_path, capsys, keras):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(SMALL)
    bad.write_text(SMALL.replace("units: 2", "units: -2"))
    out = tmp_path / "m.keras"
    assert main(["build", str(good), "--save", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["build", str(bad), "--save", str(out)]) == 2
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "good.yaml", "m.keras"]


TRAINABLE = SMALL.replace("units: 2}", "units: 3, activation: softmax}") + (
    "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
    "train:\n  data: {type: sklearn, name: iris}\n  epochs: 1\n  batch_size: 64\n"
)


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_run_folder_of_another_spec_needs_force(tmp_path, capsys, keras):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(TRAINABLE)
    second.write_text(TRAINABLE.replace("units: 3, activation: relu", "units: 5, activation: relu"))
    run = tmp_path / "run"
    assert main(["train", str(first), "-o", str(run), "--quiet"]) == 0
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert "model.keras" in files
    capsys.readouterr()
    assert main(["train", str(second), "-o", str(run), "--quiet"]) == 2
    line = _error_line(capsys)
    assert "--force" in line and str(run) in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files  # untouched
    assert main(["train", str(second), "-o", str(run), "--quiet", "--force"]) == 0
    assert (run / "model.keras").read_bytes() != files["model.keras"]


@pytest.fixture()
def direct_writes(monkeypatch, tmp_path):
    """Record files opened for writing under tmp_path/out other than kspec's temporary files."""
    import builtins
    import io

    out = tmp_path / "out"
    seen: list[str] = []
    real_open = builtins.open

    def spy(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+"):
            path = os.path.abspath(os.fspath(file))
            inside = path.startswith(str(out) + os.sep)
            if inside and not os.path.basename(path).startswith(".kspec-") and f"{os.sep}backup" not in path:
                seen.append(os.path.relpath(path, out))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    return out, seen


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_outputs_are_written_through_temporary_files(direct_writes, tmp_path, keras):
    """build --save, plot and train never open a final output path for writing: they write a
    temporary file beside it and rename it over (so a crash leaves no half-written file)."""
    out, seen = direct_writes
    out.mkdir()
    with open(out / "probe.txt", "w") as fh:  # the spy sees direct writes
        fh.write("x")
    assert seen == ["probe.txt"]
    seen.clear()
    (out / "probe.txt").unlink()
    spec = tmp_path / "s.yaml"
    spec.write_text(TRAINABLE)
    assert main(["build", str(spec), "--save", str(out / "m.keras")]) == 0
    for suffix in ("dot", "svg", "png"):
        assert main(["plot", str(spec), "-o", str(out / f"m.{suffix}")]) == 0
    assert main(["train", str(spec), "-o", str(out / "run"), "--quiet"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert {"m.keras", "m.dot", "m.svg", "m.png", "run/model.keras", "run/metrics.json"} <= set(written)
    assert not [w for w in written if ".kspec-" in w], written  # no temporary file left behind
    assert seen == [], f"opened directly for writing: {seen}"
