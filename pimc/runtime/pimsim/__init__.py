"""pimsim: an event-driven, cycle-level DRAM (+ PIM) simulator. architecture.md §8.

    from pimc.runtime.pimsim import run_trace, get_spec
    result = run_trace("stream.trace", memory="hbm2", frontend="dramsim3")
    result.cycles, result.bandwidth_gbps, result.log   # log: every issued command
"""
import pimc.numba_cache  # noqa: F401  (before any kernel: package-wide cache stamps)
from pimc.runtime.pimsim.dram import FRONTENDS, LOG_DTYPE, DramResult, compile_rules, run_trace
from pimc.runtime.pimsim.presets import MEMORY_PRESETS, get_spec, spec_from_target
from pimc.runtime.pimsim.spec import (DRAM_COMMANDS, DRAM_RULES, LEVELS, AddressMapping, Command,
                                      Controller, DramSpec, Organisation, SpecError, TimingRule)
from pimc.runtime.pimsim.trace import Trace, TraceError, parse_trace, read_trace

__all__ = ["DRAM_COMMANDS", "DRAM_RULES", "FRONTENDS", "LEVELS", "LOG_DTYPE", "MEMORY_PRESETS",
           "AddressMapping", "Command", "Controller", "DramResult", "DramSpec", "Organisation",
           "SpecError", "TimingRule", "Trace", "TraceError", "compile_rules", "get_spec",
           "parse_trace", "read_trace", "run_trace", "spec_from_target"]
