"""Build time and fit throughput of one spec on each Keras backend, as ratios to TensorFlow.

    .venv/bin/python benchmarks/backends.py            # 3 rounds; writes its section of README.md
    .venv/bin/python benchmarks/backends.py --quick    # 1 round at tiny sizes; prints only

For an MLP (specs/mnist_mlp.yaml) and a CNN (specs/small_cnn.yaml), each backend runs in its own
process (Keras fixes its backend per process), started with KERAS_BACKEND set:
- build: `kspec.build(spec)` in the spec's API, `keras.backend.clear_session()` before each; the
  first build (a backend's one-time start-up work) is left out; the median of the rest;
- fit: `model.fit` on synthetic data (inputs from `kspec.report.compare.synthetic_inputs`,
  targets that suit the loss), one warm-up epoch (tracing, compilation), then timed epochs;
  samples per second of the median epoch.
Rounds alternate the backends' order (TF, JAX, torch; then JAX, torch, TF; ...), so a load that
changes during the run falls on every backend alike. Each ratio is backend / TensorFlow of the
medians over rounds: build time (< 1 is faster than TF) and fit throughput (> 1 is faster).
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
import time
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SPECS = {"mlp": ROOT / "specs" / "mnist_mlp.yaml", "cnn": ROOT / "specs" / "small_cnn.yaml"}
BACKENDS = ("tensorflow", "jax", "torch")
BEGIN, END = "<!-- BACKENDS:BEGIN (written by benchmarks/backends.py) -->", "<!-- BACKENDS:END -->"


def child(backend: str, spec_file: str, builds: int, samples: int, epochs: int, batch: int) -> dict[str, Any]:
    """Runs inside the backend's process (KERAS_BACKEND set by the parent)."""
    import keras
    import numpy as np

    import kspec
    from kspec.graph.resolve import resolve
    from kspec.report.compare import compile_arguments, synthetic_inputs, synthetic_targets

    assert keras.backend.backend() == backend, keras.backend.backend()
    spec = kspec.load(spec_file)
    graph = resolve(spec)
    build_s = []
    for _ in range(builds + 1):
        keras.backend.clear_session()
        start = time.perf_counter()
        model = kspec.build(spec)
        build_s.append(time.perf_counter() - start)
    x = synthetic_inputs(graph, samples, seed=1)
    pred = model.predict(x[0] if len(x) == 1 else x, batch_size=batch, verbose=0)
    outputs = [np.asarray(p) for p in (pred if isinstance(pred, (list, tuple)) else [pred])]
    y = synthetic_targets(spec, graph, outputs)
    model.compile(**compile_arguments(spec, graph))
    inputs, target = (x[0] if len(x) == 1 else x), (y[0] if len(y) == 1 else y)
    model.fit(inputs, target, batch_size=batch, epochs=1, verbose=0)  # tracing and compilation
    epoch_s = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(inputs, target, batch_size=batch, epochs=1, verbose=0)
        epoch_s.append(time.perf_counter() - start)
    return {
        "build_s": statistics.median(build_s[1:]),
        "first_build_s": build_s[0],
        "fit_samples_per_s": samples / statistics.median(epoch_s),
        "params": int(model.count_params()),
        "version": sys.modules[backend].__version__,
    }


def _run_child(backend: str, spec_file: str, sizes: dict[str, int]) -> dict[str, Any]:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [str(sizes[k]) for k in ("builds", "samples", "epochs", "batch")]
    done = subprocess.run(
        [sys.executable, __file__, "child", backend, spec_file, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{backend} on {spec_file}: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def installed() -> list[str]:
    import importlib.util

    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def run(rounds: int, sizes: dict[str, int]) -> dict[str, Any]:
    backends = installed()
    raw: dict[str, dict[str, list[dict[str, Any]]]] = {m: {b: [] for b in backends} for m in SPECS}
    load_before = os.getloadavg()[0]
    for r in range(rounds):
        order = backends[r % len(backends) :] + backends[: r % len(backends)]
        for model, spec_file in SPECS.items():
            for backend in order:
                raw[model][backend].append(_run_child(backend, str(spec_file), sizes))
    rows = []
    for model, per_backend in raw.items():
        medians = {
            b: {k: statistics.median(run[k] for run in runs) for k in ("build_s", "fit_samples_per_s")}
            for b, runs in per_backend.items()
        }
        ref = medians["tensorflow"]
        for backend, m in medians.items():
            rows.append(
                {
                    "model": model,
                    "spec": SPECS[model].name,
                    "backend": backend,
                    "params": per_backend[backend][0]["params"],
                    "build_s": m["build_s"],
                    "build_ratio": m["build_s"] / ref["build_s"],
                    "fit_samples_per_s": m["fit_samples_per_s"],
                    "fit_ratio": m["fit_samples_per_s"] / ref["fit_samples_per_s"],
                    "first_build_s": statistics.median(run["first_build_s"] for run in per_backend[backend]),
                }
            )
    versions = {b: raw["mlp"][b][0]["version"] for b in backends}
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "versions": versions,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "rounds": rounds,
        "sizes": sizes,
        "rows": rows,
    }


def markdown(r: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
    s = r["sizes"]
    lines = [
        f"Run: {r['date']}, {r['machine']}; {versions}; load average {r['load_average'][0]} before, "
        f"{r['load_average'][1]} after. {r['rounds']} rounds; build: median of {s['builds']} builds "
        f"after the first; fit: {s['samples']:,} samples, batch {s['batch']}, median of {s['epochs']} "
        "epochs after a warm-up epoch.",
        "",
        "| model | backend | params | build | build / TF | first build | fit samples/s | fit / TF |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['model']} ({row['spec']}) | {row['backend']} | {row['params']:,} | "
            f"{row['build_s'] * 1000:.1f} ms | {row['build_ratio']:.2f} | {row['first_build_s']:.2f} s | "
            f"{row['fit_samples_per_s']:,.0f} | {row['fit_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        backend, spec_file, *nums = argv[1:]
        builds, samples, epochs, batch = (int(n) for n in nums)
        print(json.dumps(child(backend, spec_file, builds, samples, epochs, batch)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round at tiny sizes; print only")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        sizes = {"builds": 1, "samples": 256, "epochs": 1, "batch": 64}
        print(markdown(run(1, sizes)))
        return 0
    sizes = {"builds": 5, "samples": 8192, "epochs": 3, "batch": 128}
    result = run(args.rounds, sizes)
    text = markdown(result)
    print(text)
    (HERE / "backends.json").write_text(json.dumps(result, indent=1) + "\n")
    readme = HERE / "README.md"
    old = readme.read_text()
    section = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in old:
        head, rest = old.split(BEGIN, 1)
        new = head + section + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n## Backends\n\n" + section + "\n"
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
