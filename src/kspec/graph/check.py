"""The `kspec check` report: every layer's output shape and parameter counts, no Keras."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kspec.errors import Problems, SpecError
from kspec.graph import blocks
from kspec.graph.checks import run_checks
from kspec.graph.resolve import Graph, resolve
from kspec.graph.sizes import MB, Sizes, sizes
from kspec.graph.space import SpaceReport, check_space
from kspec.layers.registry import format_shape
from kspec.schema.blocks import BlockInstance
from kspec.schema.loader import Document
from kspec.schema.options import BuildOptions
from kspec.schema.validate import Spec, collect


def check_spec(spec: Spec, build_options: BuildOptions | None = None) -> CheckReport:
    """Resolve `spec` and run every cross-field check; all errors are raised together."""
    problems = Problems()
    graph = resolve(spec, build_options, problems)
    run_checks(graph, problems)
    problems.raise_if_any()
    return CheckReport(graph, warnings=problems.warnings)


def check_document(
    doc: Document, *, allow_unsafe: bool = False, build_options: BuildOptions | None = None
) -> CheckReport:
    """Validate, resolve and check a parsed document, like a compiler: every independent error
    of every stage (up to `MAX_ERRORS`) is raised together as one `SpecError`."""
    problems = Problems()
    spec = collect(doc, allow_unsafe, problems)
    if spec is not None:
        graph = resolve(spec, build_options, problems)
        run_checks(graph, problems)
    problems.raise_if_any()
    assert spec is not None
    return CheckReport(graph, warnings=problems.warnings)


@dataclass
class CheckReport:
    graph: Graph
    #: For a spec with search spaces: the parameter range over the whole space.
    space: SpaceReport | None = None
    #: Located problems that do not stop a check (a training data file that does not exist yet).
    warnings: list[SpecError] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every way of making a report (kspec.check, the CLI, --keras) checks the whole space.
        if self.space is None and self.graph.spec.search is not None:
            self.space = check_space(self.graph.spec)

    @property
    def complete(self) -> bool:
        """True when every layer was checked (all are in the registry)."""
        return all(n.params is not None for n in self.graph.nodes)

    def _total(self, attr: str) -> int | None:
        values = [getattr(n, attr) for n in self.graph.nodes]
        return None if any(v is None for v in values) else sum(values)

    @property
    def sizes(self) -> Sizes:
        """MACs and memory sizes for one sample, torchinfo-style (see `kspec.graph.sizes`)."""
        return sizes(self.graph)

    @property
    def total_macs(self) -> int | None:
        return self.sizes.total_macs

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
        cost = self.sizes
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
                "macs": cost.macs[n.name],
                "output_size": cost.output_elements[n.name],
            }
            if n.keywords:  # tensors passed by name: which of `inputs` each is (`inputs:` by name)
                row["keyword_inputs"] = {
                    key: [n.sources[p] for p in where] if isinstance(where, list) else n.sources[where]
                    for key, where in n.keywords.items()
                }
            if n.output_shapes:  # several outputs: `output_shape` is output 0, read as NAME
                row["output_shapes"] = [list(s) for s in n.output_shapes]
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
            **cost.totals_dict(),
            "sequential": self.graph.sequential_problem() is None,
            "unchecked": [n.name for n in self.graph.nodes if n.params is None],
            **({"search_space": self.space.to_dict()} if self.space is not None else {}),
        }
        if owner:  # `layers` stays one row per Keras layer; the block hierarchy comes beside it
            out["blocks"] = blocks.block_dicts(self.graph)
        return out

    def to_text(self, depth: int = 0) -> str:
        """A table like Keras's summary, from the checker alone.

        Block instances are one row each (their output shape and parameter total), opened
        `depth` levels deep: their layers and inner instances follow, indented.
        """
        header = ("Layer (type)", "Output Shape", "Param #", "MACs", "Connected to")
        cost = self.sizes
        rows = []
        for level, item in blocks.text_rows(self.graph, depth):
            indent = "  " * level
            if isinstance(item, BlockInstance):
                rows.append(_block_row(self.graph, item, indent, cost))
                continue
            n = item
            shape = format_shape(n.output_shape) if n.output_shape is not None else "?"
            if n.output_shapes:
                shape = ", ".join(format_shape(s) for s in n.output_shapes)
            params = "?" if n.params is None else f"{n.params:,}"
            if not n.spec.trainable:
                params += " (frozen)"
            macs = cost.macs[n.name]
            rows.append((f"{indent}{n.name} ({n.type})", shape, params, _fmt(macs), ", ".join(n.sources)))
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
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
        out.append(f"Total MACs (one sample): {fmt(cost.total_macs)}")
        out.append("  ".join("-" * w for w in widths))

        def mb(v: int | None) -> str:
            return "?" if v is None else f"{v / MB:.3f}"

        out.append(f"Input size (MB): {mb(cost.input_bytes)}")
        out.append(f"Forward/backward pass size (MB): {mb(cost.forward_backward_bytes)}")
        out.append(f"Params size (MB): {mb(cost.params_bytes)}")
        out.append(f"Estimated total size (MB): {mb(cost.total_bytes)}")
        out.append(f"Optimizer state size (MB): {mb(cost.optimizer_bytes)}")
        out.append(f"Estimated training size (MB): {mb(cost.training_bytes)}")
        problem = self.graph.sequential_problem()
        out.append(
            "APIs: sequential, functional, subclass"
            if problem is None
            else f"APIs: functional, subclass (no Sequential form: {problem})"
        )
        for n in self.graph.nodes:
            if n.note:
                out.append(f"note: {n.name}: {n.note} (use --keras to ask Keras)")
        if self.space is not None:
            out.append("(the table shows the defaults of the search space)")
            out.append(self.space.to_text())
        return "\n".join(out)


def _fmt(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"


def _block_row(graph: Graph, inst: BlockInstance, indent: str, cost: Sizes) -> tuple[str, str, str, str, str]:
    shapes = blocks.instance_shapes(graph, inst)
    shape = ", ".join(format_shape(s) if s is not None else "?" for s in shapes)
    trainable, frozen = blocks.instance_params(graph, inst)
    params = "?" if trainable is None or frozen is None else f"{trainable + frozen:,}"
    copy = f" #{inst.copy}" if inst.copy is not None else ""
    macs = [cost.macs.get(name) for name in inst.layer_names()]
    known = [m for m in macs if m is not None]
    total = sum(known) if len(known) == len(macs) else None
    return (
        f"{indent}{inst.name} (block {inst.block}{copy})",
        shape,
        params,
        _fmt(total),
        ", ".join(inst.inputs),
    )
