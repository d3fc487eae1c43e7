"""Training curves: one panel per metric, training and validation values per epoch.

`history` is the run's `history.json`: `{"epoch": [1, 2, ...], "loss": [...], "val_loss": [...]}`
(Keras's `History.history` plus the epoch numbers). Drawn with matplotlib's Agg backend.
"""

from __future__ import annotations

import math
import os
from typing import Any

from kspec.files import atomic_path

_SKIP = {"epoch", "learning_rate", "lr"}


def metric_names(history: dict[str, list[Any]]) -> list[str]:
    """Training metric names in history order, loss first (validation keys are paired in)."""
    names = [k for k in history if k not in _SKIP and not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]
    return sorted(names, key=lambda k: (k != "loss", not k.endswith("loss"), names.index(k)))


def plot_curves(history: dict[str, list[Any]], path: str | os.PathLike[str], *, title: str = "") -> None:
    """Write a PNG with one panel per metric (loss first); an empty history gets a note."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = metric_names(history)
    epochs = history.get("epoch") or list(range(1, 1 + max((len(v) for v in history.values()), default=0)))
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), dpi=100, layout="constrained")
    if not names or not epochs:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no finished epochs", ha="center", va="center")
        ax.set_axis_off()
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            values = history.get(key)
            if not values:
                continue
            pts = [(e, v) for e, v in zip(epochs, values) if v is not None]
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    marker="o" if len(pts) < 30 else None,
                    markersize=3,
                    label=label,
                )
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize="small")
        if name.endswith("loss") and all(v is None or v > 0 for v in history.get(name) or []):
            values = [v for v in (history.get(name) or []) + (history.get(f"val_{name}") or []) if v]
            if values and max(values) / max(min(values), 1e-12) > 100:
                ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
