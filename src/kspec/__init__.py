"""kspec: declarative Keras 3 models from YAML or JSON specs.

>>> import kspec
>>> spec = kspec.loads('''
... name: tiny
... inputs: [{name: x, shape: [4]}]
... layers: [{type: Dense, units: 2}]
... ''')
>>> kspec.check(spec).total_params
10

`load`, `loads`, `from_dict` and `check` never import TensorFlow or Keras; `build`, `plot`,
`train` and `compare` do, on first use.
"""

from __future__ import annotations

import typing as _t

from kspec._version import __version__
from kspec.errors import SpecError
from kspec.graph.check import CheckReport, check_spec
from kspec.graph.resolve import Graph, resolve
from kspec.schema.io import from_dict, load, loads
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec

if _t.TYPE_CHECKING:
    import os

    import keras

    from kspec.training.run import TrainResult


def check(spec: Spec, *, build_options: BuildOptions | None = None) -> CheckReport:
    """Shapes and parameter counts of every layer, without Keras, after every cross-field check
    (`kspec.graph.checks`); all the errors found are raised together as one `SpecError`.

    For a spec with search spaces (`{tune: ...}`) the layer table is at the defaults, and
    `report.space` holds the parameter range over every checked point of the space.
    """
    return check_spec(spec, build_options)


def use_backend(backend: str | None = None, spec: Spec | None = None) -> str:
    """Fix the Keras backend ("tensorflow", "jax", "torch") for this process before Keras loads.

    `backend` wins over the spec's `backend:` key, which wins over KERAS_BACKEND (default
    tensorflow). Once Keras is imported, another backend is refused with a `SpecError`
    (Keras fixes its backend at import): use a new process. Returns the backend's name.
    """
    from kspec.backend import select

    return select(backend, spec)


def build(
    spec: Spec,
    api: str | None = None,
    *,
    build_options: BuildOptions | None = None,
    backend: str | None = None,
    weights: str | os.PathLike[str] | None = None,
) -> keras.Model:
    """Build the spec as a Keras model with `api` ("sequential", "functional", "subclass").

    `build_options`: trusted plugin modules, the parameter limit and the backend (`kspec.BuildOptions`).
    `backend` (else `build_options.backend`, else the spec's `backend:`) picks the Keras backend;
    see `use_backend`. `weights`: a `.weights.h5` file to load (`kspec import --weights`).
    """
    use_backend(backend or (build_options.backend if build_options else None), spec)
    from kspec.builders import build_model

    graph = resolve(spec, build_options)
    model = build_model(graph, api or spec.api)
    if weights is not None:
        from kspec.builders.weights import load_weights

        load_weights(model, weights, graph)
    return model


def import_model(
    model_or_path: _t.Any, *, input_shape: tuple[int, ...] | None = None, blocks: bool = False
) -> Spec:
    """The spec of a Keras model: a `keras.Model` (Functional or Sequential), a `.keras` file,
    a `model.to_json()` file, or `"keras.applications:NAME"` (built with `weights=None`).

    `blocks=True` writes repeated units as `blocks:` where that expands to exactly the same
    graph (`kspec import --blocks`). A subclassed model is refused (its `call` is code);
    `kspec import` writes the result to a file.
    """
    from kspec.importer import import_dict

    spec = import_dict(model_or_path, input_shape=input_shape)[0]
    if blocks:
        from kspec.importer.blocks import find_blocks

        spec = find_blocks(spec) or spec
    return from_dict(spec)


def train(spec: Spec | str, out_dir: str, *, backend: str | None = None, **kwargs: _t.Any) -> TrainResult:
    """Compile, fit and evaluate `spec`; write the run folder with its reports.

    Keyword arguments: `epochs`, `batch_size`, `api`, `quiet`, `force`, `build_options`
    (see `kspec.training.run.train`); `backend` picks the Keras backend (see `use_backend`).
    """
    if not isinstance(spec, Spec):
        spec = load(spec)
    options = kwargs.get("build_options")
    use_backend(backend or (options.backend if options else None), spec)
    from kspec.report.run_folder import REPORTER
    from kspec.training.run import train as run_training

    return run_training(spec, out_dir, reporter=REPORTER, **kwargs)


def tune(spec: Spec, out_dir: str, **kwargs: _t.Any) -> dict[str, _t.Any]:
    """Search the spec's `{tune: ...}` values with KerasTuner; write `out_dir` (best.yaml, trials, report).

    Keyword arguments: `trials` (required), `tuner` ("random", "bayesian", "hyperband"),
    `workers`, `objective`, `api`, `build_options`, `quiet` (see `kspec.training.tune_launch.tune`).
    Returns the search summary (`summary.json`): the best trial's values and score, every trial.
    """
    options = kwargs.get("build_options")
    use_backend(options.backend if options else None, spec)
    from kspec.report.tune_page import write_page
    from kspec.training.tune_launch import tune as run_tune

    summary = run_tune(spec, out_dir, **kwargs)
    summary["files"] = [*summary["files"], *write_page(out_dir)]
    return summary


def load_model(
    path: str, *, safe_mode: bool = True, backend: str | None = None, max_params: int | None = None
) -> keras.Model:
    """`keras.models.load_model` with kspec's `SpecModel` registered and Keras's safe mode on.

    A `.keras` file loads on any backend; `backend` picks it (see `use_backend`).

    The archive is inspected as data first (`kspec.modelfile`): a config naming anything but
    Keras's own layers and objects is refused with a `SpecError` before Keras reads it, and so
    is a model with more than `max_params` parameters (default: $KSPEC_MAX_PARAMS or 1e9),
    counted before any weight is allocated.
    """
    use_backend(backend)
    from kspec.builders.loading import load_keras_model

    return load_keras_model(path, safe_mode=safe_mode, max_params=max_params)


def plot(
    spec: Spec | Graph, path: str, api: str | None = None, *, backend: str | None = None, **options: _t.Any
) -> list[str]:
    """Topology diagram of `spec` written to `path` (options: see `kspec.report.diagram.plot`).

    Registry layers are drawn without Keras; `backend` matters only when Keras is needed.
    """
    from kspec.report.diagram import plot as draw

    source = spec.spec if isinstance(spec, Graph) else spec
    if isinstance(spec, Graph):
        backend = backend or spec.options.backend
    if backend is not None or source.backend is not None:
        use_backend(backend, source)
    return draw(spec, path, api, **options)


def compare(spec: Spec, *, backend: str | None = None, **kwargs: _t.Any) -> _t.Any:
    """The three APIs side by side (see `kspec.report.compare.compare` for options)."""
    options = kwargs.get("build_options")
    use_backend(backend or (options.backend if options else None), spec)
    from kspec.report.compare import compare as run_compare

    return run_compare(spec, **kwargs)


__all__ = [
    "SpecError",
    "Spec",
    "BuildOptions",
    "Graph",
    "CheckReport",
    "load",
    "loads",
    "from_dict",
    "check",
    "build",
    "train",
    "plot",
    "compare",
    "resolve",
    "load_model",
    "import_model",
    "use_backend",
    "tune",
    "__version__",
]


def __dir__() -> list[str]:
    # Only the public API: not `annotations`, `_t` or the stage packages Python binds on import.
    return sorted(__all__)
