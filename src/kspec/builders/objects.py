"""Turn a layer's spec arguments into Keras constructor arguments.

`{type: RandomNormal, stddev: 0.05}` becomes a Keras initializer; nested layers
(`Bidirectional.layer`) become layers; with a spec `seed`, every random initializer and
every layer seed gets a seed derived from (spec seed, layer name, argument), so all three
APIs start from identical weights whatever order they create them in.
"""

from __future__ import annotations

import importlib
import inspect
import zlib
from typing import Any

import keras

from kspec.schema.names import LAYER_ARGS

_KINDS = {
    "_initializer": keras.initializers,
    "_regularizer": keras.regularizers,
    "_constraint": keras.constraints,
}
_NESTED_LAYER_ARGS = LAYER_ARGS  # the arguments validation checks as layers


def derived_seed(seed: int, *parts: str) -> int:
    """A stable 31-bit seed for one random thing inside a spec."""
    return zlib.crc32("/".join([str(seed), *parts]).encode()) & 0x7FFFFFFF


def keras_config(value: Any) -> Any:
    """`{type: C, ...args}` -> Keras's `{"class_name": C, "config": {...}}`, nested objects too.

    The one conversion from the spec's object form: initializers, regularizers, constraints,
    optimizers with a schedule as `learning_rate`, losses and metrics all go through it.
    """
    if isinstance(value, dict) and "type" in value:
        config = {k: keras_config(v) for k, v in value.items() if k != "type"}
        return {"class_name": value["type"], "config": config}
    return value


def keras_object(module: Any, value: Any) -> Any:
    """A Keras object from a name or `{type: ...}` through `module.get` (None stays None)."""
    if value is None:
        return None
    return module.get(keras_config(value))


def _seeded(init: Any, seed: int) -> Any:
    config = init.get_config()
    if "seed" in config and config["seed"] is None:
        config["seed"] = seed
        return init.__class__.from_config(config)
    return init


def application_layer(layer_type: str) -> Any:
    """A layer class `keras.applications` defines for itself (ConvNeXt's LayerScale), or None.

    Only the fixed table in `kspec.layers.applications` is looked up: Keras's own modules.
    """
    from kspec.layers.applications import KERAS_MODULES

    module = KERAS_MODULES.get(layer_type)
    return getattr(importlib.import_module(module), layer_type) if module else None


def keras_layer_class(layer_type: str) -> type[keras.layers.Layer]:
    from kspec.builders.plugins import custom_layer

    cls = getattr(keras.layers, layer_type, None) or application_layer(layer_type) or custom_layer(layer_type)
    if cls is None:
        raise KeyError(layer_type)
    return cls


def keras_args(layer_type: str, args: dict[str, Any], name: str, seed: int | None) -> dict[str, Any]:
    """Constructor keyword arguments for `keras.layers.<layer_type>`."""
    cls = keras_layer_class(layer_type)
    out: dict[str, Any] = {}
    for key, value in args.items():
        kind = next((m for suffix, m in _KINDS.items() if key.endswith(suffix)), None)
        if kind is not None:
            out[key] = keras_object(kind, value)
        elif key in _NESTED_LAYER_ARGS and isinstance(value, dict) and "type" in value:
            out[key] = make_layer(
                value["type"],
                {k: v for k, v in value.items() if k != "type"},
                value.get("name") or f"{name}_{key}",
                seed,
            )
        else:
            out[key] = value
    if seed is not None:
        params = inspect.signature(cls.__init__).parameters
        for pname, param in params.items():
            if pname.endswith("_initializer"):
                init = out.get(pname, param.default)
                if init is inspect.Parameter.empty or init is None:
                    continue
                init = (
                    keras.initializers.get(init)
                    if not isinstance(init, keras.initializers.Initializer)
                    else init
                )
                out[pname] = _seeded(init, derived_seed(seed, name, pname))
        if "seed" in params and out.get("seed") is None:
            out["seed"] = derived_seed(seed, name, "seed")
    return out


def make_layer(layer_type: str, args: dict[str, Any], name: str, seed: int | None) -> Any:
    """One Keras layer; nested layer dicts (Bidirectional's `layer`) are built too.

    `ops.NAME` entries give an `OpCall` (a Keras operation with its constant operands), and
    `Sequential` a nested `keras.Sequential` of its `layers`.
    """
    if layer_type.startswith("ops."):
        from kspec.builders.ops import OpCall

        return OpCall(layer_type, args, name)
    if layer_type == "Sequential":
        inner = [
            make_layer(
                item["type"], {k: v for k, v in item.items() if k != "type"}, item.get("name") or "", seed
            )
            for item in args["layers"]
        ]
        extra = {k: v for k, v in args.items() if k not in ("layers", "name")}
        return keras.Sequential(inner, name=name, **extra)
    if layer_type == "Functional":
        return _nested_functional(args, name, seed)
    cls = keras_layer_class(layer_type)
    kwargs = keras_args(layer_type, {k: v for k, v in args.items() if k != "name"}, name, seed)
    return cls(name=name or None, **kwargs)


def _nested_functional(args: dict[str, Any], name: str, seed: int | None) -> Any:
    """A nested `keras.Model(inputs, outputs)` of the entry's `model_inputs`, `layers`, `outputs`
    (validated by `kspec.layers.nested.Functional`): each inner layer called as the top-level
    builders call theirs (shared layers, `call:` arguments, tensors by keyword, `NAME:K`)."""
    from kspec.builders.calls import call_layer, store
    from kspec.layers.registry import lookup

    rule = lookup("Functional")
    assert rule is not None
    inner = rule.model_validate({k: v for k, v in args.items() if k != "name"}).layers  # type: ignore[attr-defined]
    inputs = [
        keras.Input(shape=tuple(i["shape"]), dtype=i.get("dtype", "float32"), name=i["name"])
        for i in args["model_inputs"]
    ]
    env = {i["name"]: t for i, t in zip(args["model_inputs"], inputs)}
    made: dict[str, Any] = {}
    previous = args["model_inputs"][0]["name"]
    for item, layer_spec in zip(args["layers"], inner):
        if layer_spec.reuse:
            layer = made[layer_spec.reuse]
        else:
            layer = made[layer_spec.name] = make_layer(
                item["type"],
                {k: v for k, v in item.items() if k not in ("type", "inputs", "call")},
                item["name"],
                seed,
            )
        values = [env[s] for s in (layer_spec.inputs or [previous])]
        result = call_layer(layer, layer_spec.rule.call_style, values, layer_spec.call, layer_spec.keywords)
        store(env, layer_spec.name, len(result) if isinstance(result, (list, tuple)) else 1, result)
        previous = layer_spec.name
    outs = args.get("outputs") or [args["layers"][-1]["name"]]
    outs = [outs] if isinstance(outs, str) else outs
    model = keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        env[outs[0]] if len(outs) == 1 else [env[o] for o in outs],
        name=name or None,
    )
    if args.get("trainable") is False:
        model.trainable = False
    return model
