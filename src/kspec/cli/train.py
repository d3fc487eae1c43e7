"""`kspec train SPEC -o RUN_DIR`: compile, fit, evaluate; writes the run folder."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument, add_spec_argument, positive_int

    p = sub.add_parser(
        "train",
        help="compile, fit and evaluate; writes the run folder",
        description="Compile SPEC, fit it on its train.data, evaluate the held-out test split and "
        "write RUN_DIR: model.keras, history.json, metrics.json, summary.txt, model.png, "
        "curves.png, report.html. Run the same command again after a crash to resume.",
        epilog="examples:\n  kspec train specs/digits_mlp.yaml -o runs/digits\n"
        "  kspec train specs/spiral.yaml -o runs/spiral --epochs 50 --quiet",
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from kspec.cli.common import build_options, load_spec
    spec = load_spec(args)
    out = args.out or os.path.join("runs", spec.name)
    from kspec import train

    try:
        result = train(
            spec,
            out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            api=args.api,
            quiet=args.quiet,
            force=args.force,
            build_options=build_options(args),
        )
    except KeyboardInterrupt:
        return 130
    if not args.quiet:
        print(json.dumps(result.metrics))
    return 0
