"""`kspec serve` under load, and the cost of one training frame (part of `make bench`).

    .venv/bin/python benchmarks/playground_load.py            # 50 clients for 30 s; writes README
    .venv/bin/python benchmarks/playground_load.py --quick    # 5 clients for 3 s; prints only

1. Load: a real `kspec serve` process on 127.0.0.1 (a free port, a temporary working folder)
   runs one training (a 6 x 8 tanh network on the spiral, running throughout), while N clients,
   each with its own connection, send `POST /api/check` requests for T seconds. Every spec sent
   differs (a layer's units count goes up with each request), so nothing is answered from a cache.
   Each client waits `--think` seconds between a response and its next request: the page sends
   a check at most every 150 ms (its debounce while typing). Reported: requests, errors (any
   non-200 or failed request), latency percentiles.
2. Frame: `FrameMaker.frame()` for a 6 x 8 network on a 50 x 50 grid of the plane (48 neuron
   heatmaps, the kernels for the edges, the output as the boundary), median of 30 after warm-up.

Targets: no error, p95 check latency <= 100 ms, a frame <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
BEGIN, END = "<!-- PLAYGROUND:BEGIN (written by benchmarks/playground_load.py) -->", "<!-- PLAYGROUND:END -->"


def network_spec(epochs: int = 1000) -> str:
    hidden = "".join("- {type: Dense, units: 8, activation: tanh}\n" for _ in range(6))
    return (
        "name: six_by_eight\nseed: 1\ninputs: [{name: x, shape: [6]}]\nlayers:\n"
        + hidden
        + "- {type: Dense, name: out, units: 1, activation: sigmoid}\n"
        "compile: {optimizer: {type: Adam, learning_rate: 0.01}, loss: binary_crossentropy, metrics: [accuracy]}\n"
        "train:\n  data: {type: synthetic, name: spiral, samples: 1000, noise: 0.05,"
        " features: [x1, x2, x1_sq, x2_sq, sin_x1, sin_x2]}\n"
        f"  test_split: 0.5\n  batch_size: 10\n  epochs: {epochs}\n"
    )


def check_spec(i: int) -> str:
    return (
        f"name: load_{i % 1000}\ninputs: [{{name: x, shape: [2]}}]\nlayers:\n"
        f"- {{type: Dense, units: {1 + i % 64}, activation: relu}}\n- {{type: Dense, units: 8, activation: tanh}}\n"
        "- {type: Dense, units: 1, activation: sigmoid}\n"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(base: str, clients: int, seconds: float, think: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(10**9))
    end = time.perf_counter() + seconds

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            while time.perf_counter() < end:
                body = json.dumps({"text": check_spec(next(counter))})
                t0 = time.perf_counter()
                try:
                    r = await c.post("/api/check", content=body, headers={"content-type": "application/json"})
                    ok = r.status_code == 200 and r.json().get("ok") is True
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:100]}")
                except Exception as exc:  # a refused or dropped connection is an error of the run
                    errors.append(repr(exc))
                else:
                    latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(think)

    await asyncio.gather(*(client() for _ in range(clients)))
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else float("nan")

    return {
        "clients": clients,
        "seconds": seconds,
        "think_s": think,
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * lat[-1], 1) if lat else None,
        "rate_per_s": round(len(latencies) / seconds, 1),
    }


def run_load(clients: int, seconds: float, think: float) -> dict[str, Any]:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "kspec", "serve", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.time() + 300  # a busy machine imports Keras slowly
            while True:
                try:
                    if httpx.get(base + "/api/initial", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline or proc.poll() is not None:
                    out = proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
                    raise RuntimeError(f"kspec serve did not start: {out[-500:]}")
                time.sleep(0.3)
            sid = "loadtest-training"
            r = httpx.post(f"{base}/api/session/{sid}/reset", json={"text": network_spec()}, timeout=60)
            r.raise_for_status()
            httpx.post(f"{base}/api/session/{sid}/run", json={}, timeout=10).raise_for_status()
            while True:  # measure while it trains, not while it builds
                state = httpx.get(f"{base}/api/session/{sid}/state", timeout=10).json()
                if state["state"] == "running" and state["batches"] > 0:
                    break
                if state["state"] == "error" or time.time() > deadline + 120:
                    raise RuntimeError(f"the training did not start: {state}")
                time.sleep(0.3)
            asyncio.run(load(base, clients, 1.0, think))  # warm-up: connections, first imports
            # One client alone, no pause: the service time of a check while the training runs.
            alone = asyncio.run(load(base, 1, max(2.0, seconds / 10), 0.0))
            before = httpx.get(f"{base}/api/session/{sid}/state", timeout=10).json()["batches"]
            load_before = os.getloadavg()[0]
            result = asyncio.run(load(base, clients, seconds, think))
            result["machine_load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
            result["one_client"] = {
                k: alone[k] for k in ("requests", "errors", "p50_ms", "p95_ms", "rate_per_s")
            }
            state = httpx.get(f"{base}/api/session/{sid}/state", timeout=10).json()
            result["training_state"] = state["state"]
            result["training_batches"] = state["batches"] - before
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return result


def run_frame(reps: int) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    import kspec
    from kspec.playground.frames import FrameMaker

    spec = kspec.loads(network_spec())
    graph = kspec.resolve(spec)
    keras.utils.set_random_seed(1)
    model = kspec.build(spec)
    features = spec.train["data"]["features"]
    maker = FrameMaker(model, graph, features, grid=50, units_shown=8)
    for _ in range(3):
        frame = maker.frame()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        frame = maker.frame()
        times.append(time.perf_counter() - t0)
    heatmaps = sum(len(layer["heatmaps"]) for layer in frame["layers"][:-1])
    return {
        "heatmaps": heatmaps,
        "grid": 50,
        "bytes_json": len(json.dumps(frame)),
        "median_ms": round(1000 * statistics.median(times), 1),
        "max_ms": round(1000 * max(times), 1),
        "reps": reps,
    }


def markdown(r: dict[str, Any]) -> str:
    load, frame = r["load"], r["frame"]
    ok = lambda good: "met" if good else "MISSED"  # noqa: E731
    return "\n".join(
        [
            f"Run: {r['date']}, {r['machine']}; the machine's load average (1 min) was "
            f"{load['machine_load_average'][0]} before the load phase and {load['machine_load_average'][1]} after "
            "(2 cores shared with other work: a load average above 2 means every process waits for a core).",
            "",
            "| what | result | target |",
            "|---|---|---|",
            f"| `kspec serve` under load: {load['clients']} clients x {load['seconds']} s of `POST /api/check`, "
            f"{load['think_s'] * 1000:.0f} ms between a client's requests, one training running "
            f"({load['training_batches']} batches trained meanwhile, state {load['training_state']}) "
            f"| {load['requests']} requests ({load['rate_per_s']}/s), {load['errors']} errors; latency p50 "
            f"{load['p50_ms']} ms, p95 {load['p95_ms']} ms, p99 {load['p99_ms']} ms, max {load['max_ms']} ms "
            f"| no error, p95 <= 100 ms: {ok(load['errors'] == 0 and load['p95_ms'] <= 100)} |",
            f"| the same server, one client alone, no pause (the service time of a check while the training runs) "
            f"| {load['one_client']['requests']} requests, p50 {load['one_client']['p50_ms']} ms, "
            f"p95 {load['one_client']['p95_ms']} ms | - |",
            f"| one training frame: {frame['heatmaps']} heatmaps of a 6 x 8 network on a {frame['grid']} x "
            f"{frame['grid']} grid, plus the boundary and the kernels ({frame['bytes_json']:,} bytes of JSON) "
            f"| median {frame['median_ms']} ms, max {frame['max_ms']} ms over {frame['reps']} "
            f"| <= 100 ms: {ok(frame['median_ms'] <= 100)} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 clients for 3 s; print, write nothing")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--think", type=float, default=0.15, help="seconds between a client's requests")
    args = parser.parse_args(argv)
    clients = args.clients or (5 if args.quick else 50)
    seconds = args.seconds or (3.0 if args.quick else 30.0)
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "load": run_load(clients, seconds, args.think),
        "frame": run_frame(5 if args.quick else 30),
    }
    print(json.dumps(results, indent=1))
    if args.quick:
        return 0 if results["load"]["errors"] == 0 else 1
    sys.path.insert(0, str(HERE.parent / "src"))
    from kspec.files import write_text

    readme = HERE / "README.md"
    text = readme.read_text()
    section = f"{BEGIN}\n{markdown(results)}\n{END}"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text += f"\n## The Playground (`kspec serve`)\n\n{__doc__.split(chr(10) + chr(10), 1)[1].strip()}\n\n{section}\n"
    write_text(readme, text)
    write_text(HERE / "playground.json", json.dumps(results, indent=2) + "\n")
    return 0 if results["load"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
