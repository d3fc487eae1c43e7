"""Load a `.keras` file someone else made: inspect it as data first, then let Keras read it.

Every loader in kspec (`kspec.load_model`, `kspec predict`, `kspec evaluate`) comes through
here, so no config reaches Keras's deserializer before `kspec.modelfile` has bounded the
archive and checked every object in its `config.json` against the allow-list.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from kspec.errors import KspecRuntimeError, SpecError, first_line, shorten
from kspec.modelfile import inspect_model_file


def load_keras_model(path: str | os.PathLike[str], *, safe_mode: bool = True, compile: bool = True) -> Any:
    """The model in the `.keras` file `path`, in Keras's safe mode, frozen layers re-frozen.

    A file that fails inspection is a `SpecError` (one line, exit 2 on the command line);
    With safe mode off (trusted files only) kspec still bounds the archive but skips the allow-list.
    `compile=False` skips the saved optimizer, loss and metrics (`kspec import` needs none).
    """
    path = os.fspath(path)
    inspect_model_file(path, allow_list=safe_mode)
    if not path.endswith(".keras"):
        raise SpecError("a Keras model file must be named *.keras", file=path)
    import keras

    from kspec.builders import refreeze  # also registers SpecModel with Keras

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
