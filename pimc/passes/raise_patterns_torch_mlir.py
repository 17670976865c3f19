"""raise-llm-ops patterns for the forms the torch-mlir frontend's graphs take (merged into the pass's
pattern table by raise_llm_ops.py)."""
from __future__ import annotations

from pimc.passes.rewrite import PatternTable

PATTERNS: PatternTable = {}
