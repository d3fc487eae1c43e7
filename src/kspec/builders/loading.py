"""Load a `.keras` file someone else made: inspect it as data first, then let Keras read it.

Every loader in kspec (`kspec.load_model`, `kspec predict`, `kspec evaluate`) comes through
here, so no config reaches Keras's deserializer before `kspec.modelfile` has bounded the
archive and checked every object in its `config.json` against the allow-list.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from kspec.errors import KspecRuntimeError, SpecError, first_line, shorten
from kspec.modelfile import inspect_model_file
from kspec.schema.limits import max_params as max_params_limit
from kspec.schema.limits import over_limit_message


def load_keras_model(
    path: str | os.PathLike[str],
    *,
    safe_mode: bool = True,
    compile: bool = True,
    max_params: int | None = None,
) -> Any:
    """The model in the `.keras` file `path`, in Keras's safe mode, frozen layers re-frozen.

    A file that fails inspection is a `SpecError` (one line, exit 2 on the command line);
    With safe mode off (trusted files only) kspec still bounds the archive but skips the allow-list.
    `compile=False` skips the saved optimizer, loss and metrics (`kspec import` needs none).
    A model over the parameter limit (`max_params`, else $KSPEC_MAX_PARAMS or 1e9) is refused
    before any of its weights is allocated.
    """
    path = os.fspath(path)
    config = inspect_model_file(path, allow_list=safe_mode)
    if not path.endswith(".keras"):
        raise SpecError("a Keras model file must be named *.keras", file=path)
    import keras

    from kspec.builders import refreeze  # also registers SpecModel with Keras

    refuse_over_limit(config, path, max_params, safe_mode)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns about skipped optimizer variables etc.
            model = keras.models.load_model(path, safe_mode=safe_mode, compile=compile)
    except Exception as exc:
        # Keras's messages quote the whole config (kilobytes); one short line is enough.
        raise KspecRuntimeError(
            f"{path}: cannot load the model: {shorten(first_line(exc), 200, quote=False)}"
        ) from None
    return refreeze(model)


def refuse_over_limit(config: dict[str, Any], path: str, max_params: int | None, safe_mode: bool) -> None:
    """Count the parameters `config` asks for without allocating them, and refuse too many.

    The config, not the weights file, decides what Keras allocates: a small archive can ask for
    a 200M-parameter Dense. Keras's `StatelessScope` defers every variable's initializer, so
    the model is built with shapes and no values, counted, and dropped.
    """
    limit = max_params_limit(override=max_params)
    if not limit:
        return
    import keras
    from keras.src.backend.common import global_state
    from keras.src.backend.common.stateless_scope import StatelessScope

    architecture = {k: v for k, v in config.items() if k != "compile_config"}  # no optimizer
    pending = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
    try:
        with warnings.catch_warnings(), StatelessScope(initialize_variables=False):
            warnings.simplefilter("ignore")
            model = keras.saving.deserialize_keras_object(architecture, safe_mode=safe_mode)
        per_layer = [(sum(math.prod(v.shape) for v in layer.weights), layer.name) for layer in model.layers]
    except Exception as exc:
        raise KspecRuntimeError(
            f"{path}: cannot load the model: {shorten(first_line(exc), 200, quote=False)}"
        ) from None
    finally:  # the deferred variables are Keras's to initialize later: forget ours
        global_state.set_global_attribute("uninitialized_variables", pending)
    total = sum(n for n, _ in per_layer)
    if total > limit:
        biggest_params, biggest = max(per_layer)
        raise SpecError(over_limit_message(total, limit, "float32", biggest, biggest_params), file=path)
