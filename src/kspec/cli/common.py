"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse

from kspec.schema.validate import Spec


def add_spec_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="model spec, .yaml/.yml or .json")
    parser.add_argument(
        "--allow-unsafe",
        action="store_true",
        help="allow layers that run code (Lambda, ...); only for specs you trust",
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE for custom layers (trusted code; repeatable)",
    )
    parser.add_argument(
        "--max-params",
        type=_count,
        metavar="N",
        default=None,
        help="refuse to build models with more than N parameters "
        "(default: $KSPEC_MAX_PARAMS or 1e9; 0: no limit)",
    )


def _count(text: str) -> int:
    try:
        value = int(float(text.replace("_", "")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of parameters, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def load_spec(args: argparse.Namespace) -> Spec:
    """The command's spec, loaded once per command (main validates it before importing Keras)."""
    import kspec

    cached = getattr(args, "_loaded_spec", None)
    if cached is not None:
        return cached
    spec = kspec.load(args.spec, allow_unsafe=args.allow_unsafe)
    spec.plugins = list(dict.fromkeys([*spec.plugins, *getattr(args, "plugin", [])]))
    spec.trusted_plugins = list(getattr(args, "plugin", []))
    spec.max_params = getattr(args, "max_params", None)
    args._loaded_spec = spec
    return spec
