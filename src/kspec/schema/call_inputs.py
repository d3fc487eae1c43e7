"""A layer's call in a spec: `inputs:` by argument name and the constant `call:` arguments.

    inputs: {sequences: x, initial_state: [enc:1, enc:2], mask: m}   # layer(x, initial_state=[...], mask=m)
    call: {training: false}                                          # layer(x, training=False)

Shared by top-level entries (`kspec.schema.validate`) and the layers of a nested Functional
model (`kspec.layers.nested`); errors carry where they are relative to the entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kspec.schema import names, types

if TYPE_CHECKING:
    from kspec.layers.registry import LayerArgs

#: Constant keyword arguments a layer may be called with (`call: {training: false}`), and their types.
CALL_ARGUMENTS = {"training": bool, "use_causal_mask": bool, "return_attention_scores": bool}
#: Call arguments only some layer types take (Keras would fail on the others at build time).
CALL_ARGUMENT_TYPES = {
    "return_attention_scores": ("MultiHeadAttention", "GroupQueryAttention", "Attention", "AdditiveAttention")
}


def keyword_tensor_count(keywords: dict[str, Any]) -> int:
    """How many of an entry's input tensors are passed by keyword (they come after the
    positional ones); `keywords` maps an argument name to a position or a list of them."""
    return sum(len(where) if isinstance(where, list) else 1 for where in keywords.values())


class CallInputsError(ValueError):
    """A bad `inputs:` mapping or `call:` argument; `where` is its path inside the entry."""

    def __init__(self, where: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.where = where


def parse_inputs_by_name(
    value: dict[Any, Any], cls: type[LayerArgs] | None, ltype: str
) -> tuple[list[str], dict[str, Any], tuple[tuple[str | int, ...], ...]]:
    """`inputs: {sequences: x, initial_state: [h, c], mask: m}`: the call's tensors by Keras's
    argument names (the entry's `call_tensors`), as (flat references, keyword positions, where
    each reference is written). The references come in the order of `call_tensors`, so the
    positional ones (query, value, key), which must be given in order, come first; each keyword
    one becomes `layer(..., name=t)` (a list for `list_tensors`)."""
    where: tuple[str | int, ...] = ("inputs",)
    slots = cls.call_tensors if cls is not None else ()
    if cls is None or not slots:
        raise CallInputsError(
            where,
            f"{ltype} takes its inputs as a name or a list of names; `inputs:` by argument name is for "
            "layers whose call kspec knows (the RNNs, Bidirectional, ConvLSTM, the attention layers)",
        )
    positional = slots[: cls.max_inputs]
    for key in value:
        if key not in slots:
            raise CallInputsError(
                where + (key,),
                f"{ltype} has no tensor argument {key!r}; it takes {', '.join(slots)}"
                + names.did_you_mean(str(key), list(slots)),
            )
    given = [k for k in positional if k in value]
    if given != list(positional[: len(given)]) or len(given) < cls.min_inputs:
        want = ", ".join(positional[: max(cls.min_inputs, len(given))])
        raise CallInputsError(
            where, f"{ltype} needs its positional tensors {want} in `inputs:`, got {sorted(value)}"
        )
    refs: list[str] = []
    paths: list[tuple[str | int, ...]] = []
    keywords: dict[str, Any] = {}
    for key in slots:
        if key not in value:
            continue
        item = value[key]
        many = key in cls.list_tensors and isinstance(item, list)
        items = item if many else [item]
        if not items or (key not in cls.list_tensors and isinstance(item, list)):
            kind = " or a non-empty list of names" if key in cls.list_tensors else ""
            raise CallInputsError(where + (key,), f"must be a name{kind}, got {item!r}")
        start = len(refs)
        for k, ref in enumerate(items):
            at = where + ((key, k) if many else (key,))
            try:
                refs.append(types._ref(ref))
            except ValueError as exc:
                raise CallInputsError(at, str(exc)) from None
            paths.append(at)
        if key not in positional:
            keywords[key] = list(range(start, len(refs))) if key in cls.list_tensors else start
    return refs, keywords, tuple(paths)


def call_arguments(value: Any, ltype: str | None = None) -> dict[str, Any]:
    """`call: {training: false}`: the constant keyword arguments of a layer's call, checked."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CallInputsError(
            (), f"must be a mapping of call arguments like {{training: false}}, got {value!r}"
        )
    for key, v in value.items():
        kind = CALL_ARGUMENTS.get(key)
        if kind is None:
            raise CallInputsError(
                (key,),
                f"unknown call argument {key!r}; a call may fix {', '.join(sorted(CALL_ARGUMENTS))}"
                + names.did_you_mean(str(key), list(CALL_ARGUMENTS)),
            )
        if not isinstance(v, kind):
            raise CallInputsError((key,), f"must be true or false, got {v!r}")
        takers = CALL_ARGUMENT_TYPES.get(key)
        if ltype is not None and takers and ltype not in takers and v:
            raise CallInputsError((key,), f"{ltype} takes no {key}; {', '.join(takers)} do")
    return dict(value)
