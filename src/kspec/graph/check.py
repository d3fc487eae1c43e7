"""The `kspec check` report: every layer's output shape and parameter counts, no Keras."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kspec.graph import blocks
from kspec.graph.resolve import Graph
from kspec.layers.registry import format_shape
from kspec.schema.blocks import BlockInstance


@dataclass
class CheckReport:
    graph: Graph

    @property
    def complete(self) -> bool:
        """True when every layer was checked (all are in the registry)."""
        return all(n.params is not None for n in self.graph.nodes)

    def _total(self, attr: str) -> int | None:
        values = [getattr(n, attr) for n in self.graph.nodes]
        return None if any(v is None for v in values) else sum(values)

    @property
    def total_params(self) -> int | None:
        return self._total("params")

    @property
    def trainable_params(self) -> int | None:
        return self._total("trainable_params")

    @property
    def non_trainable_params(self) -> int | None:
        return self._total("non_trainable_params")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object fixed by the contract (plus `inputs`, `outputs`, `unchecked`)."""
        owner = blocks.instance_of(self.graph)
        rows = []
        for n in self.graph.nodes:
            row: dict[str, Any] = {
                "name": n.name,
                "type": n.type,
                "inputs": n.sources,
                "output_shape": list(n.output_shape) if n.output_shape is not None else None,
                "params": n.params,
                "trainable_params": n.trainable_params,
                "non_trainable_params": n.non_trainable_params,
                "trainable": n.spec.trainable,
            }
            if n.note:
                row["note"] = n.note
            if n.name in owner:
                row["block"] = owner[n.name].qualified_name
            rows.append(row)
        out = {
            "name": self.graph.name,
            "inputs": [
                {"name": i.name, "shape": [None, *i.shape], "dtype": i.dtype} for i in self.graph.inputs
            ],
            "outputs": self.graph.outputs,
            "layers": rows,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "sequential": self.graph.sequential_problem() is None,
            "unchecked": [n.name for n in self.graph.nodes if n.params is None],
        }
        if owner:  # `layers` stays one row per Keras layer; the block hierarchy comes beside it
            out["blocks"] = blocks.block_dicts(self.graph)
        return out

    def to_text(self, depth: int = 0) -> str:
        """A table like Keras's summary, from the checker alone.

        Block instances are one row each (their output shape and parameter total), opened
        `depth` levels deep: their layers and inner instances follow, indented.
        """
        header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        rows = []
        for level, item in blocks.text_rows(self.graph, depth):
            indent = "  " * level
            if isinstance(item, BlockInstance):
                rows.append(_block_row(self.graph, item, indent))
                continue
            n = item
            shape = format_shape(n.output_shape) if n.output_shape is not None else "?"
            params = "?" if n.params is None else f"{n.params:,}"
            if not n.spec.trainable:
                params += " (frozen)"
            rows.append((f"{indent}{n.name} ({n.type})", shape, params, ", ".join(n.sources)))
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
        line = "  ".join("{:<%d}" % w for w in widths)
        out = [
            f'Model: "{self.graph.name}"  (inputs: '
            + ", ".join(f"{i.name} {format_shape((None, *i.shape))}" for i in self.graph.inputs)
            + ")",
            line.format(*header).rstrip(),
            "  ".join("-" * w for w in widths),
        ]
        out += [line.format(*r).rstrip() for r in rows]
        out.append("  ".join("-" * w for w in widths))

        def fmt(v: int | None) -> str:
            return "?" if v is None else f"{v:,}"

        out.append(f"Total params: {fmt(self.total_params)}")
        out.append(f"Trainable params: {fmt(self.trainable_params)}")
        out.append(f"Non-trainable params: {fmt(self.non_trainable_params)}")
        problem = self.graph.sequential_problem()
        out.append(
            "APIs: sequential, functional, subclass"
            if problem is None
            else f"APIs: functional, subclass (no Sequential form: {problem})"
        )
        for n in self.graph.nodes:
            if n.note:
                out.append(f"note: {n.name}: {n.note} (use --keras to ask Keras)")
        return "\n".join(out)


def _block_row(graph: Graph, inst: BlockInstance, indent: str) -> tuple[str, str, str, str]:
    shapes = blocks.instance_shapes(graph, inst)
    shape = ", ".join(format_shape(s) if s is not None else "?" for s in shapes)
    trainable, frozen = blocks.instance_params(graph, inst)
    params = "?" if trainable is None or frozen is None else f"{trainable + frozen:,}"
    copy = f" #{inst.copy}" if inst.copy is not None else ""
    return (f"{indent}{inst.name} (block {inst.block}{copy})", shape, params, ", ".join(inst.inputs))
