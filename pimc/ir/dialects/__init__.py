"""The dialect registry: op name -> op class, loaded lazily per dialect.

A dialect module exposes `OPS`, a list of `OpDef` subclasses. Looking up an op by name imports
its dialect on first use, and an unknown op is answered with the dialect's op names.
"""
from __future__ import annotations

import importlib

from pimc.errors import UnknownNameError
from pimc.ir.opdef import OpDef
from pimc.registry import Registry

# dialect namespace -> module defining it
_DIALECT_MODULES = {
    "builtin": "pimc.ir.dialects.builtin",
    "func": "pimc.ir.dialects.builtin",
    "llm": "pimc.ir.dialects.llm",
    "npu": "pimc.ir.dialects.npu",
    "pim": "pimc.ir.dialects.pim",
    "kv": "pimc.ir.dialects.kv",
}

DIALECTS: Registry[dict[str, type[OpDef]]] = Registry("dialect")


def _loader(namespace: str, module: str):
    def load() -> dict[str, type[OpDef]]:
        ops = importlib.import_module(module).OPS
        return {op.name: op for op in ops if op.name.startswith(namespace + ".")}
    return load


for _ns, _mod in _DIALECT_MODULES.items():
    DIALECTS.register(_ns, _loader(_ns, _mod))


def op_class(name: str) -> type[OpDef]:
    namespace = name.split(".", 1)[0] if "." in name else ""
    ops = DIALECTS.get(namespace, where=f"op '{name}': ")
    cls = ops.get(name)
    if cls is None:
        raise UnknownNameError("op", name, ops)
    return cls


def all_op_classes() -> list[type[OpDef]]:
    return [cls for _, ops in DIALECTS.items() for cls in ops.values()]
