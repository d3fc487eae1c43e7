"""`make demo`: the main job on a bundled spec, end to end.

Checks the spec (no TensorFlow), builds it with the Sequential, Functional and subclassing
APIs and prints each `model.summary()`, writes the three topology PNGs, trains briefly, writes
the run folder with its report, and compares the three APIs.

Run: python examples/demo.py [SPEC] [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import kspec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="specs/digits_mlp.yaml")
    parser.add_argument("--out", default="demo")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    spec = kspec.load(args.spec)
    print(f"== kspec check {args.spec}")
    print(kspec.check(spec).to_text())

    from kspec.build import APIS
    from kspec.report.summary import keras_summary

    for api in APIS:
        print(f"\n== {api} API")
        print(keras_summary(kspec.build(spec, api=api)))

    diagrams = os.path.join(args.out, "diagrams")
    written = kspec.plot(spec, diagrams, api="all", show_shapes=True)
    print("\n== diagrams:", ", ".join(written))

    run_dir = os.path.join(args.out, "run")
    print(f"\n== training {args.epochs} epochs into {run_dir}")
    result = kspec.train(spec, run_dir, epochs=args.epochs, force=True)
    print("test metrics:", getattr(result, "metrics", result))

    print("\n== comparing the three APIs")
    comparison = kspec.compare(spec, out_dir=os.path.join(args.out, "compare"))
    from kspec.report.compare import format_text

    print(format_text(comparison))
    print(f"\nopen {os.path.join(run_dir, 'report.html')} for the report")


if __name__ == "__main__":
    main()
