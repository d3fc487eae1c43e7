"""Build one spec with the three construction APIs and measure what is the same and what differs.

>>> import kspec
>>> result = kspec.compare(kspec.load("specs/seed_sequential.yaml"))   # doctest: +SKIP
>>> result.to_dict()["outputs_max_abs_diff"]                            # doctest: +SKIP
0.0

Per API: availability (Sequential needs a single chain; `Graph.sequential_problem()` says why
not), parameter counts from the built model's own weights, build time, first-call latency
(the first `predict` on one batch: tracing plus running), fit and predict throughput on
synthetic data of the spec's shapes (timed after a warm-up), the saved `.keras` size and
whether predictions survive save/load, and how many nodes Keras's `plot_model` draws. Across
APIs: the largest absolute difference between predictions on one batch, from the same initial
weights (the builders derive per-layer seeds from the spec's `seed`; without one, compare
builds from a copy of the spec with `seed: 0`).

Rendering (text table, HTML, chart) lives in `compare_render.py`.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from kspec.errors import describe
from kspec.graph.resolve import Graph, resolve
from kspec.report.summary import count_weights
from kspec.schema.model import APIS
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec

DEFAULT_SEED = 0
TIMING_KEYS = ("build_s", "first_call_s", "fit_samples_per_s", "predict_samples_per_s")


@dataclass
class ApiResult:
    """What one API gave. Fields are None where the API is unavailable or a step failed."""

    api: str
    available: bool
    reason: str | None = None
    model_class: str | None = None
    total_params: int | None = None
    trainable_params: int | None = None
    non_trainable_params: int | None = None
    timings: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS))
    saved_bytes: int | None = None
    roundtrip: bool | None = None
    roundtrip_max_abs_diff: float | None = None
    plot_nodes: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"available": self.available}
        if not self.available:
            out["reason"] = self.reason
        out.update(
            {
                "class": self.model_class,
                "total_params": self.total_params,
                "trainable_params": self.trainable_params,
                "non_trainable_params": self.non_trainable_params,
                "timings": dict(self.timings),
                "saved_bytes": self.saved_bytes,
                "roundtrip": self.roundtrip,
                "roundtrip_max_abs_diff": self.roundtrip_max_abs_diff,
                "plot_nodes": self.plot_nodes,
            }
        )
        if self.errors:
            out["errors"] = dict(self.errors)
        return out


@dataclass
class Comparison:
    """The result of `compare`: one `ApiResult` per API and the cross-API prediction difference."""

    name: str
    seed: int
    seed_from_spec: bool
    layers: int
    batch_size: int
    fit_steps: int
    apis: dict[str, ApiResult]
    outputs_max_abs_diff: float | None
    notes: list[str] = field(default_factory=list)
    graph: Graph | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the contract (`apis`, `outputs_max_abs_diff`) plus run settings."""
        return {
            "name": self.name,
            "seed": self.seed,
            "seed_from_spec": self.seed_from_spec,
            "layers": self.layers,
            "batch_size": self.batch_size,
            "fit_steps": self.fit_steps,
            "apis": {api: r.to_dict() for api, r in self.apis.items()},
            "outputs_max_abs_diff": self.outputs_max_abs_diff,
            "notes": list(self.notes),
        }


# --- data -------------------------------------------------------------------------------------------


def _input_high(graph: Graph, name: str) -> int:
    """Upper bound for integer inputs: an Embedding reading the input caps the token ids."""
    highs = [
        int(n.spec.args["input_dim"])
        for n in graph.nodes
        if name in n.sources and n.type == "Embedding" and "input_dim" in n.spec.args
    ]
    return min(highs) if highs else 2


def synthetic_inputs(graph: Graph, n: int, seed: int = 0) -> list[Any]:
    """One array per model input, `n` rows, of the input's shape and dtype."""
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = []
    for inp in graph.inputs:
        shape = (n, *[d if d is not None else 8 for d in inp.shape])
        if np.issubdtype(np.dtype(inp.dtype), np.integer):
            arrays.append(rng.integers(0, _input_high(graph, inp.name), size=shape).astype(inp.dtype))
        elif inp.dtype == "bool":
            arrays.append(rng.integers(0, 2, size=shape).astype(bool))
        else:
            arrays.append(rng.standard_normal(shape).astype(inp.dtype))
    return arrays


def _pack_x(arrays: list[Any]) -> Any:
    return arrays[0] if len(arrays) == 1 else list(arrays)


def _as_list(pred: Any, outputs: list[str]) -> list[Any]:
    """Predictions in output order, whatever the API returned (array, list or dict)."""
    import numpy as np

    if isinstance(pred, dict):
        return [np.asarray(pred[name]) for name in outputs]
    if isinstance(pred, (list, tuple)):
        return [np.asarray(p) for p in pred]
    return [np.asarray(pred)]


def _max_abs_diff(a: list[Any], b: list[Any]) -> float:
    import numpy as np

    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return float("inf")
    return max(
        (
            float(np.max(np.abs(x.astype("float64") - y.astype("float64")))) if x.size else 0.0
            for x, y in zip(a, b)
        ),
        default=0.0,
    )


# --- compile -----------------------------------------------------------------------------------------


def compile_arguments(spec: Spec, graph: Graph) -> dict[str, Any]:
    """`model.compile` arguments, exactly as `kspec train` builds them (default loss: mse)."""
    from kspec.training.compile import compile_kwargs

    section = dict(spec.compile or {})
    section["loss"] = section.get("loss") or "mse"
    return compile_kwargs(graph, section)


def _is_sparse(loss: Any) -> bool:
    name = loss if isinstance(loss, str) else type(loss).__name__ + getattr(loss, "__name__", "")
    return "sparse" in str(name).lower()


def synthetic_targets(spec: Spec, graph: Graph, predictions: list[Any], seed: int = 1) -> list[Any]:
    """Targets shaped like the outputs (sparse losses get integer class ids)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    loss = (spec.compile or {}).get("loss") or "mse"
    targets = []
    for i, (name, pred) in enumerate(zip(graph.outputs, predictions)):
        this = (
            loss.get(name, "mse")
            if isinstance(loss, dict) and "type" not in loss
            else loss[i]
            if isinstance(loss, list)
            else loss
        )
        this = this.get("type", "") if isinstance(this, dict) else this
        if _is_sparse(this) and pred.ndim >= 2:
            targets.append(rng.integers(0, pred.shape[-1], size=pred.shape[:-1]).astype("int32"))
        elif "categorical" in str(this).lower() and pred.ndim >= 2:
            # one-hot rows: TensorFlow's fused softmax cross-entropy assumes targets that sum to 1,
            # so other targets would train differently on TensorFlow than on JAX or torch
            classes = rng.integers(0, pred.shape[-1], size=pred.shape[:-1])
            targets.append(np.eye(pred.shape[-1], dtype="float32")[classes])
        else:
            targets.append(rng.uniform(0.0, 1.0, size=pred.shape).astype("float32"))
    return targets


# --- measuring -------------------------------------------------------------------------------------


def plot_node_count(model: Any) -> int | None:
    """How many nodes Keras's `plot_model` draws (None when Keras cannot draw the model)."""
    import keras

    try:
        dot = keras.utils.model_to_dot(model)
    except Exception:
        return None
    return sum(1 for n in dot.get_nodes() if n.get_name().strip('"') not in ("node", "edge", "graph"))


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _build_timed(graph: Graph, api: str) -> tuple[float, Any]:
    """Build time: one build, or the median of three when a build takes under half a second."""
    from kspec.builders import build_model

    seconds, model = _timed(lambda: build_model(graph, api))
    if seconds < 0.5:
        times = [seconds]
        for _ in range(2):
            t, model = _timed(lambda: build_model(graph, api))
            times.append(t)
        seconds = statistics.median(times)
    return seconds, model


def _measure(
    result: ApiResult, spec: Spec, graph: Graph, batch: list[Any], batch_size: int, steps: int, workdir: str
) -> list[Any]:
    """Fill `result` for a built model; return its predictions on `batch` (initial weights)."""
    import keras
    import numpy as np

    model = result.model
    result.model_class = type(model).__name__
    trainable, frozen = count_weights(model.trainable_weights), count_weights(model.non_trainable_weights)
    result.total_params, result.trainable_params, result.non_trainable_params = (
        trainable + frozen,
        trainable,
        frozen,
    )
    x_batch = _pack_x(batch)
    seconds, pred = _timed(lambda: model.predict(x_batch, batch_size=batch_size, verbose=0))
    result.timings["first_call_s"] = seconds
    predictions = _as_list(pred, graph.outputs)
    result.plot_nodes = plot_node_count(model)

    path = os.path.join(workdir, f"{result.api}.keras")
    try:
        model.save(path)
        result.saved_bytes = os.path.getsize(path)
        again = keras.models.load_model(path)
        diff = _max_abs_diff(
            predictions, _as_list(again.predict(x_batch, batch_size=batch_size, verbose=0), graph.outputs)
        )
        result.roundtrip_max_abs_diff = diff
        result.roundtrip = diff <= 1e-6
    except Exception as exc:
        result.roundtrip = False
        result.errors["save"] = describe(exc)

    n = batch_size * steps
    x_all = synthetic_inputs(graph, n, seed=2)
    try:
        model.compile(**compile_arguments(spec, graph))
        y_all = synthetic_targets(spec, graph, _as_list(pred, graph.outputs))
        y_all = [np.resize(y, (n, *y.shape[1:])) for y in y_all]
        y = y_all[0] if len(y_all) == 1 else dict(zip(graph.outputs, y_all))
        warm = [a[: batch_size * 2] for a in x_all]
        y_warm = (
            {k: v[: batch_size * 2] for k, v in y.items()} if isinstance(y, dict) else y[: batch_size * 2]
        )
        model.fit(_pack_x(warm), y_warm, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        seconds, _ = _timed(
            lambda: model.fit(_pack_x(x_all), y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
        )
        result.timings["fit_samples_per_s"] = n / seconds
    except Exception as exc:
        result.errors["fit"] = describe(exc)
    try:
        model.predict(_pack_x(x_all), batch_size=batch_size, verbose=0)  # warm-up at this size
        seconds = statistics.median(
            _timed(lambda: model.predict(_pack_x(x_all), batch_size=batch_size, verbose=0))[0]
            for _ in range(3)
        )
        result.timings["predict_samples_per_s"] = n / seconds
    except Exception as exc:
        result.errors["predict"] = describe(exc)
    return predictions


def compare(
    spec: Spec,
    *,
    batch_size: int = 32,
    steps: int = 50,
    apis: tuple[str, ...] = APIS,
    build_options: BuildOptions | None = None,
) -> Comparison:
    """Build `spec` with each API in `apis` and measure them side by side (see the module doc)."""
    from kspec._keras import import_keras

    import_keras()  # quietly, and before the clock starts: import cost is not a build cost

    seed_from_spec = spec.seed is not None
    if not seed_from_spec:
        spec = dataclasses.replace(spec, seed=DEFAULT_SEED)
    graph = resolve(spec, build_options)
    seed = int(spec.seed)  # type: ignore[arg-type]
    notes: list[str] = []
    if not seed_from_spec:
        notes.append(f"the spec has no seed; compare built every API with seed {seed} so they start equal")
    problem = graph.sequential_problem()
    batch = synthetic_inputs(graph, batch_size, seed=1)
    results: dict[str, ApiResult] = {}
    predictions: dict[str, list[Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kspec-compare-") as workdir:
        from kspec.builders import build_model

        # One untimed build first: the process's first model pays one-off TensorFlow set-up costs.
        build_model(graph, "functional")
        for api in apis:
            if api == "sequential" and problem is not None:
                results[api] = ApiResult(api, available=False, reason=problem)
                continue
            result = ApiResult(api, available=True)
            result.timings["build_s"], result.model = _build_timed(graph, api)
            predictions[api] = _measure(result, spec, graph, batch, batch_size, steps, workdir)
            results[api] = result
    diff: float | None = None
    done = list(predictions.values())
    if len(done) >= 2:
        diff = max(_max_abs_diff(done[0], other) for other in done[1:])
    for api, r in results.items():
        for what, message in r.errors.items():
            notes.append(f"{api}: {what} failed: {message}")
    return Comparison(
        name=graph.name,
        seed=seed,
        seed_from_spec=seed_from_spec,
        layers=len(graph.nodes),
        batch_size=batch_size,
        fit_steps=steps,
        apis=results,
        outputs_max_abs_diff=diff,
        notes=notes,
        graph=graph,
    )
