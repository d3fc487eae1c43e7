"""Import Keras once, with TensorFlow's start-up chatter removed and everything else kept.

TensorFlow prints informational lines at import ("oneDNN custom operations are on", the
cpu_feature_guard note, absl's "All log messages before absl::InitializeLog()") straight to file
descriptor 2, whatever `TF_CPP_MIN_LOG_LEVEL` says, so they cannot be filtered in Python. kspec
captures descriptor 2 while Keras imports and writes back every line that is not such chatter:
real warnings and errors still reach the user. The CLI and the Python API share this.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from types import ModuleType

# INFO lines of absl/TF's C++ logging (`I0000 00:00:...`), absl's preamble, and the tail of the
# cpu_feature_guard note. Nothing here is a warning or an error.
CHATTER = re.compile(
    r"^(I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] .*"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.)$"
)


def without_chatter(text: str) -> str:
    """`text` with TensorFlow's start-up chatter lines removed."""
    return "".join(line for line in text.splitlines(keepends=True) if not CHATTER.match(line.rstrip("\r\n")))


def import_keras() -> ModuleType:
    """`import keras` (TensorFlow backend unless `KERAS_BACKEND` says otherwise), quietly."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    # TF's C++ log lines after start-up (its INFO lines ignore lower levels here); a user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to keep quiet
        import keras

        return keras
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            import keras
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = without_chatter(captured.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
    return keras


__all__ = ["CHATTER", "import_keras", "without_chatter"]
