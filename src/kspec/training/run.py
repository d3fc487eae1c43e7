"""`kspec.train(spec, out_dir)`: compile, fit, evaluate and write the run folder.

>>> import kspec
>>> result = kspec.train("specs/digits_mlp.yaml", "runs/digits", epochs=5)  # doctest: +SKIP
>>> result.metrics["accuracy"]  # doctest: +SKIP
0.96

The run folder holds `model.keras`, `history.json`, `metrics.json`, `summary.txt`,
`model.png`, `curves.png`, `report.html`, plus `run.json` (the spec's hash, status, settings)
and `spec.yaml` (a copy of the spec). While training, `backup/` holds the last finished epoch:
run the same command again after a crash and training continues from there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from kspec._version import __version__
from kspec.errors import KspecRuntimeError, SpecError
from kspec.files import save_model, write_text
from kspec.graph.resolve import resolve
from kspec.schema.io import load
from kspec.schema.model import CompileModel, TrainModel
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec

RUN_FILES = (
    "model.keras",
    "history.json",
    "metrics.json",
    "summary.txt",
    "summary.json",
    "model.png",
    "curves.png",
    "report.html",
    "run.json",
    "spec.yaml",
    "diagram_note.txt",
)


class RunReporter(Protocol):
    """Writes the reports of a run folder; the report stage provides one (`kspec.report.run_folder`)."""

    def artifacts(
        self, model: Any, graph: Any, spec: Spec, run_dir: str, history: dict[str, Any], api: str
    ) -> list[str]: ...

    def page(self, run_dir: str) -> list[str]: ...


@dataclass
class TrainResult:
    """What `train` returns: the run folder, the trained model, its history and test metrics."""

    run_dir: str
    model: Any
    history: dict[str, list[Any]]
    metrics: dict[str, float]
    initial_epoch: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0


def spec_hash(spec: Spec) -> str:
    """A hash of the spec's content (not its formatting or comments)."""
    text = json.dumps(spec.raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_run(run_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _prepare_run_dir(run_dir: str, spec: Spec, digest: str, api: str, force: bool) -> None:
    """Refuse to overwrite a folder that holds something else, unless `force`."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise SpecError("exists and is not a folder; choose another -o", file=run_dir)
    previous = read_run(run_dir) if os.path.isdir(run_dir) else None
    backup = os.path.join(run_dir, "backup")
    if force:
        if os.path.isdir(backup):
            shutil.rmtree(backup)
        for name in RUN_FILES:
            if os.path.exists(os.path.join(run_dir, name)):
                os.unlink(os.path.join(run_dir, name))
        return
    if previous is None:
        if os.path.isdir(run_dir) and os.listdir(run_dir):
            raise SpecError(
                "is not empty and holds no kspec run (no run.json); choose another -o "
                "or pass --force to write into it",
                file=run_dir,
            )
        return
    if previous.get("spec_hash") != digest:
        raise SpecError(
            f"holds a run of another spec ({previous.get('spec_file') or previous.get('name')}, "
            f"hash {previous.get('spec_hash')}); pass --force to overwrite it, or choose another -o",
            file=run_dir,
        )
    if previous.get("api") != api and os.path.isdir(backup):
        shutil.rmtree(backup)  # a backup of another API's model cannot be restored into this one


def _spec_text(spec: Spec) -> str:
    if spec.file and os.path.isfile(spec.file):
        with open(spec.file, encoding="utf-8") as fh:
            return fh.read()
    return yaml.safe_dump(spec.raw, sort_keys=False)


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"kspec: {message}", file=sys.stderr, flush=True)


def _seed(spec: Spec, train_cfg: TrainModel) -> int:
    return train_cfg.seed if train_cfg.seed is not None else (spec.seed if spec.seed is not None else 0)


def prepare_data(spec: Spec, graph: Any, spec_dir: str | None = None) -> tuple[Any, TrainModel]:
    """Load, split and scale the spec's training data (also used by `kspec evaluate`)."""
    from kspec.training import data as D
    from kspec.training.compile import loss_by_output

    train_cfg = TrainModel.model_validate(spec.train)
    raw = (spec.train or {})["data"]
    arrays = D.load_arrays(graph, raw, spec_dir or spec.base_dir)
    D.split(arrays, train_cfg.test_split, train_cfg.validation_split, _seed(spec, train_cfg))
    if raw["type"] == "sklearn" and raw.get("scale", True):
        D.standardize(arrays)
    D.prepare_targets(graph, arrays, loss_by_output(graph, spec.compile or {}))
    return arrays, train_cfg


def train(
    spec: Spec | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    api: str | None = None,
    quiet: bool = False,
    force: bool = False,
    reporter: RunReporter | None = None,
    build_options: BuildOptions | None = None,
) -> TrainResult:
    """Compile, fit and evaluate `spec`, writing the run folder `out_dir`.

    Args:
        spec: a `Spec` or the path of a spec file (it needs a `train:` section).
        out_dir: the run folder. Running again with the same spec resumes an interrupted run;
            a folder of another spec is refused unless `force`.
        epochs, batch_size: override the spec's `train.epochs` / `train.batch_size`.
        api: construction API (default: the spec's `api`).
        quiet: no progress bar and no messages.
        reporter: writes the run folder's reports (summary, diagram, curves, HTML); the public
            `kspec.train` passes the report stage's. Without one only the model, history and
            metrics are written.
        build_options: trusted plugin modules and the parameter limit (`kspec.BuildOptions`).
    """
    start = time.perf_counter()
    if not isinstance(spec, Spec):
        spec = load(spec)
    if spec.train is None:
        raise spec.error((), "no `train:` section: add one with at least `data:` (see `kspec schema`)")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise SpecError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    api = api or spec.api
    run_dir = os.fspath(out_dir)
    graph = resolve(spec, build_options)
    CompileModel.model_validate(spec.compile or {})
    digest = spec_hash(spec)
    _prepare_run_dir(run_dir, spec, digest, api, force)

    arrays, train_cfg = prepare_data(spec, graph)
    epochs = epochs or train_cfg.epochs
    batch_size = batch_size or train_cfg.batch_size
    seed = _seed(spec, train_cfg)

    from kspec._keras import import_keras

    keras = import_keras()

    from kspec.builders import build_model
    from kspec.training import data as D
    from kspec.training.compile import compile_kwargs
    from kspec.training.fit import HistoryLog, NanWatch, check_finite, make_callbacks

    if spec.seed is not None:
        keras.utils.set_random_seed(spec.seed)
    model = build_model(graph, api)
    model.compile(**compile_kwargs(graph, spec.compile))

    os.makedirs(run_dir, exist_ok=True)
    run_info: dict[str, Any] = {
        "kspec_version": __version__,
        "name": spec.name,
        "spec_file": os.path.abspath(spec.file) if spec.file and os.path.isfile(spec.file) else None,
        "spec_dir": spec.base_dir,
        "spec_hash": digest,
        "api": api,
        "backend": keras.backend.backend(),
        "epochs": epochs,
        "batch_size": batch_size,
        "status": "running",
        "rows": {"train": len(arrays.train), "validation": len(arrays.val), "test": len(arrays.test)},
        "scale": arrays.scale,
        "inputs": [i.name for i in graph.inputs],
        "outputs": list(graph.outputs),
    }
    write_text(os.path.join(run_dir, "spec.yaml"), _spec_text(spec))
    write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")

    train_ds = D.make_dataset(arrays, arrays.train, batch_size, shuffle=train_cfg.shuffle, seed=seed)
    val_ds = D.make_dataset(arrays, arrays.val, batch_size) if len(arrays.val) else None
    history_path = os.path.join(run_dir, "history.json")
    log = HistoryLog(history_path, quiet=quiet)
    nan = NanWatch()
    callbacks = [log, nan, *make_callbacks(spec, run_dir)]  # the log first: see HistoryLog
    _say(
        quiet,
        f"training {spec.name} ({api}) on {len(arrays.train)} rows"
        + (f", validating on {len(arrays.val)}" if len(arrays.val) else "")
        + f"; {epochs} epochs",
    )
    try:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            callbacks=callbacks,
            shuffle=False,
            verbose=0 if quiet else (1 if sys.stdout.isatty() else 2),  # bars only on a terminal
        )
    except KeyboardInterrupt:
        done = log.history["epoch"][-1] if log.history["epoch"] else 0
        run_info.update(status="interrupted", finished_epochs=done)
        write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")
        print(
            f"\nkspec: interrupted after epoch {done}; finished epochs are kept in {run_dir} "
            "(history.json, backup/): run the same command again to resume",
            file=sys.stderr,
            flush=True,
        )
        raise
    history = log.history
    if nan.bad:
        run_info.update(status="failed", reason="loss became NaN")
        write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")
        check_finite(history, log)
        raise KspecRuntimeError(
            "the loss became NaN; training stopped (TerminateOnNaN). Try a lower "
            "learning rate, scaled inputs, or a loss that matches the output activation"
        )

    metrics: dict[str, float] = {}
    if len(arrays.test):
        test_ds = D.make_dataset(arrays, arrays.test, batch_size)
        result = model.evaluate(test_ds, verbose=0, return_dict=True)
        metrics = {k: float(v) for k, v in result.items()}
        _say(quiet, "test: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    write_text(os.path.join(run_dir, "metrics.json"), json.dumps(metrics, indent=1) + "\n")

    save_model(model, os.path.join(run_dir, "model.keras"))
    files = ["model.keras", "history.json", "metrics.json"]
    if reporter is not None:
        files += reporter.artifacts(model, graph, spec, run_dir, history, api)
    run_info.update(
        status="finished",
        finished_epochs=history["epoch"][-1] if history["epoch"] else 0,
        initial_epoch=log.initial_epoch,
        seconds=round(time.perf_counter() - start, 2),
    )
    write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")
    if reporter is not None:
        files += reporter.page(run_dir)
    _say(quiet, f"wrote {run_dir}/ ({', '.join(files)})")
    return TrainResult(
        run_dir=run_dir,
        model=model,
        history=history,
        metrics=metrics,
        initial_epoch=log.initial_epoch,
        files=files,
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------------------------ reuse a finished run


def load_run(run_dir: str) -> tuple[dict[str, Any], Any]:
    """run.json and the trained model of a finished run."""
    info = read_run(run_dir)
    model_path = os.path.join(run_dir, "model.keras")
    if info is None or not os.path.exists(model_path):
        raise KspecRuntimeError(
            f"{run_dir}: not a finished kspec run (needs run.json and model.keras; "
            "run `kspec train SPEC -o RUN_DIR` first)"
        )
    from kspec.builders.loading import load_keras_model

    return info, load_keras_model(model_path)


def predict(run_dir: str, input_path: str, out_path: str, batch_size: int = 256) -> dict[str, Any]:
    """Predictions of a finished run's model for the features in `input_path` (.npz or .csv)."""
    import numpy as np

    from kspec.files import atomic_path
    from kspec.training import data as D

    info, model = load_run(run_dir)
    inputs = info.get("inputs") or [t.name.split(":")[0] for t in model.inputs]
    if not os.path.exists(input_path):
        raise KspecRuntimeError(f"{input_path}: no such file")
    x = D.load_input_file(input_path, inputs)
    shapes = {}
    try:
        shapes = {name: tuple(t.shape[1:]) for name, t in zip(inputs, model.inputs)}
    except Exception:
        pass
    for name in inputs:
        arr = np.asarray(x[name], dtype=np.float32)
        if name in (info.get("scale") or {}):
            arr = D.apply_scale(arr.reshape(len(arr), -1), info["scale"][name])
        want = shapes.get(name)
        if (
            want
            and None not in want
            and arr.shape[1:] != want
            and int(np.prod(want)) == int(np.prod(arr.shape[1:]))
        ):
            arr = arr.reshape((len(arr), *want))
        x[name] = arr
    feed = x[inputs[0]] if len(inputs) == 1 else x
    pred = model.predict(feed, batch_size=batch_size, verbose=0)
    outputs = info.get("outputs") or ["y"]
    arrays = pred if isinstance(pred, dict) else {outputs[0]: pred}
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    with atomic_path(out_path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return {k: list(v.shape) for k, v in arrays.items()}


def evaluate(run_dir: str, batch_size: int | None = None) -> dict[str, float]:
    """Evaluate a finished run's model again on its spec's test split."""
    from kspec.training import data as D

    info, model = load_run(run_dir)
    spec = load(os.path.join(run_dir, "spec.yaml"))
    if spec.train is None:
        raise KspecRuntimeError(f"{run_dir}/spec.yaml has no train: section")
    graph = resolve(spec)
    arrays, train_cfg = prepare_data(spec, graph, spec_dir=info.get("spec_dir"))
    if not len(arrays.test):
        raise KspecRuntimeError(f"{run_dir}: the spec has no test split (train.test_split is 0)")
    ds = D.make_dataset(arrays, arrays.test, batch_size or info.get("batch_size") or train_cfg.batch_size)
    result = model.evaluate(ds, verbose=0, return_dict=True)
    return {k: float(v) for k, v in result.items()}
