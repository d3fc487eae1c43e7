"""Block instances in the resolved graph: which layers each holds, its output shape, its counts.

The schema stage expands blocks into flat layers and records an instance tree
(`kspec.schema.blocks.BlockInstance`); this module joins that tree with the resolved nodes, so
`kspec check`, the subclass builder and the diagrams show the same hierarchy from one graph.

    >>> import kspec
    >>> spec = kspec.loads('''
    ... blocks: {mlp: {params: {units: int}, layers: [{type: Dense, name: d, units: "${units}"}]}}
    ... inputs: [{name: x, shape: [4]}]
    ... layers: [{block: mlp, name: m, units: 2}]
    ... ''')
    >>> [(item.name, instance_params(kspec.resolve(spec), item)) for item in top_level(kspec.resolve(spec))]
    [('m', (10, 0))]
"""

from __future__ import annotations

from kspec.graph.resolve import Graph, Node
from kspec.layers.registry import Shape
from kspec.schema.blocks import BlockInstance, ExpandedDocument

Item = Node | BlockInstance


def instances(graph: Graph) -> list[BlockInstance]:
    """The top-level block instances (each holds its children), in spec order."""
    doc = graph.spec.document
    return list(doc.instances) if isinstance(doc, ExpandedDocument) else []


def has_blocks(graph: Graph) -> bool:
    return bool(instances(graph))


def all_instances(graph: Graph) -> list[BlockInstance]:
    return [i for top in instances(graph) for i in top.walk()]


def instance_of(graph: Graph) -> dict[str, BlockInstance]:
    """Flat layer name -> the innermost block instance that holds it (layers outside: absent)."""
    out: dict[str, BlockInstance] = {}
    for inst in all_instances(graph):
        for member in inst.members:
            if isinstance(member, str):
                out[member] = inst
    return out


def top_level(graph: Graph) -> list[Item]:
    """The model's own entries: layers outside blocks and top-level instances, in graph order."""
    owner = instance_of(graph)
    out: list[Item] = []
    seen: set[int] = set()
    for node in graph.nodes:
        inst = owner.get(node.name)
        if inst is None:
            out.append(node)
            continue
        while inst.parent is not None:
            inst = inst.parent
        if id(inst) not in seen:
            seen.add(id(inst))
            out.append(inst)
    return out


def children(graph: Graph, inst: BlockInstance) -> list[Item]:
    """An instance's own layers (as nodes) and child instances, in order."""
    by_name = {n.name: n for n in graph.nodes}
    return [by_name[m] if isinstance(m, str) else m for m in inst.members]


def instance_params(graph: Graph, inst: BlockInstance) -> tuple[int | None, int | None]:
    """(trainable, non-trainable) parameters of every layer inside; None when one is unknown."""
    by_name = {n.name: n for n in graph.nodes}
    nodes = [by_name[name] for name in inst.layer_names()]
    trainable = [n.trainable_params for n in nodes]
    frozen = [n.non_trainable_params for n in nodes]
    return (
        None if any(v is None for v in trainable) else sum(v for v in trainable if v is not None),
        None if any(v is None for v in frozen) else sum(v for v in frozen if v is not None),
    )


def instance_shapes(graph: Graph, inst: BlockInstance) -> list[Shape | None]:
    """Output shape of each of the instance's outputs."""
    return [graph.shapes.get(name) for name in inst.outputs]


def block_dicts(graph: Graph) -> list[dict[str, object]]:
    """The `blocks` tree of `kspec check --format json`: one object per instance, nested."""

    def one(inst: BlockInstance) -> dict[str, object]:
        trainable, frozen = instance_params(graph, inst)
        shapes = instance_shapes(graph, inst)
        return {
            "name": inst.name,
            "path": inst.qualified_name,
            "block": inst.block,
            "copy": inst.copy,
            "inputs": list(inst.inputs),
            "outputs": list(inst.outputs),
            "output_shape": _shape_json(shapes[0]) if len(shapes) == 1 else [_shape_json(s) for s in shapes],
            "params": None if trainable is None or frozen is None else trainable + frozen,
            "trainable_params": trainable,
            "non_trainable_params": frozen,
            "arguments": {k: v for k, v in inst.args.items()},
            "layers": [m for m in inst.members if isinstance(m, str)],
            "blocks": [one(m) for m in inst.members if isinstance(m, BlockInstance)],
        }

    return [one(inst) for inst in instances(graph)]


def _shape_json(shape: Shape | None) -> list[int | None] | None:
    return list(shape) if shape is not None else None


def text_rows(graph: Graph, depth: int) -> list[tuple[int, Item]]:
    """(level, item) rows of the check table: instances open `depth` levels deep, layers inside
    an open instance one level further in."""
    rows: list[tuple[int, Item]] = []

    def add(items: list[Item], level: int) -> None:
        for item in items:
            rows.append((level, item))
            if isinstance(item, BlockInstance) and level < depth:
                add(children(graph, item), level + 1)

    add(top_level(graph), 0)
    return rows
