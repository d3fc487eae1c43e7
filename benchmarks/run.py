"""`make bench`: run the four benchmarks and write their results into benchmarks/README.md.

    .venv/bin/python benchmarks/run.py            # the full run (a few minutes)
    .venv/bin/python benchmarks/run.py --quick    # tiny sizes, one repetition: does it still run?

Results go between the RESULTS markers of README.md (the text around them is kept) and into
results.json beside it. Ratios are taken in one run, kspec and its hand-written twin interleaved,
so a busy machine slows both sides alike.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys
import tempfile
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_lib  # noqa: E402

BEGIN, END = "<!-- RESULTS:BEGIN (written by benchmarks/run.py) -->", "<!-- RESULTS:END -->"
TARGETS = {"check": 50.0, "check_10k_s": 1.0, "build": 1.02, "fit": 0.98}


PARTS = ("memory", "check", "build", "fit")


def run_all(quick: bool, only: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Run the benchmarks named in `only` (all by default)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))  # the hand-written 1000-layer models too
    check_layers, mem_layers = (20, 20) if quick else (300, 300)
    depths = (5, 10) if quick else (10, 100, 1000)
    reps = {d: 1 for d in depths} if quick else {10: 15, 100: 7, 1000: 3}
    fit_reps = 1 if quick else 7
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        check_spec = bench_lib.write_chain_spec(os.path.join(tmp, "check.yaml"), check_layers)
        mem_spec = bench_lib.write_chain_spec(os.path.join(tmp, "mem.yaml"), mem_layers)
        # Memory and check first: their child processes must not fork from a parent holding Keras.
        if "memory" in only:
            print(f"4. peak memory ({mem_layers} layers) ...", flush=True)
            out["memory"] = bench_lib.bench_memory(mem_spec, mem_layers, reps=1)
            print(f"   {out['memory']}", flush=True)
        if "check" in only:
            print(f"1. kspec check ({check_layers} layers) vs import keras ...", flush=True)
            out["check"] = bench_lib.bench_check(check_spec, reps=1 if quick else 5)
            print(f"   {out['check']}", flush=True)
            large_layers = 500 if quick else 10_000
            large_spec = os.path.join(tmp, "large.yaml")
            pathlib.Path(large_spec).write_text(bench_lib.unnamed_chain_text(large_layers))
            print(f"1b. kspec check, {large_layers} unnamed layers ...", flush=True)
            out["check_large"] = bench_lib.bench_check_large(large_spec, reps=1 if quick else 3)
            out["check_large"]["layers"] = large_layers
            print(f"   {out['check_large']}", flush=True)
        if "build" in only:
            print(f"2. build time at {depths} layers ...", flush=True)
            out["build"] = bench_lib.bench_build(depths, reps)
            for row in out["build"]:
                print(f"   {row}", flush=True)
            print("   kspec's own share of build time (cProfile) ...", flush=True)
            out["build_share"] = bench_lib.kspec_share(10 if quick else 100)
            print(f"   {out['build_share']}", flush=True)
        if "fit" in only:
            print("3. fit throughput ...", flush=True)
            out["fit"] = bench_lib.bench_fit(reps=fit_reps, samples=512 if quick else 32768)
            for row in out["fit"]:
                print(f"   {row}", flush=True)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bench_lib.machine(),
        "quick": quick,
        "parts_run": list(only),
        **out,
    }


def _ok(good: bool) -> str:
    return "met" if good else "**missed**"


def _verdict(ratio: float, control: float, target: float, higher_is_better: bool) -> str:
    """met / missed, or "within noise" when the miss is no larger than hand-vs-hand's own scatter."""
    if (ratio >= target) if higher_is_better else (ratio <= target):
        return "met"
    if abs(ratio - 1.0) <= abs(control - 1.0) + 0.01:
        return f"within noise (control {control:.3f})"
    return "**missed**"


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    c = r["check"]
    lines = [
        f"Run: {r['date']}{' (--quick: tiny sizes, not results)' if r['quick'] else ''}. "
        f"Machine: {m['platform']}, {m['cpus']} CPUs ({m['processor']}), Python {m['python']}, "
        f"Keras {m['keras']}, TensorFlow {m['tensorflow']}; load average at the end {m['load_average']:.2f}.",
        "",
        '### 1. `kspec check` vs `python -c "import keras"` (whole processes)',
        "",
        "| | kspec check | import keras | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| CPU (user + system) | {c['check_cpu_s']:.3f} s | {c['import_keras_cpu_s']:.3f} s | "
        f"{c['ratio']:.1f}x faster | >= {TARGETS['check']:.0f}x: {_ok(c['ratio'] >= TARGETS['check'])} |",
        f"| wall | {c['check_s']:.3f} s | {c['import_keras_s']:.3f} s | {c['wall_ratio']:.1f}x faster | - |",
        "",
        f"`kspec check` of {r['check_large']['layers']:,} unnamed layers (default names): "
        f"{r['check_large']['cpu_s']:.2f} s CPU, {r['check_large']['wall_s']:.2f} s wall "
        f"(target <= {TARGETS['check_10k_s']:.0f} s: {_ok(r['check_large']['cpu_s'] <= TARGETS['check_10k_s'])}).",
        "",
        f'Median of {c["reps"]} runs each, interleaved. "ratio" in the tables below is the median of the '
        "per-repetition ratios (kspec and hand-written run back to back, so both see the same load).",
        "",
        "### 2. Build time: `kspec.build` vs the same Dense chain written in Keras",
        "",
        "| API | layers | reps | kspec | by hand | ratio | ratio of medians | ratio of bests | "
        "control (hand vs hand) | kspec ms/layer | hand ms/layer | target <= 1.02x |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in r["build"]:
        lines.append(
            f"| {row['api']} | {row['layers']} | {row['reps']} | {row['kspec_s']:.3f} s | "
            f"{row['hand_s']:.3f} s | {row['ratio']:.3f} | {row['ratio_of_medians']:.3f} | {row['best_ratio']:.3f} | "
            f"{row['control_ratio']:.3f} | "
            f"{row['kspec_ms_per_layer']:.2f} | "
            f"{row['hand_ms_per_layer']:.2f} | {_verdict(row['ratio'], row['control_ratio'], TARGETS['build'], False)} |"
        )
    lines += [
        "",
        "kspec's own code (self time of `kspec` frames, cProfile, one build of "
        f"{r['build_share'][0]['layers']} layers; the rest is Keras):",
        "",
        "| API | build (profiled) | in kspec code | share |",
        "|---|---:|---:|---:|",
    ]
    for row in r["build_share"]:
        lines.append(
            f"| {row['api']} | {row['total_s']:.3f} s | {row['kspec_s'] * 1000:.1f} ms | "
            f"{100 * row['share']:.2f} % |"
        )
    lines += [
        "",
        "### 3. Fit throughput: spec-built vs hand-written (MLP 64-256-256-10, batch 128)",
        "",
        "| API | kspec samples/s | hand samples/s | ratio | ratio of medians | ratio of bests | "
        "control (hand vs hand) | target >= 0.98x |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in r["fit"]:
        lines.append(
            f"| {row['api']} | {row['kspec_samples_per_s']:,.0f} | {row['hand_samples_per_s']:,.0f} | "
            f"{row['ratio']:.3f} | {row['ratio_of_medians']:.3f} | {row['best_ratio']:.3f} | "
            f"{row['control_ratio']:.3f} | {_verdict(row['ratio'], row['control_ratio'], TARGETS['fit'], True)} |"
        )
    mem = r["memory"]
    lines += [
        "",
        f"### 4. Peak memory (maxrss of a fresh process, {mem['layers']}-layer chain)",
        "",
        "| process | peak RSS |",
        "|---|---:|",
        f"| `kspec check` | {mem['check_mib']:.0f} MiB |",
        f'| `python -c "import keras"` | {mem["import_keras_mib"]:.0f} MiB |',
    ]
    for row in mem["builds"]:
        lines.append(
            f"| `kspec.build` {row['api']} / by hand | {row['kspec_mib']:.0f} / {row['hand_mib']:.0f} MiB "
            f"(ratio {row['ratio']:.3f}) |"
        )
    return "\n".join(lines)


def write_readme(results: dict[str, Any], path: pathlib.Path) -> None:
    from kspec.files import write_text

    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    write_text(path, f"{head}{BEGIN}\n{markdown(results)}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (smoke test)")
    parser.add_argument(
        "--readme", help="where the results go (default: benchmarks/README.md; --quick prints them instead)"
    )
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run ({', '.join(PARTS)}); the others keep their last results.json figures",
    )
    args = parser.parse_args(argv)
    only = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    results = run_all(args.quick, only)
    previous_path = pathlib.Path(args.readme or HERE / "README.md").with_name("results.json")
    if set(only) != set(PARTS) and previous_path.exists():
        previous = json.loads(previous_path.read_text())
        for key in ("memory", "check", "check_large", "build", "build_share", "fit"):
            results.setdefault(key, previous.get(key))
    if args.quick and not args.readme:
        print(markdown(results))
        return 0
    from kspec.files import write_text

    readme = pathlib.Path(args.readme or HERE / "README.md")
    write_readme(results, readme)
    write_text(readme.with_name("results.json"), json.dumps(results, indent=2) + "\n")
    print(f"wrote {readme} and {readme.with_name('results.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
