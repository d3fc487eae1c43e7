"""Resumable training: after every epoch, the model's and the optimizer's state, all or nothing.

`RUN/backup/epoch-000007/` holds `model.weights.h5` (every layer's weights and every optimizer
variable, its step counter included), `rng.npz` (the state of the model's random-number
generators, e.g. Dropout's, which Keras's weight files leave out: without it a resumed run
draws other dropout masks than an uninterrupted one) and `history.json` (the epochs so far). It is written as
`backup/.kspec-*` and renamed into place, so a Ctrl-C or a kill at any moment leaves either the
previous epoch's backup or this one's, never half of one. A rerun restores the newest complete
backup exactly (the optimizer is built first, so its moments are loaded rather than skipped)
and continues at the next epoch; with the last epoch backed up, it trains nothing and only
evaluates and saves.

Keras's `BackupAndRestore` is not used: it writes `latest.weights.h5` in place (a Ctrl-C
while it writes leaves a file no rerun can load) and writes through links planted in `backup/`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from typing import Any

import keras

from kspec.errors import KspecRuntimeError, first_line, shorten
from kspec.files import write_text
from kspec.training.rundir import WEIGHTS, complete_epochs, read_json

RNG = "rng.npz"
MAX_RNG_BYTES = 1 * 2**20


def _rng_variables(model: Any) -> list[Any]:
    """The model's variables that its weights file leaves out: seed generators' states."""
    saved = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in saved]


def _save_rng(model: Any, path: str) -> None:
    import numpy as np

    states = [keras.ops.convert_to_numpy(v.value) for v in _rng_variables(model)]
    with open(path, "wb") as fh:
        np.savez(fh, *states)


def _restore_rng(model: Any, path: str) -> None:
    """Load `rng.npz` into the model's generators (no file: a backup of an older kspec)."""
    import numpy as np

    if not os.path.isfile(path) or os.path.islink(path):
        return
    if os.path.getsize(path) > MAX_RNG_BYTES:
        raise ValueError(f"{RNG} is larger than {MAX_RNG_BYTES} bytes")
    variables = _rng_variables(model)
    with np.load(path, allow_pickle=False) as data:
        states = [data[f"arr_{i}"] for i in range(len(data.files))]
    if len(states) != len(variables) or any(
        tuple(s.shape) != tuple(v.shape) or s.dtype != np.dtype(v.dtype) for s, v in zip(states, variables)
    ):
        raise ValueError(f"{RNG} does not match the model's random-number generators")
    for variable, state in zip(variables, states):
        variable.assign(state)


def restore(model: Any, folder: str) -> tuple[int, dict[str, list[Any]] | None]:
    """Load the newest complete backup into the compiled `model`: `(epoch, history)` ((0, None)
    when there is none)."""
    backups = complete_epochs(folder)
    if not backups:
        return 0, None
    epoch, path = backups[-1]
    # Build the optimizer first: an unbuilt one skips the saved moments and silently restarts.
    model.optimizer.build(model.trainable_variables)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(os.path.join(path, WEIGHTS))
        _restore_rng(model, os.path.join(path, RNG))
    except Exception as exc:
        raise KspecRuntimeError(
            f"{path}: cannot restore the backup of epoch {epoch} "
            f"({shorten(first_line(exc), 160, quote=False)}); pass --force to train from scratch"
        ) from None
    history = read_json(os.path.join(path, "history.json"), limit=64 * 2**20)
    ok = isinstance(history, dict) and isinstance(history.get("epoch"), list)
    return epoch, history if ok else None


class EpochBackup(keras.callbacks.Callback):
    """Back up model and optimizer after every epoch; keep only the newest complete one.

    Put it after `HistoryLog` in the callback list: it snapshots the log's history, this
    epoch included.
    """

    def __init__(self, folder: str, log: Any) -> None:
        super().__init__()
        self.folder = folder
        self.log = log

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        import json

        os.makedirs(self.folder, exist_ok=True)
        final = os.path.join(self.folder, f"epoch-{epoch + 1:06d}")
        tmp = tempfile.mkdtemp(prefix=".kspec-", dir=self.folder)
        try:
            self.model.save_weights(os.path.join(tmp, WEIGHTS), overwrite=True)
            _save_rng(self.model, os.path.join(tmp, RNG))
            write_text(os.path.join(tmp, "history.json"), json.dumps(self.log.history) + "\n")
            if os.path.isdir(final):  # a rerun that trains this epoch again
                shutil.rmtree(final)
            os.rename(tmp, final)  # the one atomic step: the epoch is now backed up
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        for old, path in complete_epochs(self.folder):
            if old != epoch + 1:
                shutil.rmtree(path, ignore_errors=True)
        for name in os.listdir(self.folder):  # leftovers of a process killed mid-backup
            path = os.path.join(self.folder, name)
            if (
                name.startswith(".kspec-")
                and path != tmp
                and not os.path.islink(path)
                and os.path.isdir(path)
            ):
                shutil.rmtree(path, ignore_errors=True)
