"""Layer rules: each supported Keras layer's arguments, output-shape rule and parameter formula.

Beneath both the `spec` stage (argument validation) and the `graph` stage (shapes, counts).
Importing this package fills the registry.
"""

from kspec.rules import attention, conv, core, merge, normalization, pooling, recurrent, reshaping  # noqa: F401
from kspec.rules.registry import REGISTRY, LayerArgs, Shape, ShapeError, format_shape

__all__ = ["REGISTRY", "LayerArgs", "Shape", "ShapeError", "format_shape"]
