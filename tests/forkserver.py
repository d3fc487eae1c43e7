"""Run many `kspec` commands as separate processes for the price of one Keras import.

The server imports kspec and Keras once, then forks one child per command (JSON lines on
stdin: {"argv": [...], "cwd": "...", "timeout": s}); the parent answers one JSON line per
command with the child's exit code, its own peak memory (`wait4`'s rusage), whether it had to
be killed for running too long, and its stdout/stderr. Children that refuse (the hostile corpus)
never run TensorFlow ops, so forking after the import is safe.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time


def serve() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from kspec.cli import import_keras_quietly, main

    import_keras_quietly()
    import kspec.builders  # noqa: F401 - registers SpecModel before the fork
    import kspec.training.run  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        pid = os.fork()
        if pid == 0:  # the child: one command, then exit without Python's cleanup
            try:
                os.chdir(job["cwd"])
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                sys.stdout = os.fdopen(1, "w", buffering=1)
                sys.stderr = os.fdopen(2, "w", buffering=1)
                if job.get("python"):
                    exec(job["python"], {"__name__": "__job__"})
                    rc = 0
                else:
                    rc = main(job["argv"])
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # a Python-API job: report the exception as its stderr
                print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
                rc = 3
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(rc or 0))
        deadline = time.monotonic() + job.get("timeout", 120)
        killed = False
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline and not killed:
                os.kill(pid, signal.SIGKILL)
                killed = True
            time.sleep(0.01)
        out.seek(0)
        err.seek(0)
        print(
            json.dumps(
                {
                    "rc": os.waitstatus_to_exitcode(status),
                    "maxrss_kb": usage.ru_maxrss,
                    "hung": killed,
                    "stdout": out.read().decode("utf-8", "replace")[-4000:],
                    "stderr": err.read().decode("utf-8", "replace")[-4000:],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    serve()
