"""Every YAML/JSON example in the docs loads and checks, and every documented command line parses,
so the docs cannot drift from the code."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

import kspec
from conftest import ROOT
from kspec.cli import make_parser
from kspec.schema.datasets import known_dataset

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BASE = {"inputs": [{"name": "x", "shape": [4]}], "layers": [{"type": "Dense", "units": 2}]}


def blocks(lang: str) -> list[tuple[str, int, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text()
        for m in re.finditer(rf"^```{lang}\n(.*?)^```", text, re.S | re.M):
            out.append((doc.name, text[: m.start()].count("\n") + 1, m.group(1)))
    return out


YAML_BLOCKS = blocks("yaml") + blocks("json")
BASH_LINES = [
    (name, line, cmd)
    for name, line, block in blocks("bash")
    for cmd in block.splitlines()
    if cmd.strip().startswith("kspec ")
]


def as_spec(data):
    """A whole spec as is; a fragment (a section or one layer) placed into a small base spec."""
    if isinstance(data, dict) and "inputs" in data and "layers" in data:
        return data
    if isinstance(data, dict) and "type" in data:
        shape = [28, 28, 3] if "Conv2D" in data["type"] else [4]
        return {"inputs": [{"name": "x", "shape": shape}], "layers": [data]}
    facts = known_dataset(((data.get("train") or {}).get("data") or {}) if isinstance(data, dict) else {})
    if facts is not None:  # a train section: a base model that fits its dataset (as the docs say)
        base = {
            "inputs": [{"name": "x", "shape": list(facts.features)}],
            "layers": [{"type": "Flatten"}, {"type": "Dense", "units": facts.classes or 1}],
        }
        return {**base, **data}
    return {**BASE, **data}


def test_docs_have_examples():
    assert len(YAML_BLOCKS) >= 8 and len(BASH_LINES) >= 8


@pytest.mark.parametrize("doc,line,text", YAML_BLOCKS, ids=[f"{d}:{n}" for d, n, _ in YAML_BLOCKS])
def test_yaml_example_loads_and_checks(doc, line, text):
    data = yaml.safe_load(text)
    spec = kspec.from_dict(as_spec(data))
    kspec.check(spec)


@pytest.mark.parametrize("doc,line,cmd", BASH_LINES, ids=[f"{d}:{n}" for d, n, _ in BASH_LINES])
def test_documented_command_parses(doc, line, cmd):
    argv = shlex.split(cmd.split("#")[0].split(">")[0])[1:]
    args = make_parser().parse_args(argv)
    assert args.command == argv[0]
    for word in argv[1:]:
        if word.startswith("specs/"):
            assert (ROOT / word).exists(), word


PYTHON_BLOCKS = blocks("python")


@pytest.mark.slow
@pytest.mark.parametrize("doc,line,code", PYTHON_BLOCKS, ids=[f"{d}:{n}" for d, n, _ in PYTHON_BLOCKS])
def test_python_example_runs(doc, line, code, tmp_path):
    import subprocess
    import sys

    (tmp_path / "specs").symlink_to(ROOT / "specs")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
