"""raise-llm-ops patterns for the forms the torch-mlir frontend's graphs take (merged into the pass's
pattern table by raise_llm_ops.py).

Empty on purpose: pimc.frontend.torch_mlir imports torch-mlir's "raw" torch dialect of a program
pimc has already decomposed (core ATen, SDPA whole), so it emits the very llm ops the torch.export
path emits and the shared patterns fire unchanged (tests/unit/test_torch_mlir_frontend.py checks
the histograms are equal). Patterns belong here only if the frontend starts importing torch-mlir's
backend-contract form (output_type="torch"), which splits softmax, mean and layer_norm further.
"""
from __future__ import annotations

from pimc.passes.rewrite import PatternTable

PATTERNS: PatternTable = {}
