"""`kspec serve [SPEC]`: the Playground web app (see docs/playground.md)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="the Playground: train a spec in the browser, with TensorFlow Playground's pictures",
        description="Start the Playground web app and print its URL. It binds 127.0.0.1 unless "
        "--host says otherwise; another host needs the token printed in the URL. It reads and "
        "writes only inside the current folder (state in .kspec-playground/).",
        epilog="example:\n  kspec serve specs/spiral.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", metavar="SPEC", nargs="?", help="the spec to start with (default: Playground's)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    p.add_argument("--max-epochs", type=int, default=1000, help="epochs one training may run")
    p.add_argument("--max-params", type=int, default=2_000_000, help="parameters a model may have")
    p.add_argument("--max-trainings", type=int, default=4, help="trainings running at once (one per tab)")
    p.add_argument("--max-body", type=int, default=1_000_000, help="bytes a request may carry")
    p.set_defaults(run=run, allow_unsafe=False)  # a spec served to a browser never runs code


def run(args: argparse.Namespace) -> int:
    from kspec.errors import SpecError
    from kspec.playground import Limits, serve

    for name in ("port", "max_epochs", "max_params", "max_trainings", "max_body"):
        value = getattr(args, name)
        if value < (0 if name == "port" else 1) or (name == "port" and value > 65535):
            raise SpecError(f"--{name.replace('_', '-')} out of range: {value}")
    text = None
    if args.spec:
        with open(args.spec, encoding="utf-8") as fh:
            text = fh.read()
    limits = Limits(
        max_epochs=args.max_epochs,
        max_params=args.max_params,
        max_trainings=args.max_trainings,
        max_body=args.max_body,
    )
    try:
        serve(text, host=args.host, port=args.port, limits=limits)
    except KeyboardInterrupt:
        pass
    return 0
