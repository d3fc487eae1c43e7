"""Run a search end to end: checks, the tune folder, one process or a chief and N workers, results.

The folder DIR holds `tune.json` (what is being searched: the spec's hash, tuner, objective),
KerasTuner's project `keras_tuner/`, `logs/` (one file per process with `--workers`), and the
results: `trials.csv`, `trials.json`, `best.yaml`, `summary.json` (and `report.html` from the
report stage). Rerunning the same command continues the search; another spec or tuner in the
same folder is refused.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from kspec.errors import KspecRuntimeError, SpecError
from kspec.files import write_text
from kspec.graph.space import check_space
from kspec.schema.model import TrainModel
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec
from kspec.training import procs
from kspec.training.run import spec_hash
from kspec.training.tune_results import PROJECT, TUNERS, direction, write_results


def check_request(spec: Spec, trials: int, tuner: str, workers: int, objective: str) -> TrainModel:
    """Everything that can be refused before a process starts (exit 2, nothing written)."""
    if spec.search is None:
        raise spec.error((), "the spec has no search spaces ({tune: ...} values): nothing to tune")
    if spec.train is None:
        raise spec.error((), "no `train:` section: kspec tune trains every trial on its data")
    cfg = TrainModel.model_validate(spec.train)
    if cfg.validation_split <= 0:
        raise spec.error(
            ("train",),
            "kspec tune compares trials on the validation split: set train.validation_split (e.g. 0.2)",
        )
    if not isinstance(trials, int) or trials < 1:
        raise SpecError(f"--trials must be a positive integer, got {trials!r}")
    if not isinstance(workers, int) or workers < 1:
        raise SpecError(f"--workers must be a positive integer, got {workers!r}")
    if tuner not in TUNERS:
        raise SpecError(f"--tuner must be one of {', '.join(TUNERS)}, got {tuner!r}")
    if direction(objective) not in ("min", "max"):
        raise SpecError(
            f"--objective {objective!r}: say whether to minimize or maximize it "
            f"({objective}:min or {objective}:max)"
        )
    check_space(spec)  # every probed point builds (raises the first that does not)
    return cfg


def folder_record(spec: Spec, tuner: str, objective: str, api: str | None) -> dict[str, Any]:
    """What tune.json records: a rerun continues only the same search."""
    return {"spec_hash": spec_hash(spec), "tuner": tuner, "objective": objective, "api": api or spec.api}


def check_folder(out_dir: str, record: dict[str, Any]) -> None:
    """Refuse a folder that holds something else than this search (nothing is written)."""
    marker = os.path.join(out_dir, "tune.json")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SpecError("exists and is not a folder; choose another -o", file=out_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        try:
            with open(marker, encoding="utf-8") as fh:
                previous = json.load(fh)
        except (OSError, ValueError):
            raise SpecError(
                "is not empty and holds no kspec search (no tune.json); choose another -o", file=out_dir
            ) from None
        for key in ("spec_hash", "tuner", "objective"):
            if previous.get(key) != record[key]:
                raise SpecError(
                    f"holds a search with another {key.replace('_', ' ')} "
                    f"({previous.get(key)!r}, now {record[key]!r}); choose another -o",
                    file=out_dir,
                )


def _child_argv(spec_file: str, out_dir: str, role: str, args: dict[str, Any]) -> list[str]:
    argv = procs.python_argv(
        "tune", spec_file, "-o", out_dir, "--trials", args["trials"], "--tuner", args["tuner"],
        "--objective", args["objective"], "--api", args["api"], "--role", role, "--quiet",
    )  # fmt: skip
    for module in args["plugins"]:
        argv += ["--plugin", module]
    if args["allow_unsafe"]:
        argv.append("--allow-unsafe")
    if args["backend"]:
        argv += ["--backend", args["backend"]]
    if args["max_params"] is not None:
        argv += ["--max-params", str(args["max_params"])]
    return argv


#: How long the tuners may take to finish after the chief has left (their last trial's files).
TUNERS_AFTER_CHIEF_S = 300.0


def _distributed(spec_file: str, out_dir: str, workers: int, args: dict[str, Any], quiet: bool) -> None:
    """One chief (KerasTuner's oracle server) and `workers` tuners on 127.0.0.1."""
    port = procs.free_port()
    base = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    logs = os.path.join(out_dir, "logs")
    chief = procs.spawn(
        "chief",
        _child_argv(spec_file, out_dir, "chief", args),
        {**base, "KERASTUNER_TUNER_ID": "chief"},
        os.path.join(logs, "chief.log"),
    )
    tuners = [
        procs.spawn(
            f"tuner{i}",
            _child_argv(spec_file, out_dir, f"tuner{i}", args),
            {**base, "KERASTUNER_TUNER_ID": f"tuner{i}"},
            os.path.join(logs, f"tuner{i}.log"),
        )
        for i in range(workers)
    ]
    if not quiet:
        print(
            f"kspec: searching with {workers} workers and a chief oracle on 127.0.0.1:{port} "
            f"(logs in {logs}/)",
            file=sys.stderr,
            flush=True,
        )
    everyone = [chief, *tuners]
    failed = procs.watch(everyone, done=lambda _: procs.all_exited(tuners) or chief.proc.poll() is not None)
    if failed is None and not procs.all_exited(tuners):
        # The chief leaves (exit 0) once every trial has ended; the tuners may still be saving
        # their last trial. One still asking for trials fails on its own (the oracle is gone).
        try:
            failed = procs.watch(tuners, done=procs.all_exited, timeout=TUNERS_AFTER_CHIEF_S)
        except TimeoutError:
            failed = next(t for t in tuners if t.proc.poll() is None or t.proc.returncode != 0)
    procs.stop(everyone)  # the chief waits for nobody once every worker is done
    if failed is not None:
        raise KspecRuntimeError(
            f"{failed.name} stopped ({procs.exit_reason(failed.proc.returncode)}); the others were "
            f"stopped too. Finished trials are kept: run the same command again to continue. "
            f"Its log {failed.log_path}: {failed.tail()}"
        )


def tune(
    spec: Spec,
    out_dir: str,
    *,
    trials: int,
    tuner: str = "random",
    workers: int = 1,
    objective: str = "val_loss",
    api: str | None = None,
    build_options: BuildOptions | None = None,
    allow_unsafe: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Search the spec's spaces with KerasTuner; write DIR; return `summary.json`'s content."""
    check_request(spec, trials, tuner, workers, objective)
    api = api or spec.api
    goal = direction(objective)
    record = folder_record(spec, tuner, objective, api)
    check_folder(out_dir, record)
    write_text(os.path.join(out_dir, "tune.json"), json.dumps(record, indent=1) + "\n")
    spec_file = spec.file if spec.file and os.path.isfile(spec.file) else None
    if spec_file is None:
        import yaml

        spec_file = os.path.join(out_dir, "spec.yaml")
        write_text(spec_file, yaml.safe_dump(spec.search.doc.data if spec.search else {}, sort_keys=False))
    options = build_options or BuildOptions()
    args = {
        "trials": trials,
        "tuner": tuner,
        "objective": objective,
        "api": api,
        "plugins": list(options.plugins),
        "max_params": options.max_params,
        "allow_unsafe": allow_unsafe,
        "backend": getattr(options, "backend", None),
    }
    if workers == 1:
        from kspec.training.tune import run_search

        if not quiet:
            print(f"kspec: searching {spec.name} with {tuner}, {trials} trials", file=sys.stderr, flush=True)
        run_search(
            spec, out_dir, tuner=tuner, trials=trials, objective=objective, api=api, build_options=options
        )
    else:
        _distributed(os.path.abspath(spec_file), os.path.abspath(out_dir), workers, args, quiet)
    summary = write_results(spec, out_dir, os.path.join(out_dir, PROJECT), objective, goal, tuner)
    summary["workers"] = workers
    write_text(os.path.join(out_dir, "summary.json"), json.dumps(summary, indent=1, default=str) + "\n")
    if summary["best"] is None:
        raise KspecRuntimeError(
            f"no trial finished (see {out_dir}/trials.json for each trial's status and message)"
        )
    return summary
