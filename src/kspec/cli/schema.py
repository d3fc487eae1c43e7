"""`kspec schema`: print the JSON Schema of the spec format."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of the spec format",
        description="Print the JSON Schema of the spec format (for editor completion).",
        epilog="example:\n  kspec schema > kspec.schema.json\n"
        "  # then in a YAML spec: # yaml-language-server: $schema=kspec.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kspec.schema.json_schema import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0
