"""`kspec check SPEC`: validate, infer shapes and count parameters without Keras."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_spec_argument

    p = sub.add_parser("check", help="validate; print shapes and parameter counts (no TensorFlow)",
                       description="Validate SPEC and print each layer's output shape and parameter "
                       "counts, without importing TensorFlow or Keras.",
                       epilog="example:\n  kspec check specs/seed_sequential.yaml --format json",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_argument(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--keras", action="store_true",
                   help="for layers outside kspec's registry, ask Keras (imports TensorFlow)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import kspec
    from kspec.cli.common import load_spec

    spec = load_spec(args)
    report = kspec.check(spec)
    data = report.to_dict()
    if args.keras and not report.complete:
        from kspec.report.summary import keras_check

        data = keras_check(spec, data)
    if args.format == "json":
        print(json.dumps(data))
    else:
        print(report.to_text() if not (args.keras and not report.complete) else _text(data))
    return 0


def _text(data: dict) -> str:
    lines = [f'Model: "{data["name"]}" (unchecked layers answered by Keras)']
    for row in data["layers"]:
        lines.append(f'{row["name"]} ({row["type"]})  {row["output_shape"]}  {row["params"]}')
    lines.append(f'Total params: {data["total_params"]:,}')
    lines.append(f'Trainable params: {data["trainable_params"]:,}')
    lines.append(f'Non-trainable params: {data["non_trainable_params"]:,}')
    return "\n".join(lines)
