"""Reusable blocks: the top-level `blocks:` section and `{block: NAME, ...}` entries.

A block is a named sub-network with typed parameters, its own inputs, layers and outputs:

    blocks:
      conv_bn:
        params: {filters: int, strides: {type: int, default: 1}}
        layers:
          - {type: Conv2D, name: conv, filters: "${filters}", kernel_size: 3, strides: "${strides}"}
          - {type: BatchNormalization, name: bn}
    layers:
      - {block: conv_bn, name: stem, filters: 32, strides: 2}
      - {block: conv_bn, repeat: 3, name: "body${index}", filters: "${32 * (index + 1)}"}

Blocks expand here, in the schema stage, into the flat layer list that `kspec expand` prints:
every later stage sees one flat spec (layer `stem_conv`, `stem_bn`, `body0_conv`, ...), and the
returned `ExpandedDocument` keeps, for every flat layer, where it is defined and which block
instance it belongs to. Errors about a flat layer therefore name the block's definition line
and the line where the block is used; the graph stage reads the instance tree for nested
check rows, subclass layers and diagram clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kspec.errors import Path, SpecError, format_path
from kspec.schema import names as known_names
from kspec.schema.loader import Document

#: Blocks used inside blocks: at most this many levels (a ResNet needs 2).
MAX_BLOCK_DEPTH = 8
#: Copies one `repeat:` may make.
MAX_REPEAT = 1000
#: Layers all blocks together may expand to (a ResNet-152 has about 520).
MAX_EXPANDED_LAYERS = 20_000

PARAM_TYPES = ("int", "float", "string", "bool", "list")
USE_KEYS = ("block", "name", "inputs", "repeat", "if")
BLOCK_KEYS = ("params", "inputs", "layers", "outputs", "description")
#: Names every block body and repeated use can read, besides the block's parameters.
BUILTIN_NAMES = ("index", "count")


@dataclass
class Param:
    name: str
    type: str
    path: Path
    default: Any = None
    required: bool = True


@dataclass
class BlockDef:
    """One `blocks:` entry, its structure checked (its layers are checked once used)."""

    name: str
    params: dict[str, Param]
    inputs: list[str]
    layers: list[Any]
    outputs: list[Any] | None
    path: Path


@dataclass(eq=False)
class BlockInstance:
    """One use (one copy, with `repeat:`) of a block, as expanded.

    `name` is the flat name, the prefix of its layers' names (`conv2_block1`); `members` lists,
    in order, the flat names of its own layers and its child instances.
    """

    name: str
    local_name: str
    block: str
    use_path: Path
    parent: BlockInstance | None
    copy: int | None = None
    copies: int = 1
    args: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)  # the block's own names for them
    members: list[str | BlockInstance] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    @property
    def qualified_name(self) -> str:
        """`conv2/block1`: the instance's place in the hierarchy (Keras weight paths use it too)."""
        if self.parent is None:
            return self.local_name
        return f"{self.parent.qualified_name}/{self.local_name}"

    def walk(self) -> list[BlockInstance]:
        """This instance and every instance inside it, parents first."""
        out: list[BlockInstance] = [self]
        for member in self.members:
            if isinstance(member, BlockInstance):
                out += member.walk()
        return out

    def layer_names(self) -> list[str]:
        """Flat names of every layer inside (nested instances too), in order."""
        out: list[str] = []
        for member in self.members:
            out += member.layer_names() if isinstance(member, BlockInstance) else [member]
        return out


@dataclass
class Origin:
    """Where a flat layer comes from: its entry in the file, and its block instance (or None)."""

    path: Path
    instance: BlockInstance | None


class ExpandedDocument(Document):
    """The flat spec, with each flat layer's origin: errors point at the file as written.

    `data` is the expanded tree (what `kspec expand` prints); `original` the tree as written,
    whose `positions` this document keeps.
    """

    def __init__(
        self,
        data: Any,
        file: str | None,
        positions: dict[Path, tuple[int, int]],
        original: Any,
        origins: dict[int, Origin],
        instances: list[BlockInstance],
    ) -> None:
        super().__init__(data=data, file=file, positions=positions)
        self.original = original
        self.origins = origins
        self.instances = instances

    def origin(self, path: Path) -> tuple[Path, BlockInstance | None]:
        """The written path of a flat path (`layers[40].filters` -> `blocks.b.layers[2].filters`)."""
        path = tuple(path)
        if len(path) >= 2 and path[0] == "layers" and isinstance(path[1], int) and path[1] in self.origins:
            found = self.origins[path[1]]
            return found.path + path[2:], found.instance
        if path[:1] == ("outputs",):
            return ("outputs",) if isinstance(self.original.get("outputs"), str) else path, None
        return path, None

    def where(self, path: Path) -> tuple[int | None, int | None]:
        written, _ = self.origin(path)
        return super().where(written)

    def error(self, path: Path, message: str) -> SpecError:
        written, instance = self.origin(path)
        line, col = super().where(written)
        return SpecError(message + used_at(self, instance), file=self.file, line=line, col=col, path=written)

    def all_instances(self) -> list[BlockInstance]:
        return [i for top in self.instances for i in top.walk()]


def _place(doc: Document, path: Path) -> str:
    line, col = Document.where(doc, path)  # a path as written, never a flat one
    return f"{doc.file or '<spec>'}:{line}:{col or 1}" if line is not None else (doc.file or "<spec>")


def used_at(doc: Document, instance: BlockInstance | None) -> str:
    """` (in block 'b' as conv2_block1, copy 0 of 3, used at f.yaml:30:7 (layers[2]); ...)`."""
    parts = []
    while instance is not None:
        copy = f", copy {instance.copy} of {instance.copies}" if instance.copy is not None else ""
        parts.append(
            f"in block {instance.block!r} as {instance.name!r}{copy}, used at "
            f"{_place(doc, instance.use_path)} ({format_path(instance.use_path)})"
        )
        instance = instance.parent
    return f" ({'; '.join(parts)})" if parts else ""


def has_blocks(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    layers = data.get("layers")
    uses = isinstance(layers, list) and any(isinstance(e, dict) and "block" in e for e in layers)
    return "blocks" in data or uses


# --- definitions ------------------------------------------------------------------------


def _is_identifier(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and name.isascii()


def parse_definitions(doc: Document) -> dict[str, BlockDef]:
    """Check the `blocks:` section's structure: names, parameters and their defaults."""
    from kspec.schema.types import NAME_RULE, is_name

    raw = doc.data.get("blocks", {})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise doc.error(("blocks",), f"must be a mapping of block name -> definition, got {raw!r}")
    defs: dict[str, BlockDef] = {}
    for name, body in raw.items():
        path: Path = ("blocks", name)
        if not is_name(name):
            raise doc.error(path, f"block name {NAME_RULE}, got {name!r}")
        if not isinstance(body, dict):
            raise doc.error(path, f"a block must be a mapping with 'layers', got {body!r}")
        for key in body:
            if key not in BLOCK_KEYS:
                hint = known_names.did_you_mean(key, BLOCK_KEYS)
                raise doc.error(path + (key,), f"unknown key {key!r} in a block{hint}")
        layers = body.get("layers")
        if not isinstance(layers, list) or not layers:
            raise doc.error(
                path + ("layers",) if "layers" in body else path, "a block needs 'layers' (a non-empty list)"
            )
        inputs = body.get("inputs", ["x"])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(is_name(i) for i in inputs):
            raise doc.error(
                path + ("inputs",), f"must be a name or a list of names, got {body.get('inputs')!r}"
            )
        if len(set(inputs)) != len(inputs):
            raise doc.error(path + ("inputs",), "an input is listed twice")
        outputs = body.get("outputs")
        if isinstance(outputs, str):
            outputs = [outputs]
        if outputs is not None and (not isinstance(outputs, list) or not outputs):
            raise doc.error(
                path + ("outputs",), f"must be a name or a list of names, got {body.get('outputs')!r}"
            )
        defs[name] = BlockDef(
            name=name,
            params=_parse_params(doc, body.get("params"), path + ("params",)),
            inputs=list(inputs),
            layers=layers,
            outputs=outputs,
            path=path,
        )
    return defs


def _parse_params(doc: Document, raw: Any, path: Path) -> dict[str, Param]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise doc.error(path, f"must be a mapping of parameter name -> type, got {raw!r}")
    params: dict[str, Param] = {}
    for pname, decl in raw.items():
        where = path + (pname,)
        if (
            not _is_identifier(pname)
            or pname in USE_KEYS
            or pname in BUILTIN_NAMES
            or pname
            in (
                "true",
                "false",
                "True",
                "False",
                "and",
                "or",
                "not",
                "else",
            )
        ):
            raise doc.error(
                where,
                f"parameter name must be an identifier (letters, digits, '_') other than "
                f"{', '.join(USE_KEYS + BUILTIN_NAMES)} and the expression keywords, got {pname!r}",
            )
        if isinstance(decl, str):
            decl = {"type": decl}
        if not isinstance(decl, dict) or set(decl) - {"type", "default", "description"}:
            raise doc.error(
                where,
                f"declare a parameter as a type ({', '.join(PARAM_TYPES)}) or "
                f"{{type: int, default: 1}}, got {decl!r}",
            )
        ptype = decl.get("type")
        if ptype not in PARAM_TYPES:
            hint = known_names.did_you_mean(str(ptype), PARAM_TYPES)
            raise doc.error(
                where + ("type",) if "type" in decl else where,
                f"parameter type must be one of {', '.join(PARAM_TYPES)}, got {ptype!r}{hint}",
            )
        param = Param(name=pname, type=ptype, path=where)
        if "default" in decl:
            problem = type_problem(ptype, decl["default"])
            if problem:
                raise doc.error(where + ("default",), f"default of {pname!r} {problem}")
            param.default, param.required = coerce(ptype, decl["default"]), False
        params[pname] = param
    return params


def type_problem(ptype: str, value: Any) -> str | None:
    """Why `value` is not a `ptype`, or None. Ints count as floats; bools are not ints."""
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list),
    }[ptype]
    if ok:
        return None
    article = "an" if ptype == "int" else "a"
    return f"must be {article} {ptype}, got {value!r}"


def coerce(ptype: str, value: Any) -> Any:
    return float(value) if ptype == "float" else value
