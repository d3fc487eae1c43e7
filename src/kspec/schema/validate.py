"""Validate a parsed `Document` into a `Spec`: structure, names, and each layer's arguments."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from kspec.errors import Path, SpecError
from kspec.layers.registry import LayerArgs, argument_names, known_types, lookup
from kspec.schema import names, types
from kspec.schema.block_expand import expand_blocks
from kspec.schema.loader import Document
from kspec.schema.model import CompileModel, InputModel, SpecModel, TrainModel
from kspec.schema.space import SearchSpace, find_spaces

RESERVED_LAYER_KEYS = ("type", "name", "inputs", "call", "reuse")
#: Constant keyword arguments a layer may be called with (`call: {training: false}`), and their types.
CALL_ARGUMENTS = {"training": bool, "use_causal_mask": bool}


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
    #: `reuse: NAME`: this entry calls the earlier layer NAME again (a shared layer). The graph
    #: gives the entry NAME's type, arguments and rule; the weights stay NAME's.
    reuse: str = ""

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


def _check_keys(doc: Document, data: Any, model: type[BaseModel], path: Path, what: str) -> None:
    """Unknown keys are errors (never silently dropped), with a did-you-mean."""
    if not isinstance(data, dict):
        return
    allowed = _fields(model)
    for key in data:
        if key not in allowed:
            hint = names.did_you_mean(key, allowed)
            raise doc.error(path + (key,), f"unknown key {key!r} in {what}{hint}")


def pydantic_error(doc: Document, exc: ValidationError, base: Path = (), what: str = "") -> SpecError:
    """The first pydantic error as a one-line `SpecError` at its position."""
    errors = exc.errors(include_url=False)
    # A union (`metrics: [acuracy]`) reports one error per branch; the one that got deepest
    # into the data is the branch the user meant.
    err = max(errors, key=lambda e: len(_real_path(doc.data, base, tuple(e["loc"]))))
    loc = tuple(err["loc"])
    path = _real_path(doc.data, base, loc)
    if err["type"] == "missing" and loc:
        path = path + (loc[-1],)
    kind = err["type"]
    value = err.get("input")
    if kind == "value_error":
        msg = err["msg"].removeprefix("Value error, ")
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
    doc: Document, raw: Any, index: int, allow_unsafe: bool, plugins: bool = False
) -> LayerSpec:
    path: Path = ("layers", index)
    if not isinstance(raw, dict):
        raise doc.error(path, f"a layer must be a mapping with 'type', got {raw!r}")
    if "reuse" in raw:
        return _validate_reuse(doc, raw, index, path)
    ltype = raw.get("type")
    if ltype is None:
        raise doc.error(
            path + ("type",),
            "required key 'type' is missing (a keras.layers class name, e.g. Dense; "
            "or `reuse: NAME` to call an earlier layer again)",
        )
    if not isinstance(ltype, str):
        raise doc.error(path + ("type",), f"must be a layer class name, got {ltype!r}")
    rule_types = known_types()
    if ltype in names.UNSAFE_LAYERS and not allow_unsafe:
        raise doc.error(
            path + ("type",),
            f"{ltype} layers run code that is not in the spec and are refused; "
            "pass --allow-unsafe (allow_unsafe=True) if you trust this spec",
        )
    if ltype not in rule_types and ltype not in names.KERAS_LAYERS and not plugins:
        raise doc.error(
            path + ("type",),
            names.unknown("layer type", ltype, rule_types | names.KERAS_LAYERS)
            + " (custom layers need their module in `plugins:`)",
        )
    name = raw.get("name")
    if name is not None and not types.is_name(name):
        raise doc.error(path + ("name",), f"{types.NAME_RULE}, got {name!r}")
    inputs = raw.get("inputs")
    if inputs is not None:
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise doc.error(
                path + ("inputs",), f"must be a name or a list of names, got {raw.get('inputs')!r}"
            )
    args = {k: v for k, v in raw.items() if k not in RESERVED_LAYER_KEYS}
    rule: LayerArgs | None = None
    cls = lookup(ltype)
    if cls is not None:
        allowed = argument_names(cls)  # aliases: MultiHeadAttention's `output_shape`
        for key in args:
            if key not in allowed:
                raise doc.error(
                    path + (key,), f"{ltype} has no argument {key!r}" + names.did_you_mean(key, allowed)
                )
        try:
            rule = cls.model_validate(args)
        except ValidationError as exc:
            raise pydantic_error(doc, exc, path, ltype) from None
    else:
        _check_generic_args(doc, args, path)
    call = _call_arguments(doc, raw.get("call"), path + ("call",))
    return LayerSpec(
        index=index, type=ltype, name=name or "", inputs=inputs, args=args, rule=rule, path=path, call=call
    )


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
    if inputs is not None:
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
    )


def _call_arguments(doc: Document, value: Any, path: Path) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, f"must be a mapping of call arguments like {{training: false}}, got {value!r}")
    for key, v in value.items():
        kind = CALL_ARGUMENTS.get(key)
        if kind is None:
            raise doc.error(
                path + (key,),
                f"unknown call argument {key!r}; a call may fix {', '.join(sorted(CALL_ARGUMENTS))}"
                + names.did_you_mean(str(key), list(CALL_ARGUMENTS)),
            )
        if not isinstance(v, kind):
            raise doc.error(path + (key,), f"must be true or false, got {v!r}")
    return dict(value)


def _check_generic_args(doc: Document, args: dict[str, Any], path: Path) -> None:
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
                types._check_object_args(kind[0], value)
        except ValueError as exc:
            raise doc.error(path + (key,), str(exc)) from None


def _check_data_path(doc: Document, data: dict[str, Any]) -> None:
    """`train.data.path` must name a file beside the spec (checked only for specs read from files)."""
    source = (data.get("train") or {}).get("data") or {}
    path = source.get("path")
    if not isinstance(path, str) or not doc.file or doc.file.startswith("<") or not os.path.isfile(doc.file):
        return
    full = os.path.join(os.path.dirname(os.path.abspath(doc.file)), os.path.expanduser(path))
    where = ("train", "data", "path")
    if not os.path.exists(full):
        raise doc.error(where, f"no such file {path!r} (paths are relative to the spec file)")
    if not os.path.isfile(full):
        raise doc.error(where, f"{path!r} is not a file")


def validate(doc: Document, *, allow_unsafe: bool = False) -> Spec:
    """Check the whole tree; raise the first problem as a located `SpecError`.

    Search spaces (`{tune: ...}`) are validated first; the rest of the tree is checked with
    each space at its default (`kspec.graph.space` checks the other points of the space).
    """
    search = find_spaces(doc)
    if search is None:
        return _validate_plain(doc, allow_unsafe)
    try:
        spec = _validate_plain(search.at(search.defaults()), allow_unsafe)
    except SpecError as exc:
        raise SpecError(
            f"{exc.message} (with the search space at its defaults)",
            file=exc.file,
            line=exc.line,
            col=exc.col,
            path=exc.path,
        ) from None
    return dataclasses.replace(spec, search=search)


def _validate_plain(doc: Document, allow_unsafe: bool) -> Spec:
    doc = expand_blocks(doc)  # `blocks:` and `{block: ...}` entries become flat layers first
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), f"a spec must be a mapping with 'inputs' and 'layers', got {type(data).__name__}")
    _check_keys(doc, data, SpecModel, (), "the spec")
    for i, item in enumerate(data.get("inputs") or [] if isinstance(data.get("inputs"), list) else []):
        _check_keys(doc, item, InputModel, ("inputs", i), "an input")
    if isinstance(data.get("compile"), dict):
        _check_keys(doc, data["compile"], CompileModel, ("compile",), "compile")
    if isinstance(data.get("train"), dict):
        _check_keys(doc, data["train"], TrainModel, ("train",), "train")
    for key in ("inputs", "layers"):
        if key not in data:
            raise doc.error((), f"required key {key!r} is missing")
    try:
        model = SpecModel.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
    for i, module in enumerate(model.plugins):
        if not all(part.isidentifier() for part in module.split(".")):
            raise doc.error(("plugins", i), f"must be a Python module name (a.b.c), got {module!r}")
    _check_data_path(doc, data)
    layers = [
        _validate_layer(doc, raw, i, allow_unsafe, bool(model.plugins))
        for i, raw in enumerate(data["layers"])
    ]
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
        compile=data.get("compile"),
        train=data.get("train"),
        description=model.description,
        plugins=list(model.plugins),
        document=doc,
        allow_unsafe=allow_unsafe,
        raw=data,
        api_given="api" in data,
        backend=model.backend,
    )
