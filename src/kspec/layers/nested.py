"""A Sequential model used as a layer (ConvNeXt's stem and downsampling blocks), kept nested.

    - type: Sequential
      name: stem
      layers:
        - {type: Conv2D, name: stem_conv, filters: 96, kernel_size: 4, strides: 4}
        - {type: LayerNormalization, name: stem_layernorm, epsilon: 1.0e-6}

The inner layers are registry layers, validated by their own entries; the shape is folded
through them, and the counts are their sum, as Keras's summary shows a nested model as one row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import Field, PlainValidator, WithJsonSchema

from kspec.layers.registry import LayerArgs, Shape, ShapeError, format_shape, nested_layer, register
from kspec.schema import types
from kspec.schema.call_inputs import (
    CallInputsError,
    call_arguments,
    keyword_tensor_count,
    parse_inputs_by_name,
)

_layer = nested_layer()


def _inner_layers(v: Any) -> list[LayerArgs]:
    if not isinstance(v, list) or not v:
        raise ValueError(f"must be a non-empty list of layers ({{type: Conv2D, ...}}), got {v!r}")
    out = []
    check = _layer.__metadata__[0].func  # the nested-layer validator of the registry
    for i, item in enumerate(v):
        if _depth(item) > MAX_NESTING - 1:  # this Sequential is one level already
            raise ValueError(f"layers[{i}]: nested models nest more than {MAX_NESTING} deep")
        if isinstance(item, dict) and "name" in item and not types.is_name(item["name"]):
            raise ValueError(f"layers[{i}].name: {types.NAME_RULE}, got {item['name']!r}")
        if isinstance(item, dict) and str(item.get("type", "")).startswith("ops."):
            raise ValueError(f"layers[{i}]: a Sequential holds layers, not operations like {item['type']}")
        try:
            out.append(check(item))
        except ValueError as exc:
            raise ValueError(f"layers[{i}]: {exc}") from None
    names = [item["name"] for item in v if isinstance(item, dict) and "name" in item]
    if len(set(names)) != len(names):
        raise ValueError(f"layer names repeat inside the nested Sequential: {names}")
    return out


InnerLayers = Annotated[
    list[Any],
    PlainValidator(_inner_layers),
    WithJsonSchema({"type": "array", "items": {"type": "object", "required": ["type"]}, "minItems": 1}),
]


@register
class Sequential(LayerArgs):
    """A `keras.Sequential` of `layers`, used as one layer of the outer model."""

    layers: InnerLayers = Field(description="the inner layers, in order")

    def output_shape(self, shapes: list[Shape]) -> Shape:
        shape = shapes[0]
        for i, layer in enumerate(self.layers):
            try:
                shape = tuple(layer.output_shape([shape]))
            except ShapeError as exc:
                raise ShapeError(f"inner layer {i} ({layer.keras_type}): {exc}") from None
        return shape

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """The inner layers' sum (None if one is unknown)."""
        total, shape = 0, shapes[0]
        for layer in self.layers:
            out = tuple(layer.output_shape([shape]))
            cost = layer.macs([shape], out)
            if cost is None:
                return None
            total, shape = total + cost, out
        return total

    def param_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        trainable = frozen = 0
        shape = shapes[0]
        for layer in self.layers:
            t, f = layer.param_counts([shape])
            trainable, frozen = trainable + t, frozen + f
            shape = tuple(layer.output_shape([shape]))
        return (trainable, frozen) if self.trainable else (0, trainable + frozen)


_NESTED_KEYS = ("type", "name", "inputs")


def _model_inputs(v: Any) -> list[dict[str, Any]]:
    if not isinstance(v, list) or not v:
        raise ValueError(f"must be a non-empty list of inputs ({{name: x, shape: [8]}}), got {v!r}")
    out = []
    for i, item in enumerate(v):
        if not isinstance(item, dict) or set(item) - {"name", "shape", "dtype"}:
            raise ValueError(f"model_inputs[{i}]: must be {{name, shape, dtype?}}, got {item!r}")
        if not types.is_name(item.get("name")):
            raise ValueError(f"model_inputs[{i}].name: {types.NAME_RULE}, got {item.get('name')!r}")
        shape = item.get("shape")
        if not isinstance(shape, list) or not all(d is None or (type(d) is int and d > 0) for d in shape):
            raise ValueError(
                f"model_inputs[{i}].shape: must be a list of positive ints or null, got {shape!r}"
            )
        if "dtype" in item and not isinstance(item["dtype"], str):
            raise ValueError(f"model_inputs[{i}].dtype: must be a dtype name, got {item['dtype']!r}")
        out.append(dict(item))
    return out


#: How deep nested models may nest inside one another (a hostile spec cannot recurse forever).
MAX_NESTING = 8


@dataclass(frozen=True)
class InnerLayer:
    """One layer of a nested Functional model, validated: its wiring as a top-level entry's."""

    name: str
    inputs: list[str] | None  # None: the entry above
    rule: LayerArgs
    call: dict[str, Any] = field(default_factory=dict)
    #: tensors passed by keyword, as positions in `inputs` (`inputs:` by argument name)
    keywords: dict[str, Any] = field(default_factory=dict)
    #: the earlier inner layer this entry calls again (`reuse:`), or ""
    reuse: str = ""

    @property
    def positional_count(self) -> int:
        return len(self.inputs or [None]) - keyword_tensor_count(self.keywords)


def _depth(item: Any, level: int = 0) -> int:
    """How many nested models deep `item` goes (bounded: stops counting past the limit)."""
    if (
        level > MAX_NESTING
        or not isinstance(item, dict)
        or item.get("type") not in ("Functional", "Sequential")
    ):
        return level
    inner = item.get("layers")
    return max([_depth(x, level + 1) for x in inner] if isinstance(inner, list) else [level + 1])


def _model_layers(v: Any) -> list[InnerLayer]:
    """Each inner layer, validated; names are required (Keras's own, unique)."""
    if not isinstance(v, list) or not v:
        raise ValueError(f"must be a non-empty list of layers ({{type: Dense, name: d, ...}}), got {v!r}")
    check = _layer.__metadata__[0].func
    out: list[InnerLayer] = []
    rules: dict[str, InnerLayer] = {}
    for i, item in enumerate(v):
        if not isinstance(item, dict):
            raise ValueError(
                f"layers[{i}]: must be a layer given as {{type: Dense, name: d, ...}}, got {item!r}"
            )
        if not types.is_name(item.get("name")):
            raise ValueError(f"layers[{i}].name: a nested model's layers are named; {types.NAME_RULE}")
        if _depth(item) > MAX_NESTING:
            raise ValueError(f"layers[{i}]: nested models nest more than {MAX_NESTING} deep")
        try:
            call = call_arguments(item.get("call"), item.get("type") if "reuse" not in item else None)
        except CallInputsError as exc:
            raise types.ArgumentError(str(exc), (i, "call", *exc.where)) from None
        reuse = ""
        if "reuse" in item:
            reuse = item["reuse"]
            extra = sorted(set(item) - {"reuse", "name", "inputs", "call"})
            if extra:
                raise types.ArgumentError(
                    f"a `reuse:` entry takes only name, inputs and call, not {extra[0]!r}", (i, extra[0])
                )
            if reuse not in rules:
                raise types.ArgumentError(
                    f"{reuse!r} is not an earlier layer of this nested model", (i, "reuse")
                )
            reuse = rules[reuse].reuse or reuse  # reusing a reuse entry calls the same layer
            rule = rules[reuse].rule
        else:
            try:
                rule = check({k: x for k, x in item.items() if k not in ("inputs", "call")})
            except ValueError as exc:
                raise ValueError(f"layers[{i}]: {exc}") from None
        inputs = item.get("inputs")
        keywords: dict[str, Any] = {}
        if isinstance(inputs, dict):
            try:
                inputs, keywords, _ = parse_inputs_by_name(inputs, type(rule), rule.keras_type)
            except CallInputsError as exc:
                raise types.ArgumentError(str(exc), (i, *exc.where)) from None
        elif isinstance(inputs, str):
            inputs = [inputs]
        if inputs is not None and (
            not isinstance(inputs, list) or not inputs or not all(_is_ref(s) for s in inputs)
        ):
            raise types.ArgumentError(
                f"must be a name or a list of names (or NAME:K), got {item['inputs']!r}", (i, "inputs")
            )
        layer = InnerLayer(item["name"], inputs, rule, call, keywords, reuse)
        rules[layer.name] = layer
        out.append(layer)
    return out


def _is_ref(v: Any) -> bool:
    try:
        types._ref(v)
        return True
    except ValueError:
        return False


ModelInputs = Annotated[
    list[Any],
    PlainValidator(_model_inputs),
    WithJsonSchema(
        {"type": "array", "items": {"type": "object", "required": ["name", "shape"]}, "minItems": 1}
    ),
]
ModelLayers = Annotated[
    list[Any],
    PlainValidator(_model_layers),
    WithJsonSchema(
        {"type": "array", "items": {"type": "object", "required": ["type", "name"]}, "minItems": 1}
    ),
]


@register
class Functional(LayerArgs):
    """A Functional `keras.Model` used as one layer of the outer model, kept nested:
    its own `model_inputs`, named `layers` wired by `inputs:` (default: the entry above) and
    `outputs` (default: the last layer). The outer entry's `inputs` feed `model_inputs` in order.
    """

    max_inputs: ClassVar[int] = 64
    model_inputs: ModelInputs = Field(description="the nested model's inputs: [{name, shape, dtype?}]")
    layers: ModelLayers = Field(description="the nested model's layers, each named")
    outputs: list[types.Ref] | types.Ref | None = Field(None, description="default: the last layer")

    def _outs(self) -> list[str]:
        if self.outputs is None:
            return [self.layers[-1].name]
        return [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)

    def _trace(self, shapes: list[Shape]) -> tuple[dict[str, Shape], int, int]:
        env, trainable, frozen, _ = self._walk(shapes)
        return env, trainable, frozen

    def macs(self, shapes: list[Shape], output: Shape) -> int | None:
        """The inner layers' sum (None if one is unknown)."""
        return self._walk(shapes)[3]

    def _walk(self, shapes: list[Shape]) -> tuple[dict[str, Shape], int, int, int | None]:
        """Every inner shape by name (`NAME:K` for output K), the inner (trainable,
        non-trainable) counts and MACs: the top-level resolver's rules, inside."""
        if len(shapes) != len(self.model_inputs):
            raise ShapeError(f"takes {len(self.model_inputs)} input(s) (model_inputs), got {len(shapes)}")
        env: dict[str, Shape] = {}
        for spec, shape in zip(self.model_inputs, shapes):
            declared = (None, *spec["shape"])
            if len(declared) != len(shape) or any(
                d is not None and s is not None and d != s for d, s in zip(declared, shape)
            ):
                raise ShapeError(
                    f"model input {spec['name']!r} has shape {format_shape(declared)}, got {format_shape(shape)}"
                )
            env[spec["name"]] = tuple(shape)
        trainable = frozen = 0
        macs: int | None = 0
        counts: dict[str, int] = {}  # each layer's weights, counted at its first call
        previous = self.model_inputs[0]["name"] if len(self.model_inputs) == 1 else None
        for layer in self.layers:
            name, rule = layer.name, layer.rule
            sources = layer.inputs if layer.inputs is not None else [previous] if previous else []
            if not sources or any(s not in env for s in sources):
                raise ShapeError(
                    f"inner layer {name!r} reads {sources or 'nothing'}: not an earlier inner name "
                    "(or NAME:K of a layer with several outputs)"
                )
            if name in env:
                raise ShapeError(f"inner name {name!r} is used twice")
            count = layer.positional_count
            in_shapes = [env[s] for s in sources[:count]]
            try:
                if not rule.min_inputs <= len(in_shapes) <= rule.max_inputs:
                    raise ShapeError(
                        f"takes {rule.min_inputs} to {rule.max_inputs} input(s), got {len(in_shapes)}"
                    )
                outs = [tuple(o) for o in rule.call_output_shapes(in_shapes, layer.call)]
                if layer.keywords:
                    rule.check_keyword_tensors(in_shapes, self._by_keyword(layer, [env[s] for s in sources]))
                t, f = rule.param_counts(in_shapes)
                if layer.reuse:
                    if t + f != counts[layer.reuse]:
                        raise ShapeError(
                            f"calls {layer.reuse!r} on inputs that need {t + f} parameters; it has "
                            f"{counts[layer.reuse]} (a shared layer keeps its weights)"
                        )
                    t = f = 0
                else:
                    counts[name] = t + f
                cost = rule.macs(in_shapes, outs[0])
                macs = None if macs is None or cost is None else macs + cost
            except ShapeError as exc:
                raise ShapeError(f"inner layer {name!r} ({rule.keras_type}): {exc}") from None
            env[name] = outs[0]
            if len(outs) > 1:
                env.update({f"{name}:{k}": o for k, o in enumerate(outs)})
            trainable, frozen = trainable + t, frozen + f
            previous = name
        for out in self._outs():
            if out not in env:
                raise ShapeError(f"output {out!r} is not an inner layer or input")
        return env, trainable, frozen, macs

    @staticmethod
    def _by_keyword(layer: InnerLayer, shapes: list[Shape]) -> dict[str, list[Shape]]:
        return {
            key: [shapes[p] for p in (where if isinstance(where, list) else [where])]
            for key, where in layer.keywords.items()
        }

    def output_shapes(self, shapes: list[Shape]) -> list[Shape]:
        env, _, _ = self._trace(shapes)
        return [env[o] for o in self._outs()]

    def output_shape(self, shapes: list[Shape]) -> Shape:
        return self.output_shapes(shapes)[0]

    def param_counts(self, shapes: list[Shape]) -> tuple[int, int]:
        _, trainable, frozen = self._trace(shapes)
        return (trainable, frozen) if self.trainable else (0, trainable + frozen)
