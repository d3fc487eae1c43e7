"""Atomic output: write to a temporary file beside the target, then rename over it.

Beneath every stage: models, run folders, diagrams and reports all go through here, so a crash
never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[str]:
    """Yield a temporary path in the target's folder; on success it replaces `path`.

    A crash or error leaves the old file (or nothing) in place, never half a file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = suffix if suffix is not None else os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".kspec-", suffix=suffix, dir=folder)
    os.close(fd)
    os.chmod(tmp, _default_mode())  # mkstemp makes 0600; users expect an ordinary file
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def save_model(model: Any, path: str | os.PathLike[str]) -> None:
    """`model.save` through a temporary `.keras` file."""
    with atomic_path(path, suffix=".keras") as tmp:
        os.unlink(tmp)  # Keras refuses to overwrite without asking in some versions
        model.save(tmp)


def save_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """`model.save_weights` through a temporary `.weights.h5` file (Keras requires that suffix)."""
    with atomic_path(path, suffix=".weights.h5") as tmp:
        os.unlink(tmp)
        model.save_weights(tmp)
