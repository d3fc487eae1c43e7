"""`kspec export SPEC_OR_RUN --format keras|saved_model|onnx -o PATH`: hand a model to serving stacks.

A run folder's trained `model.keras`, or a spec's freshly built model, goes out through Keras's
own `model.save` (`.keras`) and `model.export` (`tf_saved_model`; `onnx`, which on TensorFlow
uses tf2onnx). The export is written beside PATH first and moved into place when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from kspec.errors import KspecRuntimeError, SpecError, first_line

FORMATS = ("keras", "saved_model", "onnx")


def model_of(source: str, build: Any) -> Any:
    """The trained model of a run folder, or `build(source)` for a spec file."""
    if os.path.isdir(source):
        from kspec.training.run import load_run

        return load_run(source)[1]
    return build(source)


def export(model: Any, fmt: str, path: str) -> str:
    """Write `model` as `fmt` to `path` (a file for keras/onnx, a folder for saved_model)."""
    if fmt not in FORMATS:
        raise SpecError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "keras" and not path.endswith(".keras"):
        raise SpecError(f"-o needs a .keras file name for --format keras, got {path!r}")
    if fmt == "onnx" and not path.endswith(".onnx"):
        raise SpecError(f"-o needs a .onnx file name for --format onnx, got {path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".kspec-export-", dir=parent)
    try:
        staged = os.path.join(work, os.path.basename(path))
        try:
            if fmt == "keras":
                model.save(staged)
            else:
                model.export(
                    staged, format="tf_saved_model" if fmt == "saved_model" else "onnx", verbose=False
                )
        except ImportError as exc:
            raise KspecRuntimeError(
                f"{fmt} export needs a package: {first_line(exc)} (pip install 'kspec[export]')"
            ) from None
        except Exception as exc:
            raise KspecRuntimeError(f"{fmt} export failed: {type(exc).__name__}: {first_line(exc)}") from None
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(staged, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


__all__ = ["FORMATS", "export", "model_of"]
