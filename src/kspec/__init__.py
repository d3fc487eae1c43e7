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

from typing import TYPE_CHECKING, Any

from kspec.errors import SpecError
from kspec.graph.check import CheckReport
from kspec.graph.resolve import Graph, resolve
from kspec.spec.io import from_dict, load, loads
from kspec.spec.validate import Spec

__version__ = "0.1.0"

if TYPE_CHECKING:
    import keras


def check(spec: Spec) -> CheckReport:
    """Shapes and parameter counts of every layer, without Keras."""
    return CheckReport(resolve(spec))


def _build(spec: Spec, api: str | None = None) -> keras.Model:
    """Build the spec as a Keras model with `api` ("sequential", "functional", "subclass")."""
    from kspec.build import build_model

    return build_model(resolve(spec), api or spec.api)


build = _build  # `import kspec.build` rebinds this to the (callable) stage package


def _train(spec: Spec | str, out_dir: str, **kwargs: Any) -> Any:
    """Compile, fit and evaluate `spec`; write the run folder with its reports.

    Keyword arguments: `epochs`, `batch_size`, `api`, `quiet`, `force` (see `kspec.train.run.train`).
    """
    from kspec.report.run_folder import REPORTER
    from kspec.train.run import train as run_training

    return run_training(spec, out_dir, reporter=REPORTER, **kwargs)


train = _train  # `import kspec.train` rebinds this to the (callable) stage package


def load_model(path: str, *, safe_mode: bool = True) -> keras.Model:
    """`keras.models.load_model` with kspec's `SpecModel` registered and Keras's safe mode on."""
    import keras

    from kspec.build import refreeze  # importing kspec.build also registers SpecModel

    return refreeze(keras.models.load_model(path, safe_mode=safe_mode))


def __getattr__(name: str) -> Any:
    # Heavier stages load on first use so `import kspec` stays fast.
    if name == "plot":
        from kspec.report.diagram import plot

        return plot
    if name == "compare":
        from kspec.report.compare import compare

        return compare
    raise AttributeError(f"module 'kspec' has no attribute {name!r}")


__all__ = ["SpecError", "Spec", "Graph", "CheckReport", "load", "loads", "from_dict", "check",
           "build", "train", "resolve", "load_model", "__version__"]
