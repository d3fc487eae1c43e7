"""The one error type users see: a spec problem with its place in the file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Path = tuple[Any, ...]


def format_path(path: Sequence[Any]) -> str:
    """`("layers", 2, "units")` -> `layers[2].units` (the path inside the spec)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


class SpecError(ValueError):
    """A problem with a spec, located as `file:line:col: path: message`.

    >>> str(SpecError("must be a positive integer, got -3", file="mlp.yaml", line=12, col=5,
    ...               path=("layers", 2, "units")))
    'mlp.yaml:12:5: layers[2].units: must be a positive integer, got -3'
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
        path: Sequence[Any] = (),
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.path = tuple(path)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        if self.path:
            return f"{where}: {format_path(self.path)}: {self.message}"
        return f"{where}: {self.message}"


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of an exception's message (Keras's are often many lines), for one-line errors.

    An empty message gives `default`, or the exception's class name when no default is given.
    """
    lines = str(exc).strip().splitlines()
    if lines:
        return lines[0]
    return type(exc).__name__ if default is None else default


def describe(exc: BaseException, limit: int = 200) -> str:
    """`Type: first line`, whitespace collapsed and cut at `limit` characters: a failure as a table cell."""
    return f"{type(exc).__name__}: " + " ".join(first_line(exc).split())[:limit]


class KspecRuntimeError(RuntimeError):
    """A failure that is not the spec's fault (missing Graphviz, I/O...): exit code 1."""


def shorten(value: object, limit: int = 60, *, quote: bool = True) -> str:
    """A value for an error message: its repr (or text), one line, cut at `limit` characters.

    Errors must never quote whole file contents (a CSV path `/proc/self/environ` would print
    the environment), so every name taken from a user's file goes through here.

    >>> shorten("x" * 100, 10)
    "'xxxxxxxx…"
    >>> shorten("a\\nb", quote=False)
    'a b'
    """
    text = repr(value) if quote else " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
