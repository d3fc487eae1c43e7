"""`make demo`: the main job on a bundled spec, end to end.

Checks the spec (no TensorFlow), builds it with the Sequential, Functional and subclassing
APIs and prints each `model.summary()`, writes the three topology PNGs, trains briefly, writes
the run folder with its report, and compares the three APIs. Then shows one block-based
model (reusable `blocks:`): its nested check table, the subclass model's nested Keras layers
and the diagram with one cluster per block instance.

Run: python examples/demo.py [SPEC] [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import os

import kspec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="specs/digits_mlp.yaml")
    parser.add_argument("--out", default="demo")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--blocks-spec", default="specs/vgg_blocks.yaml", help="a spec with blocks")
    args = parser.parse_args()

    spec = kspec.load(args.spec)
    print(f"== kspec check {args.spec}")
    print(kspec.check(spec).to_text())

    from kspec.builders import APIS
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
    print("test metrics:", {k: round(v, 4) for k, v in result.metrics.items()})

    print("\n== comparing the three APIs")
    from kspec.report.compare_render import text_table, write_outputs

    comparison = kspec.compare(spec)
    print(text_table(comparison))
    written = write_outputs(comparison, os.path.join(args.out, "compare"))
    print("wrote", ", ".join(written))
    show_blocks(args.blocks_spec, os.path.join(args.out, "blocks"))
    print(f"\nopen {os.path.join(run_dir, 'report.html')} for the training report")


def show_blocks(path: str, out: str) -> None:
    """A spec with reusable blocks, as each stage sees it."""
    spec = kspec.load(path)
    print(f"\n== a block-based model: kspec check {path} --depth 1")
    print(kspec.check(spec).to_text(depth=1))
    from kspec.report.summary import keras_summary

    print("\n== its subclass model: one Keras layer per block instance (summary, expand_nested)")
    print(keras_summary(kspec.build(spec, api="subclass"), expand_nested=True))
    written = kspec.plot(
        spec, os.path.join(out, f"{spec.name}_subclass.png"), api="subclass", show_shapes=True
    )
    print("== block diagram:", ", ".join(written))


if __name__ == "__main__":
    main()
