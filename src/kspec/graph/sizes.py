"""What torchsummary/torchinfo print beside the shapes, from the resolved graph alone (no backend):
per layer the multiply-accumulates (MACs) and output size, and the totals

- input size: every model input's elements x bytes per element,
- forward/backward pass size: every layer's output elements x 2 (the activation, kept for the
  backward pass, and its gradient) x bytes; a layer with a non-linear `activation` argument
  counts twice (it keeps the value before the activation too),
- params size: every parameter x bytes, and the same again for its gradient in training
  (torchinfo leaves the gradients out; a forward/backward pass holds them),
- estimated total: the three added.

All for ONE sample; bytes per element from the layer's or input's dtype (float32: 4).
MB = 10**6 bytes, as torchinfo. The formulas and how they were checked: docs/sizes.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kspec.graph.resolve import Graph, Node
from kspec.layers.registry import per_sample

BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1, "int16": 2,
         "int32": 4, "int64": 8, "bool": 1, "mixed_float16": 2, "mixed_bfloat16": 2}  # fmt: skip
MB = 10**6


def dtype_bytes(dtype: Any) -> int:
    """Bytes per element of a Keras dtype or dtype-policy name (unknown: float32's 4)."""
    return BYTES.get(str(dtype), 4) if dtype else 4


def node_macs(graph: Graph, node: Node) -> int | None:
    """The node's MACs by its registry entry's rule; None without a rule or a known shape."""
    rule = node.spec.rule
    if rule is None or node.output_shape is None:
        return None
    shapes = [graph.shapes.get(s) for s in node.sources]
    if any(s is None for s in shapes):
        return None
    try:
        return rule.macs(shapes, node.output_shape)  # type: ignore[arg-type]
    except (ValueError, TypeError, ZeroDivisionError):
        return None


def node_dtype(node: Node) -> Any:
    rule = node.spec.rule
    return getattr(rule, "dtype", None) or node.spec.args.get("dtype")


@dataclass
class Sizes:
    macs: dict[str, int | None]
    output_elements: dict[str, int | None]
    input_bytes: int
    forward_backward_bytes: int | None
    params_bytes: int | None

    @property
    def total_macs(self) -> int | None:
        values = [v for v in self.macs.values() if v is not None]
        return None if len(values) < len(self.macs) else sum(values)

    @property
    def total_bytes(self) -> int | None:
        if self.forward_backward_bytes is None or self.params_bytes is None:
            return None
        return self.input_bytes + self.forward_backward_bytes + 2 * self.params_bytes

    def totals_dict(self) -> dict[str, Any]:
        def mb(v: int | None) -> float | None:
            return None if v is None else round(v / MB, 6)

        return {
            "total_macs": self.total_macs,
            "input_size_mb": mb(self.input_bytes),
            "forward_backward_pass_size_mb": mb(self.forward_backward_bytes),
            "params_size_mb": mb(self.params_bytes),
            "estimated_total_size_mb": mb(self.total_bytes),
        }


def _kept(node: Node) -> int:
    """Tensors a layer keeps per output element for the backward pass: 2 with a fused non-linearity."""
    activation = node.spec.args.get("activation")
    return 2 if activation not in (None, "linear") else 1


def sizes(graph: Graph) -> Sizes:
    """MACs and sizes of `graph` for one sample."""
    macs = {n.name: node_macs(graph, n) for n in graph.nodes}
    elements = {n.name: None if n.output_shape is None else per_sample(n.output_shape) for n in graph.nodes}
    input_bytes = sum(per_sample((None, *i.shape)) * dtype_bytes(i.dtype) for i in graph.inputs)
    known = all(v is not None for v in elements.values())
    fwd: int | None = None
    if known:
        fwd = sum(2 * _kept(n) * (elements[n.name] or 0) * dtype_bytes(node_dtype(n)) for n in graph.nodes)
    params: int | None = None
    if all(n.params is not None for n in graph.nodes):
        params = sum((n.params or 0) * dtype_bytes(node_dtype(n)) for n in graph.nodes)
    return Sizes(macs, elements, input_bytes, fwd, params)


__all__ = ["Sizes", "sizes", "node_macs", "dtype_bytes", "MB"]
