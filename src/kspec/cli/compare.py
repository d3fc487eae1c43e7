"""`kspec compare SPEC`: build the spec with all three APIs and compare them side by side."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument, add_spec_argument, positive_int

    p = sub.add_parser(
        "compare",
        help="build with all three APIs and compare them",
        description="Build SPEC with the Sequential, Functional and subclassing APIs and compare parameter "
        "counts, build time, first-call latency, fit/predict throughput on synthetic data, saved size, "
        "save/load round-trip, plot_model nodes, and the largest difference between their predictions "
        "from the same initial weights.",
        epilog="examples:\n  kspec compare specs/seed_sequential.yaml\n"
        "  kspec compare specs/seed_sequential.yaml --format json\n"
        "  kspec compare specs/seed_sequential.yaml -o compare/   # diagrams, timings.png, compare.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p)
    add_backend_argument(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="also write <api>.png diagrams, timings.png, compare.json and compare.html",
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=32, help="batch size for the timings (default 32)"
    )
    p.add_argument("--steps", type=positive_int, default=50, help="timed fit/predict steps (default 50)")
    p.add_argument(
        "--backends",
        action="store_true",
        help="instead of the three APIs: the spec's API on every installed backend (tensorflow, jax, "
        "torch), same initial weights, one process each",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kspec.cli.common import build_options, load_spec
    from kspec.report.compare import compare
    from kspec.report.compare_render import text_table, write_outputs

    spec = load_spec(args)
    if args.backends:
        return _run_backends(args, spec)
    result = compare(spec, batch_size=args.batch_size, steps=args.steps, build_options=build_options(args))
    written = write_outputs(result, args.output) if args.output else []
    if args.format == "json":
        print(json.dumps(result.to_dict()))
    else:
        print(text_table(result))
        for path in written:
            print(f"wrote {path}")
    return 0


def _run_backends(args: argparse.Namespace, spec) -> int:
    from kspec.cli.common import build_options
    from kspec.report.backends import compare_backends
    from kspec.report.backends_render import public_dict, text_table, write_outputs

    result = compare_backends(
        spec, batch_size=args.batch_size, steps=args.steps, build_options=build_options(args)
    )
    written = write_outputs(result, args.output) if args.output else []
    if args.format == "json":
        print(json.dumps(public_dict(result)))
    else:
        print(text_table(result))
        for path in written:
            print(f"wrote {path}")
    return 0
