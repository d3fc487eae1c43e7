"""Read YAML or JSON text into plain Python data plus the position of every node.

Only PyYAML's safe constructors are used: a tag that would build a Python object
(`!!python/object`, ...) is an error. Aliases are counted while expanding, so an
alias bomb is refused after a bounded amount of work.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from kspec.errors import Path, SpecError

MAX_BYTES = 2_000_000  # a hand-written spec is a few KB; refuse megabytes before parsing
MAX_NODES = 200_000  # bound on expanded nodes (alias bombs)
MAX_DEPTH = 100  # nesting levels; a spec needs fewer than 10

_SAFE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass
class Document:
    """Parsed spec data with `positions[path] = (line, col)` (1-based) for every node."""

    data: Any
    file: str | None = None
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path) -> tuple[int | None, int | None]:
        """Position of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.positions:
                return self.positions[path]
            if not path:
                return None, None
            path = path[:-1]

    def error(self, path: Path, message: str) -> SpecError:
        line, col = self.where(path)
        return SpecError(message, file=self.file, line=line, col=col, path=path)


_UNCLOSED = {"while parsing a flow mapping": "{", "while parsing a flow sequence": "["}


def _mark_error(file: str | None, exc: yaml.MarkedYAMLError) -> SpecError:
    opener = _UNCLOSED.get(exc.context or "")
    if opener and exc.context_mark and exc.problem_mark and exc.problem_mark.line > exc.context_mark.line:
        # An unclosed `{` or `[`: PyYAML notices on a later line; the mistake is where it opened.
        closer = "}" if opener == "{" else "]"
        mark = exc.context_mark
        return SpecError(
            f"YAML syntax error: this {opener!r} is never closed "
            f"(expected ',' or {closer!r} before line {exc.problem_mark.line + 1})",
            file=file,
            line=mark.line + 1,
            col=mark.column + 1,
        )
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if exc.context and exc.problem:
        problem = f"{exc.context}, {exc.problem}"
    line = mark.line + 1 if mark else None
    col = mark.column + 1 if mark else None
    return SpecError(f"YAML syntax error: {problem}", file=file, line=line, col=col)


# A number with an exponent but no dot: a float in YAML 1.2 and JSON, a string in PyYAML's YAML 1.1.
_EXPONENT_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")


class _Builder:
    def __init__(self, file: str | None) -> None:
        self.file = file
        self.positions: dict[Path, tuple[int, int]] = {}
        self.count = 0
        self.constructor = yaml.SafeLoader("")
        self.merged: dict[int, int] = {}

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                f"spec too large: more than {MAX_NODES} nodes after expanding aliases",
                file=self.file,
                line=node.start_mark.line + 1,
                col=node.start_mark.column + 1,
            )
        pos = (node.start_mark.line + 1, node.start_mark.column + 1)
        if len(path) > MAX_DEPTH and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            raise SpecError(
                f"nested more than {MAX_DEPTH} levels deep", file=self.file, line=pos[0], col=pos[1]
            )
        self.positions[path] = pos
        if node.tag not in _SAFE_TAGS:
            raise SpecError(
                f"YAML tag {node.tag!r} is not allowed (kspec never constructs objects from a spec)",
                file=self.file,
                line=pos[0],
                col=pos[1],
                path=path,
            )
        if isinstance(node, yaml.MappingNode):
            if id(node) not in self.merged:  # merge keys (<<): merged pairs come first, once per node
                explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
                self.constructor.flatten_mapping(node)
                self.merged[id(node)] = len(node.value) - explicit
            merged = self.merged[id(node)]
            out: dict[str, Any] = {}
            written: set[str] = set()  # keys written in this mapping (they may override merged ones)
            for i, (key_node, value_node) in enumerate(node.value):
                key = self.build(key_node, path + ("<key>",))
                if not isinstance(key, str):
                    key = str(key) if isinstance(key, (int, float, bool)) or key is None else key
                if not isinstance(key, str):
                    raise SpecError(
                        "mapping keys must be strings",
                        file=self.file,
                        line=key_node.start_mark.line + 1,
                        col=key_node.start_mark.column + 1,
                        path=path,
                    )
                if i >= merged and key in written:
                    raise SpecError(
                        f"duplicate key {key!r}",
                        file=self.file,
                        line=key_node.start_mark.line + 1,
                        col=key_node.start_mark.column + 1,
                        path=path + (key,),
                    )
                if i >= merged:
                    written.add(key)
                out[key] = self.build(value_node, path + (key,))
            self.positions.pop(path + ("<key>",), None)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, str) and not node.style and path[-1:] != ("<key>",):
            if _EXPONENT_FLOAT.fullmatch(value):  # YAML 1.1 reads `1e-6` (JSON's spelling) as a string
                return float(value)
        return value


def _too_deep(text: str, file: str | None) -> SpecError:
    """Locate the first place nested deeper than `MAX_DEPTH` (PyYAML's event parser is iterative)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH + 1:  # the root collection is level 0
                    mark = event.start_mark
                    return SpecError(
                        f"nested more than {MAX_DEPTH} levels deep",
                        file=file,
                        line=mark.line + 1,
                        col=mark.column + 1,
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        return _mark_error(file, exc)
    except (yaml.YAMLError, RecursionError):
        pass
    return SpecError(f"nested more than {MAX_DEPTH} levels deep", file=file, line=1, col=1)


def _children(node: yaml.Node) -> list[tuple[Any, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[Any, yaml.Node]] = []
        for key, value in node.value:
            out += [("<key>", key), (key.value if isinstance(key, yaml.ScalarNode) else "<key>", value)]
        return out
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    return []


def _check_expanded_size(root: yaml.Node, file: str | None) -> None:
    """Refuse alias bombs and recursive aliases before building anything.

    Sizes are computed once per distinct node (memoized), so the work is bounded by the text,
    not by the expansion. The error points at the innermost collection written in the file
    whose aliases push the expanded tree over `MAX_NODES`.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:  # iterative post-order: deep nesting cannot exhaust the Python stack
        node, state = stack.pop()
        key = id(node)
        if state == 0:
            if key in sizes:
                continue
            if key in active:
                mark = node.start_mark
                raise SpecError(
                    "a YAML alias refers to a node that contains it (recursive alias)",
                    file=file,
                    line=mark.line + 1,
                    col=mark.column + 1,
                )
            active.add(key)
            stack.append((node, 1))
            for _, child in reversed(_children(node)):
                if id(child) not in sizes:
                    stack.append((child, 0))
        else:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for _, c in _children(node))
    if sizes[id(root)] <= MAX_NODES:
        return
    path: tuple[Any, ...] = ()
    node, budget = root, MAX_NODES
    descend = True
    while descend:
        descend = False
        used = 1
        for part, child in _children(node):
            size = sizes[id(child)]
            if used + size > budget:
                written_here = (
                    node.start_mark.index <= child.start_mark.index
                    and child.end_mark.index <= node.end_mark.index
                )
                if written_here and part != "<key>" and _children(child):
                    node, path, budget, descend = child, path + (part,), budget - used, True
                break
            used += size
    mark = node.start_mark
    raise SpecError(
        f"spec too large: more than {MAX_NODES:,} nodes once YAML aliases are expanded "
        f"({sizes[id(root)]:,}); an alias bomb?",
        file=file,
        line=mark.line + 1,
        col=mark.column + 1,
        path=path,
    )


def _nesting_depth(text: str, loader_class: type) -> int:
    """The deepest nesting of collections, from the parser's events (iterative: no recursion).

    A syntax error counts as shallow: composing then raises it, with its position.
    """
    depth = deepest = 0
    try:
        for event in yaml.parse(text, Loader=loader_class):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                deepest = max(deepest, depth)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return 0
    return deepest


def _fast_loader(text: str) -> type:
    """libyaml's `CSafeLoader` (about 7x faster, same nodes and marks) when the text does not nest deeply.

    libyaml's parser is a state machine, but its composer recurses in C, where deep nesting would
    crash instead of raising: the C parser's events measure the depth first (cheap). Deeper texts
    (or no libyaml) go to the pure-Python loader, whose deep-nesting errors are catchable.
    """
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is None or _nesting_depth(text, c_loader) > MAX_DEPTH + 1:
        return yaml.SafeLoader
    return c_loader


def _compose(text: str) -> Any:
    """The node tree; a syntax error is re-read by the Python loader, whose messages say more."""
    loader_class = _fast_loader(text)
    while True:
        loader = loader_class(text)
        try:
            return loader.get_single_node()
        except yaml.YAMLError:
            if loader_class is yaml.SafeLoader:
                raise
            loader_class = yaml.SafeLoader
        finally:
            loader.dispose()


def parse(text: str | bytes, file: str | None = None) -> Document:
    """Parse YAML (or JSON, which is read the same way) into a `Document`."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise SpecError(
                f"file too large ({len(text)} bytes; the limit is {MAX_BYTES})", file=file, line=1, col=1
            )
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = exc.object[: exc.start]
            line = before.count(b"\n") + 1
            col = len(before) - (before.rfind(b"\n") + 1) + 1
            raise SpecError(
                f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                file=file,
                line=line,
                col=col,
            ) from None
    if len(text) > MAX_BYTES:
        raise SpecError(
            f"file too large ({len(text)} characters; the limit is {MAX_BYTES})", file=file, line=1, col=1
        )
    is_json = bool(file and file.lower().endswith(".json"))
    if is_json:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"JSON syntax error: {exc.msg}", file=file, line=exc.lineno, col=exc.colno
            ) from None
        except RecursionError:
            raise _too_deep(text, file) from None
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        raise _mark_error(file, exc) from None
    except yaml.reader.ReaderError as exc:  # a control character: not a MarkedYAMLError
        prefix = text[: exc.position]
        line, col = prefix.count("\n") + 1, exc.position - (prefix.rfind("\n") + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise SpecError(
            f"YAML syntax error: character {ord(char):#06x} is not allowed in YAML",
            file=file,
            line=line,
            col=col,
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError("YAML error: " + " ".join(str(exc).split()), file=file, line=1, col=1) from None
    except RecursionError:
        raise _too_deep(text, file) from None
    if node is None:
        raise SpecError("the spec is empty", file=file, line=1, col=1)
    if "*" in text:  # without an alias (`*name`) nothing expands: the builder's node count suffices
        _check_expanded_size(node, file)
    builder = _Builder(file)
    try:
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise _mark_error(file, exc) from None
    except RecursionError:
        raise _too_deep(text, file) from None
    return Document(data=data, file=file, positions=builder.positions)
