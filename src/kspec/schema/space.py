"""Search spaces: any scalar in a spec may be `{tune: int|float|choice|bool, ...}`.

    units: {tune: int, min: 32, max: 512, step: 32}
    learning_rate: {tune: float, min: 1.0e-4, max: 1.0e-2, sampling: log}
    activation: {tune: choice, values: [relu, gelu]}
    use_bias: {tune: bool}

Each space is a KerasTuner hyperparameter (`hp.Int`, `hp.Float`, `hp.Choice`, `hp.Boolean`,
same arguments); `kspec tune` hands them to KerasTuner. Everywhere else a spec with spaces
stands for its *defaults* (`default:`, else KerasTuner's: `min`, the first choice, false), so
`kspec build`/`train` still work on it. This module finds and validates the spaces (their own
arguments, and where they may appear) and substitutes values into the tree; it never imports
Keras or KerasTuner.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Any

from kspec.errors import Path, format_path
from kspec.schema.loader import Document

KINDS = ("int", "float", "choice", "bool")
_KEYS = {
    "int": {"tune", "min", "max", "step", "sampling", "default", "name"},
    "float": {"tune", "min", "max", "step", "sampling", "default", "name"},
    "choice": {"tune", "values", "default", "name"},
    "bool": {"tune", "default", "name"},
}
_SAMPLING = ("linear", "log", "reverse_log")

# Values that must be fixed: they name things, pick classes, or define the data the trials are
# compared on. A key here is refused anywhere in the tree; a path prefix refuses its subtree.
FIXED_KEYS = {
    "type": "a class name (type) must be fixed; to search over classes use a choice of names, "
    "e.g. optimizer: {tune: choice, values: [adam, sgd]}",
    "name": "names must be fixed (other parts of the spec refer to them)",
    "inputs": "a layer's wiring (inputs) must be fixed",
    "outputs": "the model's outputs must be fixed",
    "block": "a block reference must be fixed",
}
FIXED_PATHS: dict[Path, str] = {
    ("kspec",): "the format version must be fixed",
    ("api",): "the construction API must be fixed",
    ("backend",): "the backend must be fixed",
    ("inputs",): "model inputs must be fixed (the data decides their shape)",
    ("plugins",): "plugins must be fixed",
    ("distribute",): "the distribution settings must be fixed",
    ("train", "data"): "the data must be fixed: every trial is compared on the same rows",
    ("train", "test_split"): "the split must be fixed: every trial is compared on the same rows",
    ("train", "validation_split"): "the split must be fixed: every trial is compared on the same rows",
    ("train", "seed"): "the data seed must be fixed: every trial is compared on the same rows",
    ("compile", "loss"): "the loss must be fixed: trials are compared on it",
}


@dataclass(frozen=True)
class Space:
    """One search space at `path`, with its KerasTuner name and arguments."""

    path: Path
    name: str
    kind: str  # int | float | choice | bool
    min: float | None = None
    max: float | None = None
    step: float | None = None
    sampling: str = "linear"
    values: tuple[Any, ...] = ()
    default: Any = None

    def probes(self) -> list[Any]:
        """The values `kspec check` tries: both ends and the default; every value of a choice/bool.

        An int range of at most 8 values is tried whole (small ranges are cheap and off-by-one
        failures live there)."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "bool":
            return [False, True]
        if self.kind == "int":
            grid = self.grid()
            if grid is not None and len(grid) <= 8:
                return grid
            ends = [self.min, self.top(), self.default]
            return list(dict.fromkeys(int(v) for v in ends if v is not None))
        return list(dict.fromkeys(float(v) for v in (self.min, self.top(), self.default) if v is not None))

    def grid(self) -> list[Any] | None:
        """Every value of an int range (linear steps), or None when not enumerable."""
        if self.kind != "int" or self.sampling != "linear":
            return None
        assert self.min is not None and self.max is not None
        step = int(self.step or 1)
        if (self.max - self.min) // step > 10_000:
            return None
        return list(range(int(self.min), int(self.max) + 1, step))

    def top(self) -> Any:
        """The largest value the range can produce (max rounded down to a step)."""
        assert self.min is not None and self.max is not None
        if self.step and self.sampling == "linear":
            n = math.floor((self.max - self.min) / self.step + 1e-9)
            value = self.min + n * self.step
            return int(value) if self.kind == "int" else value
        return self.max

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "path": format_path(self.path), "kind": self.kind}
        if self.kind in ("int", "float"):
            out.update(min=self.min, max=self.max, sampling=self.sampling)
            if self.step is not None:
                out["step"] = self.step
        if self.kind == "choice":
            out["values"] = list(self.values)
        out["default"] = self.default
        return out


@dataclass
class SearchSpace:
    """The spaces of one spec and the document they were read from (for `at`)."""

    doc: Document
    spaces: list[Space]

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.spaces}

    def at(self, values: dict[str, Any]) -> Document:
        """The document with every space replaced by `values[name]` (default when missing)."""
        return at_point(self.doc, self.spaces, values)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_space(node: Any) -> bool:
    return isinstance(node, dict) and "tune" in node


def _walk(node: Any, path: Path) -> Any:
    """Every (path, space mapping) in the tree, outermost first (a space's insides are not walked)."""
    if _is_space(node):
        yield path, node
        return
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _walk(child, path + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _walk(child, path + (i,))


def _default_name(data: Any, path: Path) -> str:
    """`hidden1.units` for a named layer's argument, else the spec path (`compile.optimizer.learning_rate`)."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(path):
        if isinstance(part, int) and isinstance(node, list) and i > 0 and path[i - 1] == "layers":
            layer = node[part] if 0 <= part < len(node) else None
            lname = layer.get("name") if isinstance(layer, dict) else None
            if isinstance(lname, str) and lname:
                parts = [*parts[:-1], lname] if parts and parts[-1] == "layers" else [*parts, lname]
                node = layer
                continue
        parts.append(f"[{part}]" if isinstance(part, int) else str(part))
        node = node[part] if isinstance(node, (dict, list)) else None
    return ".".join(parts).replace(".[", "[")


def _fixed_reason(path: Path) -> str | None:
    for prefix, reason in FIXED_PATHS.items():
        if path[: len(prefix)] == prefix:
            return reason
    for part in path:
        if isinstance(part, str) and part in FIXED_KEYS:
            return FIXED_KEYS[part]
    return None


def _parse(doc: Document, path: Path, raw: dict[str, Any]) -> Space:
    """Validate one space's own arguments; every error points at the offending key."""
    kind = raw.get("tune")
    if kind not in KINDS:
        raise doc.error(path + ("tune",), f"must be one of {', '.join(KINDS)}, got {kind!r}")
    for key in raw:
        if key not in _KEYS[kind]:
            allowed = ", ".join(sorted(_KEYS[kind] - {"tune"}))
            raise doc.error(
                path + (key,),
                f"unknown key {key!r} in {'an' if kind == 'int' else 'a'} {kind} search space (allowed: {allowed})",
            )
    for key, value in raw.items():
        if _is_space(value) or (isinstance(value, list) and any(_is_space(v) for v in value)):
            raise doc.error(path + (key,), "a search space cannot contain another search space")
    name = raw.get("name")
    if name is None:
        name = _default_name(doc.data, path)
    elif not isinstance(name, str) or not name:
        raise doc.error(path + ("name",), f"must be a non-empty string, got {name!r}")
    if kind == "choice":
        values = raw.get("values")
        if not isinstance(values, list):
            raise doc.error(
                path + ("values",) if "values" in raw else path, "a choice needs `values:` (a list)"
            )
        if not values:
            raise doc.error(path + ("values",), "a choice needs at least one value, got an empty list")
        for i, v in enumerate(values):
            if not (isinstance(v, (str, bool)) or _is_number(v)):
                raise doc.error(
                    path + ("values", i), f"choice values must be strings, numbers or booleans, got {v!r}"
                )
        kinds = {type(v) if not _is_number(v) else float for v in values}
        if len(kinds) > 1:
            raise doc.error(path + ("values",), f"choice values must all be of one kind, got {values!r}")
        if len({repr(v) for v in values}) != len(values):
            raise doc.error(path + ("values",), f"choice values must be distinct, got {values!r}")
        default = raw.get("default", values[0])
        if default not in values:
            raise doc.error(path + ("default",), f"must be one of the values {values!r}, got {default!r}")
        return Space(path, name, kind, values=tuple(values), default=default)
    if kind == "bool":
        default = raw.get("default", False)
        if not isinstance(default, bool):
            raise doc.error(path + ("default",), f"must be true or false, got {default!r}")
        return Space(path, name, kind, default=default)
    check = _is_int if kind == "int" else _is_number
    what = "an integer" if kind == "int" else "a number"
    bounds = []
    for key in ("min", "max"):
        if key not in raw:
            raise doc.error(path, f"a {kind} search space needs `{key}:`")
        if not check(raw[key]):
            raise doc.error(path + (key,), f"must be {what}, got {raw[key]!r}")
        bounds.append(raw[key])
    low, high = bounds
    if low > high:
        raise doc.error(path + ("min",), f"min ({low!r}) is greater than max ({high!r})")
    sampling = raw.get("sampling", "linear")
    if sampling not in _SAMPLING:
        raise doc.error(path + ("sampling",), f"must be one of {', '.join(_SAMPLING)}, got {sampling!r}")
    if sampling != "linear" and low <= 0:
        raise doc.error(path + ("min",), f"{sampling} sampling needs min > 0, got {low!r}")
    step = raw.get("step")
    if step is not None and (not check(step) or step <= 0):
        raise doc.error(path + ("step",), f"must be a positive {what.split()[-1]}, got {step!r}")
    default = raw.get("default", low)
    if not check(default):
        raise doc.error(path + ("default",), f"must be {what}, got {default!r}")
    if not low <= default <= high:
        raise doc.error(path + ("default",), f"must be within [{low!r}, {high!r}], got {default!r}")
    if kind == "float":
        low, high, default = float(low), float(high), float(default)
        step = float(step) if step is not None else None
    return Space(path, name, kind, min=low, max=high, step=step, sampling=sampling, default=default)


def find_spaces(doc: Document) -> SearchSpace | None:
    """The spec's search spaces, validated (None when it has none)."""
    spaces: list[Space] = []
    by_name: dict[str, Space] = {}
    for path, raw in _walk(doc.data, ()):
        reason = _fixed_reason(path)
        if reason is not None:
            raise doc.error(path, f"a search space is not allowed here: {reason}")
        space = _parse(doc, path, raw)
        twin = by_name.get(space.name)
        if twin is not None:
            same = {k: v for k, v in vars(twin).items() if k != "path"} == {
                k: v for k, v in vars(space).items() if k != "path"
            }
            if not same:
                raise doc.error(
                    path,
                    f"search space name {space.name!r} is already used at {format_path(twin.path)} "
                    "with other settings (one name, one hyperparameter)",
                )
        else:
            by_name[space.name] = space
        spaces.append(space)
    return SearchSpace(doc, spaces) if spaces else None


def _set(data: Any, path: Path, value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def at_point(doc: Document, spaces: list[Space], values: dict[str, Any]) -> Document:
    """A copy of `doc` with each space replaced by its value (positions kept: errors still point)."""
    data = copy.deepcopy(doc.data)
    for space in spaces:
        value = values.get(space.name, space.default)
        if space.kind == "int":
            value = int(value)
        _set(data, space.path, value)
    return Document(data=data, file=doc.file, positions=doc.positions)


def probe_points(spaces: list[Space], limit: int = 256) -> tuple[list[dict[str, Any]], bool]:
    """Points of the space for `kspec check`, and whether they are every combination of the probes.

    The cross product of every space's probes when it has at most `limit` points; otherwise the
    defaults, each probe of each space with the others at their defaults, and the all-low and
    all-high corners (where parameter counts are extreme).
    """
    unique = list({s.name: s for s in spaces}.values())
    probes = [s.probes() for s in unique]
    if math.prod(len(p) for p in probes) <= limit:
        return [dict(zip([s.name for s in unique], combo)) for combo in itertools.product(*probes)], True
    base = {s.name: s.default for s in unique}
    points = [base]
    for s, values in zip(unique, probes):
        points += [{**base, s.name: v} for v in values if v != s.default]
    points.append({s.name: p[0] for s, p in zip(unique, probes)})
    points.append({s.name: p[-1] if s.kind != "int" else max(p) for s, p in zip(unique, probes)})
    return points, False


#: JSON Schema of one search space (for `kspec schema`, beside every scalar that may be searched).
SPACE_SCHEMA: dict[str, Any] = {
    "description": "a search space for `kspec tune` (a KerasTuner hyperparameter)",
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "tune": {"enum": ["int", "float"]},
                "min": {"type": "number"},
                "max": {"type": "number"},
                "step": {"type": "number", "exclusiveMinimum": 0},
                "sampling": {"enum": list(_SAMPLING)},
                "default": {"type": "number"},
                "name": {"type": "string"},
            },
            "required": ["tune", "min", "max"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "tune": {"const": "choice"},
                "values": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": ["string", "number", "boolean"]},
                },
                "default": {"type": ["string", "number", "boolean"]},
                "name": {"type": "string"},
            },
            "required": ["tune", "values"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "tune": {"const": "bool"},
                "default": {"type": "boolean"},
                "name": {"type": "string"},
            },
            "required": ["tune"],
            "additionalProperties": False,
        },
    ],
}
