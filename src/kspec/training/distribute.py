"""Data-parallel training over several processes: `distribute:` and `kspec train --workers N`.

Multi-process training goes through JAX: `jax.distributed.initialize` joins the processes
(process 0 hosts the coordinator), Keras's `DataParallel(devices=jax.devices())` replicates the
weights on every device of every process, and each process feeds its own slice of every global
batch (`auto_shard_dataset=False`): global batch k is rows [k*B, (k+1)*B) of the (shuffled)
training split, and process i takes its i-th contiguous part of b = B / N rows. So N processes
compute exactly the steps of one process with batch B (tested to 1e-5). Global batches that are
not full are dropped (every process must take the same number of equal steps).
On CPU the processes talk through gloo. TensorFlow's multi-worker strategy does not work with
Keras 3 (keras-team/keras#20585); on TensorFlow, `strategy: mirrored` uses every local device of
one process (`tf.distribute.MirroredStrategy`).

Nothing here imports JAX or Keras before `join` is called: Keras must see KERAS_BACKEND=jax at
its first import, and `jax.distributed.initialize` must run before JAX touches a device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kspec.errors import KspecRuntimeError, SpecError
from kspec.schema.model import DistributeModel
from kspec.training.rundir import BACKUP, LOCK, RUN_FILES, callback_targets

STRATEGIES = ("data_parallel", "mirrored")
#: The run folder's `logs/`: one log per process (the launcher's), their weights' digests.
LOGS = "logs"


class DistributeError(SpecError):
    """A distributed run that cannot start (bad flags, a coordinator that does not answer): exit 2."""

    def __str__(self) -> str:
        if self.file is None and self.line is None and not self.path:
            return self.message
        return super().__str__()


@dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-process run (None fields: JAX detects a cluster launcher)."""

    num_processes: int | None
    process_id: int | None
    coordinator: str | None
    timeout: int = 60

    @property
    def is_writer(self) -> bool:
        """Only process 0 writes the run folder."""
        return not self.process_id


def settings(spec: Any) -> DistributeModel | None:
    """The validated `distribute:` section of a spec (None when absent)."""
    raw = (spec.raw or {}).get("distribute")
    return None if raw is None else DistributeModel.model_validate(raw)  # validated when loaded


_LAUNCHER_ENV = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def cluster_from(
    coordinator: str | None, num_processes: int | None, process_id: int | None, timeout: int
) -> Cluster | None:
    """The multi-process setting from the flags, or from a cluster launcher's environment."""
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given):
        raise DistributeError(
            "--coordinator, --num-processes and --process-id go together (all three or none)"
        )
    if all(given):
        assert coordinator is not None and num_processes is not None and process_id is not None
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DistributeError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise DistributeError(
                f"--process-id must be in [0, {num_processes}) for --num-processes {num_processes}, got {process_id}"
            )
        return Cluster(num_processes, process_id, coordinator, timeout)
    for name in _LAUNCHER_ENV:  # SLURM, Open MPI, MPICH: JAX reads the rest itself
        if os.environ.get(name, "1").isdigit() and int(os.environ.get(name, "1")) > 1:
            return Cluster(None, None, None, timeout)
    return None


def run_targets(spec: Any) -> list[str]:
    """What a data-parallel run may write into its folder (run.json's manifest)."""
    return [*RUN_FILES, BACKUP, LOCK, LOGS, *callback_targets(spec)]


def check_batches(train_rows: int, batch_size: int, processes: int) -> None:
    """Every process must get an equal, non-empty part of at least one full global batch."""
    if batch_size % processes:
        raise DistributeError(
            f"batch_size {batch_size} cannot be split evenly over {processes} processes: "
            f"use a multiple of {processes} (the global batch is split across processes)"
        )
    if train_rows < batch_size:
        raise DistributeError(
            f"the training split has {train_rows} rows, fewer than one global batch of {batch_size}: "
            f"{processes} processes would have no batch to train on (lower batch_size or --workers)"
        )


def join(cluster: Cluster) -> None:
    """Join the other processes (before Keras is imported); a silent coordinator is an error."""
    os.environ["KERAS_BACKEND"] = "jax"
    import jax

    try:  # CPU processes exchange gradients through gloo
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except Exception:  # an older/newer JAX without the option: its default then
        pass
    kwargs: dict[str, Any] = {"initialization_timeout": cluster.timeout}
    # A dead peer is noticed within the timeout (JAX's default heartbeat waits 100 s).
    for key, value in (
        ("heartbeat_timeout_seconds", cluster.timeout),
        ("shutdown_timeout_seconds", cluster.timeout),
    ):
        if _accepts(jax.distributed.initialize, key):
            kwargs[key] = value
    if cluster.coordinator is not None:
        kwargs.update(
            coordinator_address=cluster.coordinator,
            num_processes=cluster.num_processes,
            process_id=cluster.process_id,
        )
        host, _, port = cluster.coordinator.rpartition(":")
        if host.strip("[]") in _LOOPBACK:  # a run on this machine: listen on loopback only
            if _accepts(jax.distributed.initialize, "coordinator_bind_address"):
                kwargs["coordinator_bind_address"] = f"{host}:{port}"  # JAX's default: every interface
            _gloo_on_loopback()
    if cluster.coordinator is not None and cluster.process_id:
        _wait_for_coordinator(cluster.coordinator, cluster.timeout)
    try:
        jax.distributed.initialize(**kwargs)
    except Exception as exc:  # JAX raises XlaRuntimeError / RuntimeError / ValueError
        from kspec.errors import first_line

        raise DistributeError(
            f"could not join the distributed run through coordinator {cluster.coordinator or '(from the cluster)'} "
            f"within {cluster.timeout} s: {first_line(exc)[:300]}"
        ) from None


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _gloo_on_loopback() -> None:
    """Gloo listens on the address of the machine's host name unless told otherwise (JAX does
    not pass one): for a run on this machine, make it 127.0.0.1. A JAX without this hook keeps
    its default."""
    try:
        from jax._src import xla_bridge

        make = xla_bridge._jax.make_gloo_tcp_collectives

        def on_loopback(
            distributed_client: Any, hostname: str | None = None, interface: str | None = None
        ) -> Any:
            return make(
                distributed_client=distributed_client, hostname=hostname or "127.0.0.1", interface=interface
            )

        xla_bridge._jax.make_gloo_tcp_collectives = on_loopback
    except Exception:
        pass


_LEAVING = False


def leave_without_barrier(code: int = 1) -> None:
    """This run failed (a peer died, a collective broke, a signal): at exit, skip JAX's shutdown,
    which waits at a barrier for every peer, the dead one too, then aborts the process with a
    stack trace. Registered after JAX's own exit handler, so it runs first (atexit is LIFO)."""
    global _LEAVING
    if _LEAVING:
        return
    _LEAVING = True
    import atexit

    def leave() -> None:
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    atexit.register(leave)


def _wait_for_coordinator(address: str, timeout: int) -> None:
    """Process 0 hosts the coordinator; the others wait for its port to answer first, because
    JAX aborts the whole process (SIGABRT, no Python exception) when it cannot connect."""
    import socket
    import time

    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise DistributeError(
                    f"could not join the distributed run through coordinator {address} within "
                    f"{timeout} s: {exc.strerror or exc} (is process 0 running there?)"
                ) from None
            time.sleep(0.5)


def _accepts(fn: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def use_data_parallel() -> tuple[int, int]:
    """Replicate the weights on every device of every process; return (process index, count)."""
    import jax
    import keras

    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    )
    return jax.process_index(), jax.process_count()


def from_process_0(value: int) -> int:
    """Process 0's `value`, on every process (a collective: all must call it)."""
    import numpy as np
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int32(value)))


def check_same_start(epoch: int) -> None:
    """Every process must resume from the same epoch (a collective: all must call it)."""
    import numpy as np
    from jax.experimental import multihost_utils

    seen = sorted({int(e) for e in np.ravel(multihost_utils.process_allgather(np.int32(epoch)))})
    if len(seen) > 1:
        raise KspecRuntimeError(
            f"the processes found backups of different epochs ({', '.join(map(str, seen))}): every "
            "process must read the same RUN_DIR/backup (a shared folder); pass --force to start over"
        )


def shard_dataset(
    arrays: Any, index: Any, global_batch: int, process: int, processes: int, *, shuffle: bool, seed: int
) -> Any:
    """This process's part of every full global batch, in the order one process would see them."""
    import tensorflow as tf

    from kspec.training import data as D

    local = global_batch // processes
    ds = tf.data.Dataset.from_tensor_slices(D.take(arrays, index))
    if shuffle:  # the same seed on every process: the same permutation, epoch after epoch
        ds = ds.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(global_batch, drop_remainder=True)
    part = lambda t: t[process * local : (process + 1) * local]  # noqa: E731
    ds = ds.map(lambda x, y: (tf.nest.map_structure(part, x), tf.nest.map_structure(part, y)))
    return ds.prefetch(tf.data.AUTOTUNE)


def fingerprint(model: Any) -> dict[str, Any]:
    """A digest of the weights: every process writes its own, the launcher compares them."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    total = 0.0
    for w in model.get_weights():
        arr = np.ascontiguousarray(np.asarray(w, dtype=np.float32))
        digest.update(arr.tobytes())
        total += float(np.abs(arr).sum())
    return {"weights_sha256": digest.hexdigest(), "weights_abs_sum": total}


def model_scope(spec: Any) -> Any:
    """Where one process builds and compiles its model: `strategy: mirrored` on TensorFlow puts
    it under `tf.distribute.MirroredStrategy` (every local GPU, or the CPU); else no scope."""
    import contextlib

    section = settings(spec)
    if section is None or section.strategy != "mirrored":
        return contextlib.nullcontext()
    import keras

    if keras.backend.backend() != "tensorflow":
        raise DistributeError(
            f"distribute.strategy mirrored is TensorFlow's (the backend is {keras.backend.backend()}); "
            "use data_parallel on JAX"
        )
    import tensorflow as tf

    return tf.distribute.MirroredStrategy().scope()
