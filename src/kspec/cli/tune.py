"""`kspec tune SPEC --trials N -o DIR`: KerasTuner search over the spec's `{tune: ...}` values."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument, add_spec_argument

    p = sub.add_parser(
        "tune",
        help="hyperparameter search over the spec's {tune: ...} values (KerasTuner)",
        description="Search SPEC's search spaces with KerasTuner and write DIR: best.yaml (the best "
        "trial as a plain spec), trials.csv, trials.json, summary.json and report.html. Trials "
        "are scored on the validation split. Run the same command again after a crash to "
        "continue: finished trials are kept.",
        epilog="examples:\n  kspec tune specs/digits_mlp_tune.yaml --trials 10 -o tune/digits\n"
        "  kspec tune specs/digits_mlp_tune.yaml --trials 20 --tuner bayesian --workers 2 -o tune/digits\n"
        "  kspec train tune/digits/best.yaml -o runs/digits_best",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p)
    add_backend_argument(p)
    p.add_argument("-o", "--out", metavar="DIR", help="tune folder (default: tune/<spec name>)")
    p.add_argument("--trials", type=int, required=True, metavar="N", help="number of trials (at most N)")
    p.add_argument("--tuner", choices=["random", "bayesian", "hyperband"], default="random")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N worker processes and a chief oracle on 127.0.0.1",
    )
    p.add_argument(
        "--objective",
        default="val_loss",
        metavar="NAME",
        help="metric to optimize: val_loss (default), val_accuracy, or NAME:min / NAME:max",
    )
    p.add_argument("--api", choices=["sequential", "functional", "subclass"], help="construction API")
    p.add_argument("--quiet", action="store_true", help="no messages")
    # A process of `--workers N`: the chief oracle or tuner I (set by the launcher, not by users).
    p.add_argument("--role", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from kspec.cli.common import build_options, load_spec

    spec = load_spec(args)
    out = args.out or os.path.join("tune", spec.name)
    if not args.role:  # bad requests fail in milliseconds, before Keras loads
        from kspec.training.tune_launch import check_folder, check_request, folder_record

        check_request(spec, args.trials, args.tuner, args.workers, args.objective)
        check_folder(out, folder_record(spec, args.tuner, args.objective, args.api))
    if args.role or args.workers == 1:
        from kspec.backend import select
        from kspec.cli import import_keras_quietly

        select(args.backend, spec)  # before Keras's first import: it keeps one backend per process
        import_keras_quietly()
    if args.role:  # one process of a distributed search
        from kspec.training.tune import run_search

        run_search(
            spec,
            out,
            tuner=args.tuner,
            trials=args.trials,
            objective=args.objective,
            api=args.api or spec.api,
            build_options=build_options(args),
        )
        return 0
    from kspec import tune

    summary = tune(
        spec,
        out,
        trials=args.trials,
        tuner=args.tuner,
        workers=args.workers,
        objective=args.objective,
        api=args.api,
        build_options=build_options(args),
        allow_unsafe=args.allow_unsafe,
        quiet=args.quiet,
    )
    if not args.quiet:
        best = summary["best"]
        print(
            json.dumps({"objective": summary["objective"], "score": best["score"], "values": best["values"]})
        )
    return 0
