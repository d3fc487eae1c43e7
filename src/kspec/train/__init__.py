"""Stage 4: train a spec with compile/fit, evaluate it, and write the run folder.

`kspec.train(spec, out_dir, ...)` is the public function; `kspec.train` also names this
package once it is imported, so the package itself is callable (see `kspec._callable`).
"""

from __future__ import annotations

from typing import Any

from kspec.train.run import TrainResult, evaluate, predict, train

__all__ = ["train", "predict", "evaluate", "TrainResult"]


def _public_train(*args: Any, **kwargs: Any) -> Any:
    import kspec

    return kspec._train(*args, **kwargs)  # the facade adds the report stage's run-folder reports


from kspec._callable import make_callable  # noqa: E402

make_callable(__name__, _public_train)
