"""Which Keras backend runs a model: TensorFlow, JAX or PyTorch.

Keras reads `KERAS_BACKEND` once, when it is first imported, and keeps that backend for the life
of the process. So kspec decides before the first Keras import: the command line's `--backend`
wins over the spec's `backend:` key, which wins over `KERAS_BACKEND`, then TensorFlow. Once Keras
is imported, asking for another backend is an error (a new process is the only way to switch).

>>> choose(None, "jax", environ={})
'jax'
>>> choose("torch", "jax", environ={})
'torch'
>>> choose(None, None, environ={"KERAS_BACKEND": "jax"})
'jax'
>>> choose(None, None, environ={})
'tensorflow'

This module imports no stage and no backend until `use` is called.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import Any

from kspec.errors import SpecError

#: Keras's names for its backends, in the order tables show them.
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT = "tensorflow"
#: How to install each backend (TensorFlow is a core dependency of kspec).
INSTALL = {
    "tensorflow": "pip install kspec",
    "jax": "pip install 'kspec[jax]'",
    "torch": "pip install 'kspec[torch]'",
}


class BackendError(SpecError):
    """An unknown, missing or conflicting backend: exit code 2, like a bad argument."""

    def __str__(self) -> str:
        if self.file is None and self.line is None and not self.path:
            return self.message
        return super().__str__()


def choose(requested: str | None, spec_backend: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The backend to run: `requested` (command line), else the spec's, else KERAS_BACKEND, else TF."""
    environ = os.environ if environ is None else environ
    return requested or spec_backend or environ.get("KERAS_BACKEND") or DEFAULT


def active() -> str | None:
    """The backend of the already-imported Keras, or None when Keras is not imported yet."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return str(keras.config.backend())


def installed(name: str) -> bool:
    """Whether the backend's package can be found (cheap: nothing is imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def available() -> list[str]:
    """The installed backends, in table order."""
    return [name for name in BACKENDS if installed(name)]


def use(name: str, *, where: str = "") -> str:
    """Make `name` the backend for this process's Keras; returns it.

    Before Keras's first import this sets KERAS_BACKEND (after checking the backend imports);
    afterwards it only accepts the backend Keras already has. `where` says who asked
    (`--backend`, `backend:` in FILE), for the error message.
    """
    if name not in BACKENDS:
        raise BackendError(
            f"{where or 'backend'}: unknown backend {name!r}; choose one of {', '.join(BACKENDS)}"
        )
    current = active()
    if current is not None:
        if current != name:
            raise BackendError(
                f"Keras is already imported with the {current} backend in this process, so it cannot "
                f"run on {name}{' (' + where + ')' if where else ''}: Keras fixes its backend when it is "
                f"first imported. Set KERAS_BACKEND={name} before importing keras, or use a new process."
            )
        return name
    _import_backend(name)
    os.environ["KERAS_BACKEND"] = name
    return name


def select(requested: str | None = None, spec: Any = None) -> str:
    """Fix this process's backend for `spec` (a `kspec.Spec` or None) and return its name.

    `requested` (the command line's `--backend`, the Python API's `backend=`) wins over the
    spec's `backend:` key. Without either, an already-imported Keras keeps its backend;
    otherwise KERAS_BACKEND or TensorFlow. A bad `backend:` key is reported at its place in the file.
    """
    spec_backend = getattr(spec, "backend", None)
    current = active()
    if requested is None and spec_backend is None and current is not None:
        return current
    name = choose(requested, spec_backend)
    if requested is not None:
        where = f"backend={requested!r} was asked for"
    elif spec_backend is not None:
        where = f"the spec says backend: {spec_backend}"
    else:
        where = "KERAS_BACKEND"
    try:
        return use(name, where=where)
    except BackendError as exc:
        if requested is None and spec_backend is not None and hasattr(spec, "error"):
            located = spec.error(("backend",), exc.message)
            raise BackendError(
                located.message, file=located.file, line=located.line, col=located.col, path=located.path
            ) from None
        raise


def _import_backend(name: str) -> None:
    """A missing backend is one clear error naming the extra, instead of Keras's ImportError.

    Only looked up, not imported: Keras imports it next (TensorFlow's import is muted there).
    """
    if not installed(name):
        raise BackendError(f"the {name} backend is not installed; install it with: {INSTALL[name]}")


__all__ = [
    "BACKENDS",
    "DEFAULT",
    "INSTALL",
    "BackendError",
    "choose",
    "active",
    "installed",
    "available",
    "use",
    "select",
]
