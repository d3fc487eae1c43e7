"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse

from kspec.graph.check import CheckReport
from kspec.graph.resolve import Graph
from kspec.schema.options import BuildOptions
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
    add_max_params_argument(parser, "build")


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """`--backend`, for every command that imports Keras (it wins over the spec's `backend:`)."""
    from kspec.backend import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend (default: the spec's `backend:`, else $KERAS_BACKEND, else tensorflow)",
    )


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (batch sizes, steps, epochs)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_max_params_argument(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--max-params",
        type=_count,
        metavar="N",
        default=None,
        help=f"refuse to {verb} models with more than N parameters "
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
    """The command's spec, validated once per command (main does it before Keras loads)."""
    return load_report(args).graph.spec


def build_options(args: argparse.Namespace) -> BuildOptions:
    """What the person running the command decided: `--plugin` modules and `--max-params`."""
    return BuildOptions(
        plugins=tuple(getattr(args, "plugin", []) or ()),
        max_params=getattr(args, "max_params", None),
        backend=getattr(args, "backend", None),
    )


def load_graph(args: argparse.Namespace) -> Graph:
    """The command's spec resolved with the command line's build options."""
    return load_report(args).graph


def load_report(args: argparse.Namespace) -> CheckReport:
    """Validate, resolve and check the command's spec once: every independent error is raised
    together (up to `kspec.errors.MAX_ERRORS`), each with its file:line:col."""
    from kspec.graph.check import check_document
    from kspec.schema.io import read

    cached = getattr(args, "_check_report", None)
    if cached is None:
        cached = args._check_report = check_document(
            read(args.spec), allow_unsafe=args.allow_unsafe, build_options=build_options(args)
        )
    return cached
