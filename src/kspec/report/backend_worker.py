"""One backend's side of `kspec compare --backends`: runs in its own process (Keras keeps one
backend per process), started by `kspec.report.backends` with KERAS_BACKEND already set.

    python -m kspec.report.backend_worker JOBS.json

JOBS.json: `{"jobs": [job, ...]}`; each job names a spec (a JSON file), the APIs to build, and a
work folder. The reference backend's job (`"reference": true`) writes the initial weights
(`weights.npz`, keyed `layer/variable`) and the data (`data.npz`); every other backend loads
them, so all start from the same numbers. Each job writes `<backend>.json` (counts, shapes,
timings, the one-epoch loss) and `<backend>_<api>.npz` (predictions) into its folder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

#: Layers whose training-time output is random: their randomness comes from each backend's own
#: generator, so the training comparison runs them with rate/stddev 0 (inference is unaffected).
NOISE = {"Dropout": "rate", "SpatialDropout1D": "rate", "SpatialDropout2D": "rate",
         "SpatialDropout3D": "rate", "GaussianDropout": "rate", "AlphaDropout": "rate",
         "GaussianNoise": "stddev"}  # fmt: skip


def weight_key(variable: Any) -> str:
    """`layer/variable`: the same in every API and backend (subclassed models prefix their name)."""
    return "/".join(variable.path.split("/")[-2:])


def _outputs(pred: Any, names: list[str]) -> list[np.ndarray]:
    if isinstance(pred, dict):
        return [np.asarray(pred[n]) for n in names]
    if isinstance(pred, (list, tuple)):
        return [np.asarray(p) for p in pred]
    return [np.asarray(pred)]


def _pack(arrays: list[np.ndarray]) -> Any:
    return arrays[0] if len(arrays) == 1 else list(arrays)


def _layer_rows(model: Any, api: str) -> list[dict[str, Any]]:
    rows = []
    for layer in model.layers:
        shape = None
        if api != "subclass":
            try:
                shape = list(layer.output.shape)
            except Exception:
                shape = None
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "params": int(layer.count_params()),
                "trainable_params": int(sum(np.prod(w.shape) for w in layer.trainable_weights)),
                "output_shape": shape,
            }
        )
    return rows


def _torch_facts(model: Any) -> dict[str, Any]:
    """On torch a Keras model is a `torch.nn.Module`: its parameters as torch lists them."""
    import torch

    named = [
        {"name": name, "shape": list(p.shape), "requires_grad": bool(p.requires_grad)}
        for name, p in model.named_parameters()
    ]
    return {
        "is_torch_module": isinstance(model, torch.nn.Module),
        "module_class": type(model).__mro__[0].__name__,
        "named_parameters": named,
        "named_parameters_trainable": int(sum(np.prod(p["shape"]) for p in named if p["requires_grad"])),
        "named_parameters_total": int(sum(np.prod(p["shape"]) for p in named)),
    }


def _silence_noise(model: Any) -> list[str]:
    silenced = []
    for layer in model._flatten_layers(include_self=False):
        attr = NOISE.get(type(layer).__name__)
        if attr and getattr(layer, attr, None):
            setattr(layer, attr, 0.0)
            silenced.append(layer.name)
    return silenced


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    import keras

    from kspec.builders import build_model
    from kspec.graph.resolve import resolve
    from kspec.report.compare import compile_arguments, synthetic_inputs, synthetic_targets
    from kspec.schema.io import load
    from kspec.schema.options import BuildOptions

    backend = keras.backend.backend()
    spec = load(job["spec"], allow_unsafe=job.get("allow_unsafe", False))
    graph = resolve(
        spec, BuildOptions(plugins=tuple(job.get("plugins", ())), max_params=job.get("max_params"))
    )
    folder = job["folder"]
    weights_file, data_file = os.path.join(folder, "weights.npz"), os.path.join(folder, "data.npz")
    out: dict[str, Any] = {"backend": backend, "keras": keras.__version__, "apis": {}, "errors": {}}
    apis = job["apis"]
    n, batch_size = job["samples"], job["batch_size"]
    if job.get("reference"):
        model = build_model(graph, apis[0])
        np.savez(weights_file, **{weight_key(w): np.asarray(w) for w in model.weights})  # type: ignore[arg-type]
        x = synthetic_inputs(graph, n, seed=1)
        y = synthetic_targets(spec, graph, _outputs(model.predict(_pack(x), verbose=0), graph.outputs))
        np.savez(data_file, **{f"x{i}": a for i, a in enumerate(x)}, **{f"y{i}": a for i, a in enumerate(y)})
    with np.load(weights_file) as stored:
        weights = {k: stored[k] for k in stored.files}
    with np.load(data_file) as stored:
        x = [stored[f"x{i}"] for i in range(len(graph.inputs))]
        y = [stored[f"y{i}"] for i in range(len(graph.outputs))]
    for api in apis:
        start = time.perf_counter()
        model = build_model(graph, api)
        build_s = time.perf_counter() - start
        keys = {weight_key(w) for w in model.weights}
        if keys != set(weights):
            raise RuntimeError(
                f"{api}: weights differ by name from the reference: {sorted(keys ^ set(weights))}"
            )
        for w in model.weights:
            w.assign(weights[weight_key(w)])
        start = time.perf_counter()
        pred = _outputs(model.predict(_pack(x), batch_size=batch_size, verbose=0), graph.outputs)
        predict_s = time.perf_counter() - start
        np.savez(os.path.join(folder, f"{backend}_{api}.npz"), *pred)
        row: dict[str, Any] = {
            "class": type(model).__name__,
            "total_params": int(model.count_params()),
            "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "non_trainable_params": int(sum(np.prod(w.shape) for w in model.non_trainable_weights)),
            "layers": _layer_rows(model, api),
            "keras_weights": [w.path for w in model.weights],
            "timings": {"build_s": build_s, "predict_s": predict_s},
        }
        if backend == "torch":
            row["torch"] = _torch_facts(model)
        if job.get("plot") and api == job.get("fit_api", apis[0]):  # one diagram per spec and backend
            from kspec.report.diagram import plot

            path = os.path.join(folder, f"{backend}_{api}.png")
            plot(graph, path, api=api, show_shapes=True)
            row["diagram"] = path
        if api == job.get("fit_api", apis[0]):
            row["fit"] = _fit_once(
                model, spec, graph, x, y, batch_size, compile_arguments, job.get("time_fit")
            )
        out["apis"][api] = row
    return out


def _fit_once(model, spec, graph, x, y, batch_size, compile_arguments, time_fit) -> dict[str, Any]:
    """One epoch, shuffling off, noise layers silenced: the loss every backend should agree on."""
    silenced = _silence_noise(model)
    model.compile(**compile_arguments(spec, graph))
    target = y[0] if len(y) == 1 else dict(zip(graph.outputs, y))
    start = time.perf_counter()
    history = model.fit(_pack(x), target, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    first_s = time.perf_counter() - start
    result = {"loss": float(history.history["loss"][0]), "first_epoch_s": first_s, "silenced": silenced}
    if time_fit:  # a second epoch, compiled already: the throughput
        start = time.perf_counter()
        model.fit(_pack(x), target, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        result["fit_samples_per_s"] = len(x[0]) / (time.perf_counter() - start)
    return result


def _warm_up(job: dict[str, Any]) -> bool:
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.predict(np.zeros((1, 2), "float32"), verbose=0)
    return True


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as fh:
        jobs = json.load(fh)["jobs"]
    warmed = False
    for job in jobs:
        if not warmed:  # the process's first build pays the backend's one-off set-up: not timed
            warmed = _warm_up(job)
        try:
            result = run_job(job)
        except Exception as exc:  # reported per job by the parent, which keeps going
            from kspec.errors import describe

            result = {"failed": describe(exc, 400)}
        import keras

        from kspec.files import write_text

        write_text(os.path.join(job["folder"], f"{keras.backend.backend()}.json"), json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
