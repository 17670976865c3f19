"""The backend contract: capabilities, named stages, and a rule table per backend.

Core code reads a backend's `capabilities` (which ops, dtypes and devices it takes) and runs its
`stages`; it never branches on a backend's name. A stage is a named pure function from artifact
to artifact (the module in, generated source or a command stream out), so `--dump-stage=<name>`
can show any intermediate.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pimc.errors import PimcError
from pimc.ir.dialects.builtin import ModuleOp

STRUCTURAL_OPS = frozenset({"builtin.module", "func.func", "func.return"})


@dataclass(frozen=True)
class Capabilities:
    """What a backend accepts. `ops=None` means every op (the null backend)."""

    ops: frozenset[str] | None = None
    dtypes: frozenset[str] | None = None
    devices: frozenset[str] = frozenset({"host"})
    executes: bool = False  # it produces something `Program.__call__` can run
    summary: str = ""

    def accepts(self, op_name: str) -> bool:
        return self.ops is None or op_name in self.ops or op_name in STRUCTURAL_OPS


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Any], Any]
    describe: str = ""


class UnsupportedByBackend(PimcError):
    """The module holds an op (or dtype) the backend has no rule for."""


class Backend(ABC):
    name: str = ""
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    def stages(self, options: dict[str, Any] | None = None) -> list[Stage]:
        """The pipeline from a verified module to this backend's artifact."""

    def check(self, module: ModuleOp) -> None:
        """Refuse a module with ops outside the capabilities, naming the op and this backend."""
        caps = self.capabilities
        for op in module.walk():
            if not caps.accepts(op.name):
                where = f" at {op.src or op.loc.describe()}" if (op.src or op.loc) else ""
                raise UnsupportedByBackend(
                    f"backend '{self.name}' has no rule for '{op.name}'{where}; it supports: "
                    f"{', '.join(sorted(caps.ops))}")

    def compile(self, module: ModuleOp, options: dict[str, Any] | None = None,
                dump: Callable[[str, Any], None] | None = None) -> Any:
        self.check(module)
        artifact: Any = module
        for stage in self.stages(options):
            artifact = stage.run(artifact)
            if dump is not None:
                dump(stage.name, artifact)
        return artifact


@dataclass(frozen=True)
class RuleTable:
    """`{op_name: emit_fn}` with a name for errors; backends extend tables by overriding entries."""

    backend: str
    rules: dict[str, Callable] = field(default_factory=dict)

    def __getitem__(self, op_name: str) -> Callable:
        rule = self.rules.get(op_name)
        if rule is None:
            raise UnsupportedByBackend(f"backend '{self.backend}' has no rule for '{op_name}'; "
                                       f"it supports: {', '.join(sorted(self.rules))}")
        return rule

    def override(self, backend: str, **changes: Callable) -> RuleTable:
        return RuleTable(backend, {**self.rules, **{k.replace("__", "."): v for k, v in changes.items()}})
