"""`kspec check` of an imported ResNet50 spec (target: <= 0.3 s; issue 11).

    .venv/bin/python benchmarks/import_check.py [--repeat 5]

Imports keras.applications:ResNet50 (224x224x3) once, writes the spec to a temporary folder,
then times whole `kspec check` processes (wall and CPU time of the child; median of the runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = os.path.join(tmp, "resnet50.yaml")
        kspec = [sys.executable, "-m", "kspec"]
        subprocess.run(
            [*kspec, "import", "keras.applications:ResNet50", "-o", spec], check=True, capture_output=True
        )
        layers = sum(1 for line in open(spec) if line.startswith("- "))
        small = os.path.join(os.path.dirname(__file__), "..", "specs", "seed_sequential.yaml")
        for label, path in (
            (f"imported ResNet50 ({layers} entries)", spec),
            ("seed_sequential (3 layers)", small),
        ):
            wall, cpu = timed([*kspec, "check", path], args.repeat)
            print(f"kspec check, {label}: wall {wall:.3f} s, CPU {cpu:.3f} s (median of {args.repeat})")
        import kspec as api

        start = time.process_time()
        api.check(api.load(spec))
        print(
            f"in-process kspec.check(kspec.load(ResNet50 spec)), first call: CPU {time.process_time() - start:.3f} s"
        )


def timed(command: list[str], repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


if __name__ == "__main__":
    main()
