"""Create and call the Keras layers of a graph; shared by the three builders."""

from __future__ import annotations

import re
from typing import Any

import keras

from kspec.builders.calls import call_layer, store  # noqa: F401  (the builders import them from here)
from kspec.builders.objects import make_layer
from kspec.builders.plugins import load_plugins
from kspec.errors import SpecError
from kspec.graph.resolve import Graph, Node

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def keras_complaint(exc: BaseException) -> str:
    """Keras's message as one short line (its messages span lines and repeat the arguments).

    "Exception encountered when calling X.call()." says nothing by itself: the reason is the
    next line of Keras's message (or the exception it wraps), so that is what is kept.
    """
    text = _ANSI.sub("", str(exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("Exception encountered when calling"):
        reason = lines[1] if len(lines) > 1 and not lines[1].startswith("Arguments received") else ""
        if not reason and exc.__cause__ is not None:
            reason = keras_complaint(exc.__cause__)
        lines = [reason or type(exc).__name__]
    return " ".join((lines[0] if lines else type(exc).__name__).split())[:300]


def prepare(graph: Graph) -> None:
    """Per-build setup: size limit, trusted plugin modules, and the global seed.

    Runs before any layer is created, so an over-limit model is refused before Keras
    allocates its weights, and an untrusted plugin is refused before it is imported.
    """
    from kspec.graph.checks import run_checks
    from kspec.schema.limits import check_graph, max_params

    if _COUNTING:  # the symbolic build below: checks, limits and plugins are already done
        return
    # Every cross-field check kspec check runs; the parameter limit, a warning there, is an
    # error here (check_graph, with Keras's symbolic counts for layers outside the registry).
    run_checks(graph)
    trusted_plugins(graph)
    check_graph(graph)
    load_plugins(graph.plugin_modules)
    if max_params(override=graph.options.max_params) and any(n.params is None for n in graph.nodes):
        check_graph(graph, counts=symbolic_counts(graph))
    if graph.seed is not None:
        keras.utils.set_random_seed(graph.seed)


_COUNTING: list[bool] = []


def symbolic_counts(graph: Graph) -> dict[str, int]:
    """Parameters of every layer, counted by Keras on symbolic inputs without allocating a weight.

    Layers outside kspec's registry (SpectralNormalization around a large Dense, plugins) have
    no count at check time; Keras builds them here inside a `StatelessScope` that defers every
    variable's initialization, so only shapes exist. The deferred variables are dropped after.
    """
    import numpy as np
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
    _COUNTING.append(True)
    try:
        with keras.StatelessScope(initialize_variables=False):
            # The functional builder's loop, without the model: each layer on symbolic tensors.
            tensors = {i.name: t for i, t in zip(graph.inputs, keras_inputs(graph))}
            counts = {}
            made: dict[str, Any] = {}
            for node in graph.nodes:
                layer = made[node.name] = made[node.shares] if node.shares else create_layer(graph, node)
                store(
                    tensors,
                    node.name,
                    node.output_count,
                    call_checked(graph, node, layer, [tensors[s] for s in node.sources]),
                )
                counts[node.name] = 0 if node.shares else sum(int(np.prod(v.shape)) for v in layer.weights)
            return counts
    except ValueError as exc:
        if "stateless scope" not in str(exc):
            raise
        unknown = next(n for n in graph.nodes if n.params is None)
        raise graph.spec.error(
            unknown.spec.path,
            f"kspec cannot count the parameters of {unknown.name!r} ({unknown.type}, outside its "
            "registry) without allocating them; pass --max-params 0 to build it anyway",
        ) from None
    finally:
        _COUNTING.pop()
        global_state.set_global_attribute("uninitialized_variables", pending)


def trusted_plugins(graph: Graph) -> None:
    """A module named in the spec's `plugins:` is imported only when the user also names it
    (`--plugin MODULE`, `BuildOptions.plugins`) or allows unsafe specs: a spec alone never
    makes kspec import code."""
    spec = graph.spec
    trusted = set(graph.options.plugins)
    for i, module in enumerate(spec.plugins):
        if module not in trusted and not spec.allow_unsafe:
            raise spec.error(
                ("plugins", i),
                f"plugin module {module!r} is code, and a spec alone never "
                f"makes kspec import code: pass --plugin {module} if you trust it",
            )


def create_layers(graph: Graph) -> dict[str, Any]:
    """Every node's Keras layer (or operation) by node name, each created once: a `reuse:` node
    gets the very layer of the node it calls again (a shared layer)."""
    made: dict[str, Any] = {}
    for node in graph.nodes:
        made[node.name] = made[node.shares] if node.shares else create_layer(graph, node)
    return made


def create_layer(graph: Graph, node: Node) -> keras.layers.Layer:
    """The Keras layer of one node; Keras's own complaints become located `SpecError`s."""
    try:
        return make_layer(node.type, node.spec.args, node.name, graph.seed)
    except KeyError:
        raise graph.spec.error(
            node.spec.path + ("type",),
            f"no layer class {node.type!r} in keras.layers or in the spec's plugins",
        ) from None
    except (TypeError, ValueError) as exc:
        raise graph.spec.error(
            node.spec.path, f"Keras rejected the {node.type} arguments: {keras_complaint(exc)}"
        ) from None


def call_checked(graph: Graph, node: Node, layer: Any, values: list[Any]) -> Any:
    try:
        return call_layer(layer, node.call_style, values, node.spec.call, node.keywords)
    except SpecError:
        raise
    except Exception as exc:  # Keras raises many types for shape problems
        raise graph.spec.error(
            node.spec.path, f"{node.type} {node.name!r} cannot take its input: {keras_complaint(exc)}"
        ) from None


def keras_inputs(graph: Graph) -> list[Any]:
    return [keras.Input(shape=i.shape, dtype=i.dtype, name=i.name) for i in graph.inputs]


def pack_outputs(graph: Graph, tensors: dict[str, Any]) -> Any:
    """One output: the tensor; several: a dict keyed by output name (losses map by name)."""
    if len(graph.outputs) == 1:
        return tensors[graph.outputs[0]]
    return {name: tensors[name] for name in graph.outputs}
