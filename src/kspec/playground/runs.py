"""A Playground training written as a kspec run folder (the same files `kspec train` writes)."""

from __future__ import annotations

import json
import os
from typing import Any

from kspec._version import __version__
from kspec.files import save_model, write_text
from kspec.training.run import spec_hash


def write_run(trainer: Any, run_dir: str) -> list[str]:
    """model.keras, history.json, metrics.json, spec.yaml, run.json and the reports; runs on the
    training thread (the model does not change meanwhile)."""
    from kspec.report.run_folder import REPORTER
    from kspec.training.data import make_dataset

    os.makedirs(run_dir, exist_ok=True)
    spec, arrays = trainer.spec, trainer.arrays
    metrics: dict[str, float] = {}
    if len(arrays.test):
        ds = make_dataset(arrays, arrays.test, trainer.batch_size)
        metrics = {k: float(v) for k, v in trainer.model.evaluate(ds, verbose=0, return_dict=True).items()}
    write_text(os.path.join(run_dir, "spec.yaml"), trainer.text)
    write_text(os.path.join(run_dir, "history.json"), json.dumps(trainer.history, indent=1) + "\n")
    write_text(os.path.join(run_dir, "metrics.json"), json.dumps(metrics, indent=1) + "\n")
    save_model(trainer.model, os.path.join(run_dir, "model.keras"))
    info = {
        "kspec_version": __version__,
        "name": spec.name,
        "spec_file": None,
        "spec_dir": trainer.workdir,
        "spec_hash": spec_hash(spec),
        "api": spec.api,
        "epochs": trainer.epochs,
        "batch_size": trainer.batch_size,
        "status": "finished" if trainer.epoch >= trainer.epochs else "paused",
        "finished_epochs": trainer.epoch,
        "rows": {"train": len(arrays.train), "validation": len(arrays.val), "test": len(arrays.test)},
        "scale": arrays.scale,
        "inputs": [i.name for i in trainer.graph.inputs],
        "outputs": list(trainer.graph.outputs),
        "source": "kspec serve",
    }
    write_text(os.path.join(run_dir, "run.json"), json.dumps(info, indent=1) + "\n")
    files = ["spec.yaml", "history.json", "metrics.json", "model.keras", "run.json"]
    files += REPORTER.artifacts(trainer.model, trainer.graph, spec, run_dir, trainer.history, spec.api)
    files += REPORTER.page(run_dir)
    return files
