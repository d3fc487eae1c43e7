"""`kspec export SPEC_OR_RUN --format keras|saved_model|onnx -o PATH`."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument

    p = sub.add_parser(
        "export",
        help="export a run's model (or a spec's fresh one) as .keras, SavedModel or ONNX",
        description="Export the trained model of RUN_DIR (a folder written by `kspec train`), or the "
        "freshly built model of a SPEC file, through Keras's model.save / model.export.",
        epilog="examples:\n  kspec export runs/digits --format onnx -o digits.onnx\n"
        "  kspec export specs/mnist_mlp.yaml --format saved_model -o mnist_savedmodel",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SPEC_OR_RUN", help="a spec file or a run folder")
    p.add_argument("--format", required=True, choices=["keras", "saved_model", "onnx"])
    p.add_argument(
        "-o", "--out", required=True, metavar="PATH", help="file (.keras, .onnx) or folder (saved_model)"
    )
    p.add_argument(
        "--allow-unsafe", action="store_true", help="allow layers that run code (trusted specs only)"
    )
    add_backend_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import kspec
    from kspec.training.export import export, model_of

    def build(path: str):
        spec = kspec.load(path, allow_unsafe=args.allow_unsafe)
        return kspec.build(spec, backend=args.backend)

    model = model_of(args.source, build)
    print(f"wrote {export(model, args.format, args.out)}")
    return 0
