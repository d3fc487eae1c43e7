"""Let a stage package double as the public function of the same name.

`kspec.build(spec)` is the API and `kspec/build/` is the stage folder. Python binds
`kspec.build` to the subpackage as soon as it is imported, so the package module itself is
made callable and forwards to the function: both spellings keep working.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, func: Callable[..., Any]) -> None:
    module = sys.modules[module_name]

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

    module.__class__ = _CallableModule
    module.__call__ = func  # type: ignore[attr-defined,operator]  # for help() and introspection
