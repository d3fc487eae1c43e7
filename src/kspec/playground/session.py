"""One training per browser tab, on its own thread, batch by batch.

A `Trainer` builds the spec's model (seeded as `kspec train` seeds it), prepares the data with
the training stage's own functions, and runs `train_on_batch` over the very batches `kspec
train` feeds `fit` (the same `tf.data` pipeline, shuffled with the same seed), so a downloaded
spec trains to the same result on the command line. Run, Pause and Step (exactly one batch) are
commands to that thread; saving the model or the run folder is a job it runs between batches,
so nothing reads the model while it changes. The page learns of new states from `version`.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import Future
from typing import Any

import numpy as np

from kspec.errors import first_line
from kspec.graph.resolve import Graph
from kspec.playground.frames import FrameMaker
from kspec.playground.policy import Limits
from kspec.schema.validate import Spec

# Keras keeps global state (the random seed, unique layer names): one build at a time.
BUILD_LOCK = threading.Lock()
FRAME_INTERVAL = 0.2  # seconds between frames while running (always one after a step or pause)


class Trainer:
    def __init__(
        self, spec: Spec, graph: Graph, text: str, limits: Limits, workdir: str, folder: str
    ) -> None:
        self.spec, self.graph, self.text, self.limits = spec, graph, text, limits
        self.workdir = workdir  # data paths are relative to the server's folder
        self.folder = folder  # this session's folder, inside the server's
        self.state = "starting"
        self.error: str | None = None
        self.version = 0
        self.epoch = 0
        self.batches = 0  # batches trained in all
        self.batch_in_epoch = 0
        self.history: dict[str, list[Any]] = {"epoch": []}
        self.setup: dict[str, Any] = {}
        self.frame: dict[str, Any] = {}
        self.touched = time.monotonic()
        self._cond = threading.Condition()
        self._running = False
        self._steps = 0
        self._closed = False
        self._jobs: list[tuple[Any, Future[Any]]] = []
        self._thread = threading.Thread(target=self._main, name=f"kspec-train-{id(self)}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ commands (any thread)

    @property
    def busy(self) -> bool:
        """Building or running (a paused, finished or failed training is idle)."""
        return self.alive and (self.state == "starting" or self._running or self._steps > 0)

    def command(self, what: str) -> None:
        self.touched = time.monotonic()
        with self._cond:
            if what == "run":
                self._running = True
            elif what == "pause":
                self._running = False
            elif what == "step":
                self._running = False
                self._steps += 1
            self._cond.notify_all()

    def submit(self, job: Any) -> Future[Any]:
        """Run `job(trainer)` on the training thread between batches."""
        future: Future[Any] = Future()
        with self._cond:
            if self._closed or not self._thread.is_alive():
                future.set_exception(RuntimeError("this training has stopped"))
                return future
            self._jobs.append((job, future))
            self._cond.notify_all()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> dict[str, Any]:
        """The state the page shows (the setup goes separately: it changes only on reset)."""
        return {
            "state": self.state,
            "error": self.error,
            "epoch": self.epoch,
            "epochs": self.epochs if self.state != "starting" else None,
            "batches": self.batches,
            "batch_in_epoch": self.batch_in_epoch,
            "history": self.history,
            "frame": self.frame,
            "version": self.version,
        }

    # ------------------------------------------------------------------ the training thread

    def _publish(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        self.version += 1

    def _main(self) -> None:
        try:
            self._build()
        except Exception as exc:
            self._publish(state="error", error=first_line(exc))
            self._fail_jobs()
            return
        last_frame = 0.0
        while True:
            with self._cond:
                while not (self._closed or self._jobs or self._steps or (self._running and not self._done)):
                    if self._running and self._done:
                        self._running = False
                    self._cond.wait(0.5)
                if self._closed:
                    break
                jobs, self._jobs = self._jobs, []
                stepping = self._steps > 0 and not self._running
                if stepping:
                    self._steps -= 1
                run = self._running or stepping
            for job, future in jobs:
                try:
                    future.set_result(job(self))
                except Exception as exc:
                    future.set_exception(exc)
            if not run or self._done:
                continue
            try:
                epoch_ended = self._one_batch()
            except Exception as exc:
                self._publish(state="error", error=first_line(exc))
                break
            now = time.perf_counter()
            if stepping or epoch_ended and (now - last_frame >= FRAME_INTERVAL or self._done):
                self.frame = self.frames.frame()
                last_frame = now
            if self._done:
                with self._cond:
                    self._running = False
            self._publish(state=self._state_name())
        self._fail_jobs()

    def _fail_jobs(self) -> None:
        with self._cond:
            jobs, self._jobs = self._jobs, []
        for _, future in jobs:
            future.set_exception(RuntimeError(self.error or "this training has stopped"))

    @property
    def _done(self) -> bool:
        return self.epoch >= self.epochs

    def _state_name(self) -> str:
        if self._done:
            return "finished"
        return "running" if self._running else "paused"

    def _build(self) -> None:
        import keras

        from kspec.builders import build_model
        from kspec.training import data as D
        from kspec.training.compile import compile_kwargs
        from kspec.training.run import prepare_data

        spec = self.spec
        if spec.train is None:
            raise spec.error((), "no `train:` section: pick a dataset to train on")
        arrays, cfg = prepare_data(spec, self.graph, spec_dir=self.workdir)
        self.cfg = cfg
        self.arrays = arrays
        self.epochs = min(cfg.epochs, self.limits.max_epochs)
        self.batch_size = cfg.batch_size
        seed = cfg.seed if cfg.seed is not None else (spec.seed if spec.seed is not None else 0)
        with BUILD_LOCK:
            if spec.seed is not None:
                keras.utils.set_random_seed(spec.seed)
            model = build_model(self.graph, spec.api)
            model.compile(**compile_kwargs(self.graph, spec.compile))
        self.model = model
        self.train_ds = D.make_dataset(arrays, arrays.train, cfg.batch_size, shuffle=cfg.shuffle, seed=seed)
        self.batches_per_epoch = math.ceil(len(arrays.train) / cfg.batch_size)
        self._iterator: Any = None
        self._epoch_logs: dict[str, float] = {}
        self._epoch_rows = 0
        self.eval_sets = {
            "val": D.take(arrays, arrays.val) if len(arrays.val) else None,
            "test": D.take(arrays, arrays.test) if len(arrays.test) else None,
        }
        data = spec.train["data"]
        features = data.get("features") or ["x1", "x2"] if data.get("type") == "synthetic" else None
        sample_index = arrays.test[:256] if len(arrays.test) else arrays.train[:256]
        sample = D.take(arrays, sample_index)[0]
        self.frames = FrameMaker(
            model,
            self.graph,
            features,
            grid=self.limits.grid,
            units_shown=self.limits.units_shown,
            sample=sample,
        )
        self.setup = {
            "inputs": self.frames.inputs_frame(),
            "points": self._points(data) if self.frames.plane else None,
            "metrics": [],
            "batches_per_epoch": self.batches_per_epoch,
            "train_rows": int(len(arrays.train)),
            "test_rows": int(len(arrays.test)),
            "regression": data.get("name") in ("plane", "multi_gaussian"),
            "features": features,
        }
        self.frame = self.frames.frame()
        self._publish(state="paused")

    def _points(self, data: dict[str, Any]) -> dict[str, Any]:
        """The data on the plane, before feature maps, for the boundary picture."""
        from kspec.training.data import synthetic

        raw, labels = synthetic(
            data["name"], data.get("samples", 1000), data.get("noise", 0.1), data.get("seed", 0)
        )

        def pick(index: np.ndarray) -> list[list[float]]:
            return [
                [round(float(a), 4), round(float(b), 4), float(y)]
                for (a, b), y in zip(raw[index], labels[index])
            ]

        return {"train": pick(self.arrays.train), "test": pick(self.arrays.test)}

    def _one_batch(self) -> bool:
        """Train one batch; True when it ended an epoch (then the epoch is evaluated and logged)."""
        if self._iterator is None:
            self._iterator = iter(self.train_ds)
            self._epoch_logs, self._epoch_rows = {}, 0
            self.batch_in_epoch = 0
        x, y = next(self._iterator)
        logs = self.model.train_on_batch(x, y, return_dict=True)
        rows = int(len(y if not isinstance(y, dict) else next(iter(y.values()))))
        for key, value in logs.items():
            self._epoch_logs[key] = self._epoch_logs.get(key, 0.0) + float(value) * rows
        self._epoch_rows += rows
        self.batches += 1
        self.batch_in_epoch += 1
        if self.batch_in_epoch < self.batches_per_epoch:
            return False
        # Keras's fit opens one more iterator at the end of every epoch, and a seeded, reshuffling
        # tf.data pipeline draws a new order per iterator: doing the same keeps the batches of
        # every epoch those of `kspec train` (tests/test_playground.py checks it epoch by epoch).
        iter(self.train_ds)
        self._iterator = None
        self.epoch += 1
        record = {k: v / self._epoch_rows for k, v in self._epoch_logs.items()}
        for prefix, pair in self.eval_sets.items():
            if pair is not None:
                result = self.model.test_on_batch(pair[0], pair[1], return_dict=True)
                record.update({f"{prefix}_{k}": float(v) for k, v in result.items()})
        n = len(self.history["epoch"])
        self.history["epoch"].append(self.epoch)
        for key, value in record.items():
            number = value if math.isfinite(value) else None
            self.history.setdefault(key, [None] * n).append(number)
        return True


class Sessions:
    """The trainings of all tabs, by session id, within `limits.max_trainings`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.trainers: dict[str, Trainer] = {}

    def start(self, sid: str, spec: Spec, graph: Graph, text: str, workdir: str, folder: str) -> Trainer:
        with self._lock:
            old = self.trainers.pop(sid, None)
            if old is not None:
                old.close()
            live = [(k, t) for k, t in self.trainers.items() if t.alive]
            if len(live) >= self.limits.max_trainings:
                # Make room by closing a training that is not running (a paused or finished tab,
                # perhaps closed long ago); never one that is running.
                idle = [(k, t) for k, t in live if not t.busy]
                if not idle:
                    raise TooMany(
                        f"{len(live)} trainings are running; this server allows {self.limits.max_trainings}"
                    )
                key, oldest = min(idle, key=lambda kt: kt[1].touched)
                self.trainers.pop(key).close()
            trainer = Trainer(spec, graph, text, self.limits, workdir, folder)
            self.trainers[sid] = trainer
            return trainer

    def get(self, sid: str) -> Trainer | None:
        return self.trainers.get(sid)

    def close(self, sid: str) -> None:
        with self._lock:
            old = self.trainers.pop(sid, None)
        if old is not None:
            old.close()

    def close_all(self) -> None:
        with self._lock:
            trainers, self.trainers = list(self.trainers.values()), {}
        for t in trainers:
            t.close()
        for t in trainers:
            t.join(10)


class TooMany(Exception):
    """The limit of concurrent trainings is reached."""
