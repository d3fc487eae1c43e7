"""Expand `{block: NAME, ...}` entries into the flat layer list (see `kspec.schema.blocks`).

Two passes. The first walks the entries, binds arguments, evaluates expressions, gives each
layer its flat name (`<instance>_<layer>`) and records its sources as flat names (or, for an
unnamed top-level layer, as its flat index). The second names the unnamed top-level layers as
the resolver would, turns the indices into names, and leaves `inputs:` out wherever the
default (the entry above) already says it, so `kspec expand` prints what one would write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kspec.errors import Path, SpecError
from kspec.schema import expr
from kspec.schema import names as known_names
from kspec.schema.blocks import (
    MAX_BLOCK_DEPTH,
    MAX_EXPANDED_LAYERS,
    MAX_REPEAT,
    USE_KEYS,
    BlockDef,
    BlockInstance,
    ExpandedDocument,
    Origin,
    _place,
    coerce,
    has_blocks,
    parse_definitions,
    type_problem,
    used_at,
)
from kspec.schema.loader import Document

Source = str | int  # a flat name, or the flat index of a layer named in pass two


@dataclass
class _Scope:
    """Names visible to one list of entries (the model's layers, or one block instance's)."""

    env: dict[str, Any] | None  # expression names; None at the top level (no expressions there)
    names: dict[str, Source | BlockInstance | _Skipped]  # local name -> what it refers to
    prefix: str  # flat-name prefix of the layers made here
    instance: BlockInstance | None
    chain: tuple[str, ...] = ()  # block names being expanded (recursion guard)
    previous: Source | BlockInstance | None = None  # what an entry without `inputs:` reads
    auto: dict[str, int] = field(default_factory=dict)


@dataclass
class _Skipped:
    """An entry whose `if:` is false: readers read its input instead (a merge: its last input,
    the main path where the skip connection comes first, as in `Add([shortcut, x])`)."""

    source: Source | BlockInstance


_SNAKE_1 = re.compile(r"(.)([A-Z][a-z]+)")
_SNAKE_2 = re.compile(r"([a-z])([A-Z])")


def snake_case(name: str) -> str:
    """Keras's default layer name for a class, as the resolver assigns it."""
    return _SNAKE_2.sub(r"\1_\2", _SNAKE_1.sub(r"\1_\2", name)).lower()


class Expander:
    def __init__(self, doc: Document, defs: dict[str, BlockDef]) -> None:
        self.doc = doc
        self.defs = defs
        self.layers: list[dict[str, Any]] = []
        self.sources: list[list[Source]] = []
        self.origins: dict[int, Origin] = {}
        self.instances: list[BlockInstance] = []

    # --- errors ----------------------------------------------------------------------------

    def at(self, path: Path, message: str, scope: _Scope | None = None) -> SpecError:
        """An error at `path` as written, naming the instances it sits in."""
        line, col = self.doc.where(path)
        note = used_at(self.doc, scope.instance) if scope is not None else ""
        return SpecError(message + note, file=self.doc.file, line=line, col=col, path=path)

    def defined(self, block: BlockDef) -> str:
        return f" (block {block.name!r} is defined at {_place(self.doc, block.path)})"

    # --- values ----------------------------------------------------------------------------

    def value(self, value: Any, path: Path, scope: _Scope, suffix: str = "") -> Any:
        """`value` with every `${...}` evaluated in `scope` (lists and mappings too)."""
        if scope.env is None:
            return value
        if isinstance(value, dict):
            return {k: self.value(v, path + (k,), scope, suffix) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, path + (i,), scope, suffix) for i, v in enumerate(value)]
        if expr.has_expression(value):
            try:
                return expr.substitute(value, scope.env)
            except expr.ExprError as exc:
                raise self.at(path, f"in {value!r}: {exc}{suffix}", scope) from None
        return value

    # --- walking entries -------------------------------------------------------------------

    def run(self) -> ExpandedDocument:
        data = self.doc.data
        inputs = data.get("inputs")
        model_inputs = (
            [i["name"] for i in inputs if isinstance(i, dict) and isinstance(i.get("name"), str)]
            if isinstance(inputs, list)
            else []
        )
        layers = data.get("layers")
        if not isinstance(layers, list) or not layers:
            raise self.at(
                ("layers",) if "layers" in data else (), "required key 'layers' is missing or empty"
            )
        scope = _Scope(env=None, names={n: n for n in model_inputs}, prefix="", instance=None)
        scope.previous = model_inputs[0] if len(model_inputs) == 1 else None
        self.entries(layers, ("layers",), scope, top=True)
        flat = {k: v for k, v in data.items() if k != "blocks"}
        flat["layers"] = self.finish(model_inputs)
        outputs = self.outputs(data, scope)
        if outputs is not None:
            flat["outputs"] = outputs
        return ExpandedDocument(
            data=flat,
            file=self.doc.file,
            positions=self.doc.positions,
            original=data,
            origins=self.origins,
            instances=self.instances,
        )

    def entries(self, entries: list[Any], path: Path, scope: _Scope, top: bool = False) -> None:
        for j, entry in enumerate(entries):
            where = path + (j,)
            if not isinstance(entry, dict):
                if top:  # the validator says what a layer must be
                    self.plain(entry, where, scope, top)
                    continue
                raise self.at(
                    where, f"a layer must be a mapping with 'type' or 'block', got {entry!r}", scope
                )
            if "block" in entry:
                self.use(entry, where, scope)
            else:
                self.plain(entry, where, scope, top)

    def _condition(self, entry: dict[str, Any], where: Path, scope: _Scope) -> bool:
        if "if" not in entry:
            return True
        if scope.env is None and "block" not in entry:
            raise self.at(where + ("if",), "'if:' is for entries inside blocks and block uses", scope)
        cond = self.value(entry["if"], where + ("if",), scope if scope.env is not None else _const(scope))
        if not isinstance(cond, bool):
            raise self.at(where + ("if",), f"must be true or false, got {cond!r}", scope)
        return cond

    def _read(self, ref: Any, where: Path, scope: _Scope) -> Source:
        """The flat source a name in `inputs:` refers to."""
        if not isinstance(ref, str):
            raise self.at(where, f"must be a name, got {ref!r}", scope)
        base, _, output = ref.partition("/")
        target = scope.names.get(base)
        while isinstance(target, _Skipped):
            target = target.source
        if isinstance(target, BlockInstance):
            return self._instance_output(target, output, where, scope, ref)
        if target is None or output:
            if scope.instance is None and not output:
                return ref  # the resolver reports unknown top-level names, with did-you-mean
            known = [n for n in scope.names if not isinstance(scope.names[n], _Skipped)]
            raise self.at(
                where,
                f"unknown input {ref!r} in block {scope.instance.block if scope.instance else ''!r}"
                + known_names.did_you_mean(base, known)
                + f" (readable here: {', '.join(known)})",
                scope,
            )
        return target

    def _instance_output(
        self, inst: BlockInstance, output: str, where: Path, scope: _Scope, ref: str
    ) -> Source:
        if not output:
            if len(inst.outputs) != 1:
                outs = ", ".join(f"{inst.local_name}/{o}" for o in self._local_outputs(inst))
                raise self.at(
                    where,
                    f"block instance {inst.local_name!r} has {len(inst.outputs)} outputs; read one: {outs}",
                    scope,
                )
            return inst.outputs[0]
        local = self._local_outputs(inst)
        if output not in local:
            raise self.at(
                where, f"block {inst.block!r} has no output {output!r} (outputs: {', '.join(local)})", scope
            )
        return inst.outputs[local.index(output)]

    def _local_outputs(self, inst: BlockInstance) -> list[str]:
        return inst.output_names

    def _previous(self, where: Path, scope: _Scope) -> Source | None:
        prev = scope.previous
        while isinstance(prev, _Skipped):
            prev = prev.source
        if isinstance(prev, BlockInstance):
            return self._instance_output(prev, "", where, scope, prev.local_name)
        return prev

    def plain(self, entry: Any, where: Path, scope: _Scope, top: bool) -> None:
        if not isinstance(entry, dict):
            index = self.add(entry, where, scope, [])
            scope.previous = index
            return
        if not self._condition(entry, where, scope):
            skipped = self._sources(entry, where, scope)
            name = entry.get("name")
            target = _Skipped(skipped[-1] if skipped else scope.previous)  # type: ignore[arg-type]
            if isinstance(name, str):
                scope.names[name] = target
            scope.previous = target  # type: ignore[assignment]
            return
        if "reuse" in entry and scope.instance is not None:
            raise self.at(
                where + ("reuse",),
                "`reuse:` (a shared layer) is for entries outside blocks; inside a block each "
                "instance makes its own layers",
                scope,
            )
        body = {k: self.value(v, where + (k,), scope) for k, v in entry.items() if k not in ("inputs", "if")}
        sources = self._sources(entry, where, scope)
        local = body.get("name")
        if scope.instance is not None:
            if local is None:
                local = self._auto(str(body.get("type", "layer")), scope)
            if not isinstance(local, str):
                raise self.at(where + ("name",), f"must be a name, got {local!r}", scope)
            body["name"] = scope.prefix + local
        if isinstance(local, str) and local in scope.names:
            clash = scope.names[local]
            if scope.instance is not None:
                raise self.at(
                    where + ("name",), f"duplicate name {local!r} in block {scope.instance.block!r}", scope
                )
            if isinstance(clash, BlockInstance):
                raise self.at(
                    where + ("name",), f"duplicate name {local!r}: a block instance above has it", scope
                )
        index = self.add(body, where, scope, sources)
        ref: Source = body["name"] if isinstance(body.get("name"), str) else index
        if isinstance(local, str):
            scope.names.setdefault(local, ref)
        if scope.instance is not None:
            scope.instance.members.append(str(ref))
        scope.previous = ref

    def _auto(self, layer_type: str, scope: _Scope) -> str:
        base = snake_case(layer_type)
        n = scope.auto.get(base, 0)
        candidate = base if n == 0 else f"{base}_{n}"
        while candidate in scope.names:
            n += 1
            candidate = f"{base}_{n}"
        scope.auto[base] = n + 1
        return candidate

    def _sources(self, entry: dict[str, Any], where: Path, scope: _Scope) -> list[Source]:
        if "inputs" not in entry:
            prev = self._previous(where, scope)
            if prev is None and scope.instance is not None:
                raise self.at(
                    where,
                    "the first entry of a block with several inputs must say which it reads (`inputs:`)",
                    scope,
                )
            return [] if prev is None else [prev]
        raw = self.value(entry["inputs"], where + ("inputs",), scope)
        if isinstance(raw, dict):
            raise self.at(
                where + ("inputs",),
                "`inputs:` by argument name is not supported in a spec with blocks yet; "
                "write the tensors as a list of names",
                scope,
            )
        if isinstance(raw, str):
            return [self._read(raw, where + ("inputs",), scope)]
        if not isinstance(raw, list) or not raw:
            if scope.instance is None:
                return []  # the validator reports the bad value
            raise self.at(where + ("inputs",), f"must be a name or a list of names, got {raw!r}", scope)
        return [self._read(r, where + ("inputs", k), scope) for k, r in enumerate(raw)]

    def add(self, body: Any, where: Path, scope: _Scope, sources: list[Source]) -> int:
        if len(self.layers) >= MAX_EXPANDED_LAYERS:
            raise self.at(where, f"blocks expand to more than {MAX_EXPANDED_LAYERS:,} layers", scope)
        self.layers.append(body)
        self.sources.append(sources)
        index = len(self.layers) - 1
        self.origins[index] = Origin(path=where, instance=scope.instance)
        return index

    # --- block uses ------------------------------------------------------------------------

    def use(self, entry: dict[str, Any], where: Path, scope: _Scope) -> None:
        name = entry["block"]
        if not isinstance(name, str) or name not in self.defs:
            known = sorted(self.defs)
            hint = known_names.did_you_mean(str(name), known)
            raise self.at(
                where + ("block",),
                f"unknown block {name!r}{hint} (defined blocks: {', '.join(known) or 'none'})",
                scope,
            )
        block = self.defs[name]
        if name in scope.chain:
            cycle = " -> ".join((*scope.chain[scope.chain.index(name) :], name))
            raise self.at(
                where + ("block",),
                f"block {name!r} uses itself ({cycle}); blocks cannot be recursive" + self.defined(block),
                scope,
            )
        if len(scope.chain) >= MAX_BLOCK_DEPTH:
            raise self.at(
                where + ("block",),
                f"blocks nested more than {MAX_BLOCK_DEPTH} levels deep ({' -> '.join((*scope.chain, name))})",
                scope,
            )
        env = scope.env if scope.env is not None else {}
        const = _Scope(env=env, names=scope.names, prefix=scope.prefix, instance=scope.instance)
        if not self._condition(entry, where, const):
            sources = self._sources(entry, where, scope)
            target = _Skipped(sources[-1] if sources else scope.previous)  # type: ignore[arg-type]
            if isinstance(entry.get("name"), str):
                scope.names[entry["name"]] = target
            scope.previous = target  # type: ignore[assignment]
            return
        copies = 1
        repeated = "repeat" in entry
        if repeated:
            copies = self.value(entry["repeat"], where + ("repeat",), const, self.defined(block))
            if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= MAX_REPEAT:
                raise self.at(
                    where + ("repeat",),
                    f"must be an integer from 1 to {MAX_REPEAT} (the number of copies), got {copies!r}"
                    + self.defined(block),
                    scope,
                )
            if copies > 1 and (
                len(block.inputs) != 1 or (block.outputs is not None and len(block.outputs) != 1)
            ):
                raise self.at(
                    where + ("repeat",),
                    "only a block with one input and one output can be repeated (copy k reads copy k-1)"
                    + self.defined(block),
                    scope,
                )
        first_sources = self._sources(entry, where, scope)
        given_copies: dict[str, int] = {}
        previous: BlockInstance | None = None
        made: list[BlockInstance] = []
        for k in range(copies):
            cenv = dict(env)
            if repeated:
                cenv.update(index=k, count=copies)
            cscope = _Scope(env=cenv, names=scope.names, prefix=scope.prefix, instance=scope.instance)
            args = self.arguments(entry, where, block, cscope)
            local = self.instance_name(entry, where, block, cscope, k if repeated else None, scope)
            if local in scope.names or local in given_copies:
                other = f"copy {given_copies[local]}" if local in given_copies else "an entry above it"
                what = f"copy {k} of block {name!r}" if repeated else f"block {name!r}"
                raise self.at(
                    where + (("name",) if "name" in entry else ("block",)),
                    f"name clash: {what} is named {local!r}, like {other}; "
                    'give each copy its own name, e.g. name: "part${index}"' + self.defined(block),
                    scope,
                )
            given_copies[local] = k
            sources = (
                first_sources if previous is None else [self._instance_output(previous, "", where, scope, "")]
            )
            if len(sources) != len(block.inputs):
                raise self.at(
                    where + (("inputs",) if "inputs" in entry else ("block",)),
                    f"block {name!r} takes {len(block.inputs)} input(s) ({', '.join(block.inputs)}), "
                    f"got {len(sources)}" + self.defined(block),
                    scope,
                )
            inst = BlockInstance(
                name=scope.prefix + local,
                local_name=local,
                block=name,
                use_path=where,
                parent=scope.instance,
                copy=k if repeated else None,
                copies=copies,
                args=args,
                inputs=[self._resolved(s) for s in sources],
            )
            self.body(block, inst, sources, scope)
            if scope.instance is None:
                self.instances.append(inst)
            else:
                scope.instance.members.append(inst)
            previous = inst
            made.append(inst)
        assert previous is not None
        for inst in made:  # each copy is readable by its own name ...
            scope.names[inst.local_name] = inst
        raw_name = entry.get("name")
        if repeated and isinstance(raw_name, str) and not expr.has_expression(raw_name):
            scope.names.setdefault(raw_name, previous)  # ... and a plain `name:` means the last copy
        scope.previous = previous

    def _resolved(self, source: Source) -> str:
        return source if isinstance(source, str) else f"#{source}"

    def arguments(self, entry: dict[str, Any], where: Path, block: BlockDef, scope: _Scope) -> dict[str, Any]:
        args: dict[str, Any] = {}
        for key, raw in entry.items():
            if key in USE_KEYS:
                continue
            if key not in block.params:
                hint = known_names.did_you_mean(key, list(block.params))
                raise self.at(
                    where + (key,),
                    f"block {block.name!r} has no parameter {key!r}{hint} "
                    f"(parameters: {', '.join(block.params) or 'none'})" + self.defined(block),
                    scope,
                )
            value = self.value(raw, where + (key,), scope, self.defined(block))
            problem = type_problem(block.params[key].type, value)
            if problem:
                raise self.at(
                    where + (key,),
                    f"argument {key!r} of block {block.name!r} {problem} (parameter declared at "
                    f"{_place(self.doc, block.params[key].path)})",
                    scope,
                )
            args[key] = coerce(block.params[key].type, value)
        for pname, param in block.params.items():
            if pname in args:
                continue
            if param.required:
                raise self.at(
                    where,
                    f"block {block.name!r} needs argument {pname!r} ({param.type}; declared at "
                    f"{_place(self.doc, param.path)})",
                    scope,
                )
            args[pname] = param.default
        return args

    def instance_name(
        self,
        entry: dict[str, Any],
        where: Path,
        block: BlockDef,
        cscope: _Scope,
        copy: int | None,
        scope: _Scope,
    ) -> str:
        from kspec.schema.types import NAME_RULE, is_name

        if "name" not in entry:
            base = snake_case(block.name)
            n = scope.auto.get("block:" + base, 0)
            candidate = base if n == 0 else f"{base}_{n}"
            while candidate in scope.names:
                n += 1
                candidate = f"{base}_{n}"
            scope.auto["block:" + base] = n + 1
            return candidate
        raw = entry["name"]
        value = self.value(raw, where + ("name",), cscope, self.defined(block))
        if copy is not None and not expr.has_expression(raw):
            value = f"{value}_{copy}"
        if not is_name(value) or "/" in value:
            raise self.at(where + ("name",), f"{NAME_RULE}, got {value!r}" + self.defined(block), scope)
        return value

    def body(self, block: BlockDef, inst: BlockInstance, sources: list[Source], outer: _Scope) -> None:
        env = dict(inst.args)
        env.update(index=inst.copy or 0, count=inst.copies)
        names: dict[str, Any] = dict(zip(block.inputs, sources))
        scope = _Scope(
            env=env,
            names=names,
            prefix=inst.name + "_",
            instance=inst,
            chain=(*outer.chain, block.name),
            previous=sources[0] if len(block.inputs) == 1 else None,
        )
        self.entries(block.layers, block.path + ("layers",), scope)
        if block.outputs is None:
            outs: list[Source] = [self._previous(block.path + ("layers",), scope)]  # type: ignore[list-item]
            local_outs = ["output"]
        else:
            local_outs = []
            outs = []
            for k, ref in enumerate(block.outputs):
                path = block.path + ("outputs", k) if len(block.outputs) > 1 else block.path + ("outputs",)
                value = self.value(ref, path, scope)
                outs.append(self._read(value, path, scope))
                local_outs.append(str(value))
        if not inst.members:
            raise self.at(
                block.path, f"block {block.name!r} makes no layers here (every entry's 'if:' is false)", scope
            )
        inst.outputs = [self._resolved(o) for o in outs]
        inst.output_names = local_outs

    # --- pass two --------------------------------------------------------------------------

    def finish(self, model_inputs: list[str]) -> list[Any]:
        """Name unnamed top-level layers (as the resolver would), then write `inputs:` only where
        the default (the entry above) would read something else."""
        taken = set(model_inputs) | {
            b["name"] for b in self.layers if isinstance(b, dict) and isinstance(b.get("name"), str)
        }
        names: list[str | None] = []
        for body in self.layers:
            if not isinstance(body, dict):
                names.append(None)
                continue
            if isinstance(body.get("name"), str):
                names.append(body["name"])
                continue
            base = snake_case(str(body.get("type", "layer")))
            candidate, n = base, 0
            while candidate in taken:
                n += 1
                candidate = f"{base}_{n}"
            taken.add(candidate)
            names.append(candidate)

        def flat(source: Source) -> str:
            if isinstance(source, int):
                return names[source] or f"#{source}"
            if source.startswith("#") and source[1:].isdigit():
                return names[int(source[1:])] or source
            return source

        for inst in [i for top in self.instances for i in top.walk()]:
            inst.inputs = [flat(s) for s in inst.inputs]
            inst.outputs = [flat(s) for s in inst.outputs]
            inst.members = [flat(m) if isinstance(m, str) else m for m in inst.members]
        out: list[Any] = []
        for i, (body, sources) in enumerate(zip(self.layers, self.sources)):
            if not isinstance(body, dict):
                out.append(body)
                continue
            entry: dict[str, Any] = {"type": body.get("type"), "name": names[i]}
            if "type" not in body:
                entry.pop("type")
            wired = [flat(s) for s in sources]
            default = [names[i - 1]] if i > 0 else model_inputs[:1] if len(model_inputs) == 1 else []
            if wired and wired != default:
                entry["inputs"] = wired[0] if len(wired) == 1 else wired
            entry.update({k: v for k, v in body.items() if k not in ("type", "name")})
            out.append(entry)
        self._flat = flat
        return out

    def outputs(self, data: dict[str, Any], scope: _Scope) -> Any:
        raw = data.get("outputs")
        if raw is None:
            last = scope.previous
            if isinstance(last, BlockInstance):
                outs = [self._flat(o) for o in last.outputs]
                return outs[0] if len(outs) == 1 else outs
            return None
        refs = [raw] if isinstance(raw, str) else raw
        if not isinstance(refs, list):
            return raw
        result = []
        for k, ref in enumerate(refs):
            if not isinstance(ref, str):
                result.append(ref)
                continue
            base, _, output = ref.partition("/")
            target = scope.names.get(base)
            path = ("outputs", k) if isinstance(raw, list) else ("outputs",)
            if isinstance(target, BlockInstance):
                result.append(self._flat(self._instance_output(target, output, path, scope, ref)))
            else:
                result.append(ref)
        return result[0] if isinstance(raw, str) else result


def _const(scope: _Scope) -> _Scope:
    return _Scope(env={}, names=scope.names, prefix=scope.prefix, instance=scope.instance)


def expand_blocks(doc: Document) -> Document:
    """`doc` itself when it has no blocks; otherwise the flat `ExpandedDocument`."""
    if not has_blocks(doc.data) or isinstance(doc, ExpandedDocument):
        return doc
    return Expander(doc, parse_definitions(doc)).run()
