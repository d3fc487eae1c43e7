"""The pipeline's shape: stages keep their order, nothing imports the facade, no import circles.

Every `import` is counted, at module level or inside a function: a late import is still a
dependency, and a circle through a function body is still a circle.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import pytest

from conftest import ROOT

PKG = ROOT / "src" / "kspec"
# schema and layers validate each other's arguments (layers hold each layer type's argument
# model), so they share a rank; everything else is strictly ordered. cli and the facade
# (`kspec/__init__.py`) sit on top and may import anything.
# The importer is the builders' inverse: it may use them (and what is beneath), nothing later.
# The Playground web app (`kspec serve`) is a face over the stages like cli: it sits on top and
# may import every stage, but not the facade.
RANK = {
    "schema": 1,
    "layers": 1,
    "graph": 2,
    "builders": 3,
    "importer": 4,
    "training": 4,
    "report": 5,
    "playground": 6,
}
# Modules beneath every stage: they import no stage.
BASE = {"kspec._version", "kspec._keras", "kspec.errors", "kspec.files", "kspec.backend", "kspec.modelfile"}


def module_name(path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports(path) -> list[str]:
    return imports_of(path.read_text(), module_name(path), path.name == "__init__.py")


def imports_of(source: str, this: str, is_package: bool) -> list[str]:
    """Every module `source` imports: `from a.b import c` counts as `a.b.c` when that is a module."""
    package = this if is_package else this.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES]
            out += subs if subs and len(subs) == len(node.names) else [module, *subs]
    return out


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "kspec" and parts[1] in RANK else None


STAGE_FILES = [(stage, p) for stage in RANK for p in sorted((PKG / stage).rglob("*.py"))]


@pytest.mark.parametrize("stage,path", STAGE_FILES, ids=[str(p.relative_to(PKG)) for _, p in STAGE_FILES])
def test_no_stage_imports_a_later_one_or_the_facade(stage, path):
    for name in imports(path):
        assert name != "kspec", f"{path.name} ({stage}) imports the kspec facade"
        other = stage_of(name)
        if other is not None:
            assert RANK[other] <= RANK[stage], f"{path.name} ({stage}) imports {name}"


@pytest.mark.parametrize("module", sorted(BASE))
def test_base_modules_import_no_stage(module):
    for name in imports(MODULES[module]):
        assert name != "kspec" and stage_of(name) is None and name not in ("kspec.cli",), (module, name)


def test_no_import_circles():
    graph = {m: {i for i in imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    # A package's __init__ re-exporting its modules is not a circle with them: a module that
    # imports `kspec.training.data` runs `kspec/training/__init__.py` first by Python's rules, but
    # only the edges written in the source are dependencies.
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if seen.get(n) == 1:
                cycle = stack[stack.index(n) :] + [n]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if n not in seen:
                visit(n)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m)


def test_the_checker_detects_what_it_must():
    """The import walker sees function-level imports, a bare `import kspec` and relative imports."""
    src = "def f():\n    import kspec\n    from kspec.builders import build_model\n    from . import data\n"
    found = imports_of(src, "kspec.training.probe", False)
    assert "kspec" in found and "kspec.builders" in found and "kspec.training.data" in found


@pytest.mark.parametrize("stage", ["schema", "layers", "graph"])
def test_checker_stages_never_import_keras(stage):
    for path in (PKG / stage).rglob("*.py"):
        for name in imports(path):
            assert name.split(".")[0] not in ("keras", "tensorflow"), f"{path} imports {name}"


def test_every_stage_folder_exists():
    assert all((PKG / stage / "__init__.py").exists() for stage in RANK)


def test_no_package_is_named_like_a_public_function_or_a_tool_folder():
    import kspec

    public = {name for name in kspec.__all__ if callable(getattr(kspec, name, None))}
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    assert not packages & public, packages & public
    assert not packages & {"build", "dist", "spec", "specs", "test", "tests", "out"}


def test_public_functions_keep_their_signatures_after_use():
    """Importing every stage must not rebind `kspec.build`/`kspec.train` to a package."""
    code = (
        "import inspect, kspec, kspec.builders, kspec.training, kspec.report.run_folder\n"
        "print(inspect.signature(kspec.build)); print(inspect.signature(kspec.train))\n"
        "print(type(kspec.build).__name__, type(kspec.train).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    import kspec

    lines = out.stdout.splitlines()
    assert lines[0] == str(inspect.signature(kspec.build)) and "spec" in lines[0] and "api" in lines[0]
    assert lines[1] == str(inspect.signature(kspec.train)) and "out_dir" in lines[1]
    assert lines[2] == "function function"


def test_dir_lists_only_the_public_api():
    import kspec

    assert set(dir(kspec)) == set(kspec.__all__)
    assert not {"Any", "TYPE_CHECKING", "annotations"} & set(dir(kspec))


def test_rule_module_table_matches_the_registry():
    """`RULE_MODULES` lets a check import only the rule families a spec uses; it must be exact."""
    from kspec.layers.registry import RULE_MODULES, load_all

    assert RULE_MODULES == {name: cls.__module__.rsplit(".", 1)[1] for name, cls in load_all().items()}


def test_check_imports_only_the_rule_families_it_needs():
    code = (
        "import sys, kspec; kspec.check(kspec.load('specs/seed_sequential.yaml')); "
        "print(sorted(m for m in sys.modules if m.startswith('kspec.layers.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout
    assert "kspec.layers.core" in out and "kspec.layers.conv" not in out
