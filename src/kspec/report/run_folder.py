"""The reports of a run folder: summary, topology diagram, curves and the HTML page.

`kspec.train` hands `REPORTER` to the train stage, which calls it once the model is trained;
the train stage itself never imports the report stage.
"""

from __future__ import annotations

import json
import os
from typing import Any

from kspec.errors import first_line
from kspec.files import write_text
from kspec.schema.validate import Spec


def write_artifacts(
    model: Any, graph: Any, spec: Spec, run_dir: str, history: dict[str, Any], api: str
) -> list[str]:
    """summary.txt/.json, model.png (never fatal) and curves.png."""
    from kspec.report.curves import plot_curves
    from kspec.report.summary import keras_summary, summary_dict

    write_text(os.path.join(run_dir, "summary.txt"), keras_summary(model, show_trainable=True) + "\n")
    write_text(os.path.join(run_dir, "summary.json"), json.dumps(summary_dict(model, graph), indent=1) + "\n")
    files = ["summary.txt"]
    note = draw_topology(graph, model, os.path.join(run_dir, "model.png"), api)
    note_path = os.path.join(run_dir, "diagram_note.txt")
    if note:
        write_text(note_path, note + "\n")
    else:
        files.append("model.png")
        if os.path.exists(note_path):
            os.unlink(note_path)
    plot_curves(history, os.path.join(run_dir, "curves.png"), title=spec.name)
    files.append("curves.png")
    return files


def draw_topology(graph: Any, model: Any, path: str, api: str) -> str | None:
    """Draw model.png; return a note instead of failing when drawing is impossible."""
    from kspec.report import diagram

    try:
        diagram.plot(graph, path, api=api, show_shapes=True)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            return "the topology diagram could not be drawn (no file was written)"
        return None
    except Exception as exc:  # a diagram is a nicety: never fail the run over it
        line = first_line(exc)
        if os.path.exists(path):
            os.unlink(path)
        return f"the topology diagram could not be drawn: {type(exc).__name__}: {line}"


class RunFolderReporter:
    """The report stage's side of `kspec.training.run.RunReporter`."""

    def artifacts(
        self, model: Any, graph: Any, spec: Any, run_dir: str, history: dict[str, Any], api: str
    ) -> list[str]:
        return write_artifacts(model, graph, spec, run_dir, history, api)

    def page(self, run_dir: str) -> list[str]:
        from kspec.report.html import write_report

        write_report(run_dir)
        return ["report.html"]


REPORTER = RunFolderReporter()
