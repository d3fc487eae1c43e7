"""Custom layers from modules the user names explicitly (`plugins:` in the spec, `--plugin`).

A plugin module is trusted code: importing it is the user's explicit decision. It registers
its layers with `keras.saving.register_keras_serializable()`; kspec then finds them by class
name. Nothing else is ever imported because a spec mentions it.
"""

from __future__ import annotations

import importlib
from typing import Any

_LOADED: dict[str, Any] = {}


def load_plugins(modules: list[str]) -> None:
    for module in modules:
        if module not in _LOADED:
            _LOADED[module] = importlib.import_module(module)


def custom_layer(layer_type: str) -> Any:
    """A layer class from an explicitly loaded plugin module, or None."""
    for module in _LOADED.values():
        cls = getattr(module, layer_type, None)
        if isinstance(cls, type):
            return cls
    return None
