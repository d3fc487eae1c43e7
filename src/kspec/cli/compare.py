"""`kspec compare`: not yet available (see the issue tracker)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="(coming)")
    p.add_argument("rest", nargs="*")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kspec.errors import KspecRuntimeError

    raise KspecRuntimeError("kspec compare is not implemented yet")
