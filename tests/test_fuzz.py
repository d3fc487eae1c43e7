"""Fuzzing: mutated specs either load and check, or fail with a `SpecError`; nothing else.

Valid specs (every file in specs/ plus a few inline ones) are mutated the ways hand edits and
generators go wrong: keys dropped, renamed or swapped, list entries duplicated, values retyped
or corrupted, and the YAML text itself cut and garbled. Each mutant goes through `kspec.loads`
and `kspec.check` (no Keras); any exception other than `SpecError` is a bug, and so is a
`SpecError` whose message spans lines or (for text from a file) lacks a line number.

`make test` runs 2,000 examples of the check path (env `KSPEC_FUZZ_EXAMPLES` overrides;
`make fuzz` runs 100,000) and a small sample through `kspec.build` too.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kspec
from conftest import SPECS

EXAMPLES = int(os.environ.get("KSPEC_FUZZ_EXAMPLES", "2000"))
BUILD_EXAMPLES = int(os.environ.get("KSPEC_FUZZ_BUILD_EXAMPLES", "25"))

INLINE = [
    {
        "inputs": [{"name": "x", "shape": [8]}],
        "layers": [
            {"type": "Dense", "units": 4, "activation": "relu"},
            {"type": "Dropout", "rate": 0.5},
            {"type": "Dense", "units": 1},
        ],
    },
    {
        "inputs": [{"name": "img", "shape": [8, 8, 1]}],
        "layers": [
            {"type": "Conv2D", "filters": 2, "kernel_size": 3, "padding": "same"},
            {"type": "MaxPooling2D", "pool_size": 2},
            {"type": "Flatten"},
            {"type": "Dense", "units": 3, "activation": "softmax"},
        ],
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
        "train": {"data": {"type": "sklearn", "name": "digits"}, "epochs": 1},
    },
    {
        "inputs": [{"name": "a", "shape": [4]}, {"name": "b", "shape": [4]}],
        "layers": [
            {"type": "Dense", "name": "da", "units": 3, "inputs": "a"},
            {"type": "Dense", "name": "db", "units": 3, "inputs": "b"},
            {"type": "Concatenate", "name": "cat", "inputs": ["da", "db"]},
            {"type": "Add", "name": "sum", "inputs": ["da", "db"]},
            {"type": "Dense", "name": "out", "units": 1, "inputs": "cat"},
        ],
        "outputs": ["out", "sum"],
    },
    {
        "inputs": [{"name": "seq", "shape": [None, 5]}],
        "layers": [
            {"type": "LSTM", "units": 4, "return_sequences": True},
            {"type": "GlobalAveragePooling1D"},
            {"type": "BatchNormalization"},
            {"type": "Dense", "units": 2},
        ],
    },
]


def _seeds() -> list[Any]:
    out = []
    for path in SPECS:
        text = path.read_text(encoding="utf-8")
        out.append(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))
    return out + INLINE


SEEDS = _seeds()

KEYS = [
    "type",
    "name",
    "inputs",
    "outputs",
    "units",
    "shape",
    "layers",
    "activation",
    "filters",
    "kernel_size",
    "compile",
    "train",
    "data",
    "loss",
    "api",
    "seed",
    "dtype",
    "rate",
    "kspec",
    "plugins",
    "callbacks",
    "epochs",
    "path",
    "strides",
    "padding",
    "axis",
    "<<",
    "",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -1.5, 1e308, float("inf"), float("nan")]),
    st.text(max_size=8),
    st.sampled_from(
        [
            "Dense",
            "relu",
            "x",
            "dense",
            "same",
            "Lambda",
            "sequential",
            "adam",
            "mse",
            "sklearn",
            "digits",
            "..",
            "/etc/passwd",
            "nope.npz",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)


def _nodes(data: Any, path: tuple = ()) -> list[tuple]:
    """Every path into the tree (the root included)."""
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _nodes(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _nodes(v, path + (i,))
    return out


def _get(data: Any, path: tuple) -> Any:
    for p in path:
        data = data[p]
    return data


def _mutate(draw: Any, data: Any) -> Any:
    paths = _nodes(data)
    path = draw(st.sampled_from(paths))
    op = draw(st.sampled_from(["drop", "duplicate", "retype", "swap", "corrupt", "rename", "insert"]))
    if not path:
        return draw(VALUES) if op == "retype" else data
    parent, key = _get(data, path[:-1]), path[-1]
    if op == "drop":
        del parent[key]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key + "_"] = copy.deepcopy(parent[key])
    elif op == "retype":
        parent[key] = draw(VALUES)
    elif op == "swap":
        other = draw(st.sampled_from(paths))
        if other and other[: len(path)] != path and path[: len(other)] != other:
            o_parent, o_key = _get(data, other[:-1]), other[-1]
            parent[key], o_parent[o_key] = o_parent[o_key], parent[key]
    elif op == "corrupt":
        value = parent[key]
        if isinstance(value, str):
            i = draw(st.integers(0, len(value)))
            parent[key] = value[:i] + draw(st.text(max_size=2)) + value[i + 1 :]
        elif isinstance(value, bool):
            parent[key] = not value
        elif isinstance(value, (int, float)):
            parent[key] = draw(st.sampled_from([-value, 0, value * 1000, value + 0.5, str(value)]))
        else:
            parent[key] = draw(VALUES)
    elif op == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from(KEYS))] = parent.pop(key)
    elif op == "insert":
        target = _get(data, path)
        if isinstance(target, dict):
            target[draw(st.sampled_from(KEYS))] = draw(VALUES)
        elif isinstance(target, list):
            target.insert(draw(st.integers(0, len(target))), draw(VALUES))
    return data


@st.composite
def mutant_texts(draw: Any) -> tuple[str, str]:
    """(file name, spec text): a mutated seed as YAML or JSON, sometimes with the text garbled."""
    data = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        data = _mutate(draw, data)
    as_json = draw(st.booleans())
    try:
        text = json.dumps(data) if as_json else yaml.safe_dump(data, sort_keys=False)
    except (ValueError, yaml.YAMLError):  # nan in JSON is fine for Python, odd keys for YAML
        text = repr(data)
    if draw(st.integers(0, 9)) == 0:  # text-level damage: cut, insert, or duplicate a slice
        i, j = sorted(draw(st.tuples(st.integers(0, len(text)), st.integers(0, len(text)))))
        text = draw(
            st.sampled_from(
                [
                    text[:i] + text[j:],
                    text[:i] + draw(st.text(max_size=6)) + text[i:],
                    text[:j] + text[i:j] + text[j:],
                ]
            )
        )
    return ("fuzz.json" if as_json else "fuzz.yaml"), text


_TOKENS = list("{}[]:,-&*!|>'\"#%@` \n\tabx019.?<=") + [
    "!!python/object:os.system ",
    "&a ",
    "*a",
    "<<: *a",
    "\ufeff",
    "\x85",
    "\x00",
    "inputs: ",
    "layers: ",
]
YAMLISH = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)


def check_one(file: str, text: str) -> kspec.Spec | None:
    """Load and check; a `SpecError` is a fine answer, anything else fails the test."""
    try:
        spec = kspec.loads(text, file=file)
        kspec.check(spec)
        return spec
    except kspec.SpecError as exc:
        for one in exc.errors:  # every error found, each one located line
            message = one.one_line()
            assert "\n" not in message, message
            assert message.startswith(file), message
            assert one.message.strip(), message
        assert str(exc).splitlines()[0] == exc.errors[0].one_line()
        return None


class Counter:
    runs = 0
    ok = 0


def _settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def test_fuzz_mutated_specs_check():
    counter = Counter()

    @_settings(EXAMPLES)
    @given(mutant_texts())
    def run(case: tuple[str, str]) -> None:
        counter.runs += 1
        counter.ok += check_one(*case) is not None

    run()
    print(
        f"\nfuzz: {counter.runs} mutated specs through load+check ({counter.ok} valid, "
        f"{counter.runs - counter.ok} SpecError, 0 other exceptions)"
    )
    assert counter.runs >= min(EXAMPLES, 2000) * 0.9


def test_fuzz_random_yaml_text():
    counter = Counter()

    @_settings(max(EXAMPLES // 4, 100))
    @given(YAMLISH, st.sampled_from(["fuzz.yaml", "fuzz.json"]))
    def run(text: str, file: str) -> None:
        counter.runs += 1
        check_one(file, text)

    run()
    print(f"\nfuzz: {counter.runs} random YAML texts through load+check")


@pytest.mark.slow
@pytest.mark.xdist_group("keras_specs")
def test_fuzz_build_sample(keras):
    """A small sample of mutants that pass `check` goes through `kspec.build` with a random API."""
    counter = Counter()

    @_settings(BUILD_EXAMPLES * 8)
    @given(mutant_texts(), st.sampled_from(["sequential", "functional", "subclass"]))
    def run(case: tuple[str, str], api: str) -> None:
        spec = check_one(*case)
        if spec is None or counter.ok >= BUILD_EXAMPLES:
            return
        report = kspec.check(spec)
        if report.total_params is None or report.total_params > 200_000:
            return
        counter.ok += 1
        try:
            kspec.build(spec, api=api)
        except kspec.SpecError as exc:
            assert all("\n" not in one.one_line() for one in exc.errors)

    run()
    print(f"\nfuzz: {counter.ok} valid mutants built with Keras")
