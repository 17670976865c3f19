"""Core code never names a built-in backend (architecture.md §7): it reads capabilities, asks the registry
for its default or for the backend that provides a stage, and so treats a pip-installed backend
exactly like a built-in one.

The rule, precisely. The built-in names are the ones pimc's own pyproject.toml registers under
`[project.entry-points."pimc.backends"]` (read here with tomllib, not through the registry).
In every pimc/**/*.py outside pimc/backends/ (where a backend names itself and the registry
holds the defaults), a string constant equal to a built-in name is a violation when it is
  1. the value of a call keyword named `backend` or `*_backend`;
  2. assigned to a name or attribute called `backend` or `*_backend` (tuple unpacking included,
     position by position);
  3. one side of ==, !=, `in` or `not in` whose other side mentions "backend" in its source;
  4. a positional argument of a call whose callee's source mentions "backend" or "registry";
  5. and, inside any string literal (f-strings included), text such as `backend='pim'`,
     `backend="pim"`, `--backend pim` or `-b pim`: advice that hard-codes a backend.
Allowed: the default value of a parameter named `backend` in pimc/api.py and pimc/cli*.py, the
user-facing defaults that `--help` and the signature show. Device names ("pim", "npu") and
dialect names share spellings with backends; they are not backend names and the positions
above do not match them.
"""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pimc

PKG = Path(pimc.__file__).parent
REPO = PKG.parent
DEFAULTS_ALLOWED_IN = ("api.py", "cli.py", "cli_*.py")


def builtin_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return set(project["entry-points"]["pimc.backends"])


def _mentions(node: ast.AST, *words: str) -> bool:
    text = ast.unparse(node).lower()
    return any(w in text for w in words)


def _names_backend(target: ast.AST) -> bool:
    ident = target.id if isinstance(target, ast.Name) else \
        target.attr if isinstance(target, ast.Attribute) else ""
    return ident == "backend" or ident.endswith("_backend")


def _advice(names: set[str]) -> re.Pattern:
    alternatives = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return re.compile(rf"""(?:\bbackend\s*=\s*['"]?|--backend[ =]['"]?|(?<!\w)-b ['"]?)"""
                      rf"""({alternatives})(?![\w-])""")


def violations(source: str, filename: str, names: set[str], allow_defaults: bool) -> list[str]:
    """`file:line: what` for every backend-name use in `source` (the rule in the docstring)."""
    tree = ast.parse(source, filename)
    found: list[tuple[int, str]] = []

    def is_name(node) -> bool:
        return isinstance(node, ast.Constant) and node.value in names

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg and (kw.arg == "backend" or kw.arg.endswith("_backend")) \
                        and is_name(kw.value):
                    found.append((kw.value.lineno, f"{kw.arg}={kw.value.value!r}"))
            if _mentions(node.func, "backend", "registry"):
                found += [(a.lineno, f"{ast.unparse(node.func)}({a.value!r})")
                          for a in node.args if is_name(a)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                pairs = zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) \
                    and isinstance(node.value, ast.Tuple) else [(target, node.value)]
                found += [(v.lineno, f"{ast.unparse(t)} = {v.value!r}") for t, v in pairs
                          if _names_backend(t) and is_name(v)]
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                for side in sides:
                    others = [s for s in sides if s is not side]
                    if is_name(side) and any(_mentions(o, "backend") for o in others):
                        found.append((side.lineno, f"compares with {side.value!r}"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not allow_defaults:
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            pairs = [*zip(positional[len(positional) - len(args.defaults):], args.defaults),
                     *zip(args.kwonlyargs, args.kw_defaults)]
            found += [(d.lineno, f"default {a.arg}={d.value!r}") for a, d in pairs
                      if d is not None and a.arg == "backend" and is_name(d)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [(node.lineno, f"text {m.group(0)!r}")
                      for m in _advice(names).finditer(node.value)]
    return [f"{filename}:{line}: {what}" for line, what in sorted(set(found))]


def core_files() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "backends" not in p.relative_to(PKG).parts)


def test_builtin_names_come_from_pyproject():
    assert {"null", "numba-cpu", "pim", "npu"} <= builtin_names()


def test_scanner_finds_each_kind_of_use_and_ignores_device_names():
    """The checker itself can fail: every position of the rule is caught in a probe."""
    probe = '''
def f(prog, op, backend="null"):
    run(model, backend="numba-cpu")
    backend, stage = "pim", "pim-cmds"
    self.default_backend = "npu"
    if prog.backend == "pim" or "null" != backend:
        registry.get("numba-cpu")
    raise PimcError(f"compile with backend='numba-cpu' or --backend npu to run")
    if op.device == "pim" and target.kind in ("npu", "gpu"):
        DIALECTS = {"pim": "pimc.ir.dialects.pim"}
    print("backend 'pim' has no rule")  # a message about a backend, not advice naming one
'''
    names = {"null", "numba-cpu", "pim", "npu"}
    found = violations(probe, "probe.py", names, allow_defaults=False)
    assert sorted(v.split(": ", 1)[1] for v in found) == sorted([
        "default backend='null'", "backend='numba-cpu'", "backend = 'pim'",
        "self.default_backend = 'npu'", "compares with 'null'", "compares with 'pim'",
        "registry.get('numba-cpu')", "text '--backend npu'", "text \"backend='numba-cpu\""])
    assert violations(probe, "probe.py", names, allow_defaults=True)[0].endswith(
        "backend='numba-cpu'")


def test_core_code_never_names_a_builtin_backend():
    names, bad = builtin_names(), []
    for path in core_files():
        rel = path.relative_to(PKG)
        allow = any(rel.match(pattern) for pattern in DEFAULTS_ALLOWED_IN)
        bad += violations(path.read_text(), str(path.relative_to(REPO)), names, allow)
    assert not bad, "core code names a built-in backend (ask pimc.backends.registry for " \
                    "EXECUTING_DEFAULT or providing_stage(), or read capabilities):\n  " + \
                    "\n  ".join(bad)
