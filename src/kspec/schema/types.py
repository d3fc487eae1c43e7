"""Argument types shared by the spec model and the layer registry.

Each type validates with a plain-English message (`must be a positive integer, got -3`) and
carries a JSON Schema, so `kspec schema` describes exactly what validation accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from kspec.schema import names


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive_int(v: Any) -> int:
    if not _is_int(v) or v <= 0:
        raise ValueError(f"must be a positive integer, got {v!r}")
    return v


def _non_negative_int(v: Any) -> int:
    if not _is_int(v) or v < 0:
        raise ValueError(f"must be a non-negative integer, got {v!r}")
    return v


def _int(v: Any) -> int:
    if not _is_int(v):
        raise ValueError(f"must be an integer, got {v!r}")
    return v


def _number(v: Any) -> float:
    if not _is_number(v):
        raise ValueError(f"must be a number, got {v!r}")
    return float(v)


def _rate(v: Any) -> float:
    if not _is_number(v) or not 0 <= v < 1:
        raise ValueError(f"must be a number in [0, 1), got {v!r}")
    return float(v)


#: Seeds go to `keras.utils.set_random_seed` and NumPy, which take 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


def _seed(v: Any) -> int:
    if not _is_int(v) or not 0 <= v <= MAX_SEED:
        raise ValueError(f"must be a seed: an integer from 0 to 2**32 - 1, got {v!r}")
    return v


def _fraction(v: Any) -> float:
    if not _is_number(v) or not 0 <= v <= 1:
        raise ValueError(f"must be a number in [0, 1], got {v!r}")
    return float(v)


def _at_most_one(v: Any) -> float:
    if not _is_number(v) or v > 1:
        raise ValueError(f"must be a number no larger than 1, got {v!r}")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"must be true or false, got {v!r}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"must be a string, got {v!r}")
    return v


#: TensorFlow's scope-name rule, which the subclass API's layer names must pass.
NAME_PATTERN = "^[A-Za-z0-9.][A-Za-z0-9_.-]*$"
NAME_RULE = "must be a name of ASCII letters, digits, '_', '-' or '.' that starts with a letter, digit or '.'"
_NAME_RE = re.compile(NAME_PATTERN.strip("^$"))


def is_name(v: Any) -> bool:
    return isinstance(v, str) and _NAME_RE.fullmatch(v) is not None


#: What `inputs:`/`outputs:` may name: a name, or `NAME:K`, output K of a layer with several
#: outputs (`lstm:1`, an LSTM's `state_h` with `return_state: true`); `NAME` alone is output 0.
REF_PATTERN = "^[A-Za-z0-9.][A-Za-z0-9_.-]*(:[0-9]{1,3})?$"
_REF_RE = re.compile(REF_PATTERN.strip("^$"))


def _ref(v: Any) -> str:
    if not isinstance(v, str) or _REF_RE.fullmatch(v) is None:
        raise ValueError(f"{NAME_RULE} (or NAME:K, output K of a layer with several outputs), got {v!r}")
    return v


def _name(v: Any) -> str:
    if not is_name(v):
        raise ValueError(f"{NAME_RULE}, got {v!r}")
    return v


def int_tuple(rank: int, *, minimum: int = 1) -> Any:
    """An int, or a list of `rank` ints (Keras's `kernel_size=3` or `kernel_size=[3, 3]`)."""

    def check(v: Any) -> tuple[int, ...]:
        if _is_int(v) and v >= minimum:
            return (v,) * rank
        if isinstance(v, (list, tuple)) and len(v) == rank and all(_is_int(x) and x >= minimum for x in v):
            return tuple(v)
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"must be a {kind} integer or a list of {rank} of them, got {v!r}")

    item = {"type": "integer", "minimum": minimum}
    schema = {"anyOf": [item, {"type": "array", "items": item, "minItems": rank, "maxItems": rank}]}
    return Annotated[tuple[int, ...], PlainValidator(check), WithJsonSchema(schema)]


def pad_tuple(rank: int) -> Any:
    """Cropping/ZeroPadding: int, list of `rank` ints, or list of `rank` [before, after] pairs."""

    def check(v: Any) -> tuple[tuple[int, int], ...]:
        if _is_int(v) and v >= 0:
            return ((v, v),) * rank
        if isinstance(v, (list, tuple)) and len(v) == rank:
            out = []
            for x in v:
                if _is_int(x) and x >= 0:
                    out.append((x, x))
                elif isinstance(x, (list, tuple)) and len(x) == 2 and all(_is_int(y) and y >= 0 for y in x):
                    out.append((x[0], x[1]))
                else:
                    break
            else:
                return tuple(out)
        raise ValueError(
            f"must be a non-negative integer, a list of {rank} of them, "
            f"or a list of {rank} [before, after] pairs, got {v!r}"
        )

    item = {"type": "integer", "minimum": 0}
    pair = {"type": "array", "items": item, "minItems": 2, "maxItems": 2}
    schema = {
        "anyOf": [
            item,
            {"type": "array", "items": {"anyOf": [item, pair]}, "minItems": rank, "maxItems": rank},
        ]
    }
    return Annotated[tuple[tuple[int, int], ...], PlainValidator(check), WithJsonSchema(schema)]


#: Arguments of Keras initializers, regularizers and constraints that are always numbers.
_NUMERIC_ARGS = frozenset(
    "mean stddev minval maxval scale gain l1 l2 factor max_value min_value rate".split()
)


def _check_object_args(kind: str, v: dict[str, Any]) -> None:
    """Catch wrongly typed arguments here: Keras creates weights lazily and would fail later."""
    for key, value in v.items():
        if key in _NUMERIC_ARGS and not _is_number(value):
            raise ArgumentError(f"{kind} argument {key!r} must be a number, got {value!r}", (key,))
        if key == "seed" and value is not None and not (_is_int(value) and value >= 0):
            raise ArgumentError(
                f"{kind} argument 'seed' must be a non-negative integer or null, got {value!r}", (key,)
            )


class ArgumentError(ValueError):
    """A bad argument inside a `{type: ...}` object; `subpath` is where, below the object's key."""

    def __init__(self, message: str, subpath: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.subpath = subpath


def check_keras_arguments(kind: str, v: dict[str, Any], *, supplied: tuple[str, ...] = ()) -> None:
    """The arguments of `{type: ClassName, ...}` against the installed Keras class's constructor
    (from the generated `keras_args` table: no Keras import): unknown ones with a did-you-mean,
    missing required ones, and values of the wrong kind where Keras's default says the kind (a
    float default takes a number, a bool default true or false; a mapping is another typed object,
    checked where it is read). `supplied`: arguments kspec itself passes (BackupAndRestore's folder)."""
    from kspec.schema.keras_args import ARGUMENTS, VALUE_KINDS

    entry = ARGUMENTS.get(kind, {}).get(str(v.get("type")))
    if entry is None:
        return
    accepted, required = entry
    for key in v:
        if key != "type" and key not in accepted:
            if not accepted:
                raise ArgumentError(f"{kind} {v['type']!r} takes no arguments, got {key!r}", (key,))
            raise ArgumentError(
                f"{kind} {v['type']} has no argument {key!r}"
                + names.did_you_mean(key, accepted)
                + f" (it takes {', '.join(accepted)})",
                (key,),
            )
    for key in required:
        if key not in v and key not in supplied:
            raise ArgumentError(f"{kind} {v['type']} needs the argument {key!r}")
    for key, want in VALUE_KINDS.get(kind, {}).get(str(v["type"]), {}).items():
        value = v.get(key)
        if value is None or isinstance(value, dict):
            continue
        if want == "bool" and not isinstance(value, bool):
            raise ArgumentError(
                f"{kind} {v['type']} argument {key!r} must be true or false, got {value!r}", (key,)
            )
        if want == "number" and isinstance(value, (str, bool)):
            raise ArgumentError(
                f"{kind} {v['type']} argument {key!r} must be a number, got {value!r}", (key,)
            )


def named_or_typed(
    kind: str,
    choices: frozenset[str],
    allow_none: bool = True,
    check_args: Callable[[str, dict[str, Any]], None] | None = None,
) -> Any:
    """A Keras object given by name, or `{type: ClassName, ...arguments}`.

    `check_args(kind, mapping)` checks the arguments of the mapping form (default: numbers
    and seeds of initializers, regularizers and constraints).
    """
    check_args = check_args or _check_object_args

    def check(v: Any) -> Any:
        if v is None and allow_none:
            return v
        if isinstance(v, str):
            if v not in choices:
                raise ValueError(names.unknown(kind, v, choices))
            return v
        if isinstance(v, dict):
            t = v.get("type")
            if t is None:
                raise ValueError(f"a {kind} given as a mapping needs 'type', got keys {sorted(v)}")
            if not isinstance(t, str) or t not in choices:
                raise ValueError(names.unknown(kind, t, choices))
            check_keras_arguments(kind, v)
            check_args(kind, v)
            return v
        raise ValueError(f"must be a {kind} name or {{type: ..., ...}}, got {v!r}")

    enum = sorted(choices)
    typed = {"type": "object", "properties": {"type": {"enum": enum}}, "required": ["type"]}
    options: list[dict[str, Any]] = [{"enum": enum}, typed]
    if allow_none:
        options.append({"type": "null"})
    return Annotated[Any, PlainValidator(check), WithJsonSchema({"anyOf": options})]


def _activation(v: Any) -> Any:
    if v is None:
        return v
    if isinstance(v, str) and v in names.ACTIVATIONS:
        return v
    if isinstance(v, str):
        raise ValueError(names.unknown("activation", v, names.ACTIVATIONS))
    raise ValueError(f"must be an activation name, got {v!r}")


def _dtype(v: Any) -> Any:
    if v is None:
        return v
    if isinstance(v, str) and v in names.DTYPES:
        return v
    if isinstance(v, str) and v in ("mixed_float16", "mixed_bfloat16"):
        return v
    raise ValueError(
        names.unknown("dtype", v, names.DTYPES) if isinstance(v, str) else f"must be a dtype name, got {v!r}"
    )


PositiveInt = Annotated[int, PlainValidator(_positive_int), WithJsonSchema({"type": "integer", "minimum": 1})]
NonNegativeInt = Annotated[
    int, PlainValidator(_non_negative_int), WithJsonSchema({"type": "integer", "minimum": 0})
]
Int = Annotated[int, PlainValidator(_int), WithJsonSchema({"type": "integer"})]
Number = Annotated[float, PlainValidator(_number), WithJsonSchema({"type": "number"})]
Rate = Annotated[
    float, PlainValidator(_rate), WithJsonSchema({"type": "number", "minimum": 0, "exclusiveMaximum": 1})
]
Bool = Annotated[bool, PlainValidator(_bool), WithJsonSchema({"type": "boolean"})]
Seed = Annotated[
    int, PlainValidator(_seed), WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_SEED})
]
AtMostOne = Annotated[float, PlainValidator(_at_most_one), WithJsonSchema({"type": "number", "maximum": 1})]
#: A number from 0 to 1, both included (GaussianNoise's stddev, as Keras requires).
Fraction = Annotated[
    float, PlainValidator(_fraction), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1})
]
Str = Annotated[str, PlainValidator(_str), WithJsonSchema({"type": "string"})]
Name = Annotated[str, PlainValidator(_name), WithJsonSchema({"type": "string", "pattern": NAME_PATTERN})]
Ref = Annotated[str, PlainValidator(_ref), WithJsonSchema({"type": "string", "pattern": REF_PATTERN})]
Activation = Annotated[
    Any,
    PlainValidator(_activation),
    WithJsonSchema({"anyOf": [{"enum": sorted(names.ACTIVATIONS)}, {"type": "null"}]}),
]
DType = Annotated[
    Any, PlainValidator(_dtype), WithJsonSchema({"anyOf": [{"enum": sorted(names.DTYPES)}, {"type": "null"}]})
]
Initializer = named_or_typed("initializer", names.INITIALIZERS)
Regularizer = named_or_typed("regularizer", names.REGULARIZERS)
Constraint = named_or_typed("constraint", names.CONSTRAINTS)


def _non_negative_number(v: Any) -> float:
    if not _is_number(v) or v < 0:
        raise ValueError(f"must be a non-negative number, got {v!r}")
    return float(v)


def _axes(v: Any) -> tuple[int, ...]:
    if _is_int(v):
        return (v,)
    if isinstance(v, (list, tuple)) and v and all(_is_int(x) for x in v):
        return tuple(v)
    raise ValueError(f"must be an integer or a non-empty list of integers, got {v!r}")


def _positive_ints(v: Any) -> tuple[int, ...]:
    if _is_int(v) and v > 0:
        return (v,)
    if isinstance(v, (list, tuple)) and v and all(_is_int(x) and x > 0 for x in v):
        return tuple(v)
    raise ValueError(f"must be a positive integer or a non-empty list of them, got {v!r}")


def _pad_pair(v: Any) -> tuple[int, int]:
    if _is_int(v) and v >= 0:
        return (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) and x >= 0 for x in v):
        return (v[0], v[1])
    raise ValueError(f"must be a non-negative integer or a [before, after] pair of them, got {v!r}")


def _numbers(v: Any) -> Any:
    if _is_number(v):
        return float(v)
    if isinstance(v, (list, tuple)) and v and all(_is_number(x) for x in v):
        return tuple(float(x) for x in v)
    raise ValueError(f"must be a number or a non-empty list of numbers, got {v!r}")


_int_list_schema = {
    "anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}, "minItems": 1}]
}
_pos_list_schema = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
    ]
}
NonNegativeNumber = Annotated[
    float, PlainValidator(_non_negative_number), WithJsonSchema({"type": "number", "minimum": 0})
]
#: An axis or a list of axes (`axis: -1` or `axis: [1, 2]`), normalized to a tuple.
Axes = Annotated[tuple[int, ...], PlainValidator(_axes), WithJsonSchema(_int_list_schema)]
#: A positive int or a list of them (`output_shape: 8` or `output_shape: [4, 8]`), normalized to a tuple.
PositiveInts = Annotated[tuple[int, ...], PlainValidator(_positive_ints), WithJsonSchema(_pos_list_schema)]
#: 1D padding/cropping: an int, or [before, after].
PadPair = Annotated[
    tuple[int, int],
    PlainValidator(_pad_pair),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2},
            ]
        }
    ),
]
#: A number, or one number per channel.
Numbers = Annotated[
    Any,
    PlainValidator(_numbers),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "minItems": 1}]}
    ),
]
