"""`kspec check SPEC`: validate, infer shapes and count parameters without Keras."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_spec_argument

    p = sub.add_parser(
        "check",
        help="validate; print shapes and parameter counts (no TensorFlow)",
        description="Validate SPEC and print each layer's output shape and parameter "
        "counts, without importing TensorFlow or Keras.",
        epilog="example:\n  kspec check specs/seed_sequential.yaml --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--depth",
        type=int,
        default=0,
        metavar="N",
        help="open block instances N levels deep (default 0: one row per block instance)",
    )
    p.add_argument(
        "--keras",
        action="store_true",
        help="for layers outside kspec's registry, ask Keras (imports TensorFlow)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from kspec.cli.common import load_report

    report = load_report(args)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.keras and not report.complete:
        from kspec.report.summary import keras_check

        report = keras_check(report)
    print(json.dumps(report.to_dict()) if args.format == "json" else report.to_text(depth=args.depth))
    return 0
