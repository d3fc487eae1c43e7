"""`kspec compare SPEC --backends`: the same spec and the same initial weights on every installed
Keras backend (TensorFlow, JAX, PyTorch), one process per backend.

The reference backend (TensorFlow when installed) builds the model and writes its initial
weights and a synthetic data set as numpy arrays; each other backend builds the same spec,
assigns those arrays by `layer/variable` name, predicts the same batch and trains one epoch
with shuffling off (noise layers such as Dropout silenced: their randomness is each backend's
own). Reported per backend: parameter counts, build and predict time, fit throughput, the
largest absolute difference of predictions from the reference's (`outputs_max_abs_diff`,
float32 target <= 1e-5) and the relative difference of the one-epoch loss
(`fit_loss_rel_diff`, target <= 1e-4). On torch: whether the model is a `torch.nn.Module`, and
its `named_parameters()` beside Keras's weight names.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from kspec.backend import BACKENDS, INSTALL, installed
from kspec.errors import KspecRuntimeError
from kspec.graph.resolve import resolve
from kspec.schema.model import APIS
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec

PREDICTION_TOLERANCE = 1e-5  # float32 predictions, max abs difference
LOSS_TOLERANCE = 1e-4  # one epoch's loss, relative difference
WORKER_TIMEOUT_S = 900


@dataclass
class BackendComparison:
    """One spec on every backend; `backends` maps Keras's backend name to its facts."""

    name: str
    reference: str
    apis: list[str]
    samples: int
    batch_size: int
    backends: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    folder: str | None = None

    def values(self, key: str) -> list[float]:
        return [b[key] for b in self.backends.values() if b.get(key) is not None]

    def to_dict(self) -> dict[str, Any]:
        diffs = self.values("outputs_max_abs_diff")
        losses = self.values("fit_loss_rel_diff")
        return {
            "name": self.name,
            "reference": self.reference,
            "apis": self.apis,
            "samples": self.samples,
            "batch_size": self.batch_size,
            "backends": self.backends,
            "outputs_max_abs_diff": max(diffs) if diffs else None,
            "fit_loss_max_rel_diff": max(losses) if losses else None,
            "tolerances": {"outputs_max_abs_diff": PREDICTION_TOLERANCE, "fit_loss_rel_diff": LOSS_TOLERANCE},
            "agree": bool(diffs)
            and max(diffs) <= PREDICTION_TOLERANCE
            and (not losses or max(losses) <= LOSS_TOLERANCE),
            "notes": self.notes,
        }


#: Measured (Keras 3.15, TF 2.21): one Adam step on an Embedding whose batch repeats a token id
#: moves that row differently on TensorFlow than on JAX (0.11 here); without a repeat, or with SGD,
#: the backends agree exactly.
SPARSE_NOTE = (
    "TensorFlow hands an Embedding's gradient to the optimizer as IndexedSlices, and Keras's "
    "adaptive optimizers (Adam, RMSprop, ...) square each slice separately: when a batch repeats a "
    "token id, TensorFlow's second moment is a sum of squares where JAX and torch square the sum, "
    "so training on TensorFlow differs (SGD agrees)"
)


def sparse_adaptive_training(spec: Spec) -> bool:
    """Whether the spec trains an Embedding with an optimizer other than SGD (see SPARSE_NOTE)."""
    optimizer = (spec.compile or {}).get("optimizer", "adam")  # training.compile's default
    name = optimizer.get("type") if isinstance(optimizer, dict) else optimizer
    has_embedding = any(layer.type == "Embedding" for layer in spec.layers)
    return has_embedding and str(name).lower() != "sgd"


def _valid_apis(spec: Spec, build_options: BuildOptions | None) -> list[str]:
    problem = resolve(spec, build_options).sequential_problem()
    return [a for a in APIS if a != "sequential" or problem is None]


def _run_worker(backend: str, jobs: list[dict[str, Any]], folder: str) -> str | None:
    """Run one backend's jobs in a fresh process; None, or why the process failed."""
    jobs_file = os.path.join(folder, f"jobs_{backend}.json")
    with open(jobs_file, "w", encoding="utf-8") as fh:
        json.dump({"jobs": jobs}, fh)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend == "jax":
        env.setdefault("JAX_PLATFORMS", "cpu")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kspec.report.backend_worker", jobs_file],
            capture_output=True,
            text=True,
            env=env,
            timeout=WORKER_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {WORKER_TIMEOUT_S} s"
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the {backend} process failed: {tail[:300]}"
    return None


def _max_abs_diff(folder: str, reference: str, backend: str, api: str) -> float:
    import numpy as np

    with (
        np.load(os.path.join(folder, f"{reference}_{api}.npz")) as a,
        np.load(os.path.join(folder, f"{backend}_{api}.npz")) as b,
    ):
        if a.files != b.files or any(a[k].shape != b[k].shape for k in a.files):
            return float("inf")
        return max(
            (
                float(np.max(np.abs(a[k].astype("float64") - b[k].astype("float64")), initial=0.0))
                for k in a.files
            ),
            default=0.0,
        )


def _summarise(
    raw: dict[str, Any], folder: str, reference: str, backend: str, ref: dict[str, Any]
) -> dict[str, Any]:
    """One backend's row: counts and timings of the spec's API, differences from the reference."""
    apis = raw["apis"]
    first = next(iter(apis.values()))
    fit: dict[str, Any] = next((r["fit"] for r in apis.values() if "fit" in r), {})
    ref_fit: dict[str, Any] = next((r["fit"] for r in ref["apis"].values() if "fit" in r), {})
    row: dict[str, Any] = {
        "available": True,
        "keras_version": raw.get("keras"),
        "total_params": first["total_params"],
        "trainable_params": first["trainable_params"],
        "non_trainable_params": first["non_trainable_params"],
        "timings": {
            "build_s": first["timings"]["build_s"],
            "predict_s": first["timings"]["predict_s"],
            "fit_samples_per_s": fit.get("fit_samples_per_s"),
        },
        "fit_loss": fit.get("loss"),
        "fit_silenced_layers": fit.get("silenced", []),
        "keras_weights": first["keras_weights"],
        "per_api": {
            api: {
                "total_params": r["total_params"],
                "outputs_max_abs_diff": _max_abs_diff(folder, reference, backend, api),
                "timings": r["timings"],
            }
            for api, r in apis.items()
        },
    }
    row["outputs_max_abs_diff"] = max(r["outputs_max_abs_diff"] for r in row["per_api"].values())
    if fit.get("loss") is not None and ref_fit.get("loss") is not None:
        denom = max(abs(ref_fit["loss"]), 1e-12)
        row["fit_loss_rel_diff"] = abs(fit["loss"] - ref_fit["loss"]) / denom
    if "torch" in first:
        row["torch"] = first["torch"]
    row["raw"] = raw
    return row


def compare_backends_many(
    specs: list[Spec],
    *,
    backends: tuple[str, ...] = BACKENDS,
    batch_size: int = 32,
    steps: int = 4,
    apis: str = "spec",
    build_options: BuildOptions | None = None,
    plot: bool = False,
    time_fit: bool = True,
    folder: str | None = None,
) -> list[BackendComparison]:
    """`compare_backends` for several specs with one process per backend (Keras starts once each).

    `apis`: "spec" (the spec's own API) or "all" (every API the spec can be built with).
    """
    present = [b for b in backends if installed(b)]
    if not present:
        raise KspecRuntimeError("no Keras backend is installed: " + "; ".join(INSTALL.values()))
    reference = "tensorflow" if "tensorflow" in present else present[0]
    owned = folder is None
    root = tempfile.mkdtemp(prefix="kspec-backends-") if folder is None else folder
    jobs: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        if spec.seed is None:
            spec = dataclasses.replace(spec, seed=0)
        sub = os.path.join(root, f"{i:03d}_{spec.name}")
        os.makedirs(sub, exist_ok=True)
        spec_file = os.path.join(sub, "spec.json")
        with open(spec_file, "w", encoding="utf-8") as fh:
            json.dump({**spec.raw, "seed": spec.seed}, fh, default=str)
        chosen = _valid_apis(spec, build_options) if apis == "all" else [spec.api]
        options = build_options or BuildOptions()
        jobs.append(
            {
                "spec": spec_file,
                "folder": sub,
                "apis": chosen,
                "fit_api": spec.api if spec.api in chosen else chosen[0],
                "samples": batch_size * steps,
                "batch_size": batch_size,
                "allow_unsafe": spec.allow_unsafe,
                "plugins": list(options.plugins),
                "max_params": options.max_params,
                "plot": plot,
                "time_fit": time_fit,
            }
        )
    failures: dict[str, str] = {}
    for backend in [reference] + [b for b in present if b != reference]:
        todo = [{**job, "reference": backend == reference} for job in jobs]
        problem = _run_worker(backend, todo, root)
        if problem:
            failures[backend] = problem
    results = []
    for spec, job in zip(specs, jobs):
        rows: dict[str, dict[str, Any]] = {}
        raw = {}
        for backend in BACKENDS:
            path = os.path.join(job["folder"], f"{backend}.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as fh:
                    raw[backend] = json.load(fh)
        notes = []
        for backend in backends:
            if backend not in present:
                rows[backend] = {"available": False, "reason": f"not installed ({INSTALL[backend]})"}
            elif backend in failures and backend not in raw:
                rows[backend] = {"available": False, "reason": failures[backend]}
            elif "failed" in raw.get(backend, {"failed": "no result"}):
                rows[backend] = {
                    "available": False,
                    "reason": raw.get(backend, {}).get("failed", "no result"),
                }
            elif reference not in raw or "failed" in raw[reference]:
                rows[backend] = {"available": False, "reason": f"the reference backend {reference} failed"}
            else:
                rows[backend] = _summarise(raw[backend], job["folder"], reference, backend, raw[reference])
        if "tensorflow" in rows and sparse_adaptive_training(spec):
            notes.append(SPARSE_NOTE)
        silenced = next(
            (r.get("fit_silenced_layers") for r in rows.values() if r.get("fit_silenced_layers")), None
        )
        if silenced:
            notes.append(
                "training ran with " + ", ".join(silenced) + " silenced (rate 0): their randomness "
                "comes from each backend's own generator"
            )
        results.append(
            BackendComparison(
                name=spec.name,
                reference=reference,
                apis=job["apis"],
                samples=job["samples"],
                batch_size=batch_size,
                backends=rows,
                notes=notes,
                folder=None if owned else job["folder"],
            )
        )
    if owned:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return results


def compare_backends(spec: Spec, **kwargs: Any) -> BackendComparison:
    """The same spec and initial weights on every installed backend (see the module doc)."""
    return compare_backends_many([spec], **kwargs)[0]


__all__ = [
    "BackendComparison",
    "compare_backends",
    "compare_backends_many",
    "PREDICTION_TOLERANCE",
    "LOSS_TOLERANCE",
]
