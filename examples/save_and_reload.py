"""Build the subclassed model, save it as .keras and load it back with plain Keras.

Run: python examples/save_and_reload.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile

import keras
import numpy as np

import kspec
import kspec.builders  # registers SpecModel, the subclass, with Keras

out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
spec = kspec.load("specs/seed_subclass.json")
model = kspec.build(spec, api="subclass")
path = os.path.join(out, "seed_subclass.keras")
model.save(path)

again = keras.models.load_model(path, safe_mode=True)
x = np.ones((1, 3, 1), dtype="float32")
print(type(again).__name__, again.count_params(), "params")
print(
    "same predictions after reload:", np.array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))
)
