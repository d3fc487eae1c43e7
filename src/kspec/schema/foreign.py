"""Recognise a Keras model file handed to a spec command, and point to `kspec import`."""

from __future__ import annotations

from typing import Any

from kspec.errors import SpecError

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KERAS_MODEL_CLASSES = ("Functional", "Sequential", "Model")


def check_head(head: bytes, path: str) -> None:
    """A `.keras` archive (a zip) or an HDF5 file is not a spec: say what it is."""
    if head.startswith(ZIP_MAGIC):
        raise SpecError(
            "this is a Keras model file (.keras, a zip archive), not a spec; make a spec from it with "
            f"`kspec import {path} -o spec.yaml`",
            file=path,
        )
    if head.startswith(HDF5_MAGIC):
        raise SpecError(
            "this is an HDF5 file (Keras weights or a legacy .h5 model), not a spec; a model saved as "
            ".keras can be imported with `kspec import MODEL.keras -o spec.yaml`",
            file=path,
        )


def is_keras_model_json(data: Any) -> bool:
    """`model.to_json()` output: `{"module": "keras", "class_name": "Functional", "config": {...}}`."""
    return (
        isinstance(data, dict)
        and data.get("class_name") in _KERAS_MODEL_CLASSES
        and isinstance(data.get("config"), dict)
        and "inputs" not in data
    )


def check_data(data: Any, path: str | None) -> None:
    if is_keras_model_json(data):
        raise SpecError(
            f"this is a Keras model's JSON (model.to_json(), class {data['class_name']}), not a spec; make "
            f"a spec from it with `kspec import {path or 'MODEL.json'} -o spec.yaml`",
            file=path,
        )
