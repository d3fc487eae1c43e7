"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse

from kspec.spec.validate import Spec


def add_spec_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="model spec, .yaml/.yml or .json")
    parser.add_argument("--allow-unsafe", action="store_true",
                        help="allow layers that run code (Lambda, ...); only for specs you trust")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE for custom layers (trusted code; repeatable)")


def load_spec(args: argparse.Namespace) -> Spec:
    import kspec

    spec = kspec.load(args.spec, allow_unsafe=args.allow_unsafe)
    spec.plugins = list(dict.fromkeys([*spec.plugins, *getattr(args, "plugin", [])]))
    return spec
