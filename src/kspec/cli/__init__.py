"""The `kspec` command: a thin layer over the Python API.

Exit codes: 0 success, 2 bad spec or bad arguments (one line, no traceback), 1 anything else.
Each command lives in its own module with `add_parser(subparsers)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from kspec import __version__
from kspec.errors import (
    KspecRuntimeError,
    SpecError,
    clear_interrupts,
    first_line,
    is_interrupt,
    note_interrupt,
)

COMMANDS = (
    "init",
    "check",
    "expand",
    "import",
    "build",
    "plot",
    "train",
    "predict",
    "evaluate",
    "compare",
    "export",
    "tune",
    "schema",
    "serve",
)
#: Command -> module where the name is a Python keyword.
MODULES = {"import": "import_model"}

EPILOG = """examples:
  kspec check specs/seed_sequential.yaml
  kspec build specs/seed_sequential.yaml --api subclass --save model.keras
  kspec plot specs/branching.yaml -o model.png --show-shapes
  kspec train specs/digits_mlp.yaml -o runs/digits
  kspec compare specs/seed_sequential.yaml
  kspec expand specs/resnet50.yaml -o resnet50_flat.yaml
  kspec tune specs/digits_mlp_tune.yaml --trials 10 -o tune/digits
  kspec import keras.applications:MobileNetV2 --input-shape 96,96,3 -o mobilenet_v2.yaml
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse's usage dump is noise)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def make_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(
        prog="kspec",
        description="Declarative Keras 3 models from YAML/JSON specs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"kspec.cli.{MODULES.get(name, name)}")
        module.add_parser(sub)
    return parser


def quiet_tensorflow() -> None:
    """TensorFlow's C++ log lines are not for kspec's users (see kspec._keras)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_keras_quietly() -> None:
    """Import Keras with TensorFlow's start-up chatter removed (see `kspec._keras`)."""
    from kspec._keras import import_keras

    import_keras()


NO_KERAS = {
    "init",
    "check",
    "expand",
    "schema",
    "plot",
    "tune",
}  # plot imports Keras itself, only when a layer needs it;
# tune in the process that trains (its launcher with --workers never does)


def _one_line_warning(
    message: Warning | str, category: type[Warning], *args: object, **kwargs: object
) -> None:
    # Python prints a warning with its source line (two or more lines, often from deep in Keras):
    # the CLI says it once, in one short line.
    line = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    print(f"kspec: warning: {' '.join(line.split())[:300]}", file=sys.stderr)


def _interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C, as Python's own handler does it, except inside a garbage-collector callback.

    Keras imports JAX whenever it is installed, and JAX registers a `gc.callbacks` function; a
    KeyboardInterrupt raised in there is printed as "Exception ignored ... Traceback" and lost,
    so the run went on. Such a Ctrl-C is delivered again 10 ms later, outside the callback.
    """
    import gc

    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks:
            import threading

            threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
            return
        frame = frame.f_back
    note_interrupt()
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    ours = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if ours:
        signal.signal(signal.SIGINT, _interrupt)
    clear_interrupts()
    try:
        return _main(argv)
    except BrokenPipeError:  # `kspec check ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's exit flush would complain again
        return 0
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _main(argv: Sequence[str] | None = None) -> int:
    import gc
    import warnings

    # A spec becomes tens of thousands of small objects that live until the command ends; at
    # Python's default gen-0 threshold (700 allocations) the collector re-walks all of them over
    # and over: 12 % of a 10,000-layer `kspec check`. A command is one short-lived process.
    gc.set_threshold(max(gc.get_threshold()[0], 10_000))

    if not os.environ.get("KSPEC_DEBUG"):
        warnings.showwarning = _one_line_warning
    quiet_tensorflow()
    parser = make_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        spec = None
        if getattr(args, "spec", None):
            # A bad spec is reported in milliseconds, not after Keras's ~6 s import.
            from kspec.cli.common import load_graph

            spec = load_graph(args).spec
        # `compare --backends` runs Keras in one child process per backend, never in this one.
        in_process = not getattr(args, "backends", False)
        # A command may need to act before Keras loads (joining a distributed run), or not need
        # Keras at all in this process (a launcher of worker processes).
        before = getattr(args, "before_keras", None)
        no_keras = bool(before(args)) if before is not None else False
        if (args.command not in NO_KERAS or getattr(args, "keras", False)) and in_process and not no_keras:
            # Keras reads KERAS_BACKEND once, at its first import: choose before it.
            from kspec.backend import select

            select(getattr(args, "backend", None), spec)
            import_keras_quietly()
        return int(args.run(args) or 0)
    except SpecError as exc:
        for one in exc.errors:  # every independent problem, one line each, like a compiler
            print(f"error: {one.one_line()}", file=sys.stderr)
        if exc.truncated:
            print(f"error: stopped after {len(exc.errors)} errors", file=sys.stderr)
        elif len(exc.errors) > 1:
            print(f"{len(exc.errors)} errors", file=sys.stderr)
        return 2
    except KspecRuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # main() handles it: not a failure of kspec
    except Exception as exc:  # never a traceback for users; KSPEC_DEBUG=1 shows it
        if is_interrupt(exc):  # a Ctrl-C that TensorFlow handed on as another error
            print("interrupted", file=sys.stderr)
            return 130
        if os.environ.get("KSPEC_DEBUG"):
            raise
        line = first_line(exc, default="")
        print(f"error: {type(exc).__name__}: {line} (set KSPEC_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
