"""A Keras model as the spec a person would write.

Walks the model's own configuration (`model.get_config()`: layers in Keras's order, each with
its inbound nodes) and writes one spec entry per layer or operation: Keras's names, arguments
equal to Keras's defaults left out (`layer_config.layer_args`), `inputs:` left out where an
entry reads the one above it, and default names left out where the resolver gives the same.
"""

from __future__ import annotations

import re
from typing import Any

import keras

from kspec.graph.resolve import snake_case
from kspec.importer.layer_config import NotImportable, layer_args, spec_value
from kspec.layers.applications import KERAS_MODULES as APPLICATION_LAYERS
from kspec.layers.ops import KERAS_OPS
from kspec.layers.registry import lookup
from kspec.schema.validate import CALL_ARGUMENTS

_OP_TYPES = {v: k for k, v in KERAS_OPS.items()}  # (module, class) -> "ops.add"
#: Keyword arguments Keras records on calls that change nothing in inference graphs.
_IGNORED_KWARGS = {"training": None, "mask": None, "initial_state": None}


def model_to_spec(model: Any) -> dict[str, Any]:
    """`model` (Functional or Sequential) as a spec dictionary in the stable key order."""
    if isinstance(model, keras.Sequential):
        return _sequential_model(model)
    if not _is_functional(model):
        raise NotImportable(
            f"{type(model).__name__} is a subclassed keras.Model: its call() is Python code, which a spec "
            "cannot hold faithfully. Build it with the Functional API (keras.Model(inputs, outputs)) "
            "and save that, then import it"
        )
    return _functional_model(model)


def _is_functional(model: Any) -> bool:
    from keras.src.models.functional import Functional

    return isinstance(model, Functional) and not isinstance(model, keras.Sequential)


def _sequential_model(model: Any) -> dict[str, Any]:
    shape = model.inputs[0].shape if model.inputs else None
    if shape is None:
        raise NotImportable("the Sequential model has no input shape: build it (model.build(...)) first")
    name = model.layers[0].name if False else "input"
    spec: dict[str, Any] = {"name": model.name, "api": "sequential"}
    dtype = model.inputs[0].dtype
    spec["inputs"] = [_input_entry(name, list(shape[1:]), dtype)]
    spec["layers"] = [_layer_entry(layer) for layer in model.layers]
    return _drop_default_names(spec)


def _input_entry(name: str, shape: list[Any], dtype: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "shape": list(shape)}
    if str(dtype) != "float32":
        entry["dtype"] = str(dtype)
    return entry


def _layer_entry(layer: Any) -> dict[str, Any]:
    """A layer object as `{type, name, ...arguments}` (no wiring)."""
    cls = type(layer)
    cls_name = _public_name(cls)
    if isinstance(layer, keras.Sequential):
        inner = [_layer_entry(x) for x in layer.layers]
        entry: dict[str, Any] = {"type": "Sequential", "name": layer.name}
        if not layer.trainable:
            entry["trainable"] = False
        entry["layers"] = inner
        return entry
    if _is_functional(layer):  # kept nested: its own inputs, named layers and outputs
        nested = _functional_model(layer, keep_names=True)
        entry = {"type": "Functional", "name": layer.name}
        if not layer.trainable:
            entry["trainable"] = False
        entry["model_inputs"] = nested["inputs"]
        entry["layers"] = nested["layers"]
        if "outputs" in nested:
            entry["outputs"] = nested["outputs"]
        return entry
    if isinstance(layer, keras.Model):
        raise NotImportable(
            f"layer {layer.name!r} is a nested {cls_name} model (a subclass): its call() is code; "
            "only nested Sequential and Functional models can be kept nested in a spec"
        )
    from_keras = getattr(keras.layers, cls_name, None) is cls
    from_applications = APPLICATION_LAYERS.get(cls_name) == cls.__module__
    if not (from_keras or from_applications):
        raise NotImportable(
            f"layer {layer.name!r} is a {cls_name} from {cls.__module__!r}, a custom class: its code is "
            "not in the model file. Only Keras's own layers can be imported"
        )
    if cls_name == "Lambda":
        raise NotImportable(
            f"layer {layer.name!r} is a Lambda: it runs Python code, which a spec never holds"
        )
    if lookup(cls_name) is None:
        raise NotImportable(
            f"layer {layer.name!r}: kspec has no rule for {cls_name} (see kspec.layers.coverage)"
        )
    return {"type": cls_name, "name": layer.name, **layer_args(layer)}


def _public_name(cls: type) -> str:
    """The name `keras.layers` exports `cls` under (the class `GroupedQueryAttention` is
    `keras.layers.GroupQueryAttention`); its own name when it is exported under that or not at all."""
    if getattr(keras.layers, cls.__name__, None) is cls:
        return cls.__name__
    names = sorted(n for n in dir(keras.layers) if getattr(keras.layers, n, None) is cls)
    return names[0] if names else cls.__name__


def _functional_model(model: Any, keep_names: bool = False) -> dict[str, Any]:
    config = model.get_config()
    objects = {op.name: op for op in model.operations}
    inputs: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []  # one per call of a layer or operation, in config order
    for position, item in enumerate(config["layers"]):
        name, cls_name, module = item["name"], item["class_name"], item.get("module", "")
        if cls_name == "InputLayer":
            c = item["config"]
            inputs.append(_input_entry(name, list(c["batch_shape"][1:]), c.get("dtype", "float32")))
            continue
        is_op = module.startswith("keras.src.ops.")
        rule_name = cls_name if is_op or name not in objects else _public_name(type(objects[name]))
        for k, node in enumerate(item.get("inbound_nodes") or []):
            node, keywords = _keyword_tensors(rule_name, name, node) if not is_op else (node, {})
            refs, constants = _sources(name, node)
            slots: list[str | None] = [None] * len(refs)
            for key, tensors in keywords.items():
                for tensor in tensors:
                    refs.append(_history(tensor))
                    slots.append(key)
            if k > 0:  # a shared layer called again: the same layer, its own wiring
                if constants:
                    raise NotImportable(f"layer {name!r} is called with constant arguments {constants}")
                entry: dict[str, Any] = {"reuse": name}
            elif is_op:
                entry = _op_entry(name, module, cls_name, item["config"], constants)
            else:
                if constants:
                    raise NotImportable(f"layer {name!r} is called with constant arguments {constants}")
                entry = _layer_entry(objects[name])
            call = _call_kwargs(name, node)
            if call:
                entry["call"] = call
            if keywords:
                entry["_slots"] = (rule_name, slots)
            calls.append({"key": (position, k), "ref": (name, k), "refs": refs, "entry": entry})
    given = [o[0] for o in _history_list(config.get("input_layers") or [])]
    if sorted(given) == sorted(i["name"] for i in inputs):  # the model's own input order
        inputs.sort(key=lambda i: given.index(i["name"]))
    entries = _call_order(calls, {i["name"] for i in inputs})
    spec: dict[str, Any] = {"name": config.get("name") or model.name}
    spec["inputs"] = inputs
    spec["layers"] = _wire(entries, [i["name"] for i in inputs])
    names = {c["ref"]: c["entry"]["name"] for c in calls}
    names.update({(i["name"], 0): i["name"] for i in inputs})
    from keras.src.models.functional import Functional

    # The config's outputs count a Functional layer's calls from 1 (Keras gives it a built-in node
    # 0 there, and its `from_config` subtracts it again); its inbound nodes count from 0.
    outputs = [
        names[(o[0], o[1] - isinstance(objects.get(o[0]), Functional))] + (f":{o[2]}" if o[2] else "")
        for o in _history_list(config["output_layers"])
    ]
    if outputs != [entries[-1]["name"]]:
        spec["outputs"] = outputs if len(outputs) > 1 else outputs[0]
    return _ordered(spec) if keep_names else _drop_default_names(spec)


def _keyword_tensors(
    cls_name: str, name: str, node: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Split a call's tensors passed by keyword off its other keyword arguments.

    `mha(query=q, value=v)` becomes `mha(q, v)`, the same call written the way a spec wires it
    (`inputs: [q, v]`); the tensors that can only go by keyword (an RNN's `initial_state=`, a
    `mask=`) are returned by name, for `inputs:` by name. The slots come from the layer's
    registry entry (`call_tensors`)."""
    rule = lookup(cls_name)
    if rule is None or not rule.call_tensors:
        return node, {}
    slots = rule.call_tensors
    kwargs = dict(node.get("kwargs") or {})
    args = list(node.get("args") or [])
    positional = slots[: rule.max_inputs]
    for key in positional[len(args) :]:  # query=, value=, key= continue the positional ones
        if not _is_tensor(kwargs.get(key)):
            break
        args.append(kwargs.pop(key))
    for key in positional:
        if key in kwargs and kwargs[key] is None:
            del kwargs[key]  # `key=None`: the default (key is value)
    keywords: dict[str, list[Any]] = {}
    for key in slots[len(positional) :]:
        value = kwargs.get(key)
        if value is None or (isinstance(value, list) and not any(v is not None for v in value)):
            kwargs.pop(key, None)  # Keras records `mask=None`: no tensor
            continue
        values = value if isinstance(value, list) else [value]
        if not all(_is_tensor(v) for v in values) or (
            isinstance(value, list) and key not in rule.list_tensors
        ):
            raise NotImportable(
                f"layer {name!r} is called with a {key}= kspec cannot write (only tensors, all given, "
                f"are; e.g. mask=[None, m] is not): not supported by kspec import yet"
            )
        keywords[key] = values
        kwargs.pop(key)
    return {**node, "args": args, "kwargs": kwargs}, keywords


def _history(tensor: dict[str, Any]) -> tuple[str, int, int]:
    layer, node_index, tensor_index = tensor["config"]["keras_history"]
    return layer, node_index, tensor_index


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _call_order(calls: list[dict[str, Any]], input_names: set[str]) -> list[dict[str, Any]]:
    """The entries in an order where each follows what it reads: Keras's config order, except
    that a shared layer's later call waits for its inputs. The k-th call of a layer `enc` is named
    `enc_call{k+1}`, by the order the entries take (what the resolver gives an unnamed one)."""
    import heapq

    done: set[tuple[str, int]] = {(n, 0) for n in input_names}
    waiting = {c["ref"]: c for c in calls}
    ready = [(c["key"], c["ref"]) for c in calls if all(r[:2] in done for r in c["refs"])]
    heapq.heapify(ready)
    queued = {ref for _, ref in ready}
    names: dict[tuple[str, int], str] = {(n, 0): n for n in input_names}
    taken = set(input_names) | {c["ref"][0] for c in calls}
    count: dict[str, int] = {}
    out = []
    while ready:
        _, ref = heapq.heappop(ready)
        c = waiting.pop(ref)
        entry = c["entry"]
        layer, k = ref
        if k == 0:
            entry["name"] = entry.get("name", layer)
        else:
            n = count[layer] = count.get(layer, 1) + 1
            candidate = f"{layer}_call{n}"
            while candidate in taken:
                n += 1
                candidate = f"{layer}_call{n}"
            taken.add(candidate)
            entry["name"] = candidate
            entry = {
                "reuse": layer,
                "name": candidate,
                **{x: v for x, v in entry.items() if x not in ("reuse", "name")},
            }
        names[ref] = entry["name"]
        entry["_sources"] = [names[r[:2]] + (f":{r[2]}" if r[2] else "") for r in c["refs"]]
        c["entry"] = entry
        out.append(entry)
        done.add(ref)
        for other in waiting.values():
            if other["ref"] not in queued and all(r[:2] in done for r in other["refs"]):
                heapq.heappush(ready, (other["key"], other["ref"]))
                queued.add(other["ref"])
    if waiting:
        raise NotImportable(f"cannot order the calls of {sorted(r[0] for r in waiting)} (a cycle?)")
    return out


def _history_list(value: Any) -> list[list[Any]]:
    if isinstance(value, dict):  # outputs by name (what kspec builds for several outputs)
        return list(value.values())
    if value and isinstance(value[0], str):
        return [value]
    return list(value)


def _call_kwargs(name: str, node: dict[str, Any]) -> dict[str, Any]:
    """The constant keyword arguments of a call that the spec writes under `call:`."""
    kwargs = {
        k: v
        for k, v in (node.get("kwargs") or {}).items()
        if _IGNORED_KWARGS.get(k, 0) != v and not (k == "mask" and isinstance(v, list) and not any(v))
    }  # a nested model's call records `mask: [None, None]` for its inputs: no mask
    out = {k: kwargs.pop(k) for k in list(kwargs) if k in CALL_ARGUMENTS and isinstance(kwargs[k], bool)}
    if kwargs:
        raise NotImportable(
            f"layer {name!r} is called with keyword arguments {sorted(kwargs)}: not supported by kspec import yet"
        )
    return out


def _sources(name: str, node: dict[str, Any]) -> tuple[list[tuple[str, int, int]], dict[int, Any]]:
    """The (layer, call, output) triples an inbound node reads, and its constant positional
    arguments by position."""
    args = node.get("args") or []
    if len(args) == 1 and isinstance(args[0], list):
        args = args[0]  # merge layers and ops.concatenate take one list of tensors
    sources: list[tuple[str, int, int]] = []
    constants: dict[int, Any] = {}
    for i, arg in enumerate(args):
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            layer, node_index, tensor_index = arg["config"]["keras_history"]
            sources.append((layer, node_index, tensor_index))
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            constants[i] = arg
        else:
            raise NotImportable(f"layer {name!r} takes an argument kspec cannot write: {arg!r}")
    return sources, constants


def _op_entry(
    name: str, module: str, cls_name: str, config: dict[str, Any], constants: dict[int, Any]
) -> dict[str, Any]:
    op_type = _OP_TYPES.get((module, cls_name))
    if op_type is None:
        raise NotImportable(
            f"operation {name!r} is {module}.{cls_name}, which is not in kspec's list of operations "
            f"({', '.join(sorted(t.removeprefix('ops.') for t in KERAS_OPS))})"
        )
    rule = lookup(op_type)
    assert rule is not None
    entry: dict[str, Any] = {"type": op_type, "name": name}
    positional = rule.positional  # type: ignore[attr-defined]
    for i, value in constants.items():
        if i >= len(positional):
            raise NotImportable(f"operation {name!r} has a constant argument kspec cannot place: {value!r}")
        entry[positional[i]] = value
    defaults = {k: f.default for k, f in rule.model_fields.items()}
    for key, value in config.items():
        if key == "name":
            continue
        if key not in defaults:
            raise NotImportable(f"operation {name!r} ({op_type}) has an argument kspec does not know: {key}")
        default = defaults[key]
        norm = list(default) if isinstance(default, tuple) else default
        value = spec_value(key, value)
        if value != norm:
            entry[key] = value
    return entry


def _wire(entries: list[dict[str, Any]], input_names: list[str]) -> list[dict[str, Any]]:
    """Write `inputs:` only where an entry does not just read the one above it; a call with
    tensors by keyword writes them all by name (`{sequences: x, initial_state: [h, c]}`)."""
    out = []
    previous = input_names[0] if len(input_names) == 1 else None
    for entry in entries:
        sources = entry.pop("_sources")
        if "_slots" in entry:
            cls_name, slots = entry.pop("_slots")
            entry = _with_inputs(entry, _by_name(cls_name, slots, sources))
        elif sources != [previous]:
            entry = _with_inputs(entry, sources[0] if len(sources) == 1 else sources)
        out.append(entry)
        previous = entry["name"]
    return out


def _by_name(cls_name: str, slots: list[str | None], sources: list[str]) -> dict[str, Any]:
    rule = lookup(cls_name)
    assert rule is not None
    positional = [s for s, slot in zip(sources, slots) if slot is None]
    out: dict[str, Any] = dict(zip(rule.call_tensors, positional))
    for key in rule.call_tensors:
        given = [s for s, slot in zip(sources, slots) if slot == key]
        if given:
            out[key] = given if key in rule.list_tensors else given[0]
    return out


def _with_inputs(entry: dict[str, Any], inputs: Any) -> dict[str, Any]:
    """Key order: type, name, inputs, then the arguments."""
    head: dict[str, Any] = {k: entry[k] for k in ("type", "reuse", "name") if k in entry}
    return {**head, "inputs": inputs, **{k: v for k, v in entry.items() if k not in head}}


def _default_base(entry: dict[str, Any]) -> str:
    return snake_case(entry["type"].removeprefix("ops."))


def _assign(entries: list[dict[str, Any]], taken: set[str]) -> list[str]:
    """The names the resolver gives (kspec.graph.resolve._assign_names, on plain dicts)."""
    taken = set(taken) | {e["name"] for e in entries if e.get("name")}
    next_suffix: dict[str, int] = {}
    out = []
    for e in entries:
        if e.get("name"):
            out.append(e["name"])
            continue
        base = _default_base(e)
        n = next_suffix.get(base, 0)
        candidate = base if n == 0 else f"{base}_{n}"
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        next_suffix[base] = n + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def _drop_default_names(spec: dict[str, Any]) -> dict[str, Any]:
    """Leave a name out where the resolver would give the entry that same name."""
    layers = spec["layers"]
    names = [e["name"] for e in layers]
    inputs = {i["name"] for i in spec["inputs"]}
    droppable = {
        i
        for i, e in enumerate(layers)
        if "type" in e and re.fullmatch(re.escape(_default_base(e)) + r"(_\d+)?", names[i])
    }  # a `reuse:` entry keeps its name (`enc_call2`): it says which call it is
    while True:
        trial = [{**e, "name": None if i in droppable else e["name"]} for i, e in enumerate(layers)]
        assigned = _assign(trial, inputs)
        keep = {i for i in droppable if assigned[i] == names[i]}
        if keep == droppable:
            break
        droppable = keep
    if droppable:
        for i in droppable:
            del layers[i]["name"]
    return _ordered(spec)


def _ordered(spec: dict[str, Any]) -> dict[str, Any]:
    order = ["kspec", "name", "description", "api", "seed", "inputs", "layers", "outputs", "compile", "train"]
    return {k: spec[k] for k in order if k in spec}
