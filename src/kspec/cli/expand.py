"""`kspec expand SPEC [-o FLAT]`: the spec with blocks and repeats written out as plain layers."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_spec_argument

    p = sub.add_parser(
        "expand",
        help="write the spec with blocks and repeats expanded (no TensorFlow)",
        description="Expand every block use and repeat of SPEC into plain layers. The flat spec "
        "builds to the identical model (same layer names, wiring and arguments).",
        epilog="example:\n  kspec expand specs/resnet50.yaml -o resnet50_flat.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p)
    p.add_argument("-o", "--output", metavar="FLAT", help="write here (.yaml/.yml or .json); default: stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from kspec.cli.common import load_spec
    from kspec.errors import SpecError
    from kspec.files import write_text
    from kspec.schema.flat import flat_data, to_json, to_yaml

    data = flat_data(load_spec(args))
    target = args.output
    as_json = bool(target and target.lower().endswith(".json"))
    if target and not target.lower().endswith((".yaml", ".yml", ".json")):
        raise SpecError(f"-o {target}: the flat spec is written as .yaml, .yml or .json")
    text = to_json(data) if as_json else to_yaml(data)
    if target:
        write_text(target, text)
        print(f"wrote {target}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
