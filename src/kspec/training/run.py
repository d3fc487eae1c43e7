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
from kspec.errors import KspecRuntimeError, SpecError, is_interrupt, shorten
from kspec.files import save_model, write_text
from kspec.graph.checks import run_checks
from kspec.graph.resolve import resolve
from kspec.schema.io import load, loads
from kspec.schema.loader import MAX_BYTES as MAX_SPEC_BYTES
from kspec.schema.model import CompileModel, TrainModel
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec
from kspec.training.rundir import (
    BACKUP,
    LOCK,
    RUN_FILES,
    RunLock,
    callback_targets,
    check_targets,
    describe_previous,
    owned,
    read_json,
    read_run,
    remove_owned,
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
    #: True when the run folder already held this finished run and nothing was trained.
    complete: bool = False


def spec_hash(spec: Spec) -> str:
    """A hash of the spec's content (not its formatting or comments)."""
    text = json.dumps(spec.raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _prepare_run_dir(
    run_dir: str, digest: str, api: str, force: bool, targets: list[str]
) -> tuple[str, dict[str, Any] | None]:
    """Decide what to do with the (locked) run folder: "fresh", "resume" or "complete".

    Never touches a file no kspec run recorded as its own, never goes through a link.
    """
    previous = read_run(run_dir)
    if previous is None:
        others = [n for n in os.listdir(run_dir) if n != LOCK]
        if others and not force:
            raise SpecError(
                "is not empty and holds no kspec run (no run.json); choose another -o "
                "(--force writes into it only while none of kspec's file names are taken)",
                file=run_dir,
            )
        check_targets(run_dir, targets, set())
        return "fresh", None
    if previous.get("spec_hash") != digest and not force:
        raise SpecError(
            f"holds a run of another spec ({describe_previous(previous)}, hash "
            f"{shorten(previous.get('spec_hash'), 20, quote=False)}); pass --force to replace it "
            "(only the files that run recorded as its own), or choose another -o",
            file=run_dir,
        )
    mine = owned(previous, targets)
    check_targets(run_dir, targets, mine)
    if force:
        remove_owned(run_dir, mine)
        return "fresh", None
    if previous.get("status") == "finished" and os.path.isfile(os.path.join(run_dir, "model.keras")):
        return "complete", previous
    if previous.get("api") != api:  # a backup of another API's model cannot be restored into this one
        remove_owned(run_dir, mine & {BACKUP})
    return "resume", previous


def _missing_folders(run_dir: str) -> list[str]:
    """The folders `os.makedirs(run_dir)` is about to create, outermost first."""
    out = []
    here = os.path.abspath(run_dir)
    while not os.path.lexists(here):
        out.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return out[::-1]


def open_run_folder(run_dir: str, inherited_lock: int | None = None) -> tuple[RunLock, list[str]]:
    """Create (if needed) and lock the run folder: `(lock, the folders created)`.

    `inherited_lock`: the descriptor of the lock a launcher of this process already holds.
    """
    if os.path.lexists(run_dir) and not os.path.isdir(run_dir):
        raise SpecError("exists and is not a folder; choose another -o", file=run_dir)
    created = _missing_folders(run_dir)
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as exc:
        raise SpecError(f"cannot create the run folder: {exc.strerror}", file=run_dir) from None
    lock = RunLock(run_dir) if inherited_lock is None else RunLock.adopt(run_dir, inherited_lock)
    return lock, created


def leave_no_trace(run_dir: str, lock: RunLock, created: list[str]) -> None:
    """A run that failed before writing anything: remove its lock and the folders it created."""
    if created and os.listdir(run_dir) == [LOCK]:
        os.unlink(os.path.join(run_dir, LOCK))
        for folder in reversed(created):
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
    elif lock.created and not lock.keep:  # refused before writing: not even the lock stays
        os.unlink(os.path.join(run_dir, LOCK))


def _complete(run_dir: str, previous: dict[str, Any], quiet: bool) -> TrainResult:
    """A finished run asked again: say so and leave it."""
    from kspec.builders.loading import load_keras_model
    from kspec.training.fit import load_history

    metrics = read_json(os.path.join(run_dir, "metrics.json"))
    _say(
        quiet,
        f"{run_dir} is complete ({previous.get('finished_epochs', '?')} epochs of this spec, "
        f"{previous.get('api')}); nothing to do. Pass --force to train it again",
    )
    return TrainResult(
        run_dir=run_dir,
        model=load_keras_model(os.path.join(run_dir, "model.keras")),
        history=load_history(os.path.join(run_dir, "history.json")),
        metrics=metrics if isinstance(metrics, dict) else {},
        initial_epoch=int(previous.get("finished_epochs") or 0),
        complete=True,
    )


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
    init_weights: str | os.PathLike[str] | None = None,
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
        init_weights: a `.weights.h5` file loaded before fitting (`kspec import --weights`);
            layers whose shapes changed (a new head) keep their initial weights; a resumed run
            continues from its own backup instead.
    """
    start = time.perf_counter()
    if not isinstance(spec, Spec):
        spec = load(spec)
    if spec.train is None:
        raise spec.error(
            (),
            "no `train:` section: add one with at least `data:` (see the `train` section of the "
            "spec format, docs/spec.md#train)",
        )
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise SpecError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    api = api or spec.api
    run_dir = os.fspath(out_dir)
    graph = resolve(spec, build_options)
    run_checks(graph)  # what `kspec check` rejects, for API callers who never ran it
    CompileModel.model_validate(spec.compile or {})
    digest = spec_hash(spec)
    targets = [*RUN_FILES, BACKUP, LOCK, *callback_targets(spec)]
    lock, created = open_run_folder(run_dir)
    try:
        state, previous = _prepare_run_dir(run_dir, digest, api, force, targets)
        if state == "complete":
            assert previous is not None
            return _complete(run_dir, previous, quiet)
        return _fit(
            spec,
            graph,
            run_dir,
            digest,
            api,
            state,
            targets,
            start,
            epochs,
            batch_size,
            quiet,
            reporter,
            lock,
            init_weights,
        )
    except BaseException:
        leave_no_trace(run_dir, lock, created)
        raise
    finally:
        lock.release()


def _fit(
    spec: Spec,
    graph: Any,
    run_dir: str,
    digest: str,
    api: str,
    state: str,
    targets: list[str],
    start: float,
    epochs: int | None,
    batch_size: int | None,
    quiet: bool,
    reporter: RunReporter | None,
    lock: RunLock,
    init_weights: str | os.PathLike[str] | None = None,
) -> TrainResult:
    arrays, train_cfg = prepare_data(spec, graph)
    epochs = epochs or train_cfg.epochs
    batch_size = batch_size or train_cfg.batch_size
    seed = _seed(spec, train_cfg)

    from kspec._keras import import_keras

    keras = import_keras()

    from kspec.builders import build_model
    from kspec.training import data as D
    from kspec.training.backup import EpochBackup, complete_epochs, restore
    from kspec.training.compile import compile_kwargs
    from kspec.training.fit import EpochTimer, HistoryLog, NanWatch, check_finite, make_callbacks

    if spec.seed is not None:
        keras.utils.set_random_seed(spec.seed)
    from kspec.training.distribute import model_scope

    with model_scope(spec):  # `distribute: {strategy: mirrored}`: every local device (TensorFlow)
        model = build_model(graph, api)
        if init_weights is not None:
            from kspec.builders.weights import load_weights

            load_weights(model, init_weights, graph, skip_mismatch=True)
        model.compile(**compile_kwargs(graph, spec.compile))
    backup_dir = os.path.join(run_dir, BACKUP)
    initial_epoch, restored = restore(model, backup_dir) if state == "resume" else (0, None)

    run_info = run_record(
        spec, graph, arrays, digest, api, keras.backend.backend(), epochs, batch_size, targets, processes=1
    )
    lock.keep = True  # from here on the folder holds this run
    write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")
    write_text(os.path.join(run_dir, "spec.yaml"), _spec_text(spec))

    train_ds = D.make_dataset(arrays, arrays.train, batch_size, shuffle=train_cfg.shuffle, seed=seed)
    val_ds = D.make_dataset(arrays, arrays.val, batch_size) if len(arrays.val) else None
    history_path = os.path.join(run_dir, "history.json")
    log = HistoryLog(history_path, quiet=quiet, history=restored, initial_epoch=initial_epoch)
    nan = NanWatch()
    # The log first, then the backup (it snapshots the log's history, this epoch included).
    timer = EpochTimer()
    callbacks = [log, EpochBackup(backup_dir, log), nan, timer, *make_callbacks(spec, run_dir)]
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
            initial_epoch=min(initial_epoch, epochs),
            callbacks=callbacks,
            shuffle=False,
            verbose=0 if quiet else (1 if sys.stdout.isatty() else 2),  # bars only on a terminal
        )
    except BaseException as exc:
        if not is_interrupt(exc):
            raise
        backups = complete_epochs(backup_dir)
        done = backups[-1][0] if backups else 0
        run_info.update(status="interrupted", finished_epochs=done)
        write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")
        print(
            f"\nkspec: interrupted after epoch {done}; finished epochs are kept in {run_dir} "
            "(backup/): run the same command again to resume",
            file=sys.stderr,
            flush=True,
        )
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise KeyboardInterrupt from exc
    history = log.history
    if nan.bad:
        run_info.update(status="failed", reason="loss became NaN")
        write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")
        check_finite(history, log)
        raise KspecRuntimeError(
            "the loss became NaN; training stopped (TerminateOnNaN). Try a lower "
            "learning rate, scaled inputs, or a loss that matches the output activation"
        )

    metrics = evaluate_test_split(model, arrays, batch_size)
    if metrics:
        _say(quiet, "test: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    write_text(os.path.join(run_dir, "metrics.json"), json.dumps(metrics, indent=1) + "\n")
    if not os.path.exists(history_path):  # nothing left to train: the backup's history
        write_text(history_path, json.dumps(history, indent=1) + "\n")

    save_model(model, os.path.join(run_dir, "model.keras"))
    files = ["model.keras", "history.json", "metrics.json"]
    if reporter is not None:
        files += reporter.artifacts(model, graph, spec, run_dir, history, api)
    run_info.update(finished_fields(history, initial_epoch, start, timer))
    write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")
    if reporter is not None:
        files += reporter.page(run_dir)
    if os.path.isdir(backup_dir) and not os.path.islink(backup_dir):
        shutil.rmtree(backup_dir)  # the run is saved: the backup has done its job
    _say(quiet, f"wrote {run_dir}/ ({', '.join(files)})")
    return TrainResult(
        run_dir=run_dir,
        model=model,
        history=history,
        metrics=metrics,
        initial_epoch=initial_epoch,
        files=files,
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------- shared with kspec.training.distributed_run


def run_record(
    spec: Spec,
    graph: Any,
    arrays: Any,
    digest: str,
    api: str,
    backend: str,
    epochs: int,
    batch_size: int,
    targets: list[str],
    **extra: Any,
) -> dict[str, Any]:
    """run.json of a run that starts: what it trains, on what, and the files it may write."""
    return {
        "kspec_version": __version__,
        "name": spec.name,
        "spec_file": os.path.abspath(spec.file) if spec.file and os.path.isfile(spec.file) else None,
        "spec_dir": spec.base_dir,
        "spec_hash": digest,
        "api": api,
        "backend": backend,
        "epochs": epochs,
        "batch_size": batch_size,
        **extra,  # processes (1 here; data-parallel runs record N and their batch split)
        "status": "running",
        "rows": {"train": len(arrays.train), "validation": len(arrays.val), "test": len(arrays.test)},
        "scale": arrays.scale,
        "inputs": [i.name for i in graph.inputs],
        "outputs": list(graph.outputs),
        # The manifest: everything this run may write. `--force` deletes only these, later.
        "files": targets,
    }


def evaluate_test_split(model: Any, arrays: Any, batch_size: int) -> dict[str, float]:
    """`model.evaluate` on the held-out test split, by metric name ({} without one)."""
    from kspec.training import data as D

    if not len(arrays.test):
        return {}
    result = model.evaluate(D.make_dataset(arrays, arrays.test, batch_size), verbose=0, return_dict=True)
    return {k: float(v) for k, v in result.items()}


def finished_fields(history: dict[str, Any], initial_epoch: int, start: float, timer: Any) -> dict[str, Any]:
    """What run.json adds when a run finishes."""
    return {
        "status": "finished",
        "finished_epochs": history["epoch"][-1] if history["epoch"] else 0,
        "initial_epoch": initial_epoch,
        "seconds": round(time.perf_counter() - start, 2),
        "epoch_seconds": timer.seconds,
    }


# ------------------------------------------------------------------------ reuse a finished run


def load_run(run_dir: str, max_params: int | None = None) -> tuple[dict[str, Any], Any]:
    """run.json and the trained model of a finished run (refused over `max_params`, see
    `load_keras_model`)."""
    info = read_run(run_dir)
    model_path = os.path.join(run_dir, "model.keras")
    if info is None or os.path.islink(model_path) or not os.path.lexists(model_path):
        raise SpecError(
            "is not a finished kspec run (needs run.json and model.keras, regular files; "
            "run `kspec train SPEC -o RUN_DIR` first)",
            file=run_dir,
        )
    from kspec.builders.loading import load_keras_model

    return info, load_keras_model(model_path, max_params=max_params)


def predict(
    run_dir: str, input_path: str, out_path: str, batch_size: int = 256, max_params: int | None = None
) -> dict[str, Any]:
    """Predictions of a finished run's model for the features in `input_path` (.npz or .csv)."""
    import numpy as np

    from kspec.files import atomic_path
    from kspec.training import data as D

    listed = (read_run(run_dir) or {}).get("inputs")
    named: list[str] = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
    early = bool(named) and len(named) == len(listed or [])
    x = D.load_input_file(input_path, named) if early else None  # a bad --input fails before the model loads
    info, model = load_run(run_dir, max_params)
    inputs: list[str] = named if early else [t.name.split(":")[0] for t in model.inputs]
    if x is None:
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


def evaluate(run_dir: str, batch_size: int | None = None, max_params: int | None = None) -> dict[str, float]:
    """Evaluate a finished run's model again on its spec's test split."""
    from kspec.training import data as D

    info, model = load_run(run_dir, max_params)
    spec_path = os.path.join(run_dir, "spec.yaml")
    if os.path.islink(spec_path) or not os.path.isfile(spec_path):
        raise KspecRuntimeError(f"{spec_path}: missing or not a regular file")
    with open(spec_path, encoding="utf-8") as fh:
        text = fh.read(MAX_SPEC_BYTES + 1)
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"file too large (the limit is {MAX_SPEC_BYTES} bytes)", file=spec_path)
    # The copy's data paths are relative to the original spec's folder, not to the run folder:
    # validate it as text (no path check beside the copy), then read the data from there.
    spec = loads(text, file=f"<{spec_path}>")
    if spec.train is None:
        raise KspecRuntimeError(f"{spec_path} has no train: section")
    graph = resolve(spec)
    spec_dir = info.get("spec_dir")
    data_path = (spec.train.get("data") or {}).get("path")
    if not isinstance(spec_dir, str) or not os.path.isdir(spec_dir):
        spec_dir = run_dir
    elif isinstance(data_path, str) and not os.path.isabs(data_path):
        if not os.path.exists(os.path.join(spec_dir, data_path)) and os.path.exists(
            os.path.join(run_dir, data_path)
        ):
            spec_dir = run_dir  # the run folder was moved together with its data
    arrays, train_cfg = prepare_data(spec, graph, spec_dir=spec_dir)
    if not len(arrays.test):
        raise KspecRuntimeError(f"{run_dir}: the spec has no test split (train.test_split is 0)")
    ds = D.make_dataset(arrays, arrays.test, batch_size or info.get("batch_size") or train_cfg.batch_size)
    result = model.evaluate(ds, verbose=0, return_dict=True)
    return {k: float(v) for k, v in result.items()}
