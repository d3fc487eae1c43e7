"""Training data from the spec's `train.data`: arrays by input/output name, splits, `tf.data`.

Every source becomes `Arrays`: `x` keyed by model input name, `y` keyed by model output name,
all with the same first dimension. Splitting is done with index arrays, so a large
memory-mapped `.npz` is never copied as a whole; `make_dataset` gathers batches from it.

Labels: integer class labels work as they are with `sparse_categorical_crossentropy` (an
output of `k` softmax units); with `categorical_crossentropy` they are one-hot encoded here.
Features are reshaped to the input's shape when only the layout differs (digits' 64 values
feed an `[8, 8, 1]` input).
"""

from __future__ import annotations

import csv
import os
import stat
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kspec.errors import KspecRuntimeError, SpecError, first_line, shorten
from kspec.graph.checks import run_checks
from kspec.graph.resolve import Graph
from kspec.modelfile import check_zip_directory
from kspec.schema import datasets
from kspec.schema.limits import data_problem

# Arrays smaller than this are gathered into memory and sliced by tf.data; larger ones
# (memory-mapped npz members) are gathered batch by batch.
IN_MEMORY_BYTES = 256 * 2**20

DATA_PATH = ("train", "data")


@dataclass
class Arrays:
    """Features by input name, targets by output name, and how the rows are split."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    train: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # Standardization applied to features (recorded in run.json so `kspec predict` repeats it).
    scale: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    fixed_test: np.ndarray | None = None  # a source's own test split (keras datasets)

    @property
    def n(self) -> int:
        return len(next(iter(self.x.values())))


# ---------------------------------------------------------------------------------- sources


def _sklearn(cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{cfg['name']}")()
    return np.asarray(bunch.data, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)


# TensorFlow Playground's input features as maps of the plane (x1, x2) -> one column. The
# spec names them (`train.data.features`); the names are a closed list (schema.model.FEATURE_NAMES).
# sin uses pi*x: the plane here spans [-1, 1], so sin x1 covers one period as in the Playground.
FEATURE_MAPS: dict[str, Any] = {
    "x1": lambda p: p[:, 0],
    "x2": lambda p: p[:, 1],
    "x1_sq": lambda p: p[:, 0] ** 2,
    "x2_sq": lambda p: p[:, 1] ** 2,
    "x1_x2": lambda p: p[:, 0] * p[:, 1],
    "sin_x1": lambda p: np.sin(np.pi * p[:, 0]),
    "sin_x2": lambda p: np.sin(np.pi * p[:, 1]),
}


def feature_maps(points: np.ndarray, names: list[str] | None) -> np.ndarray:
    """The columns `names` (default x1, x2) computed from 2-D points, as float32 (n, len(names))."""
    names = names or ["x1", "x2"]
    p = np.asarray(points, dtype=np.float32)
    return np.stack([FEATURE_MAPS[n](p) for n in names], axis=1).astype(np.float32)


# Playground's multi-gaussian regression: signed bumps on a 3 x 2 lattice (its units / 6).
_BUMPS = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]


def _regression(name: str, x: np.ndarray) -> np.ndarray:
    if name == "plane":
        return (x[:, 0] + x[:, 1]) / 2
    label = np.zeros(len(x))
    for cx, cy, sign in _BUMPS:
        d = np.hypot(x[:, 0] - cx / 6, x[:, 1] - cy / 6)
        bump = sign * np.clip(1 - d / (2 / 6), 0, 1)
        label = np.where(np.abs(bump) > np.abs(label), bump, label)
    return label


def synthetic(
    name: str, samples: int = 1000, noise: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """TensorFlow-Playground-style 2D sets, coordinates in about [-1, 1].

    Classification sets have labels 0/1 (int64); `plane` and `multi_gaussian` are regression
    sets with a float32 target in [-1, 1]. `noise` is in the same units as the coordinates
    (0.1 = a tenth of the data radius).
    """
    rng = np.random.default_rng(seed)
    n = samples
    if name in ("plane", "multi_gaussian"):
        x = rng.uniform(-1, 1, (n, 2))
        y = _regression(name, x + rng.uniform(-noise, noise, x.shape))
        return x.astype(np.float32), y.astype(np.float32)
    if name == "circles":
        half = n // 2
        r_in = rng.uniform(0, 0.5, half)
        r_out = rng.uniform(0.7, 1.0, n - half)
        r = np.concatenate([r_in, r_out])
        t = rng.uniform(0, 2 * np.pi, n)
        x = np.stack([r * np.sin(t), r * np.cos(t)], 1)
        y = np.concatenate([np.ones(half), np.zeros(n - half)])
        x += rng.uniform(-noise, noise, x.shape)
    elif name == "xor":
        x = rng.uniform(-1, 1, (n, 2))
        x += np.where(x > 0, 0.06, -0.06)  # Playground's padding away from the axes
        y = (x[:, 0] * x[:, 1] >= 0).astype(np.float64)
        x += rng.uniform(-noise, noise, x.shape)
    elif name == "gaussian":
        half = n // 2
        std = 0.1 + noise * 2
        a = rng.normal(0.4, std, (half, 2))
        b = rng.normal(-0.4, std, (n - half, 2))
        x = np.concatenate([a, b])
        y = np.concatenate([np.ones(half), np.zeros(n - half)])
    elif name == "spiral":
        half = n // 2
        parts = []
        for label, delta, count in ((1, 0.0, half), (0, np.pi, n - half)):
            i = np.arange(count)
            r = i / count
            t = 1.75 * i / count * 2 * np.pi + delta
            pts = np.stack([r * np.sin(t), r * np.cos(t)], 1) + rng.uniform(-noise, noise, (count, 2))
            parts.append((pts, np.full(count, label)))
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
    elif name == "moons":
        from sklearn.datasets import make_moons

        x, y = make_moons(n, noise=noise, random_state=seed)
        x = (x - np.array([0.5, 0.25])) / 1.5
    else:  # pragma: no cover - the spec model lists the names
        raise ValueError(name)
    return x.astype(np.float32), y.astype(np.int64)


def _zip_member_memmap(path: str, member: str) -> np.ndarray | None:
    """Memory-map an uncompressed `.npy` member of a zip (`np.savez`) file, or None."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        start = info.header_offset + 30 + name_len + extra_len
        fh.seek(start)
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            return None
        offset = fh.tell()
    if dtype.hasobject:
        return None
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, offset=offset, order="F" if fortran else "C")


def npz_headers(path: str) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Shape and dtype of every array of an `.npz`, from the `.npy` headers alone (nothing
    decompressed beyond them): what loading it would allocate, known before allocating."""
    out: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
    with open(path, "rb") as raw:
        check_zip_directory(raw, path)
        with zipfile.ZipFile(raw) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    elif version in ((2, 0), (3, 0)):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                    else:
                        raise ValueError(f"{info.filename}: unknown .npy format {version}")
                out[info.filename[:-4]] = (tuple(int(d) for d in shape), dtype)
    return out


def array_bytes(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    """Bytes of an array once kspec converts it to float32 (or keeps a wider type)."""
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    return n * max(dtype.itemsize, 4)


def load_npz(path: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays `names` (default: all) of an `.npz`, memory-mapped where stored uncompressed
    (never pickles; a compressed member is decompressed only when asked for)."""
    out: dict[str, np.ndarray] = {}
    with np.load(path, allow_pickle=False) as npz:
        for name in npz.files if names is None else names:
            mapped = None
            try:
                mapped = _zip_member_memmap(path, name + ".npy")
            except (KeyError, OSError, ValueError):
                mapped = None
            out[name] = mapped if mapped is not None else npz[name]
    return out


MAX_LINE = 1 * 2**20
MAX_COLUMNS = 100_000


def read_csv(path: str, delimiter: str = ",", *, what: str | None = None) -> tuple[list[str], np.ndarray]:
    """Header and a float32 table; a non-numeric cell is an error naming row and column.

    Two passes, neither holding more than a line: the first counts rows and bounds line
    lengths, then the table is sized (and checked against the data memory limit) before it is
    allocated and filled.
    """
    rows = 0
    with open(path, "rb") as fh:
        while True:
            line = fh.readline(MAX_LINE + 1)
            if not line:
                break
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                raise ValueError(f"line {rows + 1} is longer than {MAX_LINE:,} bytes")
            rows += 1
    if not rows:
        raise ValueError("the file is empty")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        if len(header) > MAX_COLUMNS:
            raise ValueError(f"the header has {len(header):,} columns, over kspec's limit of {MAX_COLUMNS:,}")
        problem = data_problem((rows - 1) * len(header) * 4, what or os.path.basename(path))
        if problem:
            raise ValueError(problem)
        table = np.empty((rows - 1, len(header)), dtype=np.float32)
        r = -1
        for r, row in enumerate(reader):
            if len(row) != len(header):
                raise ValueError(f"row {r + 2} has {len(row)} cells, the header has {len(header)}")
            for c, cell in enumerate(row):
                try:
                    table[r, c] = float(cell)
                except ValueError:
                    raise ValueError(
                        f"row {r + 2}, column {shorten(header[c], 40)}: not a number: {shorten(cell, 40)}"
                    ) from None
    return header, table[: r + 1]


def names_list(names: list[str], limit: int = 8) -> str:
    """A few names for an error message, each cut short (a file's header may be anything)."""
    shown = [shorten(n, 40, quote=False) for n in names[:limit]]
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return (", ".join(shown) or "none") + more


def _resolve_path(spec_dir: str, path: str) -> str:
    return datasets.data_file(spec_dir, path)  # the one rule, shared with `kspec check`


def _by_name(value: Any, names: list[str]) -> dict[str, Any]:
    """`x`/`y` given as one array name or a mapping model input/output name -> array name
    (the mapping's keys are checked by `kspec.graph.checks.data_matches_inputs`)."""
    if isinstance(value, dict):
        return dict(value)
    return {n: value for n in names}  # one target array feeds every output (auxiliary heads)


def load_arrays(graph: Graph, data: dict[str, Any], spec_dir: str) -> Arrays:
    """Read `train.data` into `Arrays` (not yet split)."""
    spec = graph.spec
    err = spec.error
    kind = data["type"]
    in_names = [i.name for i in graph.inputs]
    out_names = list(graph.outputs)
    fixed_test = None
    # The data file itself is checked where it is read, beside `spec_dir` (evaluate RUN and the
    # Playground read from another folder than the spec's): its errors name the path there.
    run_checks(graph, only=("data_matches_inputs",))
    if isinstance(data.get("path"), str):
        problem = datasets.missing_data_file(spec_dir, data["path"]) or datasets.not_a_data_file(
            spec_dir, data["path"]
        )
        if problem is not None:
            raise err(DATA_PATH + ("path",), problem)
    if kind in ("sklearn", "synthetic"):
        if kind == "sklearn":
            x, y = _sklearn(data)
        else:
            x, y = synthetic(
                data["name"], data.get("samples", 1000), data.get("noise", 0.1), data.get("seed", 0)
            )
            x = feature_maps(x, data.get("features"))
        arrays = Arrays(x={in_names[0]: x}, y={o: y for o in out_names})
    elif kind == "npz":
        path = _resolve_path(spec_dir, data["path"])
        x_map = _by_name(data.get("x", "x"), in_names)
        y_map = _by_name(data.get("y", "y"), out_names)
        try:
            headers = npz_headers(path)
        except FileNotFoundError:
            raise err(DATA_PATH + ("path",), f"no such file: {shorten(path, 120, quote=False)}") from None
        except SpecError as exc:
            raise err(DATA_PATH + ("path",), exc.message) from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise err(
                DATA_PATH + ("path",), f"cannot read it as .npz: {shorten(str(exc), 120, quote=False)}"
            ) from None
        for key, mapping in (("x", x_map), ("y", y_map)):
            for array in mapping.values():
                if array not in headers:
                    raise err(
                        DATA_PATH + (key,),
                        f"{shorten(os.path.basename(path), 60, quote=False)} has no array {shorten(array, 40)}; "
                        f"it has {names_list(sorted(headers))}",
                    )
        used = sorted(set(x_map.values()) | set(y_map.values()))
        for name in used:
            if headers[name][1].hasobject:
                raise err(
                    DATA_PATH + ("path",),
                    f"array {shorten(name, 40)} holds Python objects (pickles); kspec reads numbers only",
                )
        problem = data_problem(
            sum(array_bytes(*headers[n]) for n in used),
            "the arrays " + ", ".join(f"{shorten(n, 30, quote=False)} {headers[n][0]}" for n in used[:4]),
        )
        if problem:
            raise err(DATA_PATH + ("path",), problem)
        try:
            stored = load_npz(path, used)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise err(
                DATA_PATH + ("path",), f"cannot read it as .npz: {shorten(str(exc), 120, quote=False)}"
            ) from None
        arrays = Arrays(
            x={k: stored[v] for k, v in x_map.items()}, y={k: stored[v] for k, v in y_map.items()}
        )
    elif kind == "csv":
        arrays = _csv(data, spec_dir, in_names, out_names, err)
    elif kind == "keras":
        x, y, fixed_test = _keras_dataset(data)
        arrays = Arrays(x={in_names[0]: x}, y={o: y for o in out_names})
    else:  # pragma: no cover
        raise err(DATA_PATH + ("type",), f"unknown data type {kind!r}")
    arrays.fixed_test = fixed_test
    _check_lengths(arrays, err)
    _fit_shapes(graph, arrays, err)
    return arrays


def _csv(data: dict[str, Any], spec_dir: str, in_names: list[str], out_names: list[str], err: Any) -> Arrays:
    path = _resolve_path(spec_dir, data["path"])
    try:
        header, table = read_csv(path, data.get("delimiter", ","))
    except FileNotFoundError:
        raise err(DATA_PATH + ("path",), f"no such file: {shorten(path, 120, quote=False)}") from None
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise err(DATA_PATH + ("path",), f"cannot read it: {shorten(str(exc), 300, quote=False)}") from None
    labels = data["label"] if isinstance(data["label"], list) else [data["label"]]
    for col in labels + list(data.get("features") or []):
        if col not in header:
            raise err(
                DATA_PATH,
                f"{shorten(os.path.basename(path), 60, quote=False)} has no column {shorten(col, 40)}; "
                f"it has {names_list(header)}",
            )
    features = data.get("features") or [h for h in header if h not in labels]
    col = {h: i for i, h in enumerate(header)}
    # Targets: one label column per output by name, else in order, else one column for all.
    if len(out_names) > 1 and set(out_names) <= set(labels):
        y = {o: table[:, col[o]] for o in out_names}
    elif len(out_names) > 1 and len(labels) == len(out_names):
        y = {o: table[:, col[lab]] for o, lab in zip(out_names, labels)}
    else:
        target = table[:, [col[lab] for lab in labels]] if len(labels) > 1 else table[:, col[labels[0]]]
        y = {o: target for o in out_names}
    for o, arr in y.items():
        if arr.ndim == 1 and np.all(arr == np.round(arr)):
            y[o] = arr.astype(np.int64)
    # Features: one input takes them all; several inputs take columns named `input` or `input.*`.
    if len(in_names) == 1:
        x = {in_names[0]: table[:, [col[f] for f in features]]}
    else:
        x = {}
        for name in in_names:
            cols = [f for f in features if f == name or f.startswith(name + ".")]
            if not cols:
                raise err(
                    DATA_PATH,
                    f"no column for input {name!r}: with several inputs, name the "
                    f"columns `{name}` or `{name}.<anything>`",
                )
            x[name] = table[:, [col[f] for f in cols]]
    return Arrays(x=x, y=y)


def _keras_dataset(data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import keras

    name = data["name"]
    try:
        (x_tr, y_tr), (x_te, y_te) = getattr(keras.datasets, name).load_data()
    except Exception as exc:
        reason = first_line(exc)
        raise KspecRuntimeError(
            f"cannot load keras dataset {name!r} (it downloads on first use; offline?): {reason}. "
            "Use `type: npz` with a local copy instead"
        ) from None
    x = np.concatenate([x_tr, x_te]).astype(np.float32)
    y = np.concatenate(
        [
            np.asarray(y_tr).reshape(len(y_tr), -1).squeeze(-1) if np.asarray(y_tr).ndim > 1 else y_tr,
            np.asarray(y_te).reshape(len(y_te), -1).squeeze(-1) if np.asarray(y_te).ndim > 1 else y_te,
        ]
    )
    if data.get("normalize", True) and name != "boston_housing":
        x /= 255.0
    test = np.arange(len(x_tr), len(x), dtype=np.int64)
    return x, y, test


def _check_lengths(arrays: Arrays, err: Any) -> None:
    lengths = {f"x[{k}]": len(v) for k, v in arrays.x.items()} | {
        f"y[{k}]": len(v) for k, v in arrays.y.items()
    }
    if len(set(lengths.values())) > 1:
        raise err(DATA_PATH, "arrays differ in length: " + ", ".join(f"{k}={v}" for k, v in lengths.items()))
    if not lengths or next(iter(lengths.values())) == 0:
        raise err(DATA_PATH, "the data has no rows")


def _fit_shapes(graph: Graph, arrays: Arrays, err: Any) -> None:
    """Reshape features to each input's shape when only the layout differs."""
    for inp in graph.inputs:
        arr = arrays.x[inp.name]
        want: tuple[Any, ...] = tuple(inp.shape)
        if datasets.fits_input(arr.shape[1:], want):  # the rule `kspec check` applies to known data
            if arr.shape[1:] != want and None not in want:
                arrays.x[inp.name] = arr.reshape((len(arr), *want))
            continue
        raise err(
            DATA_PATH,
            f"features for input {inp.name!r} have shape {list(arr.shape[1:])} per row, "
            f"the input expects {list(want)}",
        )


# ---------------------------------------------------------------------------------- labels


def _loss_name(loss: Any) -> str:
    if isinstance(loss, dict):
        loss = loss.get("type", "")
    return str(loss or "").replace("_", "").lower()


def prepare_targets(graph: Graph, arrays: Arrays, loss_for: dict[str, Any]) -> None:
    """Match targets to outputs: one-hot for categorical_crossentropy, (n, 1) for one unit."""
    for out, y in list(arrays.y.items()):
        shape = graph.shapes.get(out) if graph.shapes else None
        units = shape[-1] if shape else None
        name = _loss_name(loss_for.get(out))
        if name in ("categoricalcrossentropy", "categoricalfocalcrossentropy") and y.ndim == 1:
            if not np.issubdtype(y.dtype, np.integer):
                continue
            k = int(units) if isinstance(units, int) else int(y.max()) + 1
            if y.min() < 0 or y.max() >= k:
                raise graph.spec.error(
                    ("compile", "loss"),
                    f"labels for output {out!r} run from "
                    f"{int(y.min())} to {int(y.max())} but the output has {k} units",
                )
            arrays.y[out] = np.eye(k, dtype=np.float32)[y]
        elif y.ndim == 1 and shape is not None and len(shape) == 2 and units == 1:
            arrays.y[out] = y.astype(np.float32).reshape(-1, 1)


# ---------------------------------------------------------------------------------- splits


def split(arrays: Arrays, test_split: float, validation_split: float, seed: int) -> None:
    """Shuffled train/validation/test index arrays (validation is a fraction of what is left)."""
    rng = np.random.default_rng(seed)
    n = arrays.n
    if arrays.fixed_test is not None:
        test = arrays.fixed_test
        rest = rng.permutation(np.setdiff1d(np.arange(n), test))
    else:
        order = rng.permutation(n)
        _, _, n_test = datasets.split_sizes(n, test_split, 0.0)
        test, rest = np.sort(order[:n_test]), order[n_test:]
    _, n_val, _ = datasets.split_sizes(len(rest), 0.0, validation_split)
    arrays.val, arrays.train, arrays.test = np.sort(rest[:n_val]), np.sort(rest[n_val:]), np.asarray(test)
    if len(arrays.train) == 0:
        raise KspecRuntimeError(
            f"no training rows left: {n} rows, test_split={test_split}, validation_split={validation_split}"
        )


def standardize(arrays: Arrays) -> None:
    """Scale every feature to mean 0, std 1 on the training rows (the same for all rows)."""
    for name, x in arrays.x.items():
        train = np.asarray(x[arrays.train], dtype=np.float64)
        mean = train.mean(axis=0)
        std = train.std(axis=0)
        std[std == 0] = 1.0
        arrays.x[name] = ((x - mean) / std).astype(np.float32)
        arrays.scale[name] = {"mean": mean.ravel().tolist(), "std": std.ravel().tolist()}


def apply_scale(x: np.ndarray, scale: dict[str, list[float]]) -> np.ndarray:
    mean = np.asarray(scale["mean"], dtype=np.float64).reshape(x.shape[1:])
    std = np.asarray(scale["std"], dtype=np.float64).reshape(x.shape[1:])
    return ((x - mean) / std).astype(np.float32)


# ---------------------------------------------------------------------------------- tf.data


def _structure(values: dict[str, Any]) -> Any:
    return next(iter(values.values())) if len(values) == 1 else values


def take(arrays: Arrays, index: np.ndarray) -> tuple[Any, Any]:
    """Rows `index` as (x, y) in the structure Keras expects (array, or dict by name)."""
    return (
        _structure({k: np.asarray(v[index]) for k, v in arrays.x.items()}),
        _structure({k: np.asarray(v[index]) for k, v in arrays.y.items()}),
    )


def make_dataset(
    arrays: Arrays, index: np.ndarray, batch_size: int, *, shuffle: bool = False, seed: int = 0
) -> Any:
    """A batched, prefetched `tf.data.Dataset` over rows `index`.

    Small data is gathered once and sliced; large (memory-mapped) data is gathered batch by
    batch from the arrays, so it is never copied whole.
    """
    import tensorflow as tf

    nbytes = sum(
        v.dtype.itemsize * int(np.prod(v.shape[1:])) * len(index)
        for v in [*arrays.x.values(), *arrays.y.values()]
    )
    if nbytes <= IN_MEMORY_BYTES:
        ds = tf.data.Dataset.from_tensor_slices(take(arrays, index))
        if shuffle:
            ds = ds.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    x_names, y_names = list(arrays.x), list(arrays.y)
    flat = [arrays.x[k] for k in x_names] + [arrays.y[k] for k in y_names]

    def gather(idx: np.ndarray) -> list[np.ndarray]:
        idx = np.sort(idx)  # sequential reads from the memory map
        return [np.ascontiguousarray(a[idx]) for a in flat]

    def pack(idx: Any) -> tuple[Any, Any]:
        out = tf.numpy_function(gather, [idx], Tout=[tf.as_dtype(a.dtype) for a in flat])
        for tensor, a in zip(out, flat):
            tensor.set_shape([None, *a.shape[1:]])
        xs = dict(zip(x_names, out[: len(x_names)]))
        ys = dict(zip(y_names, out[len(x_names) :]))
        return _structure(xs), _structure(ys)

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(index, dtype=np.int64))
    if shuffle:
        ds = ds.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def load_input_file(path: str, input_names: list[str]) -> dict[str, np.ndarray]:
    """Features for `kspec predict`: an npz (arrays by input name, or its only array) or a csv."""
    try:
        st = os.stat(path)
    except OSError:
        raise SpecError("no such file", file=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise SpecError("is not a regular file (a FIFO, device or folder); --input reads a file", file=path)
    if path.endswith(".npz"):
        try:
            headers = npz_headers(path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise SpecError(
                f"cannot read it as .npz: {shorten(str(exc), 120, quote=False)}", file=path
            ) from None
        if all(n in headers for n in input_names):
            wanted = {n: n for n in input_names}
        elif len(input_names) == 1 and ("x" in headers or len(headers) == 1):
            wanted = {input_names[0]: "x" if "x" in headers else next(iter(headers))}
        else:
            raise SpecError(
                f"has arrays {names_list(sorted(headers))}; expected "
                f"{', '.join(input_names)}" + (" or x" if len(input_names) == 1 else ""),
                file=path,
            )
        problem = data_problem(sum(array_bytes(*headers[a]) for a in wanted.values()), "the input arrays")
        if problem or any(headers[a][1].hasobject for a in wanted.values()):
            raise SpecError(problem or "holds Python objects (pickles); kspec reads numbers only", file=path)
        stored = load_npz(path, list(wanted.values()))
        return {n: stored[a] for n, a in wanted.items()}
    if path.endswith(".csv"):
        try:
            header, table = read_csv(path)
        except (ValueError, UnicodeDecodeError, csv.Error) as exc:
            raise SpecError(shorten(str(exc), 300, quote=False), file=path) from None
        if len(input_names) == 1:
            return {input_names[0]: table}
        out = {}
        for name in input_names:
            idx = [i for i, h in enumerate(header) if h == name or h.startswith(name + ".")]
            if not idx:
                raise KspecRuntimeError(f"{path}: no column for input {name!r} (name it {name} or {name}.*)")
            out[name] = table[:, idx]
        return out
    raise KspecRuntimeError(f"--input must be a .npz or .csv file, got {path!r}")
