"""The `sim` cost model: PIM kernel times from pimc's cycle-level simulator, the roofline for the rest.

    pimc analyze llama2-7b -t attacc-bank -B 64 --cost-model sim
    pimc opt f.mlir -p 'place-devices{target=attacc-bank,batch=64,cost-model=sim}'

Which ops are simulated (`kernel_of`), on a PIM device (kind pim-bank|pim-bankgroup|pim-buffer):
  * decode attention, llm.attention or pim.attention with one query per KV head (MHA, T = 1)
    over an fp16 cache (not a KIVI-quantised one, which no kernel dequantises): kernel
    "attention", shape {batch, heads, head_dim, context}, context being the key length;
  * decode GEMV, llm.linear or pim.gemv without a bias at T = 1: kernel "gemv", shape
    {batch, rows, cols} (rows = W's outputs, cols = its inputs, batch = the rows of x).
Anything else (xPU and Logic-PIM ops, prefill, GQA, a linear with a bias, a target or shape the
simulator has no kernel for) takes the roofline's time, and `op_source` answers "roofline" for it,
so a report never presents a roofline number as a simulated one.

Simulated times are memoised by (kernel, shape, target): in this process (`_MEMO`), and on disk in
one small JSON file per target under `cache_dir()` ($PIMC_CACHE_DIR/sim-costs, else
$XDG_CACHE_HOME/pimc/sim-costs, else ~/.cache/pimc/sim-costs, numba-cpu's convention). The file
is named by a hash of the whole target spec (after --set) and of the source that computes the
times (this package and the PIM command-stream generators, `SIM_SOURCE`), so editing the
target or the simulator starts a fresh file instead of reading stale times.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from pimc.errors import PimcError
from pimc.ir.core import Operation
from pimc.ir.symbolic import sym
from pimc.output import write_atomically
from pimc.passes.analyze_intensity import Cost
from pimc.passes.cost_model import Roofline
from pimc.caches import cache_root, source_digest
from pimc.targets import DeviceSpec, Target

# Bump when a simulator's timing changes: the disk cache's file names include it.
SIM_SOURCE = ("runtime/pimsim", "backends/pim", "targets/spec.py")  # what the times depend on
ATTENTION_OPS = ("llm.attention", "pim.attention")
GEMV_OPS = ("llm.linear", "pim.gemv")
PIM_KINDS = ("pim-bank", "pim-bankgroup", "pim-buffer")  # DeviceSpec.kind of in-DRAM PIM


def simulate(kind: str, shape: Mapping[str, int], target: Target):
    """Run kernel `kind` ("attention" or "gemv") at `shape` on `target`'s PIM: a result with
    .cycles and .time_s. Raises PimcError (or NotImplementedError) where the target has no such
    kernel or the shape does not fit it; the model then falls back to the roofline.

    The one place that calls a simulator: pim_kernels.simulate_pim_op dispatches on the target
    (AttAcc/pimc-layout streams on pim_engine for HBM3 and HBM2 PIM, PIMSimulator's kernels for
    Samsung HBM-PIM). Another simulator is a change to this line only."""
    from pimc.runtime.pimsim.pim_kernels import simulate_pim_op
    return simulate_pim_op(kind, dict(shape), target)


def kernel_of(op: Operation | None, dims: Mapping[str, int] | None) -> tuple[str, dict] | None:
    """The simulator kernel and concrete shape of `op` at `dims`, or None if no kernel models it
    (see the module docstring)."""
    if op is None or dims is None:
        return None
    subs = {sym(k): v for k, v in dims.items()}

    def bound(shape) -> list[int]:
        return [d if isinstance(d, int) else int(d.subs(subs)) for d in shape]

    if op.name in ATTENTION_OPS:
        if _quantised(op):  # the kernels stream fp16 K/V; KIVI's dequantise has no kernel
            return None
        b, hq, t, d = bound(op.operands[0].type.shape)
        hkv, length = bound(op.operands[1].type.shape)[1:3]
        if t != 1 or hq != hkv:  # AttAcc's stream: one query per KV head
            return None
        return "attention", {"batch": b, "heads": hkv, "head_dim": d, "context": length}
    if op.name in GEMV_OPS and len(op.operands) == 2 and dims.get("T", 1) == 1:
        rows, cols = bound(op.operands[1].type.shape)
        return "gemv", {"batch": math.prod(bound(op.operands[0].type.shape[:-1])),
                        "rows": rows, "cols": cols}
    return None


def _quantised(op: Operation) -> bool:
    """Whether kv-compress stored the attention's cache quantised (its `kv` attribute has
    `bits`)."""
    kv = op.attributes.get("kv")
    return kv is not None and any(key == "bits" for key, _ in getattr(kv, "entries", ()))


def cache_dir() -> Path:
    """Where the per-target JSON files live (see the module docstring)."""
    return cache_root() / "sim-costs"


def target_key(target: Target) -> str:
    text = f"sim-costs {_version()}\n{target.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _version() -> str:
    return source_digest(*SIM_SOURCE)


def _entry(kind: str, shape: Mapping[str, int]) -> str:
    return kind + " " + ",".join(f"{k}={shape[k]}" for k in sorted(shape))


# (entry, target key) -> simulated seconds, or None with the reason there is no kernel. A dict
# rather than functools.lru_cache: the model must tell a hit from a miss (to count simulations
# and to show progress only for real ones), and a simulation is never worth evicting.
_MEMO: dict[tuple[str, str], tuple[float | None, str]] = {}


def clear_memory_cache() -> None:
    """Forget the in-process times (the disk files stay): the next lookups read the disk."""
    _MEMO.clear()


class SimCostModel(Roofline):
    """Roofline, except the PIM kernels pimsim simulates (`kernel_of`). `stats` counts this
    instance's lookups: "simulated", "memory" (in-process hits) and "disk" (file hits)."""

    name = "sim"

    def __init__(self, target: Target, cache: Path | None = None):
        super().__init__(target)
        self.target, self.key = target, target_key(target)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", target.name)  # overrides: base{key=value, ...}
        self.path = (cache or cache_dir()) / f"{stem}-{self.key}.json"
        self._disk: dict[str, dict] | None = None
        self.stats: Counter[str] = Counter()

    def op_time(self, cost: Cost, device: DeviceSpec, op: Operation | None = None,
                dims: Mapping[str, int] | None = None) -> float:
        if cost.flops == 0 and cost.bytes == 0:
            return 0.0
        simulated = self.simulated_time(device, op, dims)
        if simulated is None:
            return super().op_time(cost, device, op, dims)
        return simulated + device.overhead_s  # a launch or command-stream cost outside the DRAM

    def op_source(self, device: DeviceSpec, op: Operation | None = None,
                  dims: Mapping[str, int] | None = None) -> str:
        return "roofline" if self.simulated_time(device, op, dims) is None else "sim"

    def simulated_time(self, device: DeviceSpec, op: Operation | None,
                       dims: Mapping[str, int] | None) -> float | None:
        """The simulator's seconds for `op` on `device`, or None where the roofline applies."""
        kernel = kernel_of(op, dims) if device.kind in PIM_KINDS else None
        return None if kernel is None else self.kernel_time(*kernel)[0]

    def kernel_time(self, kind: str, shape: Mapping[str, int]) -> tuple[float | None, str]:
        """(seconds, "") for a kernel the target's simulator runs, else (None, why not)."""
        entry = _entry(kind, shape)
        memo_key = (entry, self.key)
        if memo_key in _MEMO:
            self.stats["memory"] += 1
            return _MEMO[memo_key]
        disk = self._load()
        if entry in disk:
            self.stats["disk"] += 1
            _MEMO[memo_key] = (disk[entry]["time_s"], "")
            return _MEMO[memo_key]
        if self.progress is not None:
            self.progress(f"simulating {entry} on {self.target.name} "
                          f"({self.stats['simulated']} simulated so far)")
        try:
            result = simulate(kind, shape, self.target)
        except (NotImplementedError, PimcError) as e:
            # No kernel for this target or shape: the roofline answers. Kept in memory only, so a
            # simulator that learns the kernel later is not hidden by a stale file.
            _MEMO[memo_key] = (None, str(e))
            return _MEMO[memo_key]
        self.stats["simulated"] += 1
        disk[entry] = {"time_s": result.time_s, "cycles": int(result.cycles)}
        self._save()
        _MEMO[memo_key] = (result.time_s, "")
        return _MEMO[memo_key]

    def _load(self) -> dict[str, dict]:
        if self._disk is None:
            try:
                data = json.loads(self.path.read_text())
                ok = data.get("version") == _version() and isinstance(data.get("kernels"), dict)
                self._disk = data["kernels"] if ok else {}
            except (OSError, ValueError, AttributeError):  # none yet, or unreadable: start over
                self._disk = {}
        return self._disk

    def _save(self) -> None:
        data = {"version": _version(), "target": self.target.name, "kernels": self._disk}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except (OSError, PimcError):
            pass  # a cache that cannot be written only costs the next run its speed
