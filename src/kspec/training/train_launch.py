"""`kspec train SPEC --workers N`: N local processes of a data-parallel run on 127.0.0.1.

The launcher checks what it can before any process starts (JAX installed, the batch splits over
N processes, the folder is free: exit 2 and nothing written), locks and prepares the run folder
(the lock is shared with process 0, which writes the folder), picks a free port for the
coordinator (hosted by process 0) and starts the N processes, each logging to
`RUN_DIR/logs/process-I.log`. When one dies the others are stopped at once and the launcher
says which and why in one line; run.json records the run as interrupted and `backup/` keeps
the last finished epoch, so the same command resumes. At the end it checks that every process
holds the same weights.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

from kspec.errors import KspecRuntimeError
from kspec.files import write_text
from kspec.graph.resolve import resolve
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec
from kspec.training import procs
from kspec.training.distribute import LOGS, DistributeError, check_batches, run_targets
from kspec.training.run import _prepare_run_dir, leave_no_trace, open_run_folder, prepare_data, spec_hash
from kspec.training.rundir import BACKUP, LOCK_FD_ENV, RunLock, complete_epochs, read_json, read_run


def check_launch(spec: Spec, workers: int, batch_size: int | None, backend: str | None) -> None:
    """What can be refused before starting processes (exit 2, nothing written)."""
    if spec.train is None:
        raise spec.error((), "no `train:` section: add one with at least `data:` (see `kspec schema`)")
    if workers < 1:
        raise DistributeError(f"--workers must be a positive integer, got {workers}")
    if backend not in (None, "jax"):
        raise DistributeError(
            f"training on several processes runs on JAX, not {backend} (TensorFlow's multi-worker "
            "strategy does not work with Keras 3, keras-team/keras#20585): drop --backend or use jax"
        )
    if importlib.util.find_spec("jax") is None:
        raise DistributeError("training on several processes needs JAX: pip install 'kspec[jax]'")
    arrays, cfg = prepare_data(spec, resolve(spec))
    check_batches(len(arrays.train), batch_size or cfg.batch_size, workers)


def _argv(spec_file: str, out_dir: str, port: int, workers: int, i: int, args: dict[str, Any]) -> list[str]:
    argv = procs.python_argv(
        "train", spec_file, "-o", out_dir, "--backend", "jax", "--coordinator", f"127.0.0.1:{port}",
        "--num-processes", workers, "--process-id", i, "--distribute-timeout", args["timeout"],
    )  # fmt: skip
    for flag in ("epochs", "batch_size", "api"):
        if args.get(flag) is not None:
            argv += [f"--{flag.replace('_', '-')}", str(args[flag])]
    for module in args.get("plugins", ()):
        argv += ["--plugin", module]
    if args.get("allow_unsafe"):
        argv.append("--allow-unsafe")
    if args.get("max_params") is not None:
        argv += ["--max-params", str(args["max_params"])]
    if args.get("quiet") or i:
        argv.append("--quiet")
    return argv


def launch(
    spec: Spec,
    out_dir: str,
    workers: int,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    api: str | None = None,
    quiet: bool = False,
    force: bool = False,
    build_options: BuildOptions | None = None,
    allow_unsafe: bool = False,
    timeout: int = 60,
) -> dict[str, float]:
    """Run `workers` local processes of one data-parallel training; return the test metrics."""
    options = build_options or BuildOptions()
    check_launch(spec, workers, batch_size, options.backend)
    spec_file = spec.file if spec.file and os.path.isfile(spec.file) else None
    if spec_file is None:
        raise DistributeError("--workers needs a spec file (the processes read it)")
    api = api or spec.api
    digest = spec_hash(spec)
    targets = run_targets(spec)
    # The launcher holds the folder's lock for the whole run (a second `kspec train` is refused
    # from the first moment) and shares it with process 0, which writes the folder.
    lock, created = open_run_folder(out_dir)
    try:
        state, previous = _prepare_run_dir(out_dir, digest, api, force, targets)
        if state == "complete":
            assert previous is not None
            _say(quiet, f"{out_dir} is complete ({previous.get('finished_epochs', '?')} epochs of this spec); "
                 "nothing to do. Pass --force to train it again")  # fmt: skip
            return _metrics(out_dir)
        # Mark the folder as this run's, its manifest naming logs/, before the logs go in.
        listed = [f for f in (previous or {}).get("files") or [] if isinstance(f, str) and f not in targets]
        info = {**(previous or {}), "name": spec.name, "spec_hash": digest, "api": api,
                "status": "starting", "processes": workers, "files": targets + listed}  # fmt: skip
        lock.keep = True
        write_text(os.path.join(out_dir, "run.json"), json.dumps(info, indent=1) + "\n")
        return _run(spec_file, out_dir, workers, lock, quiet, {
            "epochs": epochs, "batch_size": batch_size, "api": api, "plugins": options.plugins,
            "max_params": options.max_params, "allow_unsafe": allow_unsafe, "quiet": quiet,
            "timeout": timeout,
        })  # fmt: skip
    except BaseException:
        leave_no_trace(out_dir, lock, created)
        raise
    finally:
        lock.release()


def _run(
    spec_file: str, out_dir: str, workers: int, lock: RunLock, quiet: bool, args: dict[str, Any]
) -> dict[str, float]:
    port = procs.free_port()
    logs = os.path.join(out_dir, LOGS)
    for stale in (f for f in os.listdir(logs) if f.endswith(".json")) if os.path.isdir(logs) else ():
        os.unlink(os.path.join(logs, stale))
    children = [
        procs.spawn(
            f"process {i}",
            _argv(os.path.abspath(spec_file), os.path.abspath(out_dir), port, workers, i, args),
            {
                "KERAS_BACKEND": "jax",
                "PYTHONUNBUFFERED": "1",
                **({LOCK_FD_ENV: str(lock.fd)} if i == 0 else {}),
            },
            os.path.join(logs, f"process-{i}.log"),
            pass_fds=(lock.fd,) if i == 0 else (),
        )
        for i in range(workers)
    ]
    _say(quiet, f"{workers} processes, coordinator 127.0.0.1:{port}, logs in {logs}/")
    try:
        failed = procs.watch(children, done=procs.all_exited)
    except KeyboardInterrupt:
        _interrupted(out_dir, "interrupted")
        raise
    if failed is not None:
        reason = f"{failed.name} stopped ({procs.exit_reason(failed.proc.returncode)})"
        done = _interrupted(out_dir, reason)
        kept = (
            f"epochs 1-{done} are kept in {out_dir}/backup" if done else f"no epoch had finished in {out_dir}"
        )
        raise KspecRuntimeError(
            f"{reason}; the other processes were stopped too; {kept}: run the same command again "
            f"to resume. Its log {failed.log_path}: {failed.tail()}"
        )
    prints = []
    for i in range(workers):
        data = read_json(os.path.join(logs, f"process-{i}.json"))
        if not isinstance(data, dict) or not isinstance(data.get("weights_sha256"), str):
            raise KspecRuntimeError(f"process {i} finished without writing {LOGS}/process-{i}.json")
        prints.append(data)
    if len({p["weights_sha256"] for p in prints}) != 1:
        raise KspecRuntimeError(
            "the processes ended with different weights: "
            + ", ".join(f"process {i}: {p['weights_sha256'][:12]}" for i, p in enumerate(prints))
        )
    return _metrics(out_dir)


def _interrupted(out_dir: str, reason: str) -> int:
    """Record in run.json that the run stopped, and the last finished epoch (kept in backup/)."""
    backups = complete_epochs(os.path.join(out_dir, BACKUP))
    done = backups[-1][0] if backups else 0
    info = read_run(out_dir)
    # Process 0 may have recorded "interrupted" as it was stopped; the launcher knows the cause.
    if info is not None and info.get("status") in ("starting", "running", "interrupted"):
        info.update(status="interrupted", finished_epochs=done, reason=reason)
        write_text(os.path.join(out_dir, "run.json"), json.dumps(info, indent=1) + "\n")
    return done


def _metrics(out_dir: str) -> dict[str, float]:
    data = read_json(os.path.join(out_dir, "metrics.json"))
    return dict(data) if isinstance(data, dict) else {}


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(f"kspec: {message}", file=sys.stderr, flush=True)
