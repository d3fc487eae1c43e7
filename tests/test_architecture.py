"""The pipeline's shape: no stage imports a later one, and only build/train/report import Keras."""

from __future__ import annotations

import ast

import pytest

from conftest import ROOT

PKG = ROOT / "src" / "kspec"
# spec and rules validate each other's arguments (rules hold each layer's argument model), so
# they share a rank; everything else is strictly ordered.
RANK = {"spec": 1, "rules": 1, "graph": 2, "build": 3, "train": 4, "report": 5}


def imports(path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]
    return out


STAGE_FILES = [(stage, p) for stage in RANK for p in sorted((PKG / stage).rglob("*.py"))]


@pytest.mark.parametrize("stage,path", STAGE_FILES, ids=[str(p.relative_to(PKG)) for _, p in STAGE_FILES])
def test_no_stage_imports_a_later_one(stage, path):
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "kspec" and len(parts) > 1 and parts[1] in RANK:
            assert RANK[parts[1]] <= RANK[stage], f"{path.name} ({stage}) imports {name}"


@pytest.mark.parametrize("stage", ["spec", "rules", "graph"])
def test_checker_stages_never_import_keras(stage):
    for path in (PKG / stage).rglob("*.py"):
        for name in imports(path):
            assert name.split(".")[0] not in ("keras", "tensorflow"), f"{path} imports {name}"


def test_every_stage_folder_exists():
    assert all((PKG / stage / "__init__.py").exists() for stage in RANK)


def test_rule_module_table_matches_the_registry():
    """`RULE_MODULES` lets a check import only the rule families a spec uses; it must be exact."""
    from kspec.rules.registry import RULE_MODULES, load_all

    assert RULE_MODULES == {name: cls.__module__.rsplit(".", 1)[1] for name, cls in load_all().items()}


def test_check_imports_only_the_rule_families_it_needs():
    import subprocess
    import sys

    code = ("import sys, kspec; kspec.check(kspec.load('specs/seed_sequential.yaml')); "
            "print(sorted(m for m in sys.modules if m.startswith('kspec.rules.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout
    assert "kspec.rules.core" in out and "kspec.rules.conv" not in out
