"""Build one spec with the Sequential, Functional and subclassing APIs and show they agree.

Run: python examples/three_apis.py [SPEC]
"""

from __future__ import annotations

import sys

import numpy as np

import kspec

path = sys.argv[1] if len(sys.argv) > 1 else "specs/seed_sequential.yaml"
spec = kspec.load(path)
graph = kspec.resolve(spec)
apis = ["functional", "subclass"] + (["sequential"] if graph.sequential_problem() is None else [])

x = [np.random.default_rng(0).normal(size=(2, *i.shape)).astype("float32") for i in spec.inputs]
x = x[0] if len(x) == 1 else x
predictions = {}
for api in apis:
    model = kspec.build(spec, api=api)
    print(f"{api:<11} {type(model).__name__:<11} params={model.count_params()}")
    predictions[api] = model.predict(x, verbose=0)

first = predictions[apis[0]]
for api, p in predictions.items():
    if isinstance(first, dict):
        diff = max(float(np.abs(p[k] - first[k]).max()) for k in first)
    else:
        diff = float(np.abs(p - first).max())
    print(f"max |{api} - {apis[0]}| = {diff}")
