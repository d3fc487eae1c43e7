"""`kspec check` of a spec with search spaces: validate and count every probed point, no Keras.

Every point is the whole spec with each space at one value, validated and resolved exactly
like a plain spec, so a value that breaks a shape anywhere (a kernel larger than its input, a
units count of 0 through `min: 0`) is an error at check time rather than in trial 37. The
points are the cross product of each space's probes (ends, default, every choice) when that is
small, else one space at a time plus the all-low and all-high corners
(`kspec.schema.space.probe_points`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kspec.errors import SpecError
from kspec.graph.resolve import Graph, resolve
from kspec.schema.space import probe_points
from kspec.schema.validate import Spec, validate


@dataclass
class SpaceReport:
    """What checking the whole space found: parameter range and how many points were checked."""

    hyperparameters: list[dict[str, Any]]
    points_checked: int
    exhaustive: bool  # every combination of the probed values was checked
    min_total_params: int | None
    max_total_params: int | None
    min_point: dict[str, Any] = field(default_factory=dict)
    max_point: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hyperparameters": self.hyperparameters,
            "points_checked": self.points_checked,
            "exhaustive": self.exhaustive,
            "min_total_params": self.min_total_params,
            "max_total_params": self.max_total_params,
            "min_point": self.min_point,
            "max_point": self.max_point,
        }

    def to_text(self) -> str:
        def fmt(v: int | None) -> str:
            return "?" if v is None else f"{v:,}"

        how = "every combination of" if self.exhaustive else "one at a time and the corners of"
        lines = [
            f"Search space: {len(self.hyperparameters)} hyperparameters; checked {self.points_checked} "
            f"points ({how} the ends, defaults and choices)",
        ]
        for hp in self.hyperparameters:
            if hp["kind"] in ("int", "float"):
                rng = f"{hp['min']}..{hp['max']}" + (f" step {hp['step']}" if "step" in hp else "")
                rng += f" ({hp['sampling']})" if hp["sampling"] != "linear" else ""
            elif hp["kind"] == "choice":
                rng = " | ".join(str(v) for v in hp["values"])
            else:
                rng = "false | true"
            lines.append(f"  {hp['name']} ({hp['kind']}): {rng}; default {json.dumps(hp['default'])}")
        lines.append(
            f"Total params over the space: {fmt(self.min_total_params)} to {fmt(self.max_total_params)}"
        )
        return "\n".join(lines)


def spec_at(spec: Spec, values: dict[str, Any]) -> Spec:
    """The plain spec with each search space at `values[name]` (its default when missing)."""
    assert spec.search is not None
    return validate(spec.search.at(values), allow_unsafe=spec.allow_unsafe)


def _changed(spec: Spec, point: dict[str, Any]) -> str:
    assert spec.search is not None
    defaults = spec.search.defaults()
    parts = [f"{k}={v!r}" for k, v in point.items() if v != defaults.get(k)]
    return ", ".join(parts) if parts else "the defaults"


def check_space(spec: Spec, limit: int = 256) -> SpaceReport | None:
    """Validate and resolve every probed point; raise the first failure, naming the point."""
    if spec.search is None:
        return None
    points, exhaustive = probe_points(spec.search.spaces, limit)
    low: tuple[int, dict[str, Any]] | None = None
    high: tuple[int, dict[str, Any]] | None = None
    unknown = False
    for point in points:
        try:
            graph: Graph = resolve(spec_at(spec, point))
        except SpecError as exc:
            raise SpecError(
                f"{exc.message} (with the search space at {_changed(spec, point)})",
                file=exc.file,
                line=exc.line,
                col=exc.col,
                path=exc.path,
            ) from None
        counts = [n.params for n in graph.nodes]
        if any(c is None for c in counts):
            unknown = True
            continue
        total = sum(c for c in counts if c is not None)
        if low is None or total < low[0]:
            low = (total, point)
        if high is None or total > high[0]:
            high = (total, point)
    hps = [s.describe() for s in {s.name: s for s in spec.search.spaces}.values()]
    return SpaceReport(
        hyperparameters=hps,
        points_checked=len(points),
        exhaustive=exhaustive,
        min_total_params=None if unknown or low is None else low[0],
        max_total_params=None if unknown or high is None else high[0],
        min_point={} if unknown or low is None else low[1],
        max_point={} if unknown or high is None else high[1],
    )
