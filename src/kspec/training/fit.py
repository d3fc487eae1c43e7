"""Callbacks from the spec, resumable fitting and the per-epoch history log.

Every run gets `BackupAndRestore(RUN_DIR/backup)` (so a killed run continues from its last
finished epoch), `TerminateOnNaN`, and `HistoryLog`, which rewrites `history.json` after each
epoch and keeps the epochs of an earlier, interrupted process.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import keras

from kspec.errors import KspecRuntimeError, first_line
from kspec.files import write_text

# Callback arguments that name a file or folder: relative paths are inside the run folder.
_PATH_ARGS = {
    "ModelCheckpoint": "filepath",
    "CSVLogger": "filename",
    "TensorBoard": "log_dir",
    "BackupAndRestore": "backup_dir",
}


def load_history(path: str) -> dict[str, list[Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) and isinstance(data.get("epoch"), list) else {"epoch": []}
    except (OSError, ValueError):
        return {"epoch": []}


def _number(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no NaN; null marks it


class HistoryLog(keras.callbacks.Callback):
    """Write `history.json` ({"epoch": [1, 2, ...], "loss": [...], ...}) after every epoch.

    It must come before BackupAndRestore in the callback list: an epoch is logged before its
    backup is written, so a process killed in between never leaves a backup ahead of the log.
    """

    def __init__(self, path: str, *, quiet: bool = False) -> None:
        super().__init__()
        self.path = path
        self.quiet = quiet
        self.history: dict[str, list[Any]] = {"epoch": []}
        self.initial_epoch = 0
        self._started = False
        self.last_logs: dict[str, Any] = {}

    def on_train_begin(self, logs: Any = None) -> None:
        self.history = load_history(self.path)
        self._started = False

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        # The first epoch this process runs: earlier ones come from an interrupted process
        # (BackupAndRestore restored its weights); later ones, if logged, are dropped.
        if self._started:
            return
        self._started = True
        self.initial_epoch = epoch
        old = self.history
        keep = [i for i, e in enumerate(old["epoch"]) if e <= epoch]
        self.history = (
            {k: [v[i] for i in keep if i < len(v)] for k, v in old.items()} if keep else {"epoch": []}
        )
        if epoch and not self.quiet:
            print(
                f"kspec: resuming at epoch {epoch + 1} "
                f"(epochs 1-{epoch} restored from {os.path.dirname(self.path)}/backup)",
                file=sys.stderr,
                flush=True,
            )

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        logs = dict(logs or {})
        self.last_logs = logs
        n = len(self.history["epoch"])
        self.history["epoch"].append(epoch + 1)
        for key, value in logs.items():
            try:
                number = _number(value)
            except (TypeError, ValueError):
                continue
            self.history.setdefault(key, [None] * n).append(number)
        for values in self.history.values():  # a metric missing this epoch
            if len(values) < n + 1:
                values.append(None)
        write_text(self.path, json.dumps(self.history, indent=1) + "\n")


def make_callbacks(spec: Any, run_dir: str) -> list[keras.callbacks.Callback]:
    """The spec's callbacks (by Keras class name) plus BackupAndRestore and TerminateOnNaN."""
    items = (spec.train or {}).get("callbacks") or []
    out: list[keras.callbacks.Callback] = []
    backup_args: dict[str, Any] = {"backup_dir": os.path.join(run_dir, "backup"), "double_checkpoint": True}
    have_nan = False
    for i, item in enumerate(items):
        item = {"type": item} if isinstance(item, str) else dict(item)
        kind = item.pop("type")
        path_arg = _PATH_ARGS.get(kind)
        if path_arg and isinstance(item.get(path_arg), str) and not os.path.isabs(item[path_arg]):
            item[path_arg] = os.path.join(run_dir, item[path_arg])
        if kind == "BackupAndRestore":
            backup_args.update(item)
            continue
        have_nan |= kind == "TerminateOnNaN"
        try:
            out.append(getattr(keras.callbacks, kind)(**item))
        except (TypeError, ValueError) as exc:
            line = first_line(exc)
            raise spec.error(("train", "callbacks", i), f"{kind}: {line}") from None
    try:
        backup = keras.callbacks.BackupAndRestore(**backup_args)
    except (TypeError, ValueError) as exc:
        raise spec.error(("train", "callbacks"), f"BackupAndRestore: {exc}") from None
    if not have_nan:
        out.append(keras.callbacks.TerminateOnNaN())
    return [backup, *out]


def check_finite(history: dict[str, list[Any]], log: HistoryLog) -> None:
    """Stop with a clear message when the loss became NaN or infinite."""
    loss = log.last_logs.get("loss")
    bad_epoch = None
    if loss is not None and not math.isfinite(float(loss)):
        bad_epoch = history["epoch"][-1] if history["epoch"] else 1
    elif history.get("loss") and history["loss"][-1] is None:
        bad_epoch = history["epoch"][-1]
    if bad_epoch is not None:
        raise KspecRuntimeError(
            f"the loss became NaN at epoch {bad_epoch}; training stopped (TerminateOnNaN). "
            "Try a lower learning rate, scaled inputs, or a loss that matches the output activation"
        )


class NanWatch(keras.callbacks.Callback):
    """Remember whether a batch produced a non-finite loss (TerminateOnNaN stops mid-epoch)."""

    def __init__(self) -> None:
        super().__init__()
        self.bad = False

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None:
            try:
                if not math.isfinite(float(loss)):
                    self.bad = True
            except (TypeError, ValueError):
                pass
