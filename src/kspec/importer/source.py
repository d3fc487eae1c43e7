"""Where `kspec import` gets a Keras model: a `.keras` file, a Keras JSON file, or an application.

Every user-given file is read as data first (`_inspected`): bounded, parsed as JSON, every
object checked against Keras's own classes; only then does Keras deserialize it, in safe mode.
Nothing from a file is ever executed.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

from kspec.errors import SpecError
from kspec.schema.foreign import ZIP_MAGIC, is_keras_model_json

APPLICATION_PREFIX = "keras.applications:"
MAX_JSON_BYTES = 32 * 2**20
MAX_ARCHIVE_MEMBERS = 10_000
#: Module prefixes a model's objects may come from: Keras's own (ops, layers, applications...).
_KERAS_MODULES = ("keras",)
_REFUSED_CLASSES = {"Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper"}


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
    if head == ZIP_MAGIC:
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


def _inspected(config: Any, file: str, where: str = "config") -> None:
    """Every object in a model config is one of Keras's own classes (never Lambda, never code).

    The one place that decides what a model file may contain: `kspec.modelfile` (issue 19)
    replaces this walk once it is on main.
    """
    if isinstance(config, list):
        for i, item in enumerate(config):
            _inspected(item, file, f"{where}[{i}]")
        return
    if not isinstance(config, dict):
        return
    if "class_name" in config and config.get("class_name") not in (
        "__keras_tensor__",
        "__tensor__",
        "__numpy__",
    ):
        module = config.get("module")
        cls = config.get("class_name")
        if cls in _REFUSED_CLASSES or cls == "function" or cls == "__lambda__":
            raise SpecError(
                f"{where}: {cls} runs code that is not in the file's configuration; kspec never imports it",
                file=file,
            )
        if module is not None and not (isinstance(module, str) and module.split(".")[0] in _KERAS_MODULES):
            raise SpecError(
                f"{where}: {cls!r} is a custom class from module {module!r}; only Keras's own classes can be "
                "imported (its code is not in the file)",
                file=file,
            )
        registered = config.get("registered_name")
        if registered not in (None, cls) and not (
            isinstance(registered, str) and registered.startswith("keras")
        ):
            raise SpecError(f"{where}: {cls!r} is registered as custom object {registered!r}", file=file)
    for key, value in config.items():
        _inspected(value, file, f"{where}.{key}")


def _load_keras_file(path: str) -> Any:
    """A `.keras` archive: its config.json is inspected as data before Keras reads anything."""
    import keras

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ARCHIVE_MEMBERS:
                raise SpecError(f"not a Keras model file: {len(infos)} archive members", file=path)
            info = next((i for i in infos if i.filename == "config.json"), None)
            if info is None:
                raise SpecError("not a Keras model file: the archive has no config.json", file=path)
            if info.file_size > MAX_JSON_BYTES:
                raise SpecError(f"config.json too large ({info.file_size} bytes)", file=path)
            with zf.open(info) as fh:
                text = fh.read(MAX_JSON_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SpecError(f"not a readable .keras file (corrupt zip archive: {exc})", file=path) from None
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"not a Keras model file: config.json is not JSON ({exc})", file=path) from None
    _inspected(config, path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise SpecError(
            f"Keras could not load the model: {' '.join(str(exc).split())[:300]}", file=path
        ) from None


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
    _inspected(config, path)
    try:
        return keras.models.model_from_json(raw.decode("utf-8"))
    except Exception as exc:
        raise SpecError(
            f"Keras could not rebuild the model: {' '.join(str(exc).split())[:300]}", file=path
        ) from None
