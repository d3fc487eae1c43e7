"""Text table, chart and HTML page of `kspec compare --backends` (`kspec.report.backends`)."""

from __future__ import annotations

import base64
import html
import io
import json
import os
from typing import Any

from kspec.files import write_bytes, write_text
from kspec.report.backends import LOSS_TOLERANCE, PREDICTION_TOLERANCE, BackendComparison


def _num(value: Any, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def rows(c: BackendComparison) -> list[tuple[str, list[str]]]:
    cols = list(c.backends.values())
    get = lambda key, fmt="{:,.0f}": [_num(b.get(key), fmt) if b["available"] else "n/a" for b in cols]  # noqa: E731
    timing = lambda key, fmt: [  # noqa: E731
        _num(b["timings"].get(key), fmt) if b["available"] else "n/a" for b in cols
    ]
    return [
        ("available", ["yes" if b["available"] else "no" for b in cols]),
        ("total params", get("total_params")),
        ("trainable params", get("trainable_params")),
        ("build (s)", timing("build_s", "{:.4f}")),
        ("predict (s)", timing("predict_s", "{:.4f}")),
        ("fit (samples/s)", timing("fit_samples_per_s", "{:,.0f}")),
        ("outputs max abs diff", get("outputs_max_abs_diff", "{:.3g}")),
        ("one-epoch loss", get("fit_loss", "{:.6g}")),
        ("loss rel diff", get("fit_loss_rel_diff", "{:.3g}")),
    ]


def footnotes(c: BackendComparison) -> list[str]:
    d = c.to_dict()
    lines = [
        f"same spec, same initial weights (from {c.reference}, moved as numpy arrays); "
        f"{c.samples} samples, batch {c.batch_size}; API {', '.join(c.apis)}",
        f"targets: outputs max abs diff <= {PREDICTION_TOLERANCE:g}, loss rel diff <= {LOSS_TOLERANCE:g}: "
        + ("met" if d["agree"] else "NOT met"),
    ]
    for name, b in c.backends.items():
        if not b["available"]:
            lines.append(f"{name}: {b['reason']}")
    lines += c.notes
    return lines


def torch_lines(c: BackendComparison) -> list[str]:
    """On torch: the model is a torch.nn.Module; its named_parameters() beside Keras's weights."""
    b = c.backends.get("torch") or {}
    facts = b.get("torch")
    if not facts:
        return []
    lines = [
        f"torch: isinstance(model, torch.nn.Module) = {facts['is_torch_module']}; "
        f"named_parameters() hold {facts['named_parameters_trainable']:,} trainable values "
        f"(check's trainable params: {b['trainable_params']:,})",
        f"  {'Keras weight':<40} {'torch named_parameters()':<60} shape",
    ]
    named = {p["name"].rsplit(".", 1)[-1]: p for p in facts["named_parameters"]}
    for path in b["keras_weights"]:
        p = next((v for k, v in named.items() if k.endswith(path.split("/", 1)[-1])), None)
        lines.append(f"  {path:<40} {(p or {}).get('name', '-'):<60} {tuple((p or {}).get('shape', ()))}")
    return lines


def text_table(c: BackendComparison) -> str:
    names = list(c.backends)
    table = rows(c)
    width = max(len(label) for label, _ in table) + 2
    cols = [max(len(n), *(len(cells[i]) for _, cells in table)) + 2 for i, n in enumerate(names)]
    lines = [
        f'Model: "{c.name}" on every backend',
        "",
        " " * width + "".join(n.rjust(w) for n, w in zip(names, cols)),
    ]
    for label, cells in table:
        lines.append(label.ljust(width) + "".join(cell.rjust(w) for cell, w in zip(cells, cols)))
    lines += ["", *footnotes(c), *torch_lines(c)]
    return "\n".join(lines)


def chart_png(c: BackendComparison) -> bytes:
    """Three panels, one bar per backend: build time, predict time, fit throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, b in c.backends.items() if b["available"]]
    panels = [("build_s", "build (ms)", 1000.0), ("predict_s", "predict (ms)", 1000.0),
              ("fit_samples_per_s", "fit (samples/s)", 1.0)]  # fmt: skip
    colors = {"tensorflow": "#FF8F00", "jax": "#5E97F6", "torch": "#EE4C2C"}
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, (key, title, scale) in zip(axes, panels):
        values = [(c.backends[n]["timings"].get(key) or 0.0) * scale for n in names]
        ax.bar(names, values, color=[colors.get(n, "#888") for n in names])
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"kspec compare --backends: {c.name}", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def html_page(c: BackendComparison, chart: bytes) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(n)}</th>" for n in c.backends)
    body = "".join(
        f"<tr><th>{esc(label)}</th>" + "".join(f"<td>{esc(cell)}</td>" for cell in cells) + "</tr>"
        for label, cells in rows(c)
    )
    notes = "".join(f"<li>{esc(line)}</li>" for line in footnotes(c))
    torch = torch_lines(c)
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}th{background:#f4f4f4}"
        "tbody th{text-align:left}pre{background:#f8f8f8;padding:1em}"
    )
    data = esc(json.dumps(c.to_dict(), indent=1))
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>kspec compare --backends: {esc(c.name)}"
        f"</title><style>{style}</style></head><body><h1>kspec compare --backends: {esc(c.name)}</h1>"
        f'<table id="backends"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'
        f"<ul>{notes}</ul>"
        f'<figure><img alt="timings" src="data:image/png;base64,{base64.b64encode(chart).decode()}">'
        "<figcaption>build, predict and fit per backend</figcaption></figure>"
        + (f"<h2>PyTorch</h2><pre>{esc(chr(10).join(torch))}</pre>" if torch else "")
        + f"<details><summary>JSON</summary><pre>{data}</pre></details></body></html>\n"
    )


def write_outputs(c: BackendComparison, out_dir: str | os.PathLike[str]) -> list[str]:
    """Write `backends.png`, `compare.json` and `compare.html` into `out_dir`; return the paths."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    chart = chart_png(c)
    paths = [os.path.join(out_dir, name) for name in ("backends.png", "compare.json", "compare.html")]
    write_bytes(paths[0], chart)
    write_text(paths[1], json.dumps(public_dict(c), indent=2) + "\n")
    write_text(paths[2], html_page(c, chart))
    return paths


def public_dict(c: BackendComparison) -> dict[str, Any]:
    """`to_dict()` without the workers' raw records (they stay in the Python object)."""
    d = c.to_dict()
    d["backends"] = {n: {k: v for k, v in b.items() if k != "raw"} for n, b in d["backends"].items()}
    return d
