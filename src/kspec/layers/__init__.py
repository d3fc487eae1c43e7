"""Layer rules: each supported Keras layer's arguments, output-shape rule and parameter formula.

Beneath both the `spec` stage (argument validation) and the `graph` stage (shapes, counts).
Rule modules are imported on first use (`registry.lookup`); `REGISTRY` here is the whole,
fully loaded registry.
"""

from typing import Any

from kspec.layers.registry import LayerArgs, Shape, ShapeError, format_shape, known_types, load_all, lookup

__all__ = [
    "REGISTRY",
    "LayerArgs",
    "Shape",
    "ShapeError",
    "format_shape",
    "known_types",
    "load_all",
    "lookup",
]


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return load_all()
    raise AttributeError(f"module 'kspec.layers' has no attribute {name!r}")
