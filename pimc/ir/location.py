"""Source locations that ops carry through the pipeline (printed as MLIR `loc(...)`).

`FileLineColLoc` points into a source file (a Python frame, a .mlir file); `NameLoc` names a
frontend entity (an nn.Module path such as "model.layers.0.self_attn") and may wrap a file
location, as MLIR's `loc("name"("file":line:col))` does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass


class Location:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class FileLineColLoc(Location):
    file: str
    line: int
    col: int

    def body(self) -> str:
        return f"{json.dumps(self.file)}:{self.line}:{self.col}"

    def __str__(self) -> str:
        return f"loc({self.body()})"

    def describe(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class NameLoc(Location):
    name: str
    child: FileLineColLoc | None = None

    def body(self) -> str:
        inner = f"({self.child.body()})" if self.child else ""
        return f"{json.dumps(self.name)}{inner}"

    def __str__(self) -> str:
        return f"loc({self.body()})"

    def describe(self) -> str:
        return self.name + (f" ({self.child.describe()})" if self.child else "")
