"""Project conventions (architecture.md §2, §5, §10) that code review alone would let slip."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import pimc
from pimc.ir.dialects import all_op_classes
from pimc.passes import PASSES, Pass

PKG = Path(pimc.__file__).parent
REPO = PKG.parent
MAX_LINES = 400

# The stages after the IR form a chain; each may import only the stages before it. The frontend
# builds IR and sits beside the chain: it imports only the IR, and no stage imports it. Targets
# describe hardware in the IR's device names; the stages from passes on read them.
ALLOWED = {
    "ir": set(),
    "frontend": {"ir"},
    "targets": {"ir"},
    "passes": {"ir", "targets"},
    "backends": {"ir", "targets", "passes"},
    # runtime/system times placed IR as `pimc analyze` does (analysis.timing)
    "runtime": {"ir", "targets", "passes", "backends", "analysis"},
    "analysis": {"ir", "targets", "passes"},  # reports over analysed, placed IR (pimc analyze)
}


def snake(name: str) -> str:
    return name.replace("-", "_")


# ---- passes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(PASSES))
def test_pass_module_is_named_after_the_pass(name):
    path = PKG / "passes" / f"{snake(name)}.py"
    assert path.is_file(), f"pass '{name}' must live in {path.relative_to(REPO)}"
    module = importlib.import_module(f"pimc.passes.{snake(name)}")
    defined = [obj for obj in vars(module).values() if isinstance(obj, type)
               and issubclass(obj, Pass) and obj.__module__ == module.__name__]
    assert [cls.name for cls in defined] == [name]
    assert PASSES.get(name) is defined[0]


@pytest.mark.parametrize("name", list(PASSES))
def test_pass_name_is_kebab_case_and_documented(name):
    cls = PASSES.get(name)
    assert name == name.lower() and "_" not in name and " " not in name
    assert cls.summary(), f"pass '{name}' needs a docstring (its summary in `pimc passes`)"


@pytest.mark.parametrize("name", list(PASSES))
def test_every_pass_has_a_golden_file(name):
    path = REPO / "tests" / "filecheck" / "passes" / f"{name}.mlir"
    assert path.is_file(), f"pass '{name}' has no golden file {path.relative_to(REPO)}"


# ---- layering -------------------------------------------------------------------------------------

def package_of(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])


def imported_modules(path: Path, package: str) -> set[str]:
    """Every pimc module `path` (in `package`) imports, at any nesting level: function-level
    imports, relative imports and importlib.import_module("...") calls too."""
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", "")) == "import_module" and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found.add(node.args[0].value)
    return {m for m in found if m == "pimc" or m.startswith("pimc.")}


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def test_import_scanner_sees_nested_and_relative_imports(tmp_path):
    """The checker itself can fail: imports of higher stages hidden in functions are found."""
    probe = tmp_path / "probe.py"
    probe.write_text("import os\n"
                     "def f():\n"
                     "    from pimc.passes import PASSES\n"
                     "    from ..runtime import x\n"
                     "    import pimc.backends.null\n"
                     "    importlib.import_module('pimc.frontend.zoo')\n")
    found = imported_modules(probe, "pimc.ir")
    assert {stage_of(m) for m in found} == {"passes", "runtime", "backends", "frontend"}


STAGE_FILES = [p for stage in ALLOWED for p in sorted((PKG / stage).rglob("*.py"))
               if (PKG / stage).is_dir()]


@pytest.mark.parametrize("path", STAGE_FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_layering(path):
    stage = path.relative_to(PKG).parts[0]
    bad = sorted(m for m in imported_modules(path, package_of(path))
                 if stage_of(m) not in (None, stage) and stage_of(m) not in ALLOWED[stage])
    assert not bad, f"{path.relative_to(REPO)} ({stage}) imports {bad}; " \
                    f"{stage} may import only {sorted(ALLOWED[stage]) or 'no other stage'}"


def test_ir_imports_no_other_stage():
    for path in (PKG / "ir").rglob("*.py"):
        for m in imported_modules(path, package_of(path)):
            assert stage_of(m) in (None, "ir"), f"{path.relative_to(REPO)} imports {m}"


# ---- size and documentation -----------------------------------------------------------------------

def test_no_file_over_400_lines():
    long = {str(p.relative_to(REPO)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_every_op_has_a_summary():
    classes = all_op_classes()
    assert len(classes) > 30  # the whole registry, not an empty list
    missing = sorted(cls.name for cls in classes if not cls.summary.strip())
    assert not missing, f"ops without a summary: {missing}"
    names = [cls.name for cls in classes]
    assert len(names) == len(set(names))
