"""One layer's Keras configuration as spec arguments: the inverse of `builders.objects.keras_args`.

`get_config()` writes every argument, serialized objects as
`{"module", "class_name", "config", "registered_name"}` and the dtype as a `DTypePolicy`; a spec
writes `{type: ClassName, ...}`, a dtype name, and leaves out what equals Keras's default.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from typing import Any

import keras

from kspec.errors import SpecError

#: `get_config()` keys that are not constructor arguments a spec writes.
_NOT_ARGUMENTS = ("name",)
_NESTED_LAYER_ARGS = ("layer", "backward_layer")


class NotImportable(SpecError):
    """A Keras model or layer that has no faithful spec form."""


def is_serialized_object(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


def spec_value(key: str, value: Any) -> Any:
    """A `get_config()` value in the form a spec writes it."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [spec_value(key, v) for v in value]
    if not is_serialized_object(value):
        return value
    cls, config = value["class_name"], value["config"]
    if cls in ("DTypePolicy", "FloatDTypePolicy"):
        return config["name"]
    if key in _NESTED_LAYER_ARGS:
        return {"type": cls, **layer_args(keras.layers.deserialize(value))}
    if value.get("module") not in ("keras.initializers", "keras.regularizers", "keras.constraints"):
        raise NotImportable(
            f"argument {key!r} is a {cls} object from {value.get('module')!r}, which a spec cannot write"
        )
    args = {k: spec_value(k, v) for k, v in (config or {}).items()}
    default = _default_object_config(value["module"], cls)
    args = {k: v for k, v in args.items() if default is None or k not in default or default[k] != v}
    return {"type": cls, **args} if args else cls


@cache
def _default_object_config_json(module: str, cls: str) -> str | None:
    kind = {
        "keras.initializers": keras.initializers,
        "keras.regularizers": keras.regularizers,
        "keras.constraints": keras.constraints,
    }[module]
    try:
        obj = kind.get(cls)
        if isinstance(obj, type):
            obj = obj()
        return json.dumps({k: spec_value(k, v) for k, v in obj.get_config().items()})
    except Exception:  # a class that needs arguments (Constant needs value): no defaults to drop
        return None


def _default_object_config(module: str, cls: str) -> dict[str, Any] | None:
    text = _default_object_config_json(module, cls)
    return None if text is None else json.loads(text)


def full_args(layer: Any) -> dict[str, Any]:
    """Every `get_config()` entry of `layer` as a spec argument (nothing left out)."""
    config = layer.get_config()
    return {k: spec_value(k, v) for k, v in config.items() if k not in _NOT_ARGUMENTS}


def layer_args(layer: Any) -> dict[str, Any]:
    """`layer`'s spec arguments, with every one Keras would set the same way on its own left out.

    An argument is left out when the layer rebuilt without it has the same configuration: this
    is Keras's own notion of a default, dependent ones included (`MaxPooling2D.strides` defaults
    to `pool_size`).
    """
    cls: Any = type(layer)
    config = {k: v for k, v in layer.get_config().items() if k not in _NOT_ARGUMENTS}
    kept = _kept_keys(cls, json.dumps(config, sort_keys=True, default=_jsonable))
    return {k: spec_value(k, config[k]) for k in config if k in kept}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON: {value!r}")


@lru_cache(maxsize=4096)
def _kept_keys(cls: Any, config_json: str) -> frozenset[str]:
    config = json.loads(config_json)
    reference = _config_of(cls, config)
    if reference is None:
        return frozenset(config)
    kept = set()
    for key in config:
        trial = {k: v for k, v in config.items() if k != key}
        if _config_of(cls, trial) != reference:
            kept.add(key)
    if _config_of(cls, {k: v for k, v in config.items() if k in kept}) != reference:
        return frozenset(config)  # defaults that only hold one at a time: keep everything
    return frozenset(kept)


def _config_of(cls: Any, config: dict[str, Any]) -> str | None:
    try:
        layer = cls.from_config({**config, "name": "probe"})
    except Exception:
        return None
    out = {k: _singletons(v) for k, v in layer.get_config().items() if k not in _NOT_ARGUMENTS}
    return json.dumps(out, sort_keys=True, default=_jsonable)


def _singletons(value: Any) -> Any:
    """`[-1]` and `-1` configure the same axis (LayerNormalization writes the list once built)."""
    if isinstance(value, (list, tuple)) and len(value) == 1 and not isinstance(value[0], (list, tuple, dict)):
        return value[0]
    return value
