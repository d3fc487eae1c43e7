"""Turn a pydot graph into `.dot`, `.svg` or `.png` bytes with Graphviz's `dot`.

Finding `dot`: `$KSPEC_DOT` when set (a path or a command name), else `dot` or PyPI's
`graphviz-pure` on PATH, else either beside the running Python (an unactivated `.venv/bin`).
`.dot` output needs no Graphviz at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

from kspec.errors import KspecRuntimeError

FORMATS = ("png", "svg", "dot")

INSTALL_HINT = (
    "run `make install`, or `apt-get install graphviz`, or `pip install graphviz-pure` "
    "(its command is `graphviz-pure`); `.dot` output needs no Graphviz"
)


def find_dot() -> str | None:
    """The Graphviz program to run, or None when there is none."""
    forced = os.environ.get("KSPEC_DOT")
    if forced is not None:
        return shutil.which(forced) if forced else None
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name)
        if found:
            return found
    here = os.path.dirname(sys.executable)
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name, path=here)
        if found:
            return found
    return None


def format_of(path: str) -> str:
    """`model.png` -> `png`; ValueError for a suffix kspec cannot write."""
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix == "gv":
        suffix = "dot"
    if suffix not in FORMATS:
        raise ValueError(f"cannot write {path!r}: the file name must end in .png, .svg or .dot")
    return suffix


def render(graph: Any, fmt: str, dpi: int | None = None) -> bytes:
    """The bytes of `graph` (a `pydot.Dot`) in `fmt`; KspecRuntimeError when Graphviz fails.

    `dpi` applies to PNG only (an SVG is scalable; a dpi there only inflates its size)."""
    source = graph.to_string()
    if fmt == "dot":
        return source.encode("utf-8")
    dot = find_dot()
    if dot is None:
        raise KspecRuntimeError(
            f"Graphviz's `dot` is not installed, so no .{fmt} can be drawn: {INSTALL_HINT}"
        )
    try:
        done = subprocess.run(
            [dot, f"-T{fmt}", *([f"-Gdpi={dpi}"] if dpi and fmt == "png" else [])],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KspecRuntimeError(f"Graphviz ({dot}) could not run: {exc}") from None
    if done.returncode != 0 or not done.stdout:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {done.returncode}"
        raise KspecRuntimeError(f"Graphviz ({dot}) failed to draw .{fmt}: {why}")
    return done.stdout
