"""`report.html`: one self-contained page for a run folder (images inlined, no network).

Sections (each an element with an id): `metrics` (the test split's final metrics), `summary`
(the layer table), `topology` (model.png), `curves` (curves.png), `history` (per-epoch
values) and `spec` (the spec as written). A small inline script marks the `<body>` with
`data-images="loaded/total"` once the browser has decoded the images, which tests read.
"""

from __future__ import annotations

import base64
import html
import json
import os
from typing import Any

from kspec.files import write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;padding:0 1rem;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d8dde6;padding-bottom:.2rem;margin-top:2rem}
.sub{color:#5b6475;margin-top:0}
table{border-collapse:collapse;font-size:.92rem}th,td{border:1px solid #d8dde6;padding:.25rem .6rem;
text-align:left}th{background:#f2f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.frozen td{color:#8a6d00;background:#fffbea}
pre{background:#f6f8fa;border:1px solid #d8dde6;padding:.8rem;overflow:auto;font-size:.85rem}
img{max-width:100%;border:1px solid #e3e6ec;background:#fff}#topology img{max-height:85vh}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d8dde6;border-radius:8px;
padding:.6rem 1rem;min-width:8rem}.card .v{font-size:1.6rem;font-weight:600}.card .k{color:#5b6475}
.note{color:#8a4b00;background:#fff4e5;border:1px solid #f0c58a;padding:.5rem .8rem;border-radius:6px}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
"""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def _json(path: str) -> Any:
    text = _read(path)
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def _image(path: str, alt: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
    except OSError:
        return None
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _shape(shape: Any) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _metrics(metrics: Any) -> str:
    if not metrics:
        return '<p class="note">No test split was evaluated (train.test_split is 0).</p>'
    cards = "".join(
        f'<div class="card"><div class="v">{html.escape(_fmt(v))}</div>'
        f'<div class="k">{html.escape(k)}</div></div>'
        for k, v in metrics.items()
    )
    return f'<div class="cards">{cards}</div>'


def _summary(summary: Any, text: str | None) -> str:
    if not summary:
        return f"<pre>{html.escape(text or 'no summary')}</pre>"
    rows = []
    for r in summary.get("layers", []):
        cls = ' class="frozen"' if not r.get("trainable", True) else ""
        rows.append(
            f"<tr{cls}><td>{html.escape(r['name'])}</td><td>{html.escape(r['type'])}</td>"
            f"<td>{html.escape(_shape(r.get('output_shape')))}</td>"
            f"<td class=num>{r['params']:,}</td><td>{'yes' if r.get('trainable', True) else 'no'}</td></tr>"
        )
    totals = (
        f"<p>Total params: <b>{summary['total_params']:,}</b> &middot; trainable: "
        f"{summary['trainable_params']:,} &middot; non-trainable: {summary['non_trainable_params']:,}</p>"
    )
    return (
        "<table><thead><tr><th>Layer</th><th>Type</th><th>Output shape</th><th>Params</th>"
        f"<th>Trainable</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{totals}"
    )


def _history(history: Any) -> str:
    if not history or not history.get("epoch"):
        return "<p>No finished epochs.</p>"
    keys = [k for k in history if k != "epoch"]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in ["epoch", *keys])
    body = []
    for i, epoch in enumerate(history["epoch"]):
        cells = "".join(
            f"<td class=num>{html.escape(_fmt(history[k][i] if i < len(history[k]) else None))}</td>"
            for k in keys
        )
        body.append(f"<tr><td class=num>{epoch}</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(run_dir: str) -> str:
    """The report page of `run_dir` as HTML text."""
    join = lambda name: os.path.join(run_dir, name)  # noqa: E731
    run = _json(join("run.json")) or {}
    name = run.get("name") or os.path.basename(os.path.abspath(run_dir))
    topology = _image(join("model.png"), "model topology")
    if topology is None:
        note = _read(join("diagram_note.txt")) or "no topology diagram was drawn"
        topology = f'<p class="note">{html.escape(note.strip())}</p>'
    curves = _image(join("curves.png"), "training curves") or '<p class="note">no curves were drawn</p>'
    rows = run.get("rows") or {}
    sub = (
        f"API: {html.escape(str(run.get('api', '?')))} &middot; epochs: "
        f"{html.escape(str(run.get('finished_epochs', run.get('epochs', '?'))))} &middot; batch size: "
        f"{html.escape(str(run.get('batch_size', '?')))} &middot; rows: train {rows.get('train', '?')}, "
        f"validation {rows.get('validation', '?')}, test {rows.get('test', '?')}"
    )
    if (run.get("processes") or 1) > 1:  # data-parallel: the batch above is the global one
        sub += (
            f" &middot; processes: {int(run['processes'])} (global batch {run.get('global_batch_size', '?')}, "
            f"{run.get('per_process_batch_size', '?')} per process)"
        )
    if run.get("initial_epoch"):
        sub += f" &middot; resumed at epoch {int(run['initial_epoch']) + 1}"
    sections = [
        ("metrics", "Final metrics (test split)", _metrics(_json(join("metrics.json")))),
        ("summary", "Model summary", _summary(_json(join("summary.json")), _read(join("summary.txt")))),
        ("topology", "Topology", topology),
        ("curves", "Training curves", curves),
        ("history", "History", _history(_json(join("history.json")))),
        ("spec", "Spec", f"<pre>{html.escape(_read(join('spec.yaml')) or '')}</pre>"),
    ]
    body = "".join(
        f'<section id="{sid}"><h2>{title}</h2>{content}</section>' for sid, title, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>kspec run: {html.escape(name)}</title><style>{_CSS}</style></head>"
        f'<body><h1>{html.escape(name)}</h1><p class="sub">{sub}</p>{body}'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def write_report(run_dir: str) -> str:
    """Write `run_dir/report.html`; returns its path."""
    path = os.path.join(run_dir, "report.html")
    write_text(path, render(run_dir))
    return path
