"""The report page of a `kspec tune` folder: the trials plotted, the table, the best spec.

`trials.png` has one panel with every trial's score in trial order and the best so far, and one
panel per hyperparameter (score against its value; choices on a category axis). `report.html`
inlines it beside the trials table and `best.yaml`, self-contained like the run folder's page.
"""

from __future__ import annotations

import html
import json
import math
import os
from typing import Any

from kspec.files import atomic_path, write_text
from kspec.report.html import _CSS, _SCRIPT, _fmt, _image, _read


def _load(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def plot_trials(summary: dict[str, Any], rows: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    done = [r for r in rows if r.get("score") is not None and math.isfinite(float(r["score"]))]
    hps = [h["name"] for h in summary.get("hyperparameters", [])][:8]
    panels = 1 + len(hps)
    cols = min(3, panels)
    nrows = math.ceil(panels / cols)
    fig = Figure(figsize=(4.3 * cols, 3.3 * nrows), dpi=100, layout="constrained")
    objective = summary.get("objective", "score")
    better = min if summary.get("direction") == "min" else max
    ax = fig.add_subplot(nrows, cols, 1)
    if done:
        ids = [int(r["trial"]) for r in done]
        scores = [float(r["score"]) for r in done]
        ax.scatter(ids, scores, color="#3b6fd1", zorder=3, label="trial")
        running = [better(scores[: i + 1]) for i in range(len(scores))]
        ax.step(ids, running, where="post", color="#d1603b", label="best so far")
        best = summary.get("best") or {}
        if best.get("trial") is not None:
            ax.scatter([int(best["trial"])], [float(best["score"])], s=140, facecolors="none",
                       edgecolors="#d1603b", linewidths=2, zorder=4)  # fmt: skip
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no finished trial", ha="center", va="center")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title("trials")
    for i, name in enumerate(hps, start=2):
        ax = fig.add_subplot(nrows, cols, i)
        values = [r["values"].get(name) for r in done]
        scores = [float(r["score"]) for r in done]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            ax.scatter(values, scores, color="#3b6fd1")
            spec_hp = next(h for h in summary["hyperparameters"] if h["name"] == name)
            if spec_hp.get("sampling") in ("log", "reverse_log"):
                ax.set_xscale("log")
        elif values:
            labels = sorted({str(v) for v in values})
            ax.scatter([labels.index(str(v)) for v in values], scores, color="#3b6fd1")
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel(objective)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def _table(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    hps = [h["name"] for h in summary.get("hyperparameters", [])]
    best = (summary.get("best") or {}).get("trial")
    head = "".join(
        f"<th>{html.escape(h)}</th>" for h in ["trial", "status", summary.get("objective", "score"), *hps]
    )
    body = []
    for r in rows:
        cls = ' class="best"' if r["trial"] == best else ""
        cells = [r["trial"], r["status"], r.get("score"), *[r["values"].get(h) for h in hps]]
        tds = "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells)
        title = f' title="{html.escape(r["message"])}"' if r.get("message") else ""
        body.append(f"<tr{cls}{title}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(out_dir: str) -> str:
    join = lambda name: os.path.join(out_dir, name)  # noqa: E731
    summary = _load(join("summary.json")) or {}
    rows = _load(join("trials.json")) or []
    name = summary.get("name") or os.path.basename(os.path.abspath(out_dir))
    best = summary.get("best") or {}
    sub = (
        f"tuner: {html.escape(str(summary.get('tuner')))} &middot; objective: "
        f"{html.escape(str(summary.get('objective')))} ({html.escape(str(summary.get('direction')))}) "
        f"&middot; trials: {summary.get('completed', 0)} finished of {summary.get('trials', 0)} "
        f"&middot; workers: {summary.get('workers', 1)}"
    )
    cards = "".join(
        f'<div class="card"><div class="v">{html.escape(_fmt(v))}</div><div class="k">{html.escape(str(k))}</div></div>'
        for k, v in [
            ("best " + str(summary.get("objective")), best.get("score")),
            *best.get("values", {}).items(),
        ]
    )
    plot = _image(join("trials.png"), "trials") or '<p class="note">no plot</p>'
    sections = [
        ("best", "Best trial", f'<div class="cards">{cards}</div>'),
        ("plot", "Trials", plot),
        ("trials", "All trials", _table(summary, rows)),
        ("spec", "best.yaml", f"<pre>{html.escape(_read(join('best.yaml')) or 'no trial finished')}</pre>"),
    ]
    body = "".join(
        f'<section id="{sid}"><h2>{title}</h2>{content}</section>' for sid, title, content in sections
    )
    css = _CSS + "tr.best td{background:#eef6ee;font-weight:600}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>kspec tune: {html.escape(name)}</title><style>{css}</style></head>"
        f'<body><h1>{html.escape(name)}: search</h1><p class="sub">{sub}</p>{body}'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def write_page(out_dir: str) -> list[str]:
    """Write trials.png and report.html into a tune folder; return their names."""
    summary = _load(os.path.join(out_dir, "summary.json")) or {}
    rows = _load(os.path.join(out_dir, "trials.json")) or []
    plot_trials(summary, rows, os.path.join(out_dir, "trials.png"))
    write_text(os.path.join(out_dir, "report.html"), render(out_dir))
    return ["trials.png", "report.html"]
