"""One process of a data-parallel `kspec train`: the same steps as `run.train`, on a shard.

Every process builds the same model from the same seed, restores the same backup (a rerun
resumes from the last finished epoch) and trains on its part of every global batch. Process 0
alone owns the run folder, as `run.train` does: it locks it (or shares the lock of the
`--workers` launcher), checks it against the previous run's manifest, and writes every file
atomically, `backup/` after each epoch included. The other processes write only their own
`logs/process-I.json` (their weights' digest, which the launcher compares).

Reading weights (a backup, a checkpoint, the saved model) is a collective operation across
processes in JAX: every process must do the same reads at the same step, or they all wait. So
the other processes run the very same callbacks and saves, into a scratch folder
`logs/process-I.scratch/` that is removed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from typing import Any

from kspec.errors import KspecRuntimeError, SpecError, first_line, is_interrupt, shorten
from kspec.files import save_model, write_text
from kspec.graph.resolve import resolve
from kspec.schema.model import CompileModel
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec
from kspec.training import distribute as dist
from kspec.training.run import (
    RunReporter,
    TrainResult,
    _prepare_run_dir,
    _seed,
    _spec_text,
    evaluate_test_split,
    finished_fields,
    leave_no_trace,
    open_run_folder,
    prepare_data,
    run_record,
    spec_hash,
)
from kspec.training.rundir import (
    BACKUP,
    LOCK_FD_ENV,
    RunLock,
    complete_epochs,
    read_json,
)

# What process 0 found in the run folder, told to every process before anything is built.
_FRESH, _RESUME, _COMPLETE, _REFUSED = 0, 1, 2, 3


def _say(quiet: bool, process: int, message: str) -> None:
    if not quiet:
        print(f"kspec[{process}]: {message}", file=sys.stderr, flush=True)


def _inherited_lock() -> int | None:
    """The run folder's lock that the `--workers` launcher holds and handed to process 0."""
    value = os.environ.pop(LOCK_FD_ENV, "")  # not for any process this one starts
    return int(value) if value.isdigit() else None


def _stop_on_sigterm() -> None:
    """The launcher stops the processes with SIGTERM: unwind (temporary files are removed)."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        pass


def train_data_parallel(
    spec: Spec,
    out_dir: str,
    cluster: dist.Cluster,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    api: str | None = None,
    quiet: bool = False,
    force: bool = False,
    reporter: RunReporter | None = None,
    build_options: BuildOptions | None = None,
) -> TrainResult:
    """Train this process's part of a data-parallel run (after `distribute.join`)."""
    start = time.perf_counter()
    _stop_on_sigterm()
    if spec.train is None:
        raise spec.error((), "no `train:` section: add one with at least `data:` (see `kspec schema`)")
    api = api or spec.api
    run_dir = os.fspath(out_dir)
    graph = resolve(spec, build_options)
    CompileModel.model_validate(spec.compile or {})
    digest = spec_hash(spec)
    targets = dist.run_targets(spec)
    arrays, train_cfg = prepare_data(spec, graph)
    global_batch = batch_size or train_cfg.batch_size

    process, processes = dist.use_data_parallel()
    dist.check_batches(len(arrays.train), global_batch, processes)  # the same verdict everywhere
    writer = process == 0
    lock: RunLock | None = None
    created: list[str] = []
    state, previous, refusal = "fresh", None, None
    if writer:
        try:
            lock, created = open_run_folder(run_dir, _inherited_lock())
            state, previous = _prepare_run_dir(run_dir, digest, api, force, targets)
        except SpecError as exc:
            refusal = exc
    code = _REFUSED if refusal else {"fresh": _FRESH, "resume": _RESUME, "complete": _COMPLETE}[state]
    code = dist.from_process_0(code)
    try:
        if refusal is not None:
            raise refusal
        if code == _REFUSED:
            raise dist.DistributeError(
                "process 0 refused the run folder (see its output); nothing was trained"
            )
        if code == _COMPLETE:
            return _complete(run_dir, previous, process, quiet)
        return _train(
            spec, graph, arrays, train_cfg, run_dir, digest, api, targets, start, epochs, global_batch,
            process, processes, code == _RESUME, quiet, reporter, lock,
        )  # fmt: skip
    except BaseException:
        if lock is not None:
            leave_no_trace(run_dir, lock, created)
        raise
    finally:
        if lock is not None:
            lock.release()


def _complete(run_dir: str, previous: dict[str, Any] | None, process: int, quiet: bool) -> TrainResult:
    """A finished run asked again: nothing to train (the model is not loaded: that would be a
    collective the other processes do not take part in)."""
    metrics = read_json(os.path.join(run_dir, "metrics.json")) if process == 0 else None
    _say(quiet, process, f"{run_dir} is complete; nothing to do. Pass --force to train it again")
    return TrainResult(
        run_dir=run_dir,
        model=None,
        history={"epoch": []},
        metrics=metrics if isinstance(metrics, dict) else {},
        initial_epoch=int((previous or {}).get("finished_epochs") or 0),
        complete=True,
    )


def _train(
    spec: Spec,
    graph: Any,
    arrays: Any,
    train_cfg: Any,
    run_dir: str,
    digest: str,
    api: str,
    targets: list[str],
    start: float,
    epochs: int | None,
    global_batch: int,
    process: int,
    processes: int,
    resume: bool,
    quiet: bool,
    reporter: RunReporter | None,
    lock: RunLock | None,
) -> TrainResult:
    import keras

    from kspec.builders import build_model
    from kspec.training import data as D
    from kspec.training.backup import EpochBackup, restore
    from kspec.training.compile import compile_kwargs
    from kspec.training.fit import EpochTimer, HistoryLog, NanWatch, make_callbacks

    epochs = epochs or train_cfg.epochs
    seed = _seed(spec, train_cfg)
    local_batch = global_batch // processes
    writer = process == 0
    if spec.seed is not None:
        keras.utils.set_random_seed(spec.seed)
    model = build_model(graph, api)
    model.compile(**compile_kwargs(graph, spec.compile))
    initial_epoch, restored = restore(model, os.path.join(run_dir, BACKUP)) if resume else (0, None)
    dist.check_same_start(initial_epoch)

    run_info = run_record(
        spec,
        graph,
        arrays,
        digest,
        api,
        keras.backend.backend(),
        epochs,
        global_batch,
        targets,
        processes=processes,
        global_batch_size=global_batch,
        per_process_batch_size=local_batch,
        distribute="data_parallel",
    )

    def record(**changes: Any) -> None:
        run_info.update(changes)
        if writer:
            write_text(os.path.join(run_dir, "run.json"), json.dumps(run_info, indent=1) + "\n")

    # Process 0 writes the run folder; the others mirror its writes (and so its weight reads)
    # in a scratch folder of their own.
    home = run_dir if writer else os.path.join(run_dir, "logs", f"process-{process}.scratch")
    if writer:
        assert lock is not None
        lock.keep = True  # from here on the folder holds this run
        record()
        write_text(os.path.join(run_dir, "spec.yaml"), _spec_text(spec))
    else:
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(home)

    train_ds = dist.shard_dataset(
        arrays, arrays.train, global_batch, process, processes, shuffle=train_cfg.shuffle, seed=seed
    )
    # Validation and test: every process feeds the same whole split, so each global batch holds
    # N copies of the same rows and the metrics are exactly one process's, no row dropped.
    val_ds = D.make_dataset(arrays, arrays.val, local_batch) if len(arrays.val) else None
    history_path = os.path.join(home, "history.json")
    log = HistoryLog(history_path, quiet=quiet or not writer, history=restored, initial_epoch=initial_epoch)
    nan = NanWatch()
    timer = EpochTimer()
    callbacks = [log, EpochBackup(os.path.join(home, BACKUP), log), nan, timer, *make_callbacks(spec, home)]
    _say(
        quiet or not writer,
        process,
        f"training {spec.name} ({api}) data-parallel on {processes} processes: global batch "
        f"{global_batch} ({local_batch} per process), {len(arrays.train)} rows, {epochs} epochs",
    )
    try:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            initial_epoch=min(initial_epoch, epochs),
            callbacks=callbacks,
            shuffle=False,
            verbose=2 if writer and not quiet else 0,
        )
    except BaseException as exc:
        # One process failing stops them all (the next collective fails everywhere): keep the
        # folder resumable, say it in one line, and leave without waiting for the others.
        signalled = is_interrupt(exc) or isinstance(exc, SystemExit)
        code = 130 if is_interrupt(exc) else 1
        if isinstance(exc, SystemExit) and isinstance(exc.code, int):
            code = exc.code
        dist.leave_without_barrier(code)
        backups = complete_epochs(os.path.join(run_dir, BACKUP))
        done = backups[-1][0] if backups else 0
        reason = "interrupted" if signalled else first_line(exc)[:300]
        record(status="interrupted", finished_epochs=done, reason=reason)
        if signalled:
            raise
        kept = f"epochs 1-{done} are kept in {run_dir}/backup" if done else "no epoch had finished"
        raise KspecRuntimeError(
            f"process {process}: training stopped ({shorten(reason, 200, quote=False)}), so the run "
            f"stopped on every process; {kept}: run the same command again on every host to resume"
        ) from None
    history = log.history
    if nan.bad:
        record(status="failed", reason="loss became NaN")
        raise KspecRuntimeError("the loss became NaN; training stopped (TerminateOnNaN)")
    metrics = evaluate_test_split(model, arrays, local_batch)
    if metrics:
        _say(quiet or not writer, process, "test: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    prints = dist.fingerprint(model)
    write_text(
        os.path.join(run_dir, "logs", f"process-{process}.json"),
        json.dumps({"process": process, "processes": processes, **prints, "metrics": metrics}, indent=1)
        + "\n",
    )
    if not os.path.exists(history_path):  # nothing left to train: the backup's history
        write_text(history_path, json.dumps(history, indent=1) + "\n")
    save_model(model, os.path.join(home, "model.keras"))  # on every process: the same weight reads
    files: list[str] = []
    if writer:
        write_text(os.path.join(run_dir, "metrics.json"), json.dumps(metrics, indent=1) + "\n")
        files = ["model.keras", "history.json", "metrics.json"]
        if reporter is not None:
            files += reporter.artifacts(model, graph, spec, run_dir, history, api)
        record(**finished_fields(history, initial_epoch, start, timer))
        if reporter is not None:
            files += reporter.page(run_dir)
    backup_dir = os.path.join(home, BACKUP)
    if os.path.isdir(backup_dir) and not os.path.islink(backup_dir):
        shutil.rmtree(backup_dir)  # the run is saved: the backup has done its job
    if not writer:
        shutil.rmtree(home, ignore_errors=True)
    _say(quiet or not writer, process, f"wrote {run_dir}/ ({', '.join(files)})")
    return TrainResult(
        run_dir=run_dir,
        model=model,
        history=history,
        metrics=metrics,
        initial_epoch=initial_epoch,
        files=files,
        seconds=time.perf_counter() - start,
    )
