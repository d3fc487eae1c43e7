"""Resource limits: refuse a model too big for this machine before Keras allocates anything.

The spec loader already bounds the file (`loader.MAX_BYTES`) and the expanded YAML tree
(`loader.MAX_NODES`, alias bombs). This module bounds what a valid spec asks Keras to
allocate: the parameter count the checker infers, and a memory estimate for training it
(weights, gradients and two Adam moments: 4 copies of every parameter).

    >>> estimate_bytes(1_000_000, "float32")
    16000000
    >>> max_params({})  # the default: 1e9 parameters, ~15 GiB to train in float32
    1000000000

The limit is `--max-params N` on the command line, else the environment variable
`KSPEC_MAX_PARAMS`, else `DEFAULT_MAX_PARAMS`. `0` disables the check.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kspec.errors import SpecError

#: 1e9 float32 parameters take ~15 GiB to train with Adam: fits a 24 GiB machine.
DEFAULT_MAX_PARAMS = 1_000_000_000
ENV_MAX_PARAMS = "KSPEC_MAX_PARAMS"
#: Copies of each parameter while training: weights, gradients, Adam's two moments.
TRAINING_COPIES = 4

_DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "mixed_float16": 4, "mixed_bfloat16": 4, "float64": 8}


def dtype_bytes(dtype: str | None) -> int:
    return _DTYPE_BYTES.get(dtype or "float32", 4)


def estimate_bytes(params: int, dtype: str | None = "float32") -> int:
    """Memory to train `params` parameters: weights, gradients and two optimizer moments."""
    return params * dtype_bytes(dtype) * TRAINING_COPIES


def max_params(environ: Mapping[str, str] | None = None, override: int | None = None) -> int:
    """The active limit (0 = none): `override` (the CLI flag), else the environment, else default."""
    if override is not None:
        return override
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_MAX_PARAMS, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_PARAMS
    try:
        value = int(float(raw))
    except ValueError:
        raise SpecError(f"{ENV_MAX_PARAMS} must be a number of parameters, got {raw!r}") from None
    if value < 0:
        raise SpecError(f"{ENV_MAX_PARAMS} must not be negative, got {raw!r}")
    return value


#: Training data in memory (features and targets, with the copies training makes): 4 GiB by
#: default; `KSPEC_MAX_DATA_BYTES` changes it (0: no limit).
DEFAULT_MAX_DATA_BYTES = 4 * 2**30
ENV_MAX_DATA_BYTES = "KSPEC_MAX_DATA_BYTES"
#: Copies of the data while training: the array, its float32 form, tf.data's, a gathered split.
DATA_COPIES = 4


def max_data_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The active data memory limit in bytes (0 = none)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(ENV_MAX_DATA_BYTES, "").strip().replace("_", "")
    if not raw:
        return DEFAULT_MAX_DATA_BYTES
    try:
        value = int(float(raw))
    except ValueError:
        raise SpecError(f"{ENV_MAX_DATA_BYTES} must be a number of bytes, got {raw[:40]!r}") from None
    if value < 0:
        raise SpecError(f"{ENV_MAX_DATA_BYTES} must not be negative, got {raw[:40]!r}")
    return value


def data_problem(nbytes: int, what: str) -> str | None:
    """Why data needing `nbytes` (before copies) may not be loaded, or None."""
    limit = max_data_bytes()
    need = nbytes * DATA_COPIES
    if not limit or need <= limit:
        return None
    return (
        f"{what} needs about {_gib(need)} of memory to train on (about {_gib(nbytes)} as float32, "
        f"{DATA_COPIES} copies), over the limit of {_gib(limit)}; raise it with {ENV_MAX_DATA_BYTES} "
        "(bytes, 0: no limit) if this machine has the memory"
    )


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def over_limit(graph: Any, counts: Mapping[str, int] | None = None) -> SpecError | None:
    """The located error when `graph` is over the parameter limit, else None.

    Layers the checker cannot count (outside the registry) count as zero unless `counts` (by
    layer name, from Keras's symbolic build: `kspec.builders.layers.symbolic_counts`) has
    them; the error names the largest layer so the user knows what to shrink. `kspec check`
    reports it as a warning (`kspec.graph.checks.parameter_limit`); building refuses it
    (`check_graph`).
    """
    spec = graph.spec
    limit = max_params(override=graph.options.max_params)
    if not limit:
        return None
    counts = counts or {}
    counted = [(n.params if n.params is not None else counts.get(n.name, 0), n) for n in graph.nodes]
    total = sum(p for p, _ in counted)
    if total <= limit:
        return None
    biggest_params, biggest = max(counted, key=lambda pn: pn[0])
    dtypes = {n.spec.args.get("dtype") for n in graph.nodes if isinstance(n.spec.args.get("dtype"), str)}
    dtype = str(dtypes.pop()) if len(dtypes) == 1 else "float32"
    return spec.error(
        biggest.spec.path, over_limit_message(total, limit, dtype, biggest.name, biggest_params)
    )


def check_graph(graph: Any, counts: Mapping[str, int] | None = None) -> None:
    """Raise the located `SpecError` of `over_limit`; call before building."""
    error = over_limit(graph, counts)
    if error is not None:
        raise error


def over_limit_message(total: int, limit: int, dtype: str, biggest: str, biggest_params: int) -> str:
    """The one message for a model over the parameter limit."""
    return (
        f"the model has {total:,} parameters (about {_gib(estimate_bytes(total, dtype))} to train "
        f"with Adam in {dtype}), over the limit of {limit:,}; the largest layer, {biggest!r}, "
        f"has {biggest_params:,}. Raise the limit with --max-params or {ENV_MAX_PARAMS} (0: no limit)"
    )
