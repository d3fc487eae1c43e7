"""What a search leaves in DIR: the trials table (CSV, JSON) and `best.yaml`, read from KerasTuner's files.

KerasTuner writes one `trial_*/trial.json` per trial into its project folder (atomically enough
for us: we read them after the search, and skip one that does not parse). Reading those
files, rather than asking a live tuner, lets the launcher of `--workers N` finish the folder
without importing Keras, and lets a rerun rewrite the table from everything done so far.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import os
from typing import Any

import yaml

from kspec.errors import KspecRuntimeError
from kspec.files import write_text
from kspec.schema.io import loads
from kspec.schema.validate import Spec

TUNERS = ("random", "bayesian", "hyperband")
PROJECT = "keras_tuner"


def direction(objective: str) -> str:
    """ "min" or "max" for an objective name (`val_loss`, `val_accuracy`, `NAME:max`); "" when unknown."""
    metric, _, way = objective.partition(":")
    if way:
        return way
    lowered = metric.lower()
    if any(k in lowered for k in ("loss", "error", "mse", "mae")):
        return "min"
    if any(k in lowered for k in ("acc", "auc", "precision", "recall", "f1")):
        return "max"
    return ""


def _last_line(message: Any) -> str | None:
    lines = [ln for ln in str(message or "").splitlines() if ln.strip()]
    return lines[-1] if lines else None


def read_trials(project_dir: str) -> list[dict[str, Any]]:
    """One row per trial: id, status, score, best step, every metric's best value, the values."""
    rows = []
    for path in sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json"))):
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        metrics = {}
        for name, record in ((data.get("metrics") or {}).get("metrics") or {}).items():
            values = [v for obs in record.get("observations", []) for v in obs.get("value", [])]
            if values:
                metrics[name] = (min if record.get("direction") == "min" else max)(values)
        rows.append(
            {
                "trial": data.get("trial_id"),
                "status": data.get("status"),
                "score": data.get("score"),
                "best_step": data.get("best_step"),
                "metrics": metrics,
                "values": (data.get("hyperparameters") or {}).get("values") or {},
                # a failed trial's traceback, cut to its last line (the error itself)
                "message": _last_line(data.get("message")),
            }
        )
    rows.sort(key=lambda r: int(r["trial"]) if str(r["trial"]).isdigit() else 0)
    return rows


def best_trial(rows: list[dict[str, Any]], direction: str) -> dict[str, Any] | None:
    done = [r for r in rows if r["status"] == "COMPLETED" and r["score"] is not None]
    if not done:
        return None
    pick = min if direction == "min" else max
    return pick(done, key=lambda r: r["score"])


def trials_csv(rows: list[dict[str, Any]], spec: Spec) -> str:
    assert spec.search is not None
    names = list(dict.fromkeys(s.name for s in spec.search.spaces))
    metric_names = sorted({m for r in rows for m in r["metrics"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "status", "score", *metric_names, *names])
    for r in rows:
        writer.writerow(
            [
                r["trial"],
                r["status"],
                r["score"],
                *[r["metrics"].get(m) for m in metric_names],
                *[r["values"].get(n) for n in names],
            ]
        )
    return out.getvalue()


def best_spec_text(spec: Spec, values: dict[str, Any], note: str) -> str:
    """The spec at `values` as a plain YAML spec (no search spaces), checked by loading it."""
    assert spec.search is not None
    known = {s.name for s in spec.search.spaces}
    doc = spec.search.at({k: v for k, v in values.items() if k in known})
    text = f"# {note}\n" + yaml.safe_dump(doc.data, sort_keys=False, allow_unicode=True)
    loaded = loads(text, file="best.yaml")
    if loaded.search is not None:  # cannot happen: every space was replaced
        raise KspecRuntimeError("best.yaml still holds a search space")
    return text


def write_results(
    spec: Spec, out_dir: str, project_dir: str, objective: str, direction: str, tuner: str
) -> dict[str, Any]:
    """Write trials.json, trials.csv, best.yaml and summary.json; return the summary."""
    rows = read_trials(project_dir)
    best = best_trial(rows, direction)
    write_text(os.path.join(out_dir, "trials.json"), json.dumps(rows, indent=1) + "\n")
    write_text(os.path.join(out_dir, "trials.csv"), trials_csv(rows, spec))
    summary: dict[str, Any] = {
        "name": spec.name,
        "tuner": tuner,
        "objective": objective,
        "direction": direction,
        "trials": len(rows),
        "completed": sum(r["status"] == "COMPLETED" for r in rows),
        "hyperparameters": [s.describe() for s in {s.name: s for s in spec.search.spaces}.values()]
        if spec.search
        else [],
        "best": best,
        "defaults": spec.search.defaults() if spec.search else {},
    }
    files = ["trials.json", "trials.csv"]
    if best is not None:
        note = (
            f"best of {summary['completed']} trials by kspec tune ({tuner}): "
            f"{objective}={best['score']:.6g} (trial {best['trial']})"
        )
        write_text(os.path.join(out_dir, "best.yaml"), best_spec_text(spec, best["values"], note))
        files.append("best.yaml")
    summary["files"] = files + ["summary.json"]
    write_text(os.path.join(out_dir, "summary.json"), json.dumps(summary, indent=1, default=str) + "\n")
    return summary
