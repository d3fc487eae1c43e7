"""Validate a parsed `Document` into a `Spec`: structure, names, and each layer's arguments."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from kspec.errors import Path, Problems, SpecError
from kspec.layers.registry import LayerArgs, argument_names, known_types, lookup
from kspec.schema import names, types
from kspec.schema.block_expand import expand_blocks
from kspec.schema.call_inputs import (  # noqa: F401  (CALL_ARGUMENTS: the importer reads it here)
    CALL_ARGUMENTS,
    CallInputsError,
    call_arguments,
    parse_inputs_by_name,
)
from kspec.schema.loader import Document
from kspec.schema.model import CompileModel, InputModel, SpecModel, TrainModel
from kspec.schema.space import SearchSpace, find_spaces

RESERVED_LAYER_KEYS = ("type", "name", "inputs", "call", "reuse")


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: str
    path: Path


@dataclass(frozen=True)
class LayerSpec:
    """One `layers:` entry, validated. `args` go to the Keras constructor as written."""

    index: int
    type: str
    name: str
    inputs: list[str] | None
    args: dict[str, Any]
    rule: LayerArgs | None  # None: a Keras layer outside the registry (checked by Keras only)
    path: Path
    #: keyword arguments of the call (`layer(x, training=False)`), from `call:`
    call: dict[str, Any] = field(default_factory=dict)
    #: `inputs:` by name: the call's keyword tensors, each a position in `inputs` (or a list of
    #: them for a list argument such as an RNN's `initial_state`); the other `inputs` are the
    #: positional tensors, in order. `{}`: all positional (the list form).
    keywords: dict[str, Any] = field(default_factory=dict)
    #: where each of `inputs` is written, relative to the layer (`("inputs", "mask")`); empty
    #: for the list form, whose k-th reference is at `("inputs", k)`
    input_paths: tuple[Path, ...] = ()
    #: a `reuse:` entry's `inputs:` by argument name, as written (the graph parses it against
    #: the type of the layer it calls again); None otherwise
    named_inputs: dict[str, Any] | None = None
    #: `reuse: NAME`: this entry calls the earlier layer NAME again (a shared layer). The graph
    #: gives the entry NAME's type, arguments and rule; the weights stay NAME's.
    reuse: str = ""
    #: True when validation found an error in this layer (only seen while collecting errors:
    #: the graph stage then leaves its shape unknown instead of blaming the layers after it).
    invalid: bool = False

    @property
    def trainable(self) -> bool:
        return bool(self.args.get("trainable", True))


@dataclass(frozen=True)
class Spec:
    """A validated spec, immutable. `document` keeps positions so later stages can still point at
    the file; `raw` is the tree as written (saved into run folders, hashed to recognise a run).
    What the person running kspec decides (trusted plugins, size limit) is not part of the spec:
    see `kspec.schema.options.BuildOptions`."""

    name: str
    api: str
    seed: int | None
    inputs: list[InputSpec]
    layers: list[LayerSpec]
    outputs: list[str] | None
    compile: dict[str, Any] | None
    train: dict[str, Any] | None
    description: str | None
    plugins: list[str]
    document: Document
    allow_unsafe: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    #: `api:` was written in the spec (not the default): asking for Sequential is then a check error.
    api_given: bool = False
    #: The spec's `backend:` key (None: not given; the command line and KERAS_BACKEND decide).
    backend: str | None = None
    #: The spec's search spaces (`{tune: ...}` values); the other fields hold their defaults.
    search: SearchSpace | None = None

    @property
    def file(self) -> str | None:
        return self.document.file

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.file)) if self.file else os.getcwd()

    def error(self, path: Path, message: str) -> SpecError:
        return self.document.error(path, message)


def _fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _check_keys(
    doc: Document, data: Any, model: type[BaseModel], path: Path, what: str, problems: Problems
) -> None:
    """Unknown keys are errors (never silently dropped), with a did-you-mean."""
    if not isinstance(data, dict):
        return
    allowed = _fields(model)
    for key in data:
        if key not in allowed:
            hint = names.did_you_mean(key, allowed)
            problems.add(doc.error(path + (key,), f"unknown key {key!r} in {what}{hint}"))


def pydantic_errors(
    doc: Document, exc: ValidationError, base: Path = (), what: str = "", skip: Path | None = None
) -> list[SpecError]:
    """Every independent pydantic error as a one-line `SpecError` at its position.

    Errors are grouped by the key they concern (`compile.loss`, `inputs[0]`, `train.data`):
    a union reports one error per branch, and one problem should be one line. `skip`: a
    top-level key validated elsewhere (layers are validated by their registry entry).
    """
    groups: dict[Path, list[Any]] = {}
    for e in exc.errors(include_url=False):
        path = _real_path(doc.data, base, tuple(e["loc"]))
        rel = path[len(base) :]
        if skip is not None and rel[: len(skip)] == skip and len(rel) > len(skip):
            continue
        key = rel[:3] if rel[:1] == ("inputs",) else rel[:2]
        groups.setdefault(key, []).append(e)
    return [_one_pydantic_error(doc, errors, base, what) for errors in groups.values()]


def _said_already(found: SpecError, reported: list[SpecError]) -> bool:
    """A pydantic error that repeats one found before: the same unknown key, or a required key
    that a misspelt one (`shap:` for `shape:`) was meant to be."""
    for seen in reported:
        if seen.path == found.path:
            return True
        if (
            found.path[:-1] == seen.path[:-1]
            and found.path
            and f"did you mean {found.path[-1]!r}?" in seen.message
        ):
            return True
    return False


def pydantic_error(doc: Document, exc: ValidationError, base: Path = (), what: str = "") -> SpecError:
    """The first pydantic error as a one-line `SpecError` at its position."""
    return _one_pydantic_error(doc, exc.errors(include_url=False), base, what)


def _one_pydantic_error(doc: Document, errors: list[Any], base: Path, what: str) -> SpecError:
    # A union (`metrics: [acuracy]`) reports one error per branch; the one that got deepest
    # into the data is the branch the user meant.
    # kspec's own argument errors inside a `{type: ...}` object are the most precise of all.
    err = max(
        errors,
        key=lambda e: (
            isinstance(e.get("ctx", {}).get("error"), types.ArgumentError),
            len(_real_path(doc.data, base, tuple(e["loc"]))),
        ),
    )
    loc = tuple(err["loc"])
    path = _real_path(doc.data, base, loc)
    if err["type"] == "missing" and loc:
        path = path + (loc[-1],)
    kind = err["type"]
    value = err.get("input")
    if kind == "value_error":
        msg = err["msg"].removeprefix("Value error, ")
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, types.ArgumentError):  # inside a {type: ...} object: point at the key
            path = _real_path(doc.data, path, cause.subpath)
    elif kind == "missing":
        msg = f"required key {loc[-1]!r} is missing" + (f" in {what}" if what else "")
    elif kind == "extra_forbidden":
        msg = f"unknown key {loc[-1]!r}"
    elif kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        hint = ""
        if isinstance(value, str):
            options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
            hint = names.did_you_mean(value, options)
        msg = f"must be {expected}, got {value!r}{hint}"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        ctx = err.get("ctx", {})
        if isinstance(value, dict) and "type" in value:
            path = path + ("type",)  # point at the bad tag itself
        msg = f"'type' must be one of {ctx.get('expected_tags', '')}, got {ctx.get('tag', value)!r}"
        if isinstance(ctx.get("tag"), str):
            msg += names.did_you_mean(
                ctx["tag"], [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
            )
    elif kind == "too_short":
        msg = f"must have at least {err.get('ctx', {}).get('min_length', 1)} entries"
    elif kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        want = {"list_type": "a list", "dict_type": "a mapping"}.get(kind, "a mapping")
        msg = f"must be {want}, got {value!r}"
    elif kind.endswith("_type"):
        msg = f"must be {kind.removesuffix('_type').replace('_', ' ')}, got {value!r}"
    else:
        msg = f"{err['msg']}, got {value!r}"
    return doc.error(path, msg)


def _real_path(data: Any, base: Path, loc: tuple[Any, ...]) -> Path:
    """Follow pydantic's location through the data, skipping its union-branch labels."""
    node = data
    for part in base:
        node = node[part]
    path = list(base)
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
    return tuple(path)


def _validate_layer(
    doc: Document,
    raw: Any,
    index: int,
    allow_unsafe: bool,
    plugins: bool,
    problems: Problems,
    path: Path | None = None,
) -> LayerSpec:
    """One `layers:` entry, or (with `path`) a layer nested in another one's argument, validated
    the same way; its problems go to `problems` (each argument's separately)."""
    nested = path is not None
    path = ("layers", index) if path is None else path
    before = len(problems.errors)

    def fail(where: Path, message: str) -> LayerSpec:
        if message:
            problems.add(doc.error(where, message))
        return LayerSpec(
            index=index, type=str(ltype), name="", inputs=None, args={}, rule=None, path=path, invalid=True
        )

    ltype = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(raw, dict):
        return fail(path, f"a layer must be a mapping with 'type', got {raw!r}")
    if "reuse" in raw and not nested:
        try:
            return _validate_reuse(doc, raw, index, path)
        except SpecError as exc:
            problems.add(exc)
            return fail(path, "")
    if ltype is None:
        return fail(
            path + ("type",),
            "required key 'type' is missing (a keras.layers class name, e.g. Dense; "
            "or `reuse: NAME` to call an earlier layer again)",
        )
    if not isinstance(ltype, str):
        return fail(path + ("type",), f"must be a layer class name, got {ltype!r}")
    rule_types = known_types()
    if ltype in names.UNSAFE_LAYERS and not allow_unsafe:
        return fail(
            path + ("type",),
            f"{ltype} layers run code that is not in the spec and are refused; "
            "pass --allow-unsafe (allow_unsafe=True) if you trust this spec",
        )
    if ltype not in rule_types and ltype not in names.KERAS_LAYERS and not plugins:
        return fail(
            path + ("type",),
            names.unknown("layer type", ltype, rule_types | names.KERAS_LAYERS)
            + " (custom layers need their module in `plugins:`)",
        )
    name = raw.get("name")
    if name is not None and not types.is_name(name):
        problems.add(doc.error(path + ("name",), f"{types.NAME_RULE}, got {name!r}"))
        name = None
    if nested and "inputs" in raw:
        problems.add(doc.error(path + ("inputs",), "a layer inside another one has no `inputs:` of its own"))
    inputs = raw.get("inputs") if not nested else None
    keywords: dict[str, Any] = {}
    input_paths: tuple[Path, ...] = ()
    if isinstance(inputs, dict):
        try:
            inputs, keywords, input_paths = inputs_by_name(doc, inputs, lookup(ltype), ltype, path)
        except SpecError as exc:
            problems.add(exc)
            inputs = None
    elif inputs is not None:
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            problems.add(
                doc.error(path + ("inputs",), f"must be a name or a list of names, got {raw.get('inputs')!r}")
            )
            inputs = None
        else:
            for k, ref in enumerate(inputs):
                try:
                    types._ref(ref)
                except ValueError as exc:
                    where = path + (("inputs", k) if isinstance(raw.get("inputs"), list) else ("inputs",))
                    problems.add(doc.error(where, str(exc)))
    args = {k: v for k, v in raw.items() if k not in RESERVED_LAYER_KEYS}
    if _refuse_unsafe_inside(doc, args, path, allow_unsafe, problems):
        return fail(path, "")  # refused as a whole: its other arguments do not matter
    rule: LayerArgs | None = None
    cls = lookup(ltype)
    if cls is not None:
        allowed = argument_names(cls)  # aliases: MultiHeadAttention's `output_shape`
        unknown = [key for key in args if key not in allowed]
        for key in unknown:
            problems.add(
                doc.error(
                    path + (key,), f"{ltype} has no argument {key!r}" + names.did_you_mean(key, allowed)
                )
            )
        try:
            rule = cls.model_validate({k: v for k, v in args.items() if k not in unknown})
        except ValidationError as exc:
            for found in pydantic_errors(doc, exc, path, ltype):
                if not _said_already(found, problems.errors[before:]):
                    problems.add(found)
    else:
        for key in names.LAYER_ARGS:  # a wrapper outside the registry: its layer like any other
            if isinstance(args.get(key), dict):
                _validate_layer(doc, args[key], index, allow_unsafe, plugins, problems, path + (key,))
        _check_generic_args(doc, {k: v for k, v in args.items() if k not in names.LAYER_ARGS}, path, problems)
    call: dict[str, Any] = {}
    try:
        call = _call_arguments(doc, raw.get("call"), path + ("call",), ltype)
    except SpecError as exc:
        problems.add(exc)
    return LayerSpec(
        index=index,
        type=ltype,
        name=name or "",
        inputs=inputs,
        args=args,
        rule=rule,
        path=path,
        call=call,
        keywords=keywords,
        input_paths=input_paths,
        invalid=len(problems.errors) > before,
    )


def inputs_by_name(
    doc: Document, value: dict[Any, Any], cls: type[LayerArgs] | None, ltype: str, path: Path
) -> tuple[list[str], dict[str, Any], tuple[Path, ...]]:
    """`inputs:` as a mapping (`kspec.schema.call_inputs.parse_inputs_by_name`), errors located."""
    try:
        return parse_inputs_by_name(value, cls, ltype)
    except CallInputsError as exc:
        raise doc.error(path + exc.where, str(exc)) from None


def _validate_reuse(doc: Document, raw: dict[str, Any], index: int, path: Path) -> LayerSpec:
    """`{reuse: NAME, name?, inputs?, call?}`: the layer NAME called again, nothing else."""
    target = raw["reuse"]
    if not types.is_name(target):
        raise doc.error(path + ("reuse",), f"must name an earlier layer; {types.NAME_RULE}, got {target!r}")
    for key in raw:
        if key not in ("reuse", "name", "inputs", "call"):
            raise doc.error(
                path + (key,),
                f"a `reuse:` entry calls {target!r} again with its own type and arguments; "
                f"it takes only name, inputs and call, not {key!r}",
            )
    name = raw.get("name")
    if name is not None and not types.is_name(name):
        raise doc.error(path + ("name",), f"{types.NAME_RULE}, got {name!r}")
    inputs = raw.get("inputs")
    named = None
    if isinstance(inputs, dict):  # by argument name: parsed by the graph, which knows the type
        named, inputs = dict(inputs), None
    elif inputs is not None:
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise doc.error(
                path + ("inputs",), f"must be a name or a list of names, got {raw.get('inputs')!r}"
            )
    call = _call_arguments(doc, raw.get("call"), path + ("call",))
    return LayerSpec(
        index=index,
        type="",
        name=name or "",
        inputs=inputs,
        args={},
        rule=None,
        path=path,
        call=call,
        reuse=target,
        named_inputs=named,
    )


def _call_arguments(doc: Document, value: Any, path: Path, ltype: str | None = None) -> dict[str, Any]:
    try:
        return call_arguments(value, ltype)
    except CallInputsError as exc:
        raise doc.error(path + exc.where, str(exc)) from None


def _refuse_unsafe_inside(
    doc: Document, args: dict[str, Any], path: Path, allow_unsafe: bool, problems: Problems
) -> bool:
    """An unsafe layer type anywhere inside a layer's arguments, at any depth, is refused like a
    top-level one (`{type: SpectralNormalization, layer: {type: TFSMLayer, ...}}`)."""
    if allow_unsafe:
        return False
    found = False
    stack: list[tuple[Any, Path]] = [(args, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            if where != path and isinstance(value.get("type"), str) and value["type"] in names.UNSAFE_LAYERS:
                found = True
                problems.add(
                    doc.error(
                        where + ("type",),
                        f"{value['type']} layers run code that is not in the spec and are refused, "
                        "inside another layer too; pass --allow-unsafe (allow_unsafe=True) if you trust this spec",
                    )
                )
            stack.extend((v, where + (k,)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, where + (i,)) for i, v in enumerate(value))
    return found


def _check_generic_args(doc: Document, args: dict[str, Any], path: Path, problems: Problems) -> None:
    """Layers outside the registry: still check the arguments whose kind the name tells."""
    from kspec.schema import types

    checks = {"activation": types._activation}
    for key, value in args.items():
        kind = None
        if key.endswith("_initializer"):
            kind = ("initializer", names.INITIALIZERS)
        elif key.endswith("_regularizer"):
            kind = ("regularizer", names.REGULARIZERS)
        elif key.endswith("_constraint"):
            kind = ("constraint", names.CONSTRAINTS)
        try:
            if key in checks:
                checks[key](value)
            elif kind and isinstance(value, str) and value not in kind[1]:
                raise ValueError(names.unknown(kind[0], value, kind[1]))
            elif (
                kind
                and isinstance(value, dict)
                and (not isinstance(value.get("type"), str) or value["type"] not in kind[1])
            ):
                raise ValueError(names.unknown(kind[0], value.get("type"), kind[1]))
            elif kind and isinstance(value, dict):
                types.check_keras_arguments(kind[0], value)
                types._check_object_args(kind[0], value)
        except ValueError as exc:
            sub = exc.subpath if isinstance(exc, types.ArgumentError) else ()
            problems.add(doc.error(_real_path(doc.data, path + (key,), sub), str(exc)))


def _check_finite(doc: Document, node: Any, path: Path, problems: Problems) -> None:
    """`.inf` and `.nan` are YAML numbers but never a sensible argument (Keras takes them, then
    training fails or the loss turns NaN): one rule for every number in a spec."""
    stack = [(node, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            problems.add(doc.error(where, f"must be a finite number, got {value!r}"))
        elif isinstance(value, dict):
            stack.extend((v, where + (k,)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, where + (i,)) for i, v in enumerate(value))


def validate(doc: Document, *, allow_unsafe: bool = False) -> Spec:
    """Check the whole tree into a `Spec`; every independent error is raised together as one
    `SpecError` (see `collect`)."""
    problems = Problems()
    spec = collect(doc, allow_unsafe, problems)
    problems.raise_if_any()
    assert spec is not None  # no spec means an error was found
    return spec


def collect(doc: Document, allow_unsafe: bool, problems: Problems) -> Spec | None:
    """Validate, adding every independent error to `problems` instead of raising.

    Returns the spec as far as it is sound (layers with errors are marked `invalid`), so the
    graph stage can still find the errors of the other layers; None when the tree's top level
    is not a spec.

    Search spaces (`{tune: ...}`) are validated first; the rest of the tree is checked with
    each space at its default (`kspec.graph.space` checks the other points of the space).
    """
    try:
        search = find_spaces(doc)
    except SpecError as exc:
        problems.add(exc)
        return None
    if search is None:
        return _collect_plain(doc, allow_unsafe, problems)
    at_defaults = Problems(problems.limit)
    spec: Spec | None = None
    try:
        spec = _collect_plain(search.at(search.defaults()), allow_unsafe, at_defaults)
    except SpecError as exc:  # the error limit was reached (or a stage raised)
        at_defaults.errors.extend(e for e in exc.errors if e not in at_defaults.errors)
    problems.warnings.extend(at_defaults.warnings)
    for e in at_defaults.errors:
        problems.add(
            SpecError(
                f"{e.message} (with the search space at its defaults)",
                file=e.file,
                line=e.line,
                col=e.col,
                path=e.path,
            )
        )
    return None if spec is None else dataclasses.replace(spec, search=search)


def _collect_plain(doc: Document, allow_unsafe: bool, problems: Problems) -> Spec | None:
    try:
        doc = expand_blocks(doc)  # `blocks:` and `{block: ...}` entries become flat layers first
    except SpecError as exc:
        problems.add(exc)
        return None
    data = doc.data
    if not isinstance(data, dict):
        problems.add(
            doc.error((), f"a spec must be a mapping with 'inputs' and 'layers', got {type(data).__name__}")
        )
        return None
    _check_keys(doc, data, SpecModel, (), "the spec", problems)
    _check_finite(doc, data, (), problems)
    for i, item in enumerate(data.get("inputs") or [] if isinstance(data.get("inputs"), list) else []):
        _check_keys(doc, item, InputModel, ("inputs", i), "an input", problems)
    if isinstance(data.get("compile"), dict):
        _check_keys(doc, data["compile"], CompileModel, ("compile",), "compile", problems)
    if isinstance(data.get("train"), dict):
        _check_keys(doc, data["train"], TrainModel, ("train",), "train", problems)
    # A misspelt key (`layer:`) is one mistake: its did-you-mean says so, not a second error.
    meant = {names.did_you_mean(k, _fields(SpecModel)) for k in data if k not in _fields(SpecModel)}
    missing = [k for k in ("inputs", "layers") if k not in data]
    for key in missing:
        if f"; did you mean {key!r}?" not in meant:
            problems.add(doc.error((), f"required key {key!r} is missing"))
    known = {k: v for k, v in data.items() if k in _fields(SpecModel)}
    placeholders = {"inputs": [{"name": "x", "shape": [1]}], "layers": [{"type": "layer"}]}
    for key in missing:
        known[key] = placeholders[key]  # reported above; the other keys are still checked
    if isinstance(known.get("layers"), list) and known["layers"]:
        known["layers"] = placeholders["layers"]  # each layer is validated by its registry entry, below
    model: SpecModel | None = None
    broken: set[str] = set()  # top-level keys with an error: left out so the rest can be checked
    try:
        model = SpecModel.model_validate(known)
    except ValidationError as exc:
        for found in pydantic_errors(doc, exc):
            broken.add(str(found.path[0]) if found.path else "")
            if not _said_already(found, problems.errors):
                problems.add(found)
        if not broken & {"", "inputs", "layers"}:
            try:
                model = SpecModel.model_validate({k: v for k, v in known.items() if k not in broken})
            except ValidationError:
                model = None
    plugins = model.plugins if model is not None else data.get("plugins")
    for i, module in enumerate(plugins if isinstance(plugins, list) else []):
        if isinstance(module, str) and not all(part.isidentifier() for part in module.split(".")):
            problems.add(doc.error(("plugins", i), f"must be a Python module name (a.b.c), got {module!r}"))
    raw_layers = data.get("layers")
    layers = [
        _validate_layer(doc, raw, i, allow_unsafe, bool(plugins), problems)
        for i, raw in enumerate(raw_layers if isinstance(raw_layers, list) else [])
    ]
    if model is None or not layers or missing:
        return None
    inputs = [
        InputSpec(name=m.name, shape=tuple(m.shape), dtype=m.dtype or "float32", path=("inputs", i))
        for i, m in enumerate(model.inputs)
    ]
    outputs = model.outputs
    if isinstance(outputs, str):
        outputs = [outputs]
    return Spec(
        name=model.name,
        api=model.api,
        seed=model.seed,
        inputs=inputs,
        layers=layers,
        outputs=outputs,
        compile=data.get("compile") if "compile" not in broken else None,
        train=data.get("train") if "train" not in broken else None,
        description=model.description,
        plugins=list(model.plugins),
        document=doc,
        allow_unsafe=allow_unsafe,
        raw=data,
        api_given="api" in data,
        backend=model.backend,
    )
