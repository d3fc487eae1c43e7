"""JSON Schema of the spec format, for editors (YAML language servers) and other tools."""

from __future__ import annotations

from typing import Any

from kspec.layers.registry import describe, load_all
from kspec.schema.model import SpecModel
from kspec.schema.names import KERAS_LAYERS
from kspec.schema.space import FIXED_KEYS, SPACE_SCHEMA

SCHEMA_ID = "https://kspec.dev/schema/v1.json"


def layer_schemas() -> list[dict[str, Any]]:
    """One schema per registry entry, plus a generic one for other Keras layers."""
    out = []
    for name, cls in sorted(load_all().items()):
        schema = cls.model_json_schema()
        props = dict(schema.get("properties", {}))
        for p in props.values():
            p.pop("title", None)
        wiring: list[dict[str, Any]] = [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        if cls.call_tensors:  # `inputs:` by the call's argument names
            wiring.append(
                {
                    "type": "object",
                    "properties": {
                        k: _NAMES if k in cls.list_tensors else {"type": "string"} for k in cls.call_tensors
                    },
                    "additionalProperties": False,
                }
            )
        props = {
            "type": {"const": name, "description": describe(cls)},
            "name": {"type": "string", "description": "layer name, unique in the spec"},
            "inputs": {
                "anyOf": wiring,
                "description": "input or earlier layer name(s), or the call's tensors by argument name; "
                "default: the entry above",
            },
            "call": CALL,
            **props,
        }
        out.append(
            {
                "title": name,
                "type": "object",
                "properties": props,
                "required": ["type", *schema.get("required", [])],
                "additionalProperties": False,
                "$defs": schema.get("$defs", {}),
            }
        )
    others = sorted(KERAS_LAYERS - set(load_all()))
    out.append(
        {
            "title": "other Keras layer",
            "type": "object",
            "properties": {
                "type": {"enum": others},
                "name": {"type": "string"},
                "inputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            },
            "required": ["type"],
            "additionalProperties": True,
        }
    )
    return out


_NAMES = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
#: `call: {training: false}`: constant keyword arguments of the layer's call.
CALL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "training": {"type": "boolean"},
        "use_causal_mask": {"type": "boolean"},
        "return_attention_scores": {"type": "boolean"},
    },
    "additionalProperties": False,
    "description": "constant keyword arguments of the call, e.g. {training: false}",
}
#: `{reuse: NAME, name, inputs, call}`: an earlier layer called again (a shared layer).
REUSE: dict[str, Any] = {
    "title": "shared layer call",
    "type": "object",
    "required": ["reuse"],
    "properties": {
        "reuse": {"type": "string", "description": "an earlier layer to call again, with the same weights"},
        "name": {"type": "string", "description": "this call's name; default: <reuse>_call<N>"},
        "inputs": {**_NAMES, "description": "input or earlier layer name(s); default: the entry above"},
        "call": CALL,
    },
    "additionalProperties": False,
}
_EXPRESSION = {"type": "string", "pattern": "\\$\\{"}

#: `{block: NAME, name, inputs, repeat, if, ...arguments}` (arguments are checked against the
#: block's parameters by kspec, not by the schema).
BLOCK_USE: dict[str, Any] = {
    "title": "block use",
    "type": "object",
    "required": ["block"],
    "properties": {
        "block": {"type": "string", "description": "a name from `blocks:`"},
        "name": {"type": "string", "description": "instance name; its layers are named <name>_<layer>"},
        "inputs": {
            **_NAMES,
            "description": "input or earlier layer/instance name(s); default: the entry above",
        },
        "repeat": {
            "anyOf": [{"type": "integer", "minimum": 1}, _EXPRESSION],
            "description": "copies, chained",
        },
        "if": {"anyOf": [{"type": "boolean"}, _EXPRESSION], "description": "false: left out"},
    },
    "additionalProperties": True,
}

_PARAM = {
    "anyOf": [
        {"enum": ["int", "float", "string", "bool", "list"]},
        {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["int", "float", "string", "bool", "list"]},
                "default": {},
                "description": {"type": "string"},
            },
            "additionalProperties": False,
        },
    ]
}

#: `blocks:`: name -> {params, inputs, layers, outputs}; the layers are checked once used.
BLOCKS: dict[str, Any] = {
    "type": "object",
    "description": "reusable sub-networks: name -> {params, inputs, layers, outputs}",
    "additionalProperties": {
        "type": "object",
        "required": ["layers"],
        "properties": {
            "description": {"type": "string"},
            "params": {"type": "object", "additionalProperties": _PARAM},
            "inputs": {**_NAMES, "description": "the block's own input names (default: [x])"},
            "layers": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            "outputs": {**_NAMES, "description": "default: the last entry"},
        },
        "additionalProperties": False,
    },
}
_SCALARS = {"integer", "number", "string", "boolean"}
# Keys whose values must stay fixed (besides FIXED_KEYS): no search space is offered there.
_NOT_SEARCHED = {"kspec", "api", "plugins", "backend", "inputs", "data", "test_split", "validation_split"}
_SPACE_REF = {"$ref": "#/$defs/SearchSpace"}


def allow_spaces(node: Any) -> Any:
    """Offer `{tune: ...}` beside every scalar schema, except where a value must be fixed."""
    if isinstance(node, list):
        return [allow_spaces(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                k: v if k in FIXED_KEYS or k in _NOT_SEARCHED else allow_spaces(v) for k, v in value.items()
            }
        else:
            out[key] = allow_spaces(value)
    kind = out.get("type")
    scalar = (isinstance(kind, str) and kind in _SCALARS) or ("enum" in out and kind is None)
    if scalar:
        return {"anyOf": [out, _SPACE_REF]}
    return out


def json_schema() -> dict[str, Any]:
    """The whole format as one JSON Schema (draft 2020-12)."""
    schema = SpecModel.model_json_schema()
    layers = layer_schemas()
    # hoist nested $defs so every $ref resolves from the root
    defs = schema.setdefault("$defs", {})
    for entry in layers:
        defs.update(entry.pop("$defs", {}))
    schema["properties"]["layers"] = {
        "type": "array",
        "minItems": 1,
        "description": "the layers, in order; {block: NAME, ...} uses a block, {reuse: NAME} calls a layer again",
        "items": {"anyOf": [*layers, BLOCK_USE, REUSE]},
    }
    schema["properties"]["blocks"] = BLOCKS
    defs.pop("LayerModel", None)
    schema = allow_spaces(schema)
    schema["$defs"]["SearchSpace"] = SPACE_SCHEMA
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "kspec model spec, version 1"
    return schema
