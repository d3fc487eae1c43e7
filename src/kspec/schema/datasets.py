"""What kspec knows about a `train.data` source without loading it, shared by check and train.

`kspec check` uses these facts to reject, before any data is read, what `kspec train` would
reject later (a feature table that cannot feed the input, splits that leave no training row);
`kspec train` uses the same functions (`data_file`, `split_sizes`), so the two never disagree.

    >>> split_sizes(150, test_split=0.2, validation_split=0.1)
    (108, 12, 30)
    >>> DATASETS[("sklearn", "iris")]
    Dataset(rows=150, features=(4,), classes=3)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dataset:
    """Rows, per-row feature shape and number of classes (None: regression targets)."""

    rows: int | None
    features: tuple[int, ...]
    classes: int | None


DATASETS: dict[tuple[str, str], Dataset] = {
    ("sklearn", "digits"): Dataset(1797, (64,), 10),
    ("sklearn", "iris"): Dataset(150, (4,), 3),
    ("sklearn", "wine"): Dataset(178, (13,), 3),
    ("sklearn", "breast_cancer"): Dataset(569, (30,), 2),
    ("keras", "mnist"): Dataset(None, (28, 28), 10),  # a fixed test split: rows are not split here
    ("keras", "fashion_mnist"): Dataset(None, (28, 28), 10),
    ("keras", "cifar10"): Dataset(None, (32, 32, 3), 10),
    ("keras", "cifar100"): Dataset(None, (32, 32, 3), 100),
    ("keras", "boston_housing"): Dataset(None, (13,), None),
}

#: Sources that hold one feature table (they can feed one model input only).
ONE_TABLE_SOURCES = ("sklearn", "synthetic", "keras")


def known_dataset(data: dict[str, Any]) -> Dataset | None:
    """The facts of a bundled or synthetic source; None for files (npz, csv)."""
    kind = data.get("type")
    if kind == "synthetic":
        # One column per feature map of the plane (x1, x2 by default); plane and multi_gaussian
        # are regression sets (no classes).
        features = data.get("features")
        columns = len(features) if isinstance(features, list) and features else 2
        classes = None if data.get("name") in ("plane", "multi_gaussian") else 2
        samples = data.get("samples", 1000)
        return Dataset(samples if isinstance(samples, int) else None, (columns,), classes)
    return DATASETS.get((str(kind), str(data.get("name"))))


def data_file(base_dir: str, path: str) -> str:
    """The file a `train.data.path` names: `~` is the user's home, relative paths start at the
    spec's folder. The one rule for `kspec check` and `kspec train`."""
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(base_dir, path)


def missing_data_file(base_dir: str, path: str) -> str | None:
    """The sentence for a `train.data.path` that names nothing yet (read beside `base_dir`), or
    None: a warning in `kspec check` (the data may come later), an error when training."""
    if os.path.lexists(data_file(base_dir, path)):
        return None
    return f"no such file {path!r} (paths are relative to the spec file); `kspec train` needs it"


def not_a_data_file(base_dir: str, path: str) -> str | None:
    """The sentence for a `train.data.path` that exists but is no regular file (a folder, a FIFO,
    a device), or None: an error everywhere (reading a FIFO would block)."""
    full = data_file(base_dir, path)
    if not os.path.lexists(full) or os.path.isfile(full):
        return None
    return f"{path!r} is not a file"


def split_sizes(rows: int, test_split: float, validation_split: float) -> tuple[int, int, int]:
    """(train, validation, test) row counts: test first, validation a fraction of what is left."""
    test = int(round(rows * test_split))
    val = int(round((rows - test) * validation_split))
    return rows - test - val, val, test


def fits_input(features: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    """Whether rows of shape `features` feed an input of shape `want` (as `kspec train` reshapes:
    the same shape, an input with unknown lengths of the same rank, or the same number of values)."""
    if tuple(features) == tuple(want) or (None in want and len(want) == len(features)):
        return True
    if None in want:
        return False
    size = 1
    for d in want:
        size *= d or 1
    total = 1
    for d in features:
        total *= d
    return size == total
