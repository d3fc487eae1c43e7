"""Call a Keras layer the way a spec entry says, and record what it returns (every builder,
nested Functional models included)."""

from __future__ import annotations

from typing import Any

from kspec.schema.call_inputs import keyword_tensor_count


def call_layer(
    layer: Any,
    style: str,
    values: list[Any],
    kwargs: dict[str, Any] | None = None,
    keywords: dict[str, Any] | None = None,
) -> Any:
    """Apply a layer the way its type expects: one tensor, a list, or positional tensors;
    `kwargs` are the spec's constant call arguments (`call: {training: false}`), `keywords` the
    tensors passed by name (`initial_state=[h, c]`), as positions in `values` (the positional
    tensors come first)."""
    kwargs = dict(kwargs or {})
    if keywords:
        for key, where in keywords.items():
            kwargs[key] = [values[p] for p in where] if isinstance(where, list) else values[where]
        values = values[: len(values) - keyword_tensor_count(keywords)]
    if style == "list":
        return layer(values, **kwargs)
    if style == "args":
        return layer(*values, **kwargs)
    return layer(values[0], **kwargs) if len(values) == 1 else layer(values, **kwargs)


def store(values: dict[str, Any], name: str, count: int, result: Any) -> None:
    """Record a node's result: `name` is output 0; a layer with several outputs (an LSTM with
    `return_state`) also gives `name:K` for each output K."""
    if count == 1:
        values[name] = result
        return
    values[name] = result[0]
    for k, tensor in enumerate(result):
        values[f"{name}:{k}"] = tensor
