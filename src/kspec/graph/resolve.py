"""Resolve a `Spec` into a `Graph`: names, wiring, shapes and parameter counts.

The three builders and the diagram all consume this one graph; none re-reads the spec.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from kspec.errors import Problems, SpecError
from kspec.layers.registry import Shape, ShapeError, format_shape
from kspec.schema.call_inputs import keyword_tensor_count
from kspec.schema.names import did_you_mean
from kspec.schema.options import BuildOptions
from kspec.schema.validate import InputSpec, LayerSpec, Spec


@dataclass
class Node:
    """A layer in the resolved graph."""

    spec: LayerSpec
    name: str
    sources: list[str]
    output_shape: Shape | None = None  # None: not known without Keras
    trainable_params: int | None = None
    non_trainable_params: int | None = None
    note: str = ""
    #: every output's shape when the layer returns several tensors (`NAME:K` reads output K)
    output_shapes: list[Shape] | None = None

    @property
    def output_count(self) -> int:
        return len(self.output_shapes) if self.output_shapes else 1

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def shares(self) -> str:
        """The node whose layer this one calls again (`reuse:`), or ""."""
        return self.spec.reuse

    @property
    def params(self) -> int | None:
        if self.trainable_params is None or self.non_trainable_params is None:
            return None
        return self.trainable_params + self.non_trainable_params

    @property
    def keywords(self) -> dict[str, int | list[int]]:
        """The call's keyword tensors, as positions in `sources` (`inputs:` by name)."""
        return self.spec.keywords

    @property
    def positional_count(self) -> int:
        """How many of `sources` are positional (the rest are keyword tensors, after them)."""
        return len(self.sources) - keyword_tensor_count(self.spec.keywords)

    @property
    def call_style(self) -> str:
        if self.spec.rule is not None:
            return self.spec.rule.call_style
        return "single" if len(self.sources) == 1 else "list"


@dataclass
class Graph:
    """Inputs, layers in an order where every layer follows its sources, and outputs."""

    spec: Spec
    inputs: list[InputSpec]
    nodes: list[Node]
    outputs: list[str]
    shapes: dict[str, Shape | None] = field(default_factory=dict)
    #: The user's build options (trusted plugins, size limit): explicit, beside the spec.
    options: BuildOptions = field(default_factory=BuildOptions)
    #: False when resolving found errors (only seen while collecting them): checks that need
    #: the whole wiring (reachability) stay quiet rather than repeat those errors.
    sound: bool = True

    @property
    def plugin_modules(self) -> list[str]:
        """Modules to import for custom layers: the spec's `plugins:` and the user's `--plugin`s."""
        return list(dict.fromkeys([*self.spec.plugins, *self.options.plugins]))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def seed(self) -> int | None:
        return self.spec.seed

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def require_sequential(self, path: tuple[str | int, ...] = ()) -> None:
        """Raise the one "no Sequential form" error (at `path`) unless the graph is a single chain."""
        problem = self.sequential_problem()
        if problem is not None:
            raise self.spec.error(path, sequential_message(problem))

    def needed(self) -> set[str]:
        """Names of the inputs and layers that lead to an output."""
        needed = {out.partition(":")[0] for out in self.outputs}  # `lstm:1`: output 1 of `lstm`
        for node in reversed(self.nodes):
            if node.name in needed:
                needed.update(s.partition(":")[0] for s in node.sources)
        return needed

    def sequential_problem(self) -> str | None:
        """Why the graph has no Sequential form, or None when it is a single chain."""
        if len(self.inputs) > 1:
            return f"it has {len(self.inputs)} inputs; Sequential takes one"
        if len(self.outputs) > 1:
            return f"it has {len(self.outputs)} outputs; Sequential has one"
        for node in self.nodes:
            if node.type.startswith("ops."):
                return (
                    f"{node.name!r} is the operation {node.type}, not a layer; Sequential holds layers only"
                )
            if node.shares:
                return (
                    f"{node.name!r} calls the layer {node.shares!r} again; Sequential calls each layer once"
                )
            if node.output_count > 1:
                return f"{node.name!r} has {node.output_count} outputs; Sequential passes one tensor on"
            if node.spec.call:
                return (
                    f"layer {node.name!r} is called with {node.spec.call}; Sequential calls every layer alike"
                )
        previous = self.inputs[0].name
        for node in self.nodes:
            if node.sources != [previous]:
                return (
                    f"layer {node.name!r} reads {node.sources}, not just the layer above it; "
                    "Sequential is a single chain"
                )
            previous = node.name
        if self.outputs != [previous]:
            return f"the output {self.outputs[0]!r} is not the last layer"
        return None


def sequential_message(problem: str) -> str:
    """The one "no Sequential form" message."""
    return f"the Sequential API cannot build this graph: {problem}; use the functional or subclass API"


_SNAKE_1 = re.compile(r"(.)([A-Z][a-z]+)")
_SNAKE_2 = re.compile(r"([a-z])([A-Z])")


def snake_case(name: str) -> str:
    """Keras's default layer name for a class (`BatchNormalization` -> `batch_normalization`)."""
    name = _SNAKE_1.sub(r"\1_\2", name)
    return _SNAKE_2.sub(r"\1_\2", name).lower()


def _assign_names(spec: Spec, problems: Problems) -> list[str]:
    taken = {i.name for i in spec.inputs}
    explicit: dict[str, tuple] = {}
    for inp in spec.inputs:
        if inp.name in explicit:
            problems.add(spec.error(inp.path + ("name",), f"duplicate name {inp.name!r}"))
        explicit.setdefault(inp.name, inp.path)
    for layer in spec.layers:
        if layer.name:
            if layer.name in explicit:
                first = spec.document.where(explicit[layer.name] + ("name",))
                problems.add(
                    spec.error(
                        layer.path + ("name",),
                        f"duplicate name {layer.name!r} (first used at line {first[0]})",
                    )
                )
            explicit.setdefault(layer.name, layer.path)
            taken.add(layer.name)
    out = []
    # The next suffix to try per base name: names are only ever added, so the smallest free
    # suffix never goes down, and each base's search resumes where it stopped (linear, not
    # quadratic in the number of unnamed layers of one type).
    next_suffix: dict[str, int] = {}
    bases: dict[str, str] = {}
    calls: dict[str, int] = {}  # `reuse:` target -> calls so far
    for layer in spec.layers:
        if layer.reuse:
            calls[layer.reuse] = calls.get(layer.reuse, 1) + 1
        if layer.name:
            out.append(layer.name)
            continue
        if layer.reuse:  # the second call of `encoder` is `encoder_call2` unless named
            n = calls[layer.reuse]
            candidate = f"{layer.reuse}_call{n}"
            while candidate in taken:
                n += 1
                candidate = f"{layer.reuse}_call{n}"
            taken.add(candidate)
            out.append(candidate)
            continue
        base = bases.get(layer.type) or bases.setdefault(
            layer.type, snake_case(layer.type.removeprefix("ops."))
        )
        n = next_suffix.get(base, 0)
        candidate = base if n == 0 else f"{base}_{n}"
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        next_suffix[base] = n + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def resolve(spec: Spec, build_options: BuildOptions | None = None, problems: Problems | None = None) -> Graph:
    """Wire the layers, infer every shape and count every parameter.

    `build_options` (trusted plugins, size limit) ride along in the graph for the builders.
    With `problems`, every independent error is added there and resolution carries on (a layer
    that cannot be wired or shaped gets no shape, so the layers after it are not blamed);
    without, they are raised together. The cross-field checks are `kspec.graph.checks`.
    """
    own = problems is None
    problems = problems if problems is not None else Problems()
    errors_before = len(problems.errors)
    names = _assign_names(spec, problems)
    index = {name: i for i, name in enumerate(names)}
    input_names = [i.name for i in spec.inputs]
    shapes: dict[str, Shape | None] = {i.name: (None, *i.shape) for i in spec.inputs}
    nodes: list[Node] = []
    by_name: dict[str, Node] = {}
    for i, (layer, name) in enumerate(zip(spec.layers, names)):
        if layer.reuse:
            try:
                layer = _shared_spec(spec, layer, by_name, input_names, names[:i])
            except SpecError as exc:
                problems.add(exc)
                node = Node(spec=layer, name=name, sources=[])
                node.note = "not checked: see the error above"
                shapes[name] = None
                nodes.append(node)
                by_name[name] = node
                continue
        sources = _sources(spec, layer, i, names, input_names, problems)
        for k, src in enumerate(sources):
            base = src.partition(":")[0]  # `lstm:1`: output 1 of `lstm`
            earlier = by_name.get(base)
            if src not in shapes and earlier is not None and earlier.output_shape is not None:
                problems.add(spec.error(_ref_path(layer, k), _no_such_output(src, earlier)))
        known = [s for s in sources if s in shapes and s != name and not (s in index and index[s] > i)]
        node = Node(spec=layer, name=name, sources=sources)
        if sources and len(known) == len(sources):
            try:
                _infer(spec, node, [shapes[s] for s in known])
                if node.shares:
                    _share_weights(spec, node, by_name[node.shares], [shapes[s] for s in known])
            except SpecError as exc:
                problems.add(exc)
                node.note = "not checked: see the error above"
        else:
            node.note = "not checked: an input is unknown"
        shapes[name] = node.output_shape
        if node.output_count > 1:
            for k, shape in enumerate(node.output_shapes or []):
                shapes[f"{name}:{k}"] = shape
        nodes.append(node)
        by_name[name] = node
    outputs = spec.outputs or [names[-1]]
    for k, out in enumerate(outputs):
        base = out.partition(":")[0]
        path = ("outputs", k) if isinstance(spec.raw.get("outputs"), list) else ("outputs",)
        if base in index and out not in shapes:
            earlier = by_name.get(base)
            if earlier is not None and earlier.output_shape is not None:
                problems.add(spec.error(path, _no_such_output(out, earlier)))
        if base not in index:
            path = ("outputs", k) if isinstance(spec.raw.get("outputs"), list) else ("outputs",)
            hint = " (an input cannot be an output)" if out in input_names else did_you_mean(out, names)
            problems.add(spec.error(path, f"unknown layer {out!r}{hint}"))
    if len(set(outputs)) != len(outputs):
        problems.add(spec.error(("outputs",), "an output is listed twice"))
    if own:
        problems.raise_if_any()
    return Graph(
        spec=spec,
        inputs=spec.inputs,
        nodes=nodes,
        outputs=list(dict.fromkeys(outputs)),
        shapes=shapes,
        options=build_options or BuildOptions(),
        sound=len(problems.errors) == errors_before and not any(layer.invalid for layer in spec.layers),
    )


def _no_such_output(ref: str, node: Node | None) -> str:
    base = ref.partition(":")[0]
    count = node.output_count if node is not None else 1
    if count == 1:
        return f"{ref!r}: {base!r} has one output; read it as {base!r}"
    names = ", ".join([base, *[f"{base}:{k}" for k in range(1, count)]])
    return f"{ref!r}: {base!r} has {count} outputs: {names}"


def _shared_spec(
    spec: Spec, layer: LayerSpec, by_name: dict[str, Node], input_names: list[str], earlier: list[str]
) -> LayerSpec:
    """A `reuse:` entry as the layer it calls again: that layer's type, arguments and rule, with
    this entry's own place, name, wiring and call arguments."""
    target = layer.reuse
    where = layer.path + ("reuse",)
    if target not in by_name:
        from kspec.schema.names import did_you_mean

        if target in input_names:
            raise spec.error(where, f"{target!r} is a model input, not a layer that can be called again")
        later = any(entry.name == target for entry in spec.layers[layer.index :])
        raise spec.error(
            where,
            f"{target!r} is defined later; `reuse:` calls an earlier layer again"
            if later
            else f"unknown layer {target!r}" + did_you_mean(target, earlier),
        )
    root = by_name[target].shares or target  # reusing a reuse entry calls the same layer
    owner = by_name[root].spec
    # the first call's keywords are its own
    inputs = layer.inputs
    keywords: dict[str, Any] = {}
    paths: tuple[tuple[str | int, ...], ...] = ()
    if layer.named_inputs is not None:
        from kspec.schema.call_inputs import CallInputsError, parse_inputs_by_name

        try:
            inputs, keywords, paths = parse_inputs_by_name(
                layer.named_inputs, type(owner.rule) if owner.rule is not None else None, owner.type
            )
        except CallInputsError as exc:
            raise spec.error(layer.path + exc.where, str(exc)) from None
    return dataclasses.replace(
        owner,
        index=layer.index,
        name=layer.name,
        inputs=inputs,
        path=layer.path,
        call=layer.call,
        reuse=root,
        keywords=keywords,
        input_paths=paths,
    )


def _share_weights(spec: Spec, node: Node, owner: Node, in_shapes: list[Shape | None]) -> None:
    """A shared layer's weights belong to its first call: the later calls add no parameters, and
    must fit the weights that call made (kspec knows the counts without Keras)."""
    if node.params is not None and owner.params is not None and node.params != owner.params:
        raise spec.error(
            node.spec.path + ("inputs",) if node.spec.inputs else node.spec.path,
            f"{node.name!r} calls {owner.name!r} on input shape(s) "
            f"{', '.join(format_shape(s) for s in in_shapes if s is not None)} that need {node.params} "
            f"parameters; {owner.name!r} has {owner.params} (a shared layer keeps its weights)",
        )
    node.note = f"shares the layer and weights of {owner.name!r}"
    if node.params is not None:
        node.trainable_params = node.non_trainable_params = 0


def _sources(
    spec: Spec, layer: LayerSpec, i: int, names: list[str], input_names: list[str], problems: Problems
) -> list[str]:
    """What layer `i` reads; each unknown, later or self reference is a located error."""
    name = names[i]
    if layer.inputs is None:
        if i > 0:
            return [names[i - 1]]
        if len(input_names) > 1:
            problems.add(
                spec.error(
                    layer.path,
                    "the first layer must say which input it reads "
                    f"(`inputs:`), since there are several: {input_names}",
                )
            )
            return []
        return [input_names[0]]
    index = {n: k for k, n in enumerate(names)}
    sources = list(layer.inputs)
    for k, ref in enumerate(sources):
        where = _ref_path(layer, k)
        src = ref.partition(":")[0]  # `lstm:1`: output 1 of `lstm`
        if src == name:
            problems.add(spec.error(where, f"layer {name!r} reads itself (a cycle)"))
        elif src in index and index[src] > i:
            problems.add(
                spec.error(
                    where,
                    f"{src!r} is defined later (line "
                    f"{spec.document.where(spec.layers[index[src]].path)[0]}); a layer reads "
                    "only inputs and layers above it, so the graph has no cycles",
                )
            )
        elif src not in input_names and src not in names[:i]:
            problems.add(
                spec.error(where, f"unknown input {src!r}" + did_you_mean(src, input_names + names[:i]))
            )
    return sources


def _ref_path(layer: LayerSpec, k: int) -> tuple[str | int, ...]:
    """Where the k-th of a layer's `inputs` is written."""
    if layer.input_paths:
        return layer.path + layer.input_paths[k]
    return layer.path + (("inputs", k) if len(layer.inputs or []) > 1 else ("inputs",))


def _infer(spec: Spec, node: Node, in_shapes: list[Shape | None]) -> None:
    rule = node.spec.rule
    keyword_shapes = in_shapes[node.positional_count :]
    in_shapes = in_shapes[: node.positional_count]
    count = len(in_shapes)
    if rule is not None:
        if not rule.min_inputs <= count <= rule.max_inputs:
            want = (
                str(rule.min_inputs)
                if rule.min_inputs == rule.max_inputs
                else f"{rule.min_inputs} to {rule.max_inputs}"
                if rule.max_inputs < 1000
                else f"at least {rule.min_inputs}"
            )
            raise spec.error(
                node.spec.path + ("inputs",) if node.spec.inputs else node.spec.path,
                f"{node.type} takes {want} input(s), got {count}",
            )
    if node.spec.invalid:
        node.note = "not checked: see the error above"
        return
    if rule is None:
        node.note = f"{node.type} is not in kspec's registry: checked by Keras at build time"
        return
    if any(s is None for s in in_shapes):
        node.note = "input shape unknown without Keras"
        return
    shapes = [s for s in in_shapes if s is not None]
    try:
        outs = [tuple(s) for s in rule.call_output_shapes(shapes, node.spec.call)]
        node.output_shape = outs[0]
        if len(outs) > 1:
            node.output_shapes = outs
        trainable, frozen = rule.param_counts(shapes)
        if node.keywords:
            if any(s is None for s in keyword_shapes):
                node.note = "a keyword input's shape is unknown without Keras"
            else:
                rule.check_keyword_tensors(shapes, _by_keyword(node, keyword_shapes))  # type: ignore[arg-type]
    except ShapeError as exc:
        got = ", ".join(format_shape(s) for s in shapes)
        raise spec.error(
            node.spec.path,
            f"{node.type} {node.name!r}: {exc} (input shape{'s' if len(shapes) > 1 else ''} {got})",
        ) from None
    node.trainable_params, node.non_trainable_params = trainable, frozen


def _by_keyword(node: Node, keyword_shapes: list[Shape]) -> dict[str, list[Shape]]:
    first = node.positional_count
    out: dict[str, list[Shape]] = {}
    for key, where in node.keywords.items():
        positions = where if isinstance(where, list) else [where]
        out[key] = [keyword_shapes[p - first] for p in positions]
    return out
