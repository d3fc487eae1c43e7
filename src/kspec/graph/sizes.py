"""What torchsummary/torchinfo print beside the shapes, from the resolved graph alone (no backend):
per layer the multiply-accumulates (MACs) and output size, and the totals

- input size: every model input's elements x bytes per element,
- forward/backward pass size: every layer's output elements x 2 (the activation, kept for the
  backward pass, and its gradient) x bytes; a layer with a non-linear `activation` argument
  counts twice (it keeps the value before the activation too); a layer that keeps more for its
  backward pass says so in its registry entry (`kept_index_bytes`: max pooling's argmax),
- params size: every parameter x bytes,
- estimated total: input + forward/backward + params + one gradient per trainable parameter
  (torchinfo leaves the gradients out; a forward/backward pass holds them),
- optimizer state: the spec's optimizer's slots (Adam: 2 per trainable parameter, `OPTIMIZER_SLOTS`),
- estimated training size: estimated total + optimizer state, what one training step holds.

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

#: Per-parameter slot variables of Keras's optimizers (checked against Keras by
#: tests/test_sizes.py): name -> (slots, {argument: extra slot when truthy}).
OPTIMIZER_SLOTS: dict[str, tuple[int, dict[str, int]]] = {
    "sgd": (0, {"momentum": 1}),
    "adam": (2, {"amsgrad": 1}),
    "adamw": (2, {"amsgrad": 1}),
    "adamax": (2, {}),
    "nadam": (2, {}),
    "rmsprop": (1, {"momentum": 1, "centered": 1}),
    "adagrad": (1, {}),
    "adadelta": (2, {}),
    "ftrl": (2, {}),
    "lion": (1, {}),
    "lamb": (2, {}),
}


def dtype_bytes(dtype: Any) -> int:
    """Bytes per element of a Keras dtype or dtype-policy name (unknown: float32's 4)."""
    return BYTES.get(str(dtype), 4) if dtype else 4


def node_macs(graph: Graph, node: Node) -> int | None:
    """The node's MACs by its registry entry's rule; None without a rule or a known shape."""
    rule = node.spec.rule
    if rule is None or node.output_shape is None:
        return None
    shapes = [graph.shapes.get(s) for s in node.sources[: node.positional_count]]  # not masks
    if any(s is None for s in shapes):
        return None
    try:
        return rule.macs(shapes, node.output_shape)  # type: ignore[arg-type]
    except (ValueError, TypeError, ZeroDivisionError):
        return None


def optimizer_slots(ref: Any) -> int | None:
    """Slot variables per trainable parameter of an optimizer reference (a name, or
    `{type: Adam, ...}`); None for an optimizer outside `OPTIMIZER_SLOTS` (Adafactor factors its
    slots by shape) or a schedule-only form kspec cannot read."""
    args: dict[str, Any] = {}
    if isinstance(ref, dict):
        args = {k: v for k, v in ref.items() if k != "type"}
        ref = ref.get("type")
    if not isinstance(ref, str):
        return None
    known = OPTIMIZER_SLOTS.get(ref.lower())
    if known is None:
        return None
    base, extra = known
    return base + sum(n for arg, n in extra.items() if args.get(arg))


def spec_optimizer(graph: Graph) -> Any:
    """The optimizer `kspec train` compiles with: the spec's, or Keras's default there (adam)."""
    section = graph.spec.compile
    if section is None:
        return "adam"
    value = section.get("optimizer") if isinstance(section, dict) else getattr(section, "optimizer", None)
    return "adam" if value is None else value


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
    #: The trainable parameters' bytes: each has a gradient (and the optimizer's slots).
    trainable_bytes: int | None = None
    #: Slot variables per trainable parameter of the spec's optimizer; None when unknown.
    slots: int | None = None

    @property
    def total_macs(self) -> int | None:
        values = [v for v in self.macs.values() if v is not None]
        return None if len(values) < len(self.macs) else sum(values)

    @property
    def total_bytes(self) -> int | None:
        """One forward/backward pass: input, kept activations and their gradients, weights and
        the trainable weights' gradients."""
        if self.forward_backward_bytes is None or self.params_bytes is None or self.trainable_bytes is None:
            return None
        return self.input_bytes + self.forward_backward_bytes + self.params_bytes + self.trainable_bytes

    @property
    def optimizer_bytes(self) -> int | None:
        if self.slots is None or self.trainable_bytes is None:
            return None
        return self.slots * self.trainable_bytes

    @property
    def training_bytes(self) -> int | None:
        """One training step: the forward/backward pass and the optimizer's slots."""
        if self.total_bytes is None or self.optimizer_bytes is None:
            return None
        return self.total_bytes + self.optimizer_bytes

    def training_bytes_for(self, batch: int) -> int | None:
        """One training step on a batch of `batch` samples: the per-sample parts scale with it."""
        if self.training_bytes is None or self.forward_backward_bytes is None:
            return None
        return self.training_bytes + (batch - 1) * (self.input_bytes + self.forward_backward_bytes)

    def totals_dict(self) -> dict[str, Any]:
        def mb(v: int | None) -> float | None:
            return None if v is None else round(v / MB, 6)

        return {
            "total_macs": self.total_macs,
            "input_size_mb": mb(self.input_bytes),
            "forward_backward_pass_size_mb": mb(self.forward_backward_bytes),
            "params_size_mb": mb(self.params_bytes),
            "estimated_total_size_mb": mb(self.total_bytes),
            "optimizer_state_size_mb": mb(self.optimizer_bytes),
            "estimated_training_size_mb": mb(self.training_bytes),
        }


def _kept(node: Node) -> int:
    """Tensors a layer keeps per output element for the backward pass: 2 with a fused non-linearity."""
    activation = node.spec.args.get("activation")
    return 2 if activation not in (None, "linear") else 1


def _kept_bytes(node: Node, elements: int) -> int:
    """Bytes a layer keeps for its backward pass per sample: its output (and the value before a
    fused activation), their gradients, and what its registry entry says it keeps besides."""
    extra = node.spec.rule.kept_index_bytes if node.spec.rule is not None else 0
    return elements * (2 * _kept(node) * dtype_bytes(node_dtype(node)) + extra)


def sizes(graph: Graph) -> Sizes:
    """MACs and sizes of `graph` for one sample."""
    macs = {n.name: node_macs(graph, n) for n in graph.nodes}
    elements = {n.name: None if n.output_shape is None else per_sample(n.output_shape) for n in graph.nodes}
    input_bytes = sum(per_sample((None, *i.shape)) * dtype_bytes(i.dtype) for i in graph.inputs)
    known = all(v is not None for v in elements.values())
    fwd: int | None = None
    if known:
        fwd = sum(_kept_bytes(n, elements[n.name] or 0) for n in graph.nodes)
    params: int | None = None
    trainable: int | None = None
    if all(n.params is not None and n.trainable_params is not None for n in graph.nodes):
        params = sum((n.params or 0) * dtype_bytes(node_dtype(n)) for n in graph.nodes)
        trainable = sum((n.trainable_params or 0) * dtype_bytes(node_dtype(n)) for n in graph.nodes)
    return Sizes(macs, elements, input_bytes, fwd, params, trainable, optimizer_slots(spec_optimizer(graph)))


__all__ = ["Sizes", "sizes", "node_macs", "dtype_bytes", "optimizer_slots", "OPTIMIZER_SLOTS", "MB"]
