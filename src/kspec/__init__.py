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
from kspec.graph.check import CheckReport
from kspec.graph.resolve import Graph, resolve
from kspec.schema.io import from_dict, load, loads
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec

if _t.TYPE_CHECKING:
    import keras

    from kspec.training.run import TrainResult


def check(spec: Spec) -> CheckReport:
    """Shapes and parameter counts of every layer, without Keras."""
    return CheckReport(resolve(spec))


def build(spec: Spec, api: str | None = None, *, build_options: BuildOptions | None = None) -> keras.Model:
    """Build the spec as a Keras model with `api` ("sequential", "functional", "subclass").

    `build_options`: trusted plugin modules and the parameter limit (`kspec.BuildOptions`).
    """
    from kspec.builders import build_model

    return build_model(resolve(spec, build_options), api or spec.api)


def train(spec: Spec | str, out_dir: str, **kwargs: _t.Any) -> TrainResult:
    """Compile, fit and evaluate `spec`; write the run folder with its reports.

    Keyword arguments: `epochs`, `batch_size`, `api`, `quiet`, `force`, `build_options`
    (see `kspec.training.run.train`).
    """
    from kspec.report.run_folder import REPORTER
    from kspec.training.run import train as run_training

    return run_training(spec, out_dir, reporter=REPORTER, **kwargs)


def load_model(path: str, *, safe_mode: bool = True) -> keras.Model:
    """`keras.models.load_model` with kspec's `SpecModel` registered and Keras's safe mode on."""
    import keras

    from kspec.builders import refreeze  # importing kspec.builders also registers SpecModel

    return refreeze(keras.models.load_model(path, safe_mode=safe_mode))


def __getattr__(name: str) -> _t.Any:
    # Heavier stages load on first use so `import kspec` stays fast.
    if name == "plot":
        from kspec.report.diagram import plot

        return plot
    if name == "compare":
        from kspec.report.compare import compare

        return compare
    raise AttributeError(f"module 'kspec' has no attribute {name!r}")


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
    "__version__",
]


def __dir__() -> list[str]:
    # Only the public API: not `annotations`, `_t` or the stage packages Python binds on import.
    return sorted(__all__)
