"""Data-parallel throughput: `kspec train --workers 2` against one process (part of `make bench`).

    .venv/bin/python benchmarks/distributed.py            # writes the DISTRIBUTED section of README.md
    .venv/bin/python benchmarks/distributed.py --quick    # tiny sizes, prints only

Both sides are the real commands on the same spec and data: the MNIST MLP (specs/mnist_mlp.yaml,
784-128-10) on an offline stand-in for MNIST (random 28x28 images), shuffling off, the same global
batch. One process: `kspec train SPEC --backend jax`; two: `kspec train SPEC --workers 2` (JAX,
gloo on CPU, `keras.distribution.DataParallel`). Throughput is training samples per second from
run.json's `epoch_seconds` (wall time of each epoch, process 0's for two processes: the
processes step in lockstep), the median over the epochs after the first (which traces and
compiles). So start-up, joining and the reports are not in it; the whole command's wall time is
shown beside it. Repetitions alternate one and two processes, so load from other work on the
machine hits both alike. The final weights of the two are compared too (max abs difference).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
BEGIN = "<!-- DISTRIBUTED:BEGIN (written by benchmarks/distributed.py) -->"
END = "<!-- DISTRIBUTED:END -->"


def write_inputs(folder: pathlib.Path, rows: int, epochs: int, batch: int) -> pathlib.Path:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((rows, 28, 28), dtype=np.float32)
    y = (x[:, :14].mean(axis=(1, 2)) * 40).astype("int64") % 10
    np.savez(folder / "mnist_like.npz", x=x, y=y)
    text = (ROOT / "specs" / "mnist_mlp.yaml").read_text()
    text = text.replace(
        "data: {type: keras, name: mnist}",
        "data: {type: npz, path: mnist_like.npz, x: x, y: y}\n  test_split: 0.0\n  shuffle: false",
    )
    text = text.replace("epochs: 5", f"epochs: {epochs}").replace("batch_size: 128", f"batch_size: {batch}")
    text = text.replace("validation_split: 0.1", "validation_split: 0.0")
    spec = folder / "mnist.yaml"
    spec.write_text(text)
    return spec


def run_once(spec: pathlib.Path, out: pathlib.Path, processes: int) -> dict[str, Any]:
    flags = ["--workers", str(processes)] if processes > 1 else ["--backend", "jax"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kspec", "train", str(spec), "-o", str(out), "--quiet", "--force", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{processes} process(es) failed: {done.stderr[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    seconds = run["epoch_seconds"][1:] or run["epoch_seconds"]
    steps = run["rows"]["train"] // run["batch_size"]
    return {
        "processes": processes,
        "samples_per_s": steps * run["batch_size"] / statistics.median(seconds),
        "epoch_seconds": run["epoch_seconds"],
        "wall_s": wall,
    }


def max_abs_diff(a: pathlib.Path, b: pathlib.Path) -> float:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np

    wa, wb = (keras.models.load_model(p).get_weights() for p in (a, b))
    return max(float(np.max(np.abs(x - y))) for x, y in zip(wa, wb))


def load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes; print, do not write README.md")
    parser.add_argument(
        "--reps", type=int, default=None, help="repetitions of each side (default 2; quick 1)"
    )
    args = parser.parse_args()
    rows, epochs, batch = (1024, 3, 64) if args.quick else (16384, 6, 256)
    reps = args.reps or (1 if args.quick else 2)
    load_before = load()
    results: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        spec = write_inputs(folder, rows, epochs, batch)
        for rep in range(reps):
            for processes in (1, 2) if rep % 2 == 0 else (2, 1):
                row = run_once(spec, folder / f"p{processes}", processes)
                print(f"{processes} process(es): {row}", flush=True)
                results[processes].append(row)
        diff = max_abs_diff(folder / "p1" / "model.keras", folder / "p2" / "model.keras")
    one = statistics.median(r["samples_per_s"] for r in results[1])
    two = statistics.median(r["samples_per_s"] for r in results[2])
    ratios = [b["samples_per_s"] / a["samples_per_s"] for a, b in zip(results[1], results[2])]
    out = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "versions": _versions(),
        "load_before": load_before,
        "load_after": load(),
        "rows": rows,
        "epochs": epochs,
        "global_batch": batch,
        "reps": reps,
        "one": one,
        "two": two,
        "ratio": two / one,
        "ratios": ratios,
        "wall_one": statistics.median(r["wall_s"] for r in results[1]),
        "wall_two": statistics.median(r["wall_s"] for r in results[2]),
        "max_abs_diff": diff,
    }
    section = render(out)
    print(section)
    if not args.quick:
        readme = HERE / "README.md"
        text = readme.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(head + BEGIN + "\n" + section + END + tail)
        (HERE / "distributed.json").write_text(json.dumps(out, indent=1) + "\n")


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("jax", "jaxlib", "keras"))


def render(r: dict[str, Any]) -> str:
    return (
        f"Run: {r['date']}, {r['machine']}, {r['versions']}; load average (1 min) "
        f"{r['load_before']:.1f} before, {r['load_after']:.1f} after (2 cores shared: above 2, every "
        "process waits for a core).\n\n"
        f"MNIST MLP (784-128-10), {r['rows']:,} rows of 28x28, global batch {r['global_batch']}, "
        f"{r['epochs']} epochs, shuffling off; median of {r['reps']} alternating repetitions.\n\n"
        "| processes | training samples/s | whole command (wall) |\n|---:|---:|---:|\n"
        f"| 1 | {r['one']:,.0f} | {r['wall_one']:.1f} s |\n"
        f"| 2 (`--workers 2`, gloo) | {r['two']:,.0f} | {r['wall_two']:.1f} s |\n\n"
        f"Ratio 2 / 1 processes: **{r['ratio']:.2f}** (per repetition: "
        f"{', '.join(f'{x:.2f}' for x in r['ratios'])}). Final weights, 2 processes vs 1: max abs "
        f"difference {r['max_abs_diff']:.2g}.\n"
    )


if __name__ == "__main__":
    main()
