"""`kspec import SOURCE -o SPEC`: a Keras model (.keras, model.to_json(), keras.applications:NAME) as a spec."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument

    p = sub.add_parser(
        "import",
        help="make a spec from a Keras model (.keras, JSON, keras.applications:NAME)",
        description="Write the spec of an existing Keras model: a .keras file, a model.to_json() file, "
        "or keras.applications:NAME (built with weights=None). The spec leaves out what equals Keras's "
        "defaults; building it gives the same model.",
        epilog="examples:\n  kspec import keras.applications:MobileNetV2 --input-shape 96,96,3 -o mobilenet.yaml\n"
        "  kspec import model.keras -o model.yaml --weights model.weights.h5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="FILE.keras, FILE.json or keras.applications:NAME")
    p.add_argument(
        "-o", "--out", metavar="SPEC", required=True, help="spec to write (.yaml, or .json for JSON)"
    )
    p.add_argument("--input-shape", metavar="H,W,C", help="input shape of an application (e.g. 96,96,3)")
    p.add_argument("--weights", metavar="W.weights.h5", help="also write the model's weights to this file")
    p.add_argument(
        "--blocks",
        action="store_true",
        help="write repeated units (layers named <prefix>_..., like conv2_block1_...) as blocks:, where that expands to exactly the same graph",
    )
    add_backend_argument(p)
    p.set_defaults(run=run)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    from kspec.errors import SpecError

    if text is None:
        return None
    try:
        dims = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise SpecError(
            f"--input-shape must be comma-separated integers like 96,96,3, got {text!r}"
        ) from None
    if not dims or any(d <= 0 for d in dims):
        raise SpecError(f"--input-shape must be positive integers, got {text!r}")
    return dims


def run(args: argparse.Namespace) -> int:
    from kspec import files
    from kspec.errors import SpecError
    from kspec.importer import check_round_trip, import_dict
    from kspec.importer.writer import spec_text

    out = args.out
    if not out.endswith((".yaml", ".yml", ".json")):
        raise SpecError(f"-o needs a .yaml, .yml or .json file name, got {out!r}")
    if args.weights and not args.weights.endswith(".weights.h5"):
        raise SpecError(
            f"--weights needs a file name ending in .weights.h5 (Keras's rule), got {args.weights!r}"
        )
    spec, model = import_dict(args.source, input_shape=parse_shape(args.input_shape))
    check_round_trip(spec, model, file=args.source)
    note = ""
    if args.blocks:
        from kspec.importer.blocks import find_blocks

        blocked = find_blocks(spec)  # used only when it expands to exactly the flat graph
        if blocked is None:
            note = "; no repeated blocks found, the spec is flat"
        else:
            spec = blocked
            note = f"; {len(spec['blocks'])} block(s) for repeated units"
    text = spec_text(spec, "json" if out.endswith(".json") else "yaml")
    if args.weights:
        files.save_weights(model, args.weights)
    files.write_text(out, text)
    print(f"wrote {out} ({len(spec['layers'])} entries, {model.count_params():,} parameters{note})")
    if args.weights:
        print(f"wrote {args.weights}")
    return 0
