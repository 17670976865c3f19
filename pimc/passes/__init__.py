"""The pass registry: pass name -> Pass class, imported on first use.

A pass named `foo-bar` lives in `pimc/passes/foo_bar.py` (a test enforces this), so the registry
needs only the names.
"""
from __future__ import annotations

import importlib

from pimc.passes.base import Context, Pass, PassManager
from pimc.passes.pipeline_parser import parse_pipeline, pipeline_text
from pimc.registry import Registry

PASS_NAMES = ("analyze-intensity", "canonicalize", "cse", "dce", "kv-compress", "lower-to-npu",
              "lower-to-pim", "place-devices", "raise-llm-ops", "sub-batch-interleave")

PASSES: Registry[type[Pass]] = Registry("pass")


def _loader(name: str):
    def load() -> type[Pass]:
        module = importlib.import_module(f"pimc.passes.{name.replace('-', '_')}")
        matches = [obj for obj in vars(module).values() if isinstance(obj, type) and
                   issubclass(obj, Pass) and obj.name == name]
        if len(matches) != 1:
            raise ImportError(f"pimc.passes.{name.replace('-', '_')} must define exactly one "
                              f"Pass named '{name}'")
        return matches[0]
    return load


for _name in PASS_NAMES:
    PASSES.register(_name, _loader(_name))

__all__ = ["PASSES", "Context", "Pass", "PassManager", "parse_pipeline", "pipeline_text"]
