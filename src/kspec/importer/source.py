"""Where `kspec import` gets a Keras model: a `.keras` file, a Keras JSON file, or an application.

Every user-given file is read as data first by `kspec.modelfile`, the one place that decides
what a model file may hold: bounded, parsed as JSON, every object checked against its
allow-list; only then does Keras deserialize it, in safe mode. Nothing from a file is ever
executed.
"""

from __future__ import annotations

import json
import os
from typing import Any

from kspec.errors import SpecError
from kspec.modelfile import HDF5_SIGNATURE, MAX_CONFIG_BYTES, check_config
from kspec.schema.foreign import ZIP_MAGIC, is_keras_model_json

APPLICATION_PREFIX = "keras.applications:"
MAX_JSON_BYTES = MAX_CONFIG_BYTES


def load_source(source: str, input_shape: tuple[int, ...] | None = None) -> Any:
    """The Keras model `source` names (see the module docstring)."""
    if source.startswith(APPLICATION_PREFIX):
        return application(source[len(APPLICATION_PREFIX) :], input_shape)
    if input_shape is not None:
        raise SpecError("--input-shape applies to keras.applications:NAME only; a model file has its own")
    if not os.path.isfile(source):
        raise SpecError("no such file" if not os.path.exists(source) else "not a regular file", file=source)
    with open(source, "rb") as fh:
        head = fh.read(4)
    if head == ZIP_MAGIC or head == HDF5_SIGNATURE[:4]:  # legacy HDF5: refused by kspec.modelfile
        return _load_keras_file(source)
    return _load_json_file(source)


def application_names() -> list[str]:
    import keras

    return sorted(
        n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n))
    )


def application(name: str, input_shape: tuple[int, ...] | None) -> Any:
    import keras

    from kspec.schema.names import did_you_mean

    names = application_names()
    if name not in names:
        raise SpecError(
            f"unknown application {name!r}" + did_you_mean(name, names) + f"; one of: {', '.join(names)}",
            file=APPLICATION_PREFIX + name,
        )
    kwargs: dict[str, Any] = {"weights": None}
    if input_shape is not None:
        kwargs["input_shape"] = tuple(input_shape)
    try:
        return getattr(keras.applications, name)(**kwargs)
    except (ValueError, TypeError) as exc:
        raise SpecError(
            f"refused the arguments: {' '.join(str(exc).split())[:300]}", file=APPLICATION_PREFIX + name
        ) from None


def _load_keras_file(path: str) -> Any:
    """A `.keras` archive, through kspec's one model-file loader: `kspec.modelfile` bounds the
    archive and checks every object of its config.json against the allow-list before Keras
    deserializes anything (a Lambda, a custom class or a function is refused in one line)."""
    from kspec.builders.loading import load_keras_model
    from kspec.errors import KspecRuntimeError

    try:
        return load_keras_model(path, compile=False)
    except KspecRuntimeError as exc:  # passed inspection, yet Keras cannot read it: bad input
        raise SpecError(str(exc).removeprefix(f"{path}: ")) from None


def _load_json_file(path: str) -> Any:
    """`model.to_json()` output: parsed and inspected as data, then deserialized by Keras."""
    import keras

    size = os.path.getsize(path)
    if size > MAX_JSON_BYTES:
        raise SpecError(f"file too large for a Keras model JSON ({size} bytes)", file=path)
    with open(path, "rb") as fh:
        raw = fh.read(MAX_JSON_BYTES + 1)
    try:
        config = json.loads(raw)
    except ValueError:
        raise SpecError(
            "neither a .keras file nor JSON; kspec import reads a .keras file, a model.to_json() file, "
            "or keras.applications:NAME",
            file=path,
        ) from None
    if not is_keras_model_json(config):
        raise SpecError(
            'this JSON is not a Keras model (model.to_json() writes {"class_name": "Functional", '
            '"config": {...}}); a kspec spec is imported by loading it, not with kspec import',
            file=path,
        )
    check_config(config, path)  # the same allow-list as a .keras file's config.json
    try:
        return keras.models.model_from_json(raw.decode("utf-8"))
    except Exception as exc:
        raise SpecError(
            f"Keras could not rebuild the model: {' '.join(str(exc).split())[:300]}", file=path
        ) from None
