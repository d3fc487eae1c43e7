"""`kspec train SPEC -o RUN_DIR`: compile, fit, evaluate; writes the run folder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kspec.training.distribute import Cluster


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument, add_spec_argument, positive_int

    p = sub.add_parser(
        "train",
        help="compile, fit and evaluate; writes the run folder",
        description="Compile SPEC, fit it on its train.data, evaluate the held-out test split and "
        "write RUN_DIR: model.keras, history.json, metrics.json, summary.txt, model.png, "
        "curves.png, report.html. Run the same command again after a crash to resume.",
        epilog="examples:\n  kspec train specs/digits_mlp.yaml -o runs/digits\n"
        "  kspec train specs/spiral.yaml -o runs/spiral --epochs 50 --quiet\n"
        "  kspec train specs/digits_mlp.yaml -o runs/digits2 --workers 2   # data-parallel, 2 processes (JAX)\n"
        "  kspec train SPEC -o RUN --coordinator HOST0:1234 --num-processes 4 --process-id I   # on each host",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p)
    add_backend_argument(p)
    p.add_argument("-o", "--out", metavar="RUN_DIR", help="run folder (default: runs/<spec name>)")
    p.add_argument("--epochs", type=positive_int, metavar="N", help="override train.epochs")
    p.add_argument("--batch-size", type=positive_int, metavar="N", help="override train.batch_size")
    p.add_argument(
        "--api",
        choices=["sequential", "functional", "subclass"],
        help="construction API (default: the spec's `api`)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no messages")
    p.add_argument("--force", action="store_true", help="overwrite a run folder of another spec")
    d = p.add_argument_group("data-parallel training (JAX; see docs/distributed.md)")
    d.add_argument("--workers", type=positive_int, metavar="N", help="start N local processes on 127.0.0.1")
    d.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address (one command per host)")
    d.add_argument("--num-processes", type=positive_int, metavar="N", help="processes in the whole run")
    d.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1")
    d.add_argument(
        "--distribute-timeout",
        type=positive_int,
        metavar="S",
        help="seconds to wait for the coordinator and for a silent peer (default: distribute.timeout or 60)",
    )
    p.add_argument(
        "--init-weights",
        metavar="W.weights.h5",
        help="start from these weights (e.g. from kspec import --weights)",
    )
    p.set_defaults(run=run, before_keras=before_keras)


def _plan(args: argparse.Namespace) -> tuple[int, Cluster | None, int]:
    """(local workers to launch, this process's Cluster or None, timeout) from flags and `distribute:`."""
    from kspec.cli.common import load_spec
    from kspec.training import distribute as dist

    spec = load_spec(args)
    section = dist.settings(spec)
    timeout = args.distribute_timeout or (section.timeout if section else 60)
    if timeout < 1:
        raise dist.DistributeError(
            f"--distribute-timeout must be a positive number of seconds, got {timeout}"
        )
    cluster = dist.cluster_from(args.coordinator, args.num_processes, args.process_id, timeout)
    workers = (
        args.workers if args.workers is not None else (section.workers if section and section.workers else 1)
    )
    if args.workers is not None and args.workers < 1:
        raise dist.DistributeError(f"--workers must be a positive integer, got {args.workers}")
    if cluster is not None and args.workers is not None:
        raise dist.DistributeError(
            "--workers starts local processes; --coordinator/--process-id join one: not both"
        )
    if getattr(args, "init_weights", None) and (cluster is not None or workers > 1):
        from kspec.errors import SpecError

        raise SpecError(
            "--init-weights is not supported with --workers/--coordinator yet: "
            "train on one process, or start from the weights some other way"
        )
    return (1 if cluster is not None else workers), cluster, timeout


def before_keras(args: argparse.Namespace) -> bool:
    """Join a multi-process run before Keras loads; True when this process needs no Keras."""
    from kspec.training import distribute as dist

    workers, cluster, _ = _plan(args)
    if cluster is not None:
        dist.join(cluster)  # sets KERAS_BACKEND=jax: Keras must see it at its first import
    return workers > 1  # the launcher only starts and watches processes


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from kspec.cli.common import build_options, load_spec

    spec = load_spec(args)
    out = args.out or os.path.join("runs", spec.name)
    workers, cluster, timeout = _plan(args)
    # What every way of training takes from the command line.
    common = dict(
        epochs=args.epochs, batch_size=args.batch_size, api=args.api, quiet=args.quiet, force=args.force
    )
    if workers > 1:
        from kspec.training.train_launch import launch

        metrics = launch(
            spec,
            out,
            workers,
            **common,
            build_options=build_options(args),
            allow_unsafe=args.allow_unsafe,
            timeout=timeout,
        )
        if not args.quiet:
            print(json.dumps(metrics))
        return 0
    if cluster is not None:
        from kspec.report.run_folder import REPORTER
        from kspec.training.distributed_run import train_data_parallel

        result = train_data_parallel(
            spec,
            out,
            cluster,
            **common,
            reporter=REPORTER,
            build_options=build_options(args),
        )
        if not args.quiet:
            print(json.dumps(result.metrics))
        return 0
    from kspec import train

    try:
        result = train(
            spec,
            out,
            **common,
            build_options=build_options(args),
            init_weights=args.init_weights,
        )
    except KeyboardInterrupt:
        return 130
    if not args.quiet:
        print(json.dumps(result.metrics))
    return 0
