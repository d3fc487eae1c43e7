"""Resumable training: after every epoch, the model's and the optimizer's state, all or nothing.

`RUN/backup/epoch-000007/` holds `model.weights.h5` (every layer's weights and every optimizer
variable, its step counter included) and `history.json` (the epochs so far). It is written as
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
import re
import shutil
import tempfile
import warnings
from typing import Any

import keras

from kspec.errors import KspecRuntimeError, first_line, shorten
from kspec.files import write_text
from kspec.training.rundir import read_json

_EPOCH = re.compile(r"epoch-(\d{6})\Z")
WEIGHTS = "model.weights.h5"


def complete_epochs(folder: str) -> list[tuple[int, str]]:
    """`(epoch, path)` of every complete backup in `folder`, oldest first (links ignored)."""
    if not os.path.isdir(folder) or os.path.islink(folder):
        return []
    found = []
    for name in os.listdir(folder):
        match = _EPOCH.match(name)
        path = os.path.join(folder, name)
        if match and not os.path.islink(path) and os.path.isfile(os.path.join(path, WEIGHTS)):
            found.append((int(match.group(1)), path))
    return sorted(found)


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
