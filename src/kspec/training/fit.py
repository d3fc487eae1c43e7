"""Callbacks from the spec, resumable fitting and the per-epoch history log.

Every run gets `EpochBackup(RUN_DIR/backup)` (`kspec.training.backup`: a killed run continues
from its last finished epoch, optimizer state included), `TerminateOnNaN`, and `HistoryLog`,
which rewrites `history.json` after each epoch, starting from the epochs an earlier, interrupted
process finished.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import keras

from kspec.errors import KspecRuntimeError, first_line
from kspec.files import write_text
from kspec.schema.model import CALLBACK_PATH_ARGS
from kspec.training.rundir import read_json


def load_history(path: str) -> dict[str, list[Any]]:
    data = read_json(path, limit=64 * 2**20)
    return data if isinstance(data, dict) and isinstance(data.get("epoch"), list) else {"epoch": []}


def _number(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no NaN; null marks it


class HistoryLog(keras.callbacks.Callback):
    """Write `history.json` ({"epoch": [1, 2, ...], "loss": [...], ...}) after every epoch.

    `history`: the epochs an interrupted process finished (from its backup), kept in front.
    It must come before `EpochBackup` in the callback list, which snapshots this history.
    """

    def __init__(
        self,
        path: str,
        *,
        quiet: bool = False,
        history: dict[str, list[Any]] | None = None,
        initial_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.path = path
        self.quiet = quiet
        self.initial_epoch = initial_epoch
        old = history or {"epoch": []}
        keep = [i for i, e in enumerate(old.get("epoch", [])) if isinstance(e, int) and e <= initial_epoch]
        self.history: dict[str, list[Any]] = (
            {k: [v[i] for i in keep if i < len(v)] for k, v in old.items() if isinstance(v, list)}
            if keep
            else {"epoch": []}
        )
        self.last_logs: dict[str, Any] = {}

    def on_train_begin(self, logs: Any = None) -> None:
        if self.initial_epoch and not self.quiet:
            print(
                f"kspec: resuming at epoch {self.initial_epoch + 1} "
                f"(epochs 1-{self.initial_epoch} restored from {os.path.dirname(self.path)}/backup)",
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
    """The spec's callbacks (by Keras class name) plus TerminateOnNaN.

    Their file arguments are relative paths inside the run folder (the schema refuses others).
    A `BackupAndRestore` in the spec is not built: every run has kspec's own `EpochBackup`.
    """
    items = (spec.train or {}).get("callbacks") or []
    out: list[keras.callbacks.Callback] = []
    have_nan = False
    for i, item in enumerate(items):
        item = {"type": item} if isinstance(item, str) else dict(item)
        kind = item.pop("type")
        if kind == "BackupAndRestore":
            continue
        path_arg = CALLBACK_PATH_ARGS.get(kind)
        if path_arg and isinstance(item.get(path_arg), str):
            item[path_arg] = os.path.join(run_dir, item[path_arg])
        have_nan |= kind == "TerminateOnNaN"
        try:
            out.append(getattr(keras.callbacks, kind)(**item))
        except (TypeError, ValueError) as exc:
            line = first_line(exc)
            raise spec.error(("train", "callbacks", i), f"{kind}: {line}") from None
    if not have_nan:
        out.append(keras.callbacks.TerminateOnNaN())
    return out


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


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch this process trained (run.json's `epoch_seconds`): the
    throughput of training without start-up, tracing and the reports."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds.append(round(time.perf_counter() - self._start, 4))


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
