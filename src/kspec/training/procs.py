"""Local worker processes for `kspec tune --workers N` and `kspec train --workers N`.

Every child gets its own log file, dies with its parent (Linux `PR_SET_PDEATHSIG`: a kill -9
of the launcher leaves no orphans training in the background), and is watched: the first child
that fails stops the others, so one dead worker never leaves the rest waiting on it forever.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:
            pass


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: str
    log: IO[bytes]

    def tail(self, lines: int = 3) -> str:
        """The last lines of its log (for an error message)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 4000))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:])


def spawn(
    name: str,
    argv: list[str],
    env: dict[str, str],
    log_path: str,
    cwd: str | None = None,
    pass_fds: tuple[int, ...] = (),
) -> Child:
    """Start `argv` with `env` added to this process's environment, output to `log_path`
    (`pass_fds`: descriptors the child inherits, e.g. a lock it shares)."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - closed by stop()
    full_env = {**os.environ, **env}
    proc = subprocess.Popen(
        argv,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        pass_fds=pass_fds,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
    )
    return Child(name, proc, log_path, log)


def stop(children: list[Child], grace: float = 5.0) -> None:
    """Terminate the children still running (SIGTERM, then SIGKILL after `grace` seconds)."""
    for c in children:
        if c.proc.poll() is None:
            c.proc.terminate()
    deadline = time.monotonic() + grace
    for c in children:
        try:
            c.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait()
        c.log.close()


def watch(
    children: list[Child],
    *,
    done: Callable[[list[Child]], bool],
    poll: float = 0.2,
    timeout: float | None = None,
) -> Child | None:
    """Wait until `done(children)` or a child fails; return the failed child (None: all is well).

    A child failing is one that exits with a non-zero code; of several, one killed by a signal
    is returned. On a failure or a timeout the others are stopped.
    """
    start = time.monotonic()
    try:
        while True:
            codes = [c.proc.poll() for c in children]
            failed = [c for c, code in zip(children, codes) if code is not None and code != 0]
            if failed:
                stop(children)
                # One death makes the others fail too (their next exchange with it breaks), often
                # before this loop looks: a child ended by a signal is the cause, not its victims.
                return min(failed, key=lambda c: 0 if (c.proc.returncode or 0) < 0 else 1)
            if done(children):
                return None
            if timeout is not None and time.monotonic() - start > timeout:
                stop(children)
                raise TimeoutError(f"the workers did not finish within {timeout:.0f} s")
            time.sleep(poll)
    except BaseException:
        stop(children)
        raise


def exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def all_exited(children: list[Child]) -> bool:
    return all(c.proc.poll() is not None for c in children)


def python_argv(*args: Any) -> list[str]:
    """`python -m kspec ARGS...` with this interpreter."""
    return [sys.executable, "-m", "kspec", *[str(a) for a in args]]
