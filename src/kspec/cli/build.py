"""`kspec build SPEC`: build with one API and print Keras's `model.summary()`."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument, add_spec_argument

    p = sub.add_parser(
        "build",
        help="build with an API and print model.summary()",
        description="Build SPEC as a Keras model and print Keras's model.summary().",
        epilog="example:\n  kspec build specs/seed_sequential.yaml --api subclass --save m.keras",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p)
    add_backend_argument(p)
    p.add_argument(
        "--api",
        choices=["sequential", "functional", "subclass"],
        help="construction API (default: the spec's `api`)",
    )
    p.add_argument("--save", metavar="FILE.keras", help="save the built model (.keras)")
    p.add_argument(
        "--weights", metavar="W.weights.h5", help="load these weights (e.g. from kspec import --weights)"
    )
    p.add_argument(
        "--summary-format",
        choices=["text", "json", "markdown"],
        default="text",
        help="Keras's own summary (text), or the same table as JSON or Markdown",
    )
    p.add_argument("--show-trainable", action="store_true", help="add a Trainable column")
    p.add_argument("--expand-nested", action="store_true", help="expand nested models")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import kspec
    from kspec.cli.common import build_options, load_spec
    from kspec.errors import SpecError

    spec = load_spec(args)
    if args.save and not args.save.endswith(".keras"):
        raise SpecError(f"--save needs a .keras file name, got {args.save!r}")
    model = kspec.build(spec, api=args.api, build_options=build_options(args), weights=args.weights)
    from kspec.report.summary import summary_text

    print(
        summary_text(
            model,
            args.summary_format,
            show_trainable=args.show_trainable,
            expand_nested=args.expand_nested,
            graph=kspec.resolve(spec, build_options(args)),
        )
    )
    if args.save:
        from kspec.files import save_model

        save_model(model, args.save)
        print(f"saved {args.save}")
    return 0
