"""`kspec predict RUN_DIR --input FILE -o predictions.npz`: predictions of a trained run."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a trained run's model",
        description="Load RUN_DIR/model.keras and predict for the features in FILE (.npz: arrays named "
        "after the model inputs, or `x`; .csv: a header row, all columns are features). "
        "The run's feature standardization is applied. The output .npz has one array per "
        "model output, named after it.",
        epilog="example:\n  kspec predict runs/digits --input new.npz -o predictions.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `kspec train`")
    p.add_argument("--input", required=True, metavar="FILE", help="features, .npz or .csv")
    p.add_argument(
        "-o",
        "--out",
        default="predictions.npz",
        metavar="FILE.npz",
        help="where to write the predictions (default: predictions.npz)",
    )
    p.add_argument("--batch-size", type=int, default=256, metavar="N")
    from kspec.cli.common import add_backend_argument, add_max_params_argument

    add_max_params_argument(p, "load")
    add_backend_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kspec.errors import SpecError
    from kspec.training.run import predict

    if not args.out.endswith(".npz"):
        raise SpecError(f"-o needs a .npz file name, got {args.out!r}")
    if args.batch_size < 1:
        raise SpecError(f"--batch-size must be a positive integer, got {args.batch_size}")
    shapes = predict(
        args.run_dir, args.input, args.out, batch_size=args.batch_size, max_params=args.max_params
    )
    print(f"wrote {args.out}: " + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()))
    return 0
