"""Import existing Keras models (a `.keras` file, `model.to_json()`, `keras.applications`) as specs.

The inverse of `kspec.builders`: a Keras model's configuration becomes the spec a person would
write (Keras's names, arguments equal to Keras's defaults left out).

    >>> import keras, kspec
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> kspec.import_model(model).to_dict()["layers"]   # doctest: +SKIP
    [{'type': 'Dense', 'units': 2}]
"""

from __future__ import annotations

import os
from typing import Any

from kspec.errors import SpecError


def import_dict(
    model_or_path: Any, *, input_shape: tuple[int, ...] | None = None
) -> tuple[dict[str, Any], Any]:
    """(the spec as a plain dict, the Keras model it came from)."""
    from kspec.importer.convert import model_to_spec
    from kspec.importer.source import load_source

    model = model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        model = load_source(os.fspath(model_or_path), input_shape)
    import keras

    if not isinstance(model, keras.Model):
        raise SpecError(f"expected a keras.Model or a path, got {type(model).__name__}")
    return model_to_spec(model), model


def check_round_trip(spec: dict[str, Any], model: Any, file: str | None = None) -> None:
    """The imported spec must validate and give Keras's own parameter counts: otherwise refuse it."""
    from kspec.graph.check import CheckReport
    from kspec.graph.resolve import resolve
    from kspec.schema.io import from_dict

    report = CheckReport(resolve(from_dict(spec)))
    if report.total_params is not None and report.total_params != model.count_params():
        raise SpecError(
            f"the imported spec counts {report.total_params} parameters, Keras {model.count_params()}: "
            "a layer kspec does not model faithfully; please report it",
            file=file,
        )
