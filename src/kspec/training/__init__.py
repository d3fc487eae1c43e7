"""Stage 4: train a spec with compile/fit, evaluate it, and write the run folder.

`kspec.train(spec, out_dir, ...)` is the public function (the facade adds the report stage's
run-folder reports); this package is the stage.
"""

from __future__ import annotations

from kspec.training.run import TrainResult, evaluate, predict, train

__all__ = ["train", "predict", "evaluate", "TrainResult"]
