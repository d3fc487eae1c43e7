"""Read a model file someone else made as *data*, before Keras deserializes anything in it.

Keras's `safe_mode` has been bypassed again and again (CVE-2024-3660, CVE-2025-1550,
CVE-2025-8747, CVE-2025-9906): a `.keras` file's `config.json` names modules, classes and
functions that Keras imports and calls. kspec therefore opens the archive itself (no Keras, no
TensorFlow), bounds what it holds, parses `config.json` as JSON and walks every object in it
against an allow-list; anything else is refused in one line naming the object's place in the
config. Only then does a loader hand the file to Keras (`kspec.builders.loading`).

    >>> cfg = {"module": "keras", "class_name": "Sequential", "config": {"layers": [
    ...     {"module": "keras.utils", "class_name": "function", "config": "get_file"}]}}
    >>> check_config(cfg, "m.keras")
    Traceback (most recent call last):
    ...
    kspec.errors.SpecError: m.keras: config.layers[0]: refused: a function ('get_file' from module 'keras.utils'); ...

What is allowed:
  - classes (CamelCase names) from Keras's own modelling namespaces: `keras`, `keras.layers`,
    initializers, regularizers, constraints, optimizers and schedules, losses, metrics,
    activations, dtype policies, quantizers, models and `keras.src.<those>.*`, `keras.src.ops.*`,
    and the optimizers of Keras's torch backend (`keras.src.backend.torch.optimizers.*`: on torch,
    `keras.optimizers.Adam` is saved from there);
    never the layers that run code or load code (`Lambda`, `TFSMLayer`, `JaxLayer`, `FlaxLayer`,
    `TorchModuleWrapper`) and nothing from `keras.utils`, `keras.config`, `keras.saving`,
    `keras.backend`, `keras.callbacks` or any other package;
  - kspec's own `SpecModel` and `BlockLayer` (a block instance: Keras layer configs and names);
  - Keras's data markers (`__keras_tensor__`, `__tensor__`, `__numpy__`, `__bytes__`,
    `__slice__`, `__ellipsis__`);
  - functions only by name from Keras's activations, losses and metrics (how Keras saves
    `loss=keras.losses.mean_squared_error`); never `__lambda__` (Python bytecode), never a
    function from any other module, so nothing that changes Keras's configuration.

Legacy HDF5 model files (`.h5`) are refused: Keras reads their config through its legacy path
(CVE-2025-9905); re-save them as `.keras` with a Keras you trust.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from collections.abc import Iterable
from typing import Any

from kspec.errors import SpecError, shorten

#: `config.json` larger than this is refused before it is read (Keras reads it whole; a 1.5 MB
#: archive can inflate to 1.5 GiB). kspec's largest example models need well under 1 MiB; a
#: 1,000-layer Keras application about 2 MiB.
MAX_CONFIG_BYTES = 32 * 2**20
MAX_METADATA_BYTES = 64 * 2**10
#: Members of an archive (Keras writes 3, plus assets); the central directory is bounded too,
#: before `zipfile` parses it into memory.
MAX_MEMBERS = 10_000
MAX_CENTRAL_DIRECTORY = 16 * 2**20
MAX_NAME = 512
#: Keras stores members uncompressed; a member that inflates more than this (and is large) is a
#: decompression bomb.
MAX_RATIO = 200
RATIO_FLOOR = 16 * 2**20
#: JSON nesting (Keras's own configs of deep models stay far below: one level per wrapper).
MAX_DEPTH = 200

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_CLASS = re.compile(r"[A-Z][A-Za-z0-9_]{0,127}\Z")
_FUNCTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_MODULES = frozenset(
    {
        "keras",
        "keras.layers",
        "keras.models",
        "keras.initializers",
        "keras.regularizers",
        "keras.constraints",
        "keras.optimizers",
        "keras.optimizers.schedules",
        "keras.losses",
        "keras.metrics",
        "keras.activations",
        "keras.dtype_policies",
        "keras.quantizers",
        "keras.ops",
    }
)
_SRC_PACKAGES = (
    "layers",
    "models",
    "initializers",
    "regularizers",
    "constraints",
    "optimizers",
    "losses",
    "metrics",
    "activations",
    "dtype_policies",
    "quantizers",
    "ops",
)
_FUNCTION_MODULES = frozenset({"builtins", "keras.activations", "keras.losses", "keras.metrics"})
#: Layers that run code or load code (SavedModels, JAX/Flax/Torch callables).
UNSAFE_CLASSES = frozenset({"Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper"})
_DATA_MARKERS = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__slice__", "__ellipsis__"}
)
MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model", "SpecModel"})
#: Custom classes kspec itself registers: (module, class_name) -> registered name.
KSPEC_CLASSES = {
    ("kspec.builders.subclass", "SpecModel"): "kspec>SpecModel",
    # A block instance: its config holds only Keras layer configs (checked like any other) and
    # names; its `call` wires them by name, running nothing from the file.
    ("kspec.builders.blocks", "BlockLayer"): "kspec>BlockLayer",
}


#: Backend-specific subclasses of Keras's optimizers: a model compiled on the torch backend saves
#: its optimizer as e.g. `keras.src.backend.torch.optimizers.torch_adam.Adam`.
_BACKEND_OPTIMIZERS = ("keras", "src", "backend", "torch", "optimizers")


def _allowed_module(module: str) -> bool:
    if module in _MODULES:
        return True
    parts = module.split(".")
    if tuple(parts[:5]) == _BACKEND_OPTIMIZERS:
        return True
    return len(parts) >= 3 and parts[:2] == ["keras", "src"] and parts[2] in _SRC_PACKAGES


def _refuse(file: str, path: tuple[Any, ...], message: str) -> SpecError:
    return SpecError(
        f"refused: {message}; kspec loads only Keras's own layers and objects from a model file",
        file=file,
        path=path,
    )


def _check_object(
    obj: dict[str, Any], file: str, path: tuple[Any, ...], extra: dict[tuple[str, str], str]
) -> None:
    """One `{"class_name": ...}` object of a Keras config."""
    name = obj.get("class_name")
    module = obj.get("module")
    registered = obj.get("registered_name")
    if not isinstance(name, str):
        raise _refuse(file, path, f"class_name is not a string ({shorten(name)})")
    if module is not None and not isinstance(module, str):
        raise _refuse(file, path, f"module is not a string ({shorten(module)})")
    if registered is not None and not isinstance(registered, str):
        raise _refuse(file, path, f"registered_name is not a string ({shorten(registered)})")
    if name == "__lambda__":
        raise _refuse(file, path, "a Python lambda (bytecode in the config)")
    if name in _DATA_MARKERS:
        return
    if name == "function":
        fn = obj.get("config")
        if not isinstance(fn, str) or not _FUNCTION.match(fn):
            raise _refuse(file, path, f"a function with a malformed name ({shorten(fn)})")
        if module not in _FUNCTION_MODULES:
            raise _refuse(file, path, f"a function ({shorten(fn)} from module {shorten(module)})")
        if registered not in (None, "function", fn):
            raise _refuse(file, path, f"a function registered as {shorten(registered)}")
        return
    if name.startswith("__"):
        raise _refuse(file, path, f"a special object {shorten(name)}")
    if not _CLASS.match(name):
        raise _refuse(file, path, f"{shorten(name)} is not a class name")
    own = extra.get((module or "", name))
    if own is not None:
        if registered not in (None, own):
            raise _refuse(file, path, f"{name} registered as {shorten(registered)}")
        return
    if module is not None and not _allowed_module(module):
        raise _refuse(file, path, f"class {shorten(name)} from module {shorten(module)}")
    if name in UNSAFE_CLASSES:
        raise _refuse(file, path, f"layer {name} runs or loads code")
    # Keras resolves a registered name before the module: only Keras's own spelling is allowed.
    if registered not in (None, name):
        raise _refuse(file, path, f"{name} registered as {shorten(registered)} (a custom object)")


def check_config(
    config: Any,
    file: str,
    *,
    registered: Iterable[tuple[str, str, str]] = (),
    top_level_model: bool = True,
) -> None:
    """Walk every object of a parsed Keras `config.json`; raise a `SpecError` naming the first
    one that is not allowed (see the module docstring).

    `registered`: extra custom classes to allow, as `(module, class_name, registered_name)`
    (kspec's `SpecModel` and `BlockLayer` are always allowed).
    """
    extra = dict(KSPEC_CLASSES)
    extra.update({(m, c): r for m, c, r in registered})
    if top_level_model:
        if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES:
            found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
            raise _refuse(file, (), f"the top-level object is not a model ({shorten(found)})")
    stack: list[tuple[Any, tuple[Any, ...]]] = [(config, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise _refuse(file, path[:8], f"the config nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            if "class_name" in value:
                _check_object(value, file, path, extra)
            for key, item in value.items():
                if isinstance(item, (dict, list)):
                    stack.append((item, (*path, key)))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, (dict, list)):
                    stack.append((item, (*path, i)))


def _regular_file(path: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SpecError("no such model file", file=path) from None
    except OSError as exc:
        raise SpecError(f"cannot read the model file: {exc.strerror}", file=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise SpecError(
            "is not a regular file (a folder, FIFO or device); a model file is a .keras archive", file=path
        )
    return st


def check_zip_directory(fh: Any, path: str) -> None:
    """Bound a zip's central directory from its end record, before `zipfile` parses it into
    memory (also used for `.npz` data files)."""
    end = getattr(zipfile, "_EndRecData", None)
    if end is None:  # pragma: no cover - every CPython has it; the member bound below still holds
        return
    rec = end(fh)
    if rec is None:
        raise SpecError("is not a zip archive (a .keras model and an .npz are zip files)", file=path)
    entries, size = rec[4], rec[5]  # _ECD_ENTRIES_TOTAL, _ECD_SIZE
    if entries > MAX_MEMBERS or size > MAX_CENTRAL_DIRECTORY:
        raise SpecError(
            f"the archive lists {entries:,} members, over kspec's limit of {MAX_MEMBERS:,}", file=path
        )
    fh.seek(0)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: str) -> bytes:
    if info.file_size > limit:
        raise SpecError(
            f"{info.filename} is {info.file_size:,} bytes uncompressed, over kspec's limit of {limit:,}",
            file=path,
        )
    with zf.open(info) as fh:
        data = fh.read(limit + 1)  # the header may lie: never read more than the limit
    if len(data) > limit:
        raise SpecError(f"{info.filename} is over kspec's limit of {limit:,} bytes", file=path)
    return data


def _check_members(infos: list[zipfile.ZipInfo], path: str) -> dict[str, zipfile.ZipInfo]:
    if len(infos) > MAX_MEMBERS:
        raise SpecError(f"the archive lists {len(infos):,} members; a Keras model has a few", file=path)
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if (
            len(name) > MAX_NAME
            or "\x00" in name
            or name.startswith("/")
            or ".." in parts
            or (len(name) > 1 and name[1] == ":")
        ):
            raise SpecError(f"the archive holds a member with an unsafe name ({shorten(name)})", file=path)
        if name in members:
            raise SpecError(f"the archive holds {shorten(name)} twice", file=path)
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise SpecError(
                f"{shorten(name)} inflates from {info.compress_size:,} to {info.file_size:,} bytes "
                "(a decompression bomb; Keras stores members uncompressed)",
                file=path,
            )
        members[name] = info
    return members


def inspect_keras_archive(
    path: str | os.PathLike[str],
    *,
    registered: Iterable[tuple[str, str, str]] = (),
    allow_list: bool = True,
) -> dict[str, Any]:
    """The parsed `config.json` of the `.keras` archive `path`, after bounding and checking it.

    Raises `SpecError` (one line: the file, the place in the config, what is refused) when the
    file is not a regular file, not a zip, has too many, oversized, inflating or unsafely named
    members, lacks `config.json`, or (with `allow_list`, the default) when any object in the
    config is outside the allow-list. Imports no Keras.
    """
    path = os.fspath(path)
    _regular_file(path)
    with open(path, "rb") as fh:
        if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
            raise SpecError(
                "is a legacy HDF5 model file; kspec does not load those (Keras reads their config "
                "through its legacy path): re-save it as .keras with a Keras you trust",
                file=path,
            )
        fh.seek(0)
        try:
            check_zip_directory(fh, path)
            with zipfile.ZipFile(fh) as zf:
                members = _check_members(zf.infolist(), path)
                if "config.json" not in members:
                    raise SpecError("is not a Keras model archive (no config.json inside)", file=path)
                if "metadata.json" in members:
                    _read_member(zf, members["metadata.json"], MAX_METADATA_BYTES, path)
                raw = _read_member(zf, members["config.json"], MAX_CONFIG_BYTES, path)
        except zipfile.BadZipFile as exc:
            raise SpecError(
                f"is not a Keras model archive ({shorten(str(exc), 80, quote=False)})", file=path
            ) from None
        except (OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError(
                f"cannot read the archive: {shorten(str(exc), 80, quote=False)}", file=path
            ) from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SpecError(
            f"config.json is not valid JSON ({shorten(str(exc), 80, quote=False)})", file=path
        ) from None
    if allow_list:
        check_config(config, path, registered=registered)
    return config


def inspect_model_file(path: str | os.PathLike[str], *, allow_list: bool = True) -> dict[str, Any]:
    """`inspect_keras_archive` for any model path a user hands kspec (`.h5` files are refused)."""
    path = os.fspath(path)
    if path.lower().endswith((".h5", ".hdf5")):
        _regular_file(path)
        raise SpecError(
            "is a legacy HDF5 model file; kspec does not load those: re-save it as .keras "
            "with a Keras you trust",
            file=path,
        )
    return inspect_keras_archive(path, allow_list=allow_list)
