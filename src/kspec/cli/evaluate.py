"""`kspec evaluate RUN_DIR`: evaluate a trained run's model again on its test split."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run on its test split",
        description="Load RUN_DIR/model.keras, rebuild the held-out test split from RUN_DIR/spec.yaml "
        "(same seed, same rows) and print `model.evaluate` by metric name.",
        epilog="example:\n  kspec evaluate runs/digits --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `kspec train`")
    p.add_argument("--format", choices=["text", "json"], default="text")
    from kspec.cli.common import add_backend_argument, add_max_params_argument, positive_int

    p.add_argument("--batch-size", type=positive_int, metavar="N")
    add_max_params_argument(p, "load")

    add_backend_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from kspec.training.run import evaluate

    metrics = evaluate(args.run_dir, batch_size=args.batch_size, max_params=args.max_params)
    if args.format == "json":
        print(json.dumps(metrics))
    else:
        width = max((len(k) for k in metrics), default=0)
        for key, value in metrics.items():
            print(f"{key:<{width}}  {value:.4f}")
    return 0
