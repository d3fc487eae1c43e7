"""Load a spec and check it: shapes and parameter counts, without importing TensorFlow.

Run: python examples/check_spec.py [SPEC]
"""

from __future__ import annotations

import sys

import kspec

path = sys.argv[1] if len(sys.argv) > 1 else "specs/seed_sequential.yaml"
spec = kspec.load(path)
report = kspec.check(spec)
for row in report.to_dict()["layers"]:
    print(f"{row['name']:<12} {row['type']:<12} {str(row['output_shape']):<16} {row['params']}")
print(
    "total:",
    report.total_params,
    "trainable:",
    report.trainable_params,
    "non-trainable:",
    report.non_trainable_params,
)
assert "tensorflow" not in sys.modules  # the checker never needs it

try:
    kspec.loads("inputs: [{name: x, shape: [3]}]\nlayers: [{type: Dense, units: 0}]", file="inline.yaml")
except kspec.SpecError as err:
    print("a bad spec says where:", err)
