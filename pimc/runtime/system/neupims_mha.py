"""NeuPIMs' own latency model of decode attention on its PIM, for `--pim-timing neupims-mha`.

NeuPIMs' scheduler estimates each request's multi-head attention on the PIM channel that holds
its KV cache (casys-kaist/NeuPIMs src/scheduler/Scheduler.cc, estimate_mha_latency), and uses
the estimate to balance requests over channels (the "clb" traces: greedy min-load bin packing,
configs/README.md). Per request, in 1 GHz cycles:
  * K x q: the query is written to the global buffer in page-sized chunks (GWRITE), then one
    GEMV command per chunk and per group of `banks` tokens (each bank holds one token's key):
      chunks = ceil(E_eff / page), tiles = ceil(context / banks);
  * logits x V: one GWRITE and ceil(head_dim / banks) GEMVs per head and per page of tokens:
      chunks = ceil(context / page) * heads, tiles = ceil(head_dim / banks);
  latency = chunks * GWRITE + chunks * tiles * GEMV for each of the two.
E_eff = heads * head_dim of the device's shard (Scheduler constructor: _nh = n_head / n_tp).
Channels work in parallel, each on its own requests; with the load balancing the busiest of
`channels` holds ceil(batch / channels) requests of equal context.

pimc's own PIM timing (the roofline at the preset's internal bandwidth, or the `sim` cost
model's cycle-level kernel) is the default; this model exists to show how much of a paper
ratio depends on the PIM kernel's speed (docs/validation.md), with every constant NeuPIMs'.
"""
from __future__ import annotations

import math

GWRITE_CYCLES = 100  # source: NeuPIMs Scheduler.cc constructor, _gwrite_latency = 100
GEMV_CYCLES = 184  # source: NeuPIMs Scheduler.cc constructor, _gemv_latency = 184
PAGE_BYTES = 1024  # source: NeuPIMs configs/memory_configs/neupims.json "dram_page_size": 1024
BANKS = 32  # source: NeuPIMs configs/memory_configs/neupims.json "dram_banks_per_ch": 32
CLOCK_HZ = 1e9  # source: NeuPIMs configs/memory_configs/neupims.json "dram_freq": 1000 (MHz)


def request_cycles(heads: int, head_dim: int, context: int, element_bytes: float = 2) -> int:
    """One request's attention on its channel (the module docstring's formula)."""
    page = int(PAGE_BYTES // element_bytes)  # Scheduler: dram_page_size / precision
    chunks, tiles = math.ceil(heads * head_dim / page), math.ceil(context / BANKS)
    latency = chunks * GWRITE_CYCLES + chunks * tiles * GEMV_CYCLES
    chunks, tiles = math.ceil(context / page) * heads, math.ceil(head_dim / BANKS)
    return latency + chunks * GWRITE_CYCLES + chunks * tiles * GEMV_CYCLES


def attention_seconds(batch: int, heads: int, head_dim: int, context: int, channels: int,
                      element_bytes: float = 2) -> float:
    """A batch's attention: the busiest channel's requests one after another."""
    if batch <= 0:
        return 0.0
    per_channel = math.ceil(batch / channels)
    return per_channel * request_cycles(heads, head_dim, context, element_bytes) / CLOCK_HZ
