"""The measurements behind `make bench` (`benchmarks/run.py` runs them and writes README.md).

Each benchmark compares kspec with the thing it stands in for, as a ratio taken in one run:
1. `kspec check` on a generated N-layer spec, as a whole process, vs `python -c "import keras"`;
2. build time through `kspec.build` vs the same Dense chain written by hand, per API and depth;
3. fit throughput of a spec-built model vs the hand-written one, per API;
4. peak memory (maxrss of a fresh process) of `kspec check`, `kspec.build` and the hand-written build.

Run as a script (`python bench_lib.py child MODE ...`) it is the child process of 1 and 4.
"""

from __future__ import annotations

import gc
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

HERE = pathlib.Path(__file__).resolve().parent
PYTHON = sys.executable
KSPEC = str(pathlib.Path(PYTHON).with_name("kspec"))
APIS = ("sequential", "functional", "subclass")
WIDTH = 8  # units of every Dense in the generated chains


# --- specs and their hand-written twins ------------------------------------------------------------


def chain_text(layers: int, units: int = WIDTH) -> str:
    lines = [f"name: chain{layers}", "inputs: [{name: x, shape: [%d]}]" % units, "layers:"]
    lines += [f"  - {{type: Dense, name: d{i}, units: {units}, activation: relu}}" for i in range(layers)]
    return "\n".join(lines) + "\n"


def write_chain_spec(path: str | os.PathLike[str], layers: int, units: int = WIDTH) -> str:
    pathlib.Path(path).write_text(chain_text(layers, units))
    return str(path)


def hand_chain(api: str, layers: int, units: int = WIDTH) -> Any:
    """The same Dense chain written directly against Keras, the way a tutorial would."""
    import keras

    if api == "sequential":  # the list form: `add` per layer rebuilds the graph each time (quadratic)
        return keras.Sequential(
            [
                keras.Input(shape=(units,), name="x"),
                *[keras.layers.Dense(units, activation="relu", name=f"d{i}") for i in range(layers)],
            ],
            name=f"chain{layers}",
        )
    if api == "functional":
        inputs = keras.Input(shape=(units,), name="x")
        x = inputs
        for i in range(layers):
            x = keras.layers.Dense(units, activation="relu", name=f"d{i}")(x)
        return keras.Model(inputs, x, name=f"chain{layers}")
    import numpy as np

    model = HandChain(layers, units, name=f"chain{layers}")
    model(np.zeros((1, units), dtype="float32"))  # the idiomatic way to build a subclassed model
    return model


def _hand_chain_class() -> type:
    import keras

    class _HandChain(keras.Model):
        def __init__(self, layers: int, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.blocks = [keras.layers.Dense(units, activation="relu", name=f"d{i}") for i in range(layers)]

        def call(self, x: Any) -> Any:
            for layer in self.blocks:
                x = layer(x)
            return x

    return _HandChain


class _Lazy:
    cls: type | None = None


def HandChain(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 (a class, created on first use)
    if _Lazy.cls is None:
        _Lazy.cls = _hand_chain_class()
    return _Lazy.cls(*args, **kwargs)


def mlp_text() -> str:
    return """name: mlp
inputs: [{name: x, shape: [64]}]
layers:
  - {type: Dense, name: h1, units: 256, activation: relu}
  - {type: Dense, name: h2, units: 256, activation: relu}
  - {type: Dense, name: out, units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""


def hand_mlp(api: str) -> Any:
    import keras

    def layers() -> list[Any]:
        return [
            keras.layers.Dense(256, activation="relu", name="h1"),
            keras.layers.Dense(256, activation="relu", name="h2"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]

    if api == "sequential":
        return keras.Sequential([keras.Input(shape=(64,), name="x"), *layers()], name="mlp")
    if api == "functional":
        inputs = keras.Input(shape=(64,), name="x")
        x = inputs
        for layer in layers():
            x = layer(x)
        return keras.Model(inputs, x, name="mlp")

    class HandMLP(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="mlp")
            self.blocks = layers()

        def call(self, x: Any) -> Any:
            for layer in self.blocks:
                x = layer(x)
            return x

    import numpy as np

    model = HandMLP()
    model(np.zeros((1, 64), dtype="float32"))  # the idiomatic way to build a subclassed model
    return model


# --- helpers -----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "load_average": os.getloadavg()[0],
    }


def _wall(cmd: list[str]) -> float:
    return _times(cmd)[0]


def _times(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise subprocess.CalledProcessError(status, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, str(HERE / "bench_lib.py"), "child", *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- 1. check vs import keras --------------------------------------------------------------------


def bench_check(spec_path: str, reps: int = 5) -> dict[str, Any]:
    """Whole-process CPU (and wall) time of `kspec check SPEC` and `python -c "import keras"`, interleaved.

    The ratio is of CPU times (user + system): on a shared machine wall time also counts waiting.
    kspec's bytecode is compiled first, as `pip install` does for Keras (and for a non-editable
    kspec): with PYTHONDONTWRITEBYTECODE set (as on this machine) an editable install would
    otherwise recompile every module of kspec on every run, about 0.1 s of CPU.
    """
    import kspec

    src = os.path.dirname(os.path.abspath(kspec.__file__))
    subprocess.run([PYTHON, "-m", "compileall", "-q", src], check=True, stdout=subprocess.DEVNULL)
    check, keras_import = [], []
    for _ in range(reps):
        check.append(_times([KSPEC, "check", spec_path]))
        keras_import.append(_times([PYTHON, "-c", "import keras"]))
    c_wall, k_wall = (statistics.median(t[0] for t in runs) for runs in (check, keras_import))
    c_cpu, k_cpu = (statistics.median(t[1] for t in runs) for runs in (check, keras_import))
    return {
        "check_s": c_wall,
        "import_keras_s": k_wall,
        "check_cpu_s": c_cpu,
        "import_keras_cpu_s": k_cpu,
        "ratio": k_cpu / c_cpu,
        "wall_ratio": k_wall / c_wall,
        "reps": reps,
    }


def unnamed_chain_text(layers: int, units: int = WIDTH) -> str:
    """A chain of unnamed layers of one type: every name is a default name (`dense_123`)."""
    lines = [f"name: unnamed{layers}", "inputs: [{name: x, shape: [%d]}]" % units, "layers:"]
    lines += [f"  - {{type: Dense, units: {units}}}"] * layers
    return "\n".join(lines) + "\n"


def bench_check_large(spec_path: str, reps: int = 3) -> dict[str, Any]:
    """CPU and wall time of `kspec check` on a large spec of unnamed layers (target: <= 1 s)."""
    runs = [_times([KSPEC, "check", spec_path]) for _ in range(reps)]
    return {
        "wall_s": statistics.median(t[0] for t in runs),
        "cpu_s": statistics.median(t[1] for t in runs),
        "reps": reps,
    }


# --- 2. build time ---------------------------------------------------------------------------------


def bench_build(
    depths: tuple[int, ...] = (10, 100, 1000),
    reps: dict[int, int] | None = None,
    apis: tuple[str, ...] = APIS,
) -> list[dict[str, Any]]:
    """Median build time of `kspec.build` and of the hand-written chain, per API and depth (interleaved)."""
    import keras

    import kspec

    reps = reps or {}
    rows = []
    for depth in depths:
        spec = kspec.loads(chain_text(depth))
        n = reps.get(depth, 5)
        for api in apis:
            kspec.build(spec, api)  # warm-up: first builds pay one-off costs
            hand_chain(api, depth)
            # "control" builds the hand-written model again: hand vs control is this run's noise floor.
            builders = {
                "kspec": lambda s=spec, a=api: kspec.build(s, a),
                "hand": lambda a=api, d=depth: hand_chain(a, d),
                "control": lambda a=api, d=depth: hand_chain(a, d),
            }
            runs: dict[str, list[float]] = {who: [] for who in builders}
            orders = (
                ("kspec", "hand", "control"),
                ("hand", "control", "kspec"),
                ("control", "kspec", "hand"),
            )
            for rep in range(n):
                for who in orders[rep % 3]:  # no order bias
                    keras.backend.clear_session()
                    gc.collect()  # the previous model's garbage is not this build's cost
                    start = time.perf_counter()
                    builders[who]()
                    runs[who].append(time.perf_counter() - start)
            k, h = statistics.median(runs["kspec"]), statistics.median(runs["hand"])
            paired = statistics.median(a / b for a, b in zip(runs["kspec"], runs["hand"]))
            best = min(runs["kspec"]) / min(runs["hand"])
            rows.append(
                {
                    "api": api,
                    "layers": depth,
                    "reps": n,
                    "kspec_s": k,
                    "hand_s": h,
                    "ratio": paired,
                    "ratio_of_medians": k / h,
                    "best_ratio": best,
                    "control_ratio": statistics.median(a / b for a, b in zip(runs["control"], runs["hand"])),
                    "kspec_ms_per_layer": 1000 * k / depth,
                    "hand_ms_per_layer": 1000 * h / depth,
                }
            )
    keras.backend.clear_session()
    return rows


def kspec_share(layers: int = 100, apis: tuple[str, ...] = APIS) -> list[dict[str, Any]]:
    """Self time of kspec's own frames in one profiled build: what kspec adds, free of machine noise."""
    import cProfile
    import pstats

    import keras

    import kspec

    spec = kspec.loads(chain_text(layers))
    rows = []
    for api in apis:
        kspec.build(spec, api)
        keras.backend.clear_session()
        profile = cProfile.Profile()
        profile.enable()
        kspec.build(spec, api)
        profile.disable()
        stats = pstats.Stats(profile)
        own = sum(v[2] for k, v in stats.stats.items() if f"{os.sep}kspec{os.sep}" in k[0])  # type: ignore[attr-defined]
        total = stats.total_tt  # type: ignore[attr-defined]
        rows.append({"api": api, "layers": layers, "total_s": total, "kspec_s": own, "share": own / total})
        keras.backend.clear_session()
    return rows


# --- 3. fit throughput -------------------------------------------------------------------------------


def bench_fit(
    reps: int = 5, samples: int = 4096, batch_size: int = 128, apis: tuple[str, ...] = APIS
) -> list[dict[str, Any]]:
    """Samples/s of one epoch of fit, after a warm-up epoch, spec-built vs hand-written (interleaved)."""
    import keras
    import numpy as np

    import kspec

    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, 64)).astype("float32")
    y = rng.integers(0, 10, size=(samples,)).astype("int32")
    spec = kspec.loads(mlp_text())
    rows = []
    for api in apis:
        # "control" is a second hand-written model: hand vs control is the noise floor of this run.
        models = {"kspec": kspec.build(spec, api), "hand": hand_mlp(api), "control": hand_mlp(api)}
        for model in models.values():
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)  # trace, warm caches
        rates: dict[str, list[float]] = {who: [] for who in models}
        orders = (("kspec", "hand", "control"), ("hand", "control", "kspec"), ("control", "kspec", "hand"))
        for rep in range(reps):
            for who in orders[rep % 3]:
                start = time.perf_counter()
                models[who].fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
                rates[who].append(samples / (time.perf_counter() - start))
        k, h = statistics.median(rates["kspec"]), statistics.median(rates["hand"])
        rows.append(
            {
                "api": api,
                "reps": reps,
                "kspec_samples_per_s": k,
                "hand_samples_per_s": h,
                "ratio": statistics.median(a / b for a, b in zip(rates["kspec"], rates["hand"])),
                "ratio_of_medians": k / h,
                "best_ratio": max(rates["kspec"]) / max(rates["hand"]),
                "control_ratio": statistics.median(a / b for a, b in zip(rates["control"], rates["hand"])),
            }
        )
        keras.backend.clear_session()
    return rows


# --- 4. peak memory ----------------------------------------------------------------------------------


def bench_memory(spec_path: str, layers: int, reps: int = 1, apis: tuple[str, ...] = APIS) -> dict[str, Any]:
    """maxrss (MiB) of fresh processes: `kspec check`, `import keras`, kspec.build and the hand build."""

    def peak(*args: str) -> float:
        return statistics.median(_child(*args)["maxrss_mib"] for _ in range(reps))

    out: dict[str, Any] = {
        "layers": layers,
        "reps": reps,
        "check_mib": peak("check", spec_path),
        "import_keras_mib": peak("import-keras"),
        "builds": [],
    }
    for api in apis:
        k, h = peak("kspec-build", spec_path, api), peak("hand-build", str(layers), api)
        out["builds"].append({"api": api, "kspec_mib": k, "hand_mib": h, "ratio": k / h})
    return out


def _maxrss_mib() -> float:
    """This process's peak RSS. Linux: VmHWM, since ru_maxrss keeps the parent's peak across exec."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def child(mode: str, *args: str) -> None:
    if mode == "check":
        import contextlib
        import io

        from kspec.cli import main

        with contextlib.redirect_stdout(io.StringIO()):
            main(["check", args[0]])
    elif mode == "import-keras":
        import keras  # noqa: F401
    elif mode == "kspec-build":
        import kspec

        kspec.build(kspec.load(args[0]), args[1])
    elif mode == "hand-build":
        hand_chain(args[1], int(args[0]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps({"mode": mode, "maxrss_mib": _maxrss_mib()}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "child":
        child(sys.argv[2], *sys.argv[3:])
    else:
        raise SystemExit("usage: bench_lib.py child MODE [ARGS]  (run benchmarks/run.py for the benchmarks)")
