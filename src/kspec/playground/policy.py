"""What a spec sent to the Playground may ask for: limits, and nothing that runs code or leaves
the server's working folder.

Every spec arrives from a browser, so it is untrusted: kspec's loader already refuses unsafe
layers (Lambda, ...) because the server never passes `allow_unsafe`; here the server also refuses
`plugins:` (importing a module runs it), `keras` datasets (they download into ~/.keras) and data
files outside its folder, and bounds parameters, epochs and samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kspec.errors import SpecError
from kspec.graph.check import CheckReport
from kspec.graph.resolve import Graph, resolve
from kspec.schema.io import loads
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec

SPEC_FILE = "spec.yaml"  # how errors name the editor's text


@dataclass(frozen=True)
class Limits:
    """The server's bounds; `kspec serve --max-...` sets them."""

    max_epochs: int = 1000
    max_params: int = 2_000_000
    max_trainings: int = 4
    max_samples: int = 20_000
    max_body: int = 1_000_000  # bytes of one request
    units_shown: int = 8  # heatmaps per layer (the first N units of a wider layer)
    grid: int = 50  # heatmap resolution


def load_spec(text: str, workdir: str, limits: Limits) -> tuple[Spec, Graph]:
    """Validate `text` as a spec the server may build and train; SpecError otherwise."""
    spec = loads(text, file=SPEC_FILE)  # never allow_unsafe: a request cannot ask for it
    if spec.plugins:
        raise spec.error(("plugins",), "the Playground imports no modules: remove `plugins:`")
    graph = resolve(spec, BuildOptions(max_params=limits.max_params))
    total = CheckReport(graph).total_params
    if total is not None and total > limits.max_params:
        raise spec.error(
            ("layers",), f"{total:,} parameters; this server allows {limits.max_params:,} (--max-params)"
        )
    data = (spec.train or {}).get("data")
    if isinstance(data, dict):
        _check_data(spec, data, workdir, limits)
    epochs = (spec.train or {}).get("epochs")
    if isinstance(epochs, int) and epochs > limits.max_epochs:
        raise spec.error(("train", "epochs"), f"this server trains at most {limits.max_epochs} epochs")
    return spec, graph


def _check_data(spec: Spec, data: dict[str, Any], workdir: str, limits: Limits) -> None:
    kind = data.get("type")
    path = ("train", "data")
    if kind == "keras":
        raise spec.error(path + ("type",), "keras datasets download; use sklearn, synthetic, npz or csv data")
    if kind == "synthetic" and data.get("samples", 0) > limits.max_samples:
        raise spec.error(path + ("samples",), f"this server generates at most {limits.max_samples:,} samples")
    noise = data.get("noise", 0.0)
    if kind == "synthetic" and not (isinstance(noise, (int, float)) and 0 <= noise <= 10):
        raise spec.error(path + ("noise",), f"noise must be a number from 0 to 10, got {noise!r}")
    if kind in ("npz", "csv"):
        inside_folder(data.get("path", ""), workdir, spec, path + ("path",))


def inside_folder(name: str, workdir: str, spec: Spec | None = None, at: tuple[Any, ...] = ()) -> str:
    """The real path of `name` inside `workdir`; a SpecError for anything that leaves it."""
    root = os.path.realpath(workdir)
    bad = not isinstance(name, str) or not name or "\x00" in name or os.path.isabs(name)
    real = "" if bad else os.path.realpath(os.path.join(root, name))
    if bad or os.path.commonpath([root, real]) != root:
        message = f"{name!r} is outside the server's folder; data files must be inside {root}"
        raise spec.error(at, message) if spec is not None else SpecError(message)
    return real
