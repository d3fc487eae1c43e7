"""What the page draws of a model at one moment: neuron heatmaps, edges, boundary, statistics.

For a model whose data lie on the plane (x1, x2) (the Playground's sets, through any feature
maps), every Dense layer's first `units_shown` units are evaluated on a `grid` x `grid` lattice
of the plane: one heatmap per unit, values clipped to [-1, 1] and sent as bytes (0 = -1,
255 = +1). The output over the same lattice is the decision boundary. Kernels go along for the
edges (colour = sign, thickness = size). For any other model: per-layer weight histograms and
activation statistics on a sample of the data.

Everything here runs on the training thread, between two batches, so the model never changes
while it is read.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from kspec.training.data import FEATURE_MAPS, feature_maps

EXTENT = 1.2  # the plane shown: [-1.2, 1.2]^2 (the sets lie within about [-1, 1])


def plane_grid(n: int, extent: float = EXTENT) -> np.ndarray:
    """(n*n, 2) points, row by row from the top (x2 = +extent), x1 growing along a row."""
    xs = np.linspace(-extent, extent, n, dtype=np.float32)
    ys = xs[::-1]
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def to_bytes(values: np.ndarray) -> str:
    """Values in [-1, 1] (clipped) as base64 bytes 0..255."""
    q = np.round((np.clip(np.nan_to_num(values), -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def _histogram(values: np.ndarray, bins: int = 24) -> dict[str, Any]:
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if not len(values):
        return {"counts": [], "lo": 0.0, "hi": 0.0}
    lo, hi = float(values.min()), float(values.max())
    counts, _ = np.histogram(values, bins=bins, range=(lo, hi if hi > lo else lo + 1e-6))
    return {"counts": counts.tolist(), "lo": lo, "hi": hi}


class FrameMaker:
    """Builds frames of one model. `features`: the feature maps of the plane, or None."""

    def __init__(
        self,
        model: Any,
        graph: Any,
        features: list[str] | None,
        *,
        grid: int = 50,
        units_shown: int = 8,
        sample: np.ndarray | Any = None,
    ) -> None:
        import keras

        self.model = model
        self.grid = grid
        self.units_shown = units_shown
        self.features = features
        self.dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        self.sample = sample
        self.probe = None
        try:  # functional and Sequential models expose their graph; a subclassed one does not
            outs = [layer.output for layer in self.dense]
            self.probe = keras.Model(model.inputs, outs + list(model.outputs))
        except Exception:
            self.probe = None
        self.plane = features is not None and self.probe is not None
        self.grid_x = feature_maps(plane_grid(grid), features) if self.plane else None
        # Edges: a Dense layer reading straight from the previous one (or from the input).
        names = [layer.name for layer in self.dense]
        nodes = {n.name: n for n in graph.nodes}
        inputs = {i.name for i in graph.inputs}
        self.chained = []
        for k, name in enumerate(names):
            src = nodes[name].sources if name in nodes else []
            want = names[k - 1] if k else None
            self.chained.append(len(src) == 1 and (src[0] == want or (k == 0 and src[0] in inputs)))

    def inputs_frame(self) -> list[dict[str, Any]]:
        """Heatmaps of every Playground feature over the plane (used or not; they never change)."""
        if not self.plane:
            return []
        every = feature_maps(plane_grid(self.grid), list(FEATURE_MAPS))
        used = set(self.features or [])
        return [
            {"name": f, "heatmap": to_bytes(every[:, i]), "used": f in used}
            for i, f in enumerate(FEATURE_MAPS)
        ]

    def frame(self) -> dict[str, Any]:
        return self._plane_frame() if self.plane else self._stats_frame()

    def _plane_frame(self) -> dict[str, Any]:
        assert self.probe is not None and self.grid_x is not None
        grid_x = self.grid_x
        outs = self.probe.predict_on_batch(grid_x)
        outs = [np.asarray(o) for o in (outs if isinstance(outs, (list, tuple)) else [outs])]
        layers = []
        shown_before = len(self.features or [])
        for k, layer in enumerate(self.dense):
            act = outs[k].reshape(len(grid_x), -1)
            shown = min(act.shape[1], self.units_shown)
            kernel, bias = layer.get_weights()[:2] if layer.use_bias else (layer.get_weights()[0], None)
            entry: dict[str, Any] = {
                "name": layer.name,
                "units": int(act.shape[1]),
                "heatmaps": [to_bytes(act[:, j]) for j in range(shown)],
                "bias": None if bias is None else bias[:shown].tolist(),
            }
            if self.chained[k] and kernel.ndim == 2:
                entry["kernel"] = kernel[:shown_before, :shown].tolist()
            layers.append(entry)
            shown_before = shown
        out = outs[-1].reshape(len(grid_x), -1)
        activation = (
            getattr(getattr(self.dense[-1], "activation", None), "__name__", "") if self.dense else ""
        )
        if out.shape[1] == 1:
            value = out[:, 0] * 2 - 1 if activation == "sigmoid" else out[:, 0]
        else:  # softmax over classes: the probability of class 1 against the rest
            value = out[:, 1] * 2 - 1
        return {"kind": "plane", "grid": self.grid, "layers": layers, "boundary": to_bytes(value)}

    def _stats_frame(self) -> dict[str, Any]:
        layers = []
        for layer in self.model.layers:
            weights = layer.get_weights()
            if weights:
                layers.append({"name": layer.name, "weights": _histogram(weights[0])})
        if self.probe is not None and self.sample is not None:
            outs = self.probe.predict_on_batch(self.sample)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            stats = {}
            for layer, o in zip(self.dense, outs):
                o = np.asarray(o, dtype=np.float64)
                stats[layer.name] = {
                    "mean": float(o.mean()),
                    "std": float(o.std()),
                    "zero": float((o == 0).mean()),
                }
            for entry in layers:
                entry["activations"] = stats.get(entry["name"])
        return {"kind": "stats", "layers": layers}
