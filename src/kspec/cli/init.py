"""`kspec init [--template mlp|cnn|branching|rnn] -o SPEC`: write a commented starting spec."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.templates import TEMPLATES

    p = sub.add_parser(
        "init",
        help="write a commented starting spec that checks, builds and trains as written",
        description="Write a commented spec to start from. Each template trains offline on a "
        "dataset bundled with scikit-learn.\n\ntemplates:\n"
        + "\n".join(f"  {name:<10} {description}" for name, (description, _) in TEMPLATES.items()),
        epilog="example:\n  kspec init --template cnn -o model.yaml && kspec train model.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--template", choices=sorted(TEMPLATES), default="mlp", help="default: mlp")
    p.add_argument("-o", "--out", metavar="SPEC", required=True, help="the spec file to write (.yaml)")
    p.add_argument("--force", action="store_true", help="replace SPEC if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os
    import re
    import sys

    from kspec.cli.templates import render
    from kspec.errors import SpecError
    from kspec.files import write_text

    if os.path.exists(args.out) and not args.force:
        raise SpecError("exists; pass --force to replace it, or choose another -o", file=args.out)
    if os.path.isdir(args.out):
        raise SpecError("is a folder; -o names the spec file to write", file=args.out)
    stem = os.path.splitext(os.path.basename(args.out))[0]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip("_-") or args.template
    write_text(args.out, render(args.template, name, args.out))
    print(f"wrote {args.out} ({args.template}); next: kspec check {args.out}", file=sys.stderr)
    return 0
