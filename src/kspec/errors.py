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
        errors: Sequence[SpecError] = (),
        truncated: bool = False,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.path = tuple(path)
        #: Every independent problem found in one run (this one first); `[self]` when alone.
        self.errors: list[SpecError] = list(errors) or [self]
        #: True when more problems were found than `MAX_ERRORS` and the search stopped.
        self.truncated = truncated
        super().__init__(str(self))

    @classmethod
    def of(cls, errors: Sequence[SpecError], truncated: bool = False) -> SpecError:
        """One exception for several problems: the first one's fields, all of them in `errors`.

        >>> a = SpecError("bad", file="m.yaml", line=1, col=1)
        >>> b = SpecError("worse", file="m.yaml", line=4, col=3)
        >>> print(SpecError.of([a, b]))
        m.yaml:1:1: bad
        m.yaml:4:3: worse
        """
        if len(errors) == 1 and not truncated:
            return errors[0]
        first = errors[0]
        return cls(
            first.message,
            file=first.file,
            line=first.line,
            col=first.col,
            path=first.path,
            errors=errors,
            truncated=truncated,
        )

    def one_line(self) -> str:
        """This problem alone, as `file:line:col: path: message`."""
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}:{self.col or 1}"
        if self.path:
            return f"{where}: {format_path(self.path)}: {self.message}"
        return f"{where}: {self.message}"

    def __str__(self) -> str:
        # One line per problem, each in the contract's format; the first line is the first problem.
        return "\n".join(e.one_line() for e in self.errors)


#: `kspec check` reports at most this many problems in one run, like a compiler.
MAX_ERRORS = 20


class Problems:
    """Collects the independent problems of one spec, so a run reports all of them at once.

    Each stage adds what it finds and carries on with what is still sound (a layer with bad
    arguments gets no shape; the layers after it are still wired and checked). `raise_if_any`
    raises them together as one `SpecError`; warnings never stop anything.
    """

    def __init__(self, limit: int = MAX_ERRORS) -> None:
        self.limit = limit
        self.errors: list[SpecError] = []
        self.warnings: list[SpecError] = []

    def add(self, error: SpecError) -> None:
        for one in error.errors:
            # One problem per place: a second message about the same key adds nothing.
            if any(
                one.one_line() == seen.one_line() or (one.path and one.path == seen.path)
                for seen in self.errors
            ):
                continue
            self.errors.append(one)
            if len(self.errors) >= self.limit:
                raise SpecError.of(self.sorted(), truncated=True)

    def warn(self, warning: SpecError) -> None:
        self.warnings.append(warning)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecError.of(self.sorted())

    def sorted(self) -> list[SpecError]:
        """The errors in file order, as a compiler lists them (located ones first)."""
        return sorted(self.errors, key=lambda e: (e.line is None, e.line or 0, e.col or 0))


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


class _Interrupts:
    """Ctrl-C as this process received it, for code that sees it under another name.

    Python raises a KeyboardInterrupt wherever the main thread happens to be. Inside
    TensorFlow's C++ fast path (converting an op's arguments) any Python error is turned into a
    TypeError ("Failed to convert elements of (None,) to Tensor"), so a Ctrl-C at that moment
    arrives as a TypeError. The CLI's SIGINT handler notes each Ctrl-C here; `is_interrupt`
    treats an exception raised after one as the interrupt it stands for.
    """

    received = False


def note_interrupt() -> None:
    _Interrupts.received = True


def clear_interrupts() -> None:
    _Interrupts.received = False


def is_interrupt(exc: BaseException) -> bool:
    """`exc` is a Ctrl-C, or what one became (any exception raised after this process got one)."""
    return isinstance(exc, KeyboardInterrupt) or (_Interrupts.received and isinstance(exc, Exception))
