"""Show a `Comparison`: a text table, a timings bar chart (PNG), diagrams and one HTML page."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from typing import Any

from kspec.errors import describe
from kspec.files import write_bytes, write_text
from kspec.report.compare import APIS, Comparison

_SECONDS = ("build_s", "first_call_s")
_RATES = ("fit_samples_per_s", "predict_samples_per_s")


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3g}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:.1f} KiB" if value < 1024 * 1024 else f"{value / 1024 / 1024:.1f} MiB"


def rows(c: Comparison) -> list[tuple[str, list[str]]]:
    """(label, one cell per API) for the table, shared by the text and HTML forms."""
    apis = [c.apis[a] for a in APIS if a in c.apis]
    out: list[tuple[str, list[str]]] = []
    reasons = [r for r in apis if not r.available]
    out.append(("available", ["yes" if r.available else f"no ({reasons.index(r) + 1})" for r in apis]))
    out.append(("model class", [r.model_class or "-" for r in apis]))
    out.append(("total params", [_num(r.total_params) for r in apis]))
    out.append(("trainable params", [_num(r.trainable_params) for r in apis]))
    out.append(("non-trainable params", [_num(r.non_trainable_params) for r in apis]))
    out.append(("build time", [_seconds(r.timings["build_s"]) for r in apis]))
    out.append(("first call (trace+run)", [_seconds(r.timings["first_call_s"]) for r in apis]))
    out.append(("fit samples/s", [_num(_round(r.timings["fit_samples_per_s"])) for r in apis]))
    out.append(("predict samples/s", [_num(_round(r.timings["predict_samples_per_s"])) for r in apis]))
    out.append((".keras size", [_bytes(r.saved_bytes) for r in apis]))
    out.append(("save/load round-trip", [_num(r.roundtrip) for r in apis]))
    out.append(("plot_model nodes", [_num(r.plot_nodes) for r in apis]))
    return out


def _round(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def footnotes(c: Comparison) -> list[str]:
    apis = [c.apis[a] for a in APIS if a in c.apis]
    reasons = [r for r in apis if not r.available]
    lines = [f"({i + 1}) {r.api} is not available: {r.reason}" for i, r in enumerate(reasons)]
    if c.outputs_max_abs_diff is None:
        lines.append("outputs max abs diff: - (fewer than two APIs available)")
    else:
        lines.append(
            f"outputs max abs diff: {c.outputs_max_abs_diff:.3g} (same batch, same initial weights, "
            f"seed {c.seed}{'' if c.seed_from_spec else ' set by compare'})"
        )
    if "subclass" in c.apis and c.apis["subclass"].plot_nodes == 1:
        lines.append(
            "Keras's plot_model draws a subclassed model as one node; `kspec plot` draws every layer"
        )
    lines += c.notes
    return lines


def text_table(c: Comparison) -> str:
    apis = [a for a in APIS if a in c.apis]
    table = rows(c)
    width = max(len(label) for label, _ in table) + 2
    cols = [max(len(api), *(len(cells[i]) for _, cells in table)) + 2 for i, api in enumerate(apis)]
    head = (
        f'Model: "{c.name}" ({c.layers} layers); batch {c.batch_size}, fit {c.fit_steps} steps after warm-up'
    )
    lines = [head, "", " " * width + "".join(api.rjust(w) for api, w in zip(apis, cols))]
    for label, cells in table:
        lines.append(label.ljust(width) + "".join(cell.rjust(w) for cell, w in zip(cells, cols)))
    lines.append("")
    lines += footnotes(c)
    return "\n".join(lines)


# --- files ---------------------------------------------------------------------------------------------


def timings_png(c: Comparison) -> bytes:
    """Four bar panels: build time, first call, fit and predict throughput, one bar per API."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    apis = [a for a in APIS if a in c.apis]
    panels = [
        ("build_s", "build time (ms)", 1000.0),
        ("first_call_s", "first call (ms)", 1000.0),
        ("fit_samples_per_s", "fit (samples/s)", 1.0),
        ("predict_samples_per_s", "predict (samples/s)", 1.0),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    colors = {"sequential": "#4C72B0", "functional": "#55A868", "subclass": "#C44E52"}
    for ax, (key, title, scale) in zip(axes, panels):
        values = [(c.apis[a].timings.get(key) or 0.0) * scale for a in apis]
        bars = ax.bar(apis, values, color=[colors[a] for a in apis])
        for bar, api in zip(bars, apis):
            if not c.apis[api].available:
                ax.text(bar.get_x() + bar.get_width() / 2, 0, "n/a", ha="center", va="bottom", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"kspec compare: {c.name}", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _diagram(c: Comparison, api: str, path: str) -> str | None:
    """Draw one API's diagram with `kspec.report.diagram.plot`; return why not, or None."""
    from kspec.report.diagram import plot

    try:
        plot(c.graph, path, api=api, show_shapes=True)  # as the run folder's and the demo's diagrams
    except Exception as exc:
        return describe(exc)
    return None if os.path.exists(path) else "the diagram was not written"


def html_page(c: Comparison, images: dict[str, bytes]) -> str:
    """One self-contained page: the table, footnotes, the chart and the diagrams (inline PNGs)."""
    apis = [a for a in APIS if a in c.apis]
    esc = html.escape
    head = "".join(f"<th>{esc(a)}</th>" for a in apis)
    body = "".join(
        f"<tr><th>{esc(label)}</th>" + "".join(f"<td>{esc(cell)}</td>" for cell in cells) + "</tr>"
        for label, cells in rows(c)
    )
    notes = "".join(f"<li>{esc(line)}</li>" for line in footnotes(c))
    pics = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        f"<figcaption>{esc(name)}</figcaption></figure>"
        for name, data in images.items()
    )
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f4f4f4}"
        "tbody th{text-align:left}figure{display:inline-block;margin:1em;vertical-align:top}"
        "img{max-width:900px}pre{background:#f8f8f8;padding:1em}"
    )
    data = esc(json.dumps(c.to_dict(), indent=1))
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>kspec compare: {esc(c.name)}</title>"
        f"<style>{style}</style></head><body><h1>kspec compare: {esc(c.name)}</h1>"
        f"<p>{c.layers} layers; batch {c.batch_size}; fit {c.fit_steps} steps after warm-up.</p>"
        f'<table id="compare"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"<ul>{notes}</ul>{pics}<details><summary>JSON</summary><pre>{data}</pre></details>"
        "</body></html>\n"
    )


def write_outputs(c: Comparison, out_dir: str | os.PathLike[str]) -> list[str]:
    """Write `<api>.png` diagrams, `timings.png`, `compare.json`, `compare.html`; return the paths."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    written: list[str] = []
    images: dict[str, bytes] = {}
    chart = timings_png(c)
    path = os.path.join(out_dir, "timings.png")
    write_bytes(path, chart)
    written.append(path)
    images["timings"] = chart
    for api in APIS:
        if api not in c.apis or not c.apis[api].available:
            continue
        path = os.path.join(out_dir, f"{api}.png")
        problem = _diagram(c, api, path)
        if problem is None:
            written.append(path)
            with open(path, "rb") as fh:
                images[f"{api} diagram"] = fh.read()
        elif not any(n.startswith("diagrams skipped") for n in c.notes):
            c.notes.append(f"diagrams skipped: {problem}")
    path = os.path.join(out_dir, "compare.json")
    write_text(path, json.dumps(c.to_dict(), indent=2) + "\n")
    written.append(path)
    path = os.path.join(out_dir, "compare.html")
    write_text(path, html_page(c, images))
    written.append(path)
    return written
