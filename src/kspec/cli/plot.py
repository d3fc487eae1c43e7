"""`kspec plot SPEC -o FILE`: the topology diagram of a spec as built by one API (or all three)."""

from __future__ import annotations

import argparse
import sys

EPILOG = """examples:
  kspec plot specs/branching.yaml -o model.png --show-shapes
  kspec plot specs/seed_sequential.yaml -o model.svg --api subclass --show-trainable
  kspec plot specs/branching.yaml --api all -o diagrams/     # one PNG per API
  kspec plot specs/small_cnn.yaml -o model.dot              # DOT text, needs no Graphviz

Drawn from the resolved graph: no TensorFlow import when every layer is in kspec's registry.
Unlike keras.utils.plot_model, a subclassed model is drawn with every layer and connection.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from kspec.cli.common import add_backend_argument, add_spec_argument

    p = sub.add_parser(
        "plot",
        help="draw the topology diagram (.png, .svg or .dot)",
        description="Draw SPEC's topology as built with an API; FILE's suffix picks the "
        "format (.png, .svg, .dot). Every node shows its parameter counts; frozen layers "
        "are greyed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_spec_argument(p)
    add_backend_argument(p)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="output file (.png, .svg, .dot); with --api all, a folder",
    )
    p.add_argument(
        "--api",
        choices=["sequential", "functional", "subclass", "all"],
        help="construction API to draw (default: the spec's `api`); all: one file per API",
    )
    flag = argparse.BooleanOptionalAction
    p.add_argument("--show-shapes", action=flag, default=False, help="input -> output shape of each layer")
    p.add_argument("--show-dtype", action=flag, default=False, help="dtype of each layer")
    p.add_argument("--show-layer-names", action=flag, default=True, help="layer names (default: on)")
    p.add_argument("--show-layer-activations", action=flag, default=False, help="activation functions")
    p.add_argument("--show-trainable", action=flag, default=False, help="whether each layer trains")
    p.add_argument(
        "--show-params",
        action=flag,
        default=True,
        help="parameter counts, trainable and non-trainable (default: on)",
    )
    p.add_argument(
        "--rankdir",
        choices=["TB", "LR", "BT", "RL"],
        default="TB",
        help="TB: top to bottom (default), LR: left to right",
    )
    p.add_argument(
        "--expand-nested",
        action=flag,
        default=False,
        help="draw wrapped layers (Bidirectional, TimeDistributed) inside their wrapper",
    )
    p.add_argument("--dpi", type=int, default=200, help="PNG resolution (default: 200, as Keras)")
    p.add_argument(
        "--depth",
        type=int,
        default=None,
        metavar="N",
        help="open block instances N levels deep, deeper ones as one box each (default: all open)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kspec.cli.common import load_graph
    from kspec.report.diagram import plot
    from kspec.report.diagram_facts import needs_keras
    from kspec.report.diagram_render import format_of

    api = args.api
    try:
        if api != "all":
            format_of(args.output)
        if args.dpi <= 0:
            raise ValueError(f"--dpi must be a positive integer, got {args.dpi}")
    except ValueError as exc:
        print(f"kspec plot: error: {exc}", file=sys.stderr)
        return 2
    graph = load_graph(args)
    api = api or graph.spec.api
    if needs_keras(graph):  # a layer outside the registry: Keras gives its shapes and counts
        from kspec.backend import select
        from kspec.cli import import_keras_quietly

        select(args.backend, graph.spec)
        import_keras_quietly()
    if api == "all":
        problem = graph.sequential_problem()
        if problem is not None:
            print(f"note: no Sequential diagram: {problem}", file=sys.stderr)
    written = plot(
        graph,
        args.output,
        api=api,
        show_shapes=args.show_shapes,
        show_dtype=args.show_dtype,
        show_layer_names=args.show_layer_names,
        show_layer_activations=args.show_layer_activations,
        show_trainable=args.show_trainable,
        show_params=args.show_params,
        rankdir=args.rankdir,
        expand_nested=args.expand_nested,
        depth=args.depth,
        dpi=args.dpi,
    )
    for path in written:
        print(f"wrote {path}")
    return 0
