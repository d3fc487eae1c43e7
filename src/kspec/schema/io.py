"""Entry points of the spec stage: from a file, a string or a dict to a validated `Spec`."""

from __future__ import annotations

import copy
import os
from typing import Any

from kspec.errors import SpecError
from kspec.schema.foreign import check_data, check_head
from kspec.schema.loader import MAX_BYTES, Document, parse
from kspec.schema.validate import Spec, validate


def load(path: str | os.PathLike[str], *, allow_unsafe: bool = False) -> Spec:
    """Read and validate a YAML or JSON spec file.

    >>> spec = load("specs/seed_sequential.yaml")  # doctest: +SKIP
    """
    return validate(read(path), allow_unsafe=allow_unsafe)


def read(path: str | os.PathLike[str]) -> Document:
    """Read and parse a YAML or JSON spec file (not yet validated)."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(8)
            check_head(head, path)  # a .keras archive: point to `kspec import`, not "file too large"
            if size > MAX_BYTES:
                raise SpecError(
                    f"file too large ({size} bytes; the limit is {MAX_BYTES})", file=path, line=1, col=1
                )
            data = head + fh.read(MAX_BYTES + 1 - len(head))
    except FileNotFoundError:
        raise SpecError("no such file", file=path) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", file=path) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=path) from None
    doc = parse(data, file=path)
    check_data(doc.data, path)  # a Keras model's JSON: point to `kspec import`
    return doc


def loads(text: str, *, file: str | None = None, allow_unsafe: bool = False) -> Spec:
    """Validate a spec given as YAML or JSON text."""
    return validate(parse(text, file=file), allow_unsafe=allow_unsafe)


def from_dict(data: dict[str, Any], *, allow_unsafe: bool = False) -> Spec:
    """Validate a spec given as a Python dict (errors carry the path but no line numbers)."""
    return validate(Document(data=copy.deepcopy(data), file="<dict>"), allow_unsafe=allow_unsafe)
