"""Run a memory trace through the engine: address decoding, the timing table compiled into
arrays, the result's statistics and the command log."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from pimc.errors import PimcError
from pimc.progress import watched
from pimc.runtime.pimsim import controller as K
from pimc.runtime.pimsim.engine import (K_ACCEPTED, K_DUAL, K_END, K_PHANTOM, K_RD_HITS,
                                        K_TICKS, K_WR_HITS, LOG_FIELDS, N_COUNTERS, simulate)
from pimc.runtime.pimsim.presets import get_spec
from pimc.runtime.pimsim.spec import DRAM_COMMANDS, DramSpec, SpecError
from pimc.runtime.pimsim.trace import Trace, TraceError, read_trace

FRONTENDS = ("default", "dramsim3")
LOG_DTYPE = np.dtype([("cycle", "i8"), ("command", "U4"), ("channel", "i4"),
                      ("pseudo_channel", "i2"), ("rank", "i2"), ("bankgroup", "i2"),
                      ("bank", "i2"), ("row", "i4"), ("column", "i4")])
# Which bank-pair relations (controller.SAME_BANK ... OTHER_RANK) a rule at each level covers.
_COVERS = {"bank": (0,), "bankgroup": (0, 1), "rank": (0, 1, 2), "pseudochannel": (0, 1, 2, 3),
           "channel": (0, 1, 2, 3)}
_SIBLINGS = {"bank": (1,), "bankgroup": (2,), "rank": (3,)}


@dataclass
class DramResult:
    memory: str
    frontend: str
    cycles: int  # last data returned + 1, as DRAMsim3 counts its simulated cycles
    requests: int  # trace lines
    reads_done: int  # includes merged and forwarded reads, and DRAMsim3's phantom read
    writes_done: int
    bandwidth_gbps: float  # (reads_done + writes_done) x access bytes / (cycles x tCK)
    avg_read_latency_cycles: float  # controller acceptance to last data beat (DRAMsim3's)
    p99_read_latency_cycles: float
    avg_read_latency_from_issue_cycles: float  # trace issue cycle to last data beat
    row_hit_rate: float
    commands: dict[str, int]
    row_hits: int
    dual_commands: int  # cycles with a row and a column command together
    phantom_read: bool
    peak_bandwidth_gbps: float
    energy_j: float | None  # column commands x access bits x the memory's pJ per bit
    tck_ns: float
    controller_ticks: int  # cycles some controller was evaluated: the events, not all cycles
    wall_s: float
    log: np.ndarray = field(repr=False)  # every issued command, LOG_DTYPE

    @property
    def time_s(self) -> float:
        return self.cycles * self.tck_ns * 1e-9

    def summary(self) -> dict:
        """Every figure but the log, for JSON."""
        return {**{k: v for k, v in vars(self).items() if k != "log"}, "time_s": self.time_s}


def run_trace(trace: Trace | str | Path, memory="hbm2", frontend: str = "default") -> DramResult:
    """Simulate `trace` (a Trace or a trace file) on `memory` (a pimsim preset, a pimc target
    or a DramSpec) with the `default` or `dramsim3` front end."""
    start = time.perf_counter()
    if frontend not in FRONTENDS:
        raise PimcError(f"--frontend: unknown front end '{frontend}'; valid: {', '.join(FRONTENDS)}")
    spec = get_spec(memory)
    if not isinstance(trace, Trace):
        trace = read_trace(trace)
    _check_capacity(trace, spec)
    dramsim3 = frontend == "dramsim3"
    phantom = dramsim3 and len(trace) > 0  # DRAMsim3 re-reads the last line as a READ
    addr = np.append(trace.addr, trace.addr[-1:]) if phantom else trace.addr
    is_write = np.append(trace.is_write, False) if phantom else trace.is_write
    issue = np.append(trace.cycle, trace.cycle[-1:]) if phantom else trace.cycle
    P, lat, REQ = _arrays(spec, addr, is_write, issue, dramsim3, phantom)
    units = spec.org.units
    order = np.argsort(REQ[:, K.R_UNIT], kind="stable")
    ustart = np.searchsorted(REQ[order, K.R_UNIT], np.arange(units + 1))
    capacity = 4 * len(addr) + 4096
    while True:
        UNIT, BANK = _new_state(spec, P, REQ)
        counts = np.zeros(N_COUNTERS, np.int64)
        log = np.empty((capacity, LOG_FIELDS), np.int64)
        n_log = watched(lambda: simulate(P, lat, REQ, UNIT, BANK, order, ustart, counts, log),
                        lambda: counts[K_ACCEPTED], len(REQ),
                        f"pimsim {spec.name}") if len(REQ) else 0
        if n_log != -1:
            break
        capacity *= 2  # the log filled up: run again with room for twice as many commands
    if n_log == -2:
        raise RuntimeError("pimsim: the engine stalled with requests outstanding (a bug)")
    return _result(spec, frontend, trace, REQ, counts, log[:n_log], time.perf_counter() - start)


def _new_state(spec: DramSpec, P, REQ):
    """Fresh UNIT and BANK arrays (see controller.py for their columns); resets REQ's progress."""
    org = spec.org
    units, nb = org.units, org.banks_per_unit
    REQ[:, K.Q_STATE:] = -1
    REQ[:, K.Q_STATE] = K.IDLE
    UNIT = np.zeros((units, P[K.P_FAW_AT] + org.ranks * (K.FAW_MAX + 2)), np.int64)
    UNIT[:, K.U_LEFT] = np.bincount(REQ[:, K.R_UNIT], minlength=units)
    BANK = np.zeros((units, nb, K.B_CQ + spec.controller.bank_queue), np.int64)
    BANK[:, :, K.B_OPEN] = -1
    b = np.arange(nb)
    BANK[:, :, K.B_RANK] = b // org.banks_per_rank
    BANK[:, :, K.B_GROUP] = b // org.banks_per_group
    return UNIT, BANK


def _check_capacity(trace: Trace, spec: DramSpec) -> None:
    cap = spec.org.capacity_bytes
    beyond = np.flatnonzero(trace.addr >= cap)
    if beyond.size:
        i = beyond[0]
        raise TraceError(f"{trace.name}:{trace.line[i]}: address {int(trace.addr[i]):#x} is "
                         f"beyond {spec.name}'s capacity of {cap / 2**30:g} GiB "
                         f"(addresses must be below {cap:#x})")


def _arrays(spec: DramSpec, addr, is_write, issue, dramsim3: bool, phantom: bool):
    """P (parameters), the compiled latency table and REQ (the requests)."""
    org, ctl = spec.org, spec.controller
    f = spec.address_mapping.decode(addr)
    lat, faw_n, faw_t = compile_rules(spec)
    if faw_n > K.FAW_MAX:
        raise NotImplementedError(f"pimsim: an activation window of {faw_n} ACTs "
                                  f"(at most {K.FAW_MAX})")
    P = np.zeros(K.N_P, np.int64)
    P[[K.P_NB, K.P_BPR, K.P_BQ, K.P_RQ, K.P_WQ, K.P_DRAIN_LOW, K.P_HITCAP, K.P_DUAL]] = (
        org.banks_per_unit, org.banks_per_rank, ctl.bank_queue, ctl.read_queue,
        ctl.write_buffer, ctl.write_drain_low, ctl.row_hit_cap, ctl.dual_issue)
    P[[K.P_RD_DELAY, K.P_WR_DELAY, K.P_FAW_N, K.P_FAW_T, K.P_RANKS, K.P_DRAMSIM3,
       K.P_PHANTOM]] = (spec.read_delay, spec.write_delay, faw_n, faw_t, org.ranks, dramsim3,
                        phantom)
    # DRAMsim3's default RANK_LEVEL_STAGGERED refresh: one rank every tREFI / ranks
    P[K.P_REF_INTERVAL] = spec.params["tREFI"] // org.ranks
    P[K.P_RQ_AT] = K.U_FIXED
    P[K.P_WQ_AT] = K.U_FIXED + ctl.read_queue
    P[K.P_FAW_AT] = K.U_FIXED + ctl.read_queue + ctl.write_buffer
    REQ = np.empty((len(addr), K.N_REQ), np.int64)
    REQ[:, K.R_UNIT] = f["ch"] * org.pseudo_channels + f["pc"]
    REQ[:, K.R_BANK] = (f["ra"] * org.bank_groups + f["bg"]) * org.banks_per_group + f["ba"]
    REQ[:, K.R_ROW], REQ[:, K.R_COL] = f["ro"], f["co"]
    REQ[:, K.R_WRITE], REQ[:, K.R_ISSUE] = is_write, issue
    previous_same_address(addr, is_write, REQ[:, K.R_PREV_RD], REQ[:, K.R_PREV_WR])
    return P, lat, REQ


def compile_rules(spec: DramSpec):
    """The timing table as arrays: lat[relation, prev, next], the largest latency of any rule
    that covers two banks in that relation (controller.SAME_BANK ... OTHER_RANK), and the
    activation window (ACT count, tCK)."""
    names = [c.name for c in spec.commands]
    if tuple(names[:K.NC]) != tuple(c.name for c in DRAM_COMMANDS):
        raise SpecError(f"{spec.name}: the command set must begin with "
                        f"{', '.join(c.name for c in DRAM_COMMANDS)}")
    lat = np.full((4, K.NC, K.NC), K.NEVER, np.int64)
    faw_n = faw_t = 0
    for rule in spec.rules:
        for name in (rule.prev, rule.next):
            if name not in names:
                raise SpecError(f"{spec.name}: timing rule '{rule}' names unknown command "
                                f"'{name}'")
        a, b = names.index(rule.prev), names.index(rule.next)
        if a >= K.NC or b >= K.NC:
            continue  # a PIM command: plain DRAM traffic never issues it, so it constrains nothing
        if rule.window > 1:
            if (rule.level, rule.prev, rule.next) != ("rank", "ACT", "ACT") or faw_n:
                raise NotImplementedError(f"pimsim: window rule '{rule}' (only one rank-level "
                                          "ACT -> ACT window is modelled)")
            faw_n, faw_t = rule.window, rule.latency
            continue
        covers = _SIBLINGS.get(rule.level) if rule.sibling else _COVERS[rule.level]
        if covers is None or (rule.level == "channel" and spec.org.pseudo_channels > 1):
            raise NotImplementedError(f"pimsim: rule '{rule}' spans pseudo-channels, which "
                                      "this engine simulates as independent controllers")
        for rel in covers:
            lat[rel, a, b] = max(lat[rel, a, b], rule.latency)
    return lat, faw_n, faw_t


@njit(cache=True)
def previous_same_address(addr, is_write, prev_rd, prev_wr):
    """For each request, the latest earlier read and write of the same address (-1: none):
    what read merging and write forwarding look up. An open-addressing hash table, O(n)."""
    size = 1
    while size < 2 * len(addr) + 2:
        size *= 2
    keys = np.full(size, -1, np.int64)
    last = np.full((size, 2), -1, np.int64)
    for i in range(len(addr)):
        h = (addr[i] * 0x9E3779B97F4A7C15) & (size - 1)  # Fibonacci hashing
        while keys[h] != -1 and keys[h] != addr[i]:
            h = (h + 1) & (size - 1)
        keys[h] = addr[i]
        prev_rd[i], prev_wr[i] = last[h, 0], last[h, 1]
        last[h, 1 if is_write[i] else 0] = i


def _result(spec, frontend, trace, REQ, counts, raw_log, wall_s):
    n_trace = len(trace)
    cycles = int(counts[K_END]) + 1 if n_trace else 0
    complete, write = REQ[:, K.Q_COMPLETE], REQ[:, K.R_WRITE].astype(bool)
    done = complete >= 0
    reads = done & ~write
    latency = (complete - REQ[:, K.Q_ADDED])[reads]
    from_issue = (complete - REQ[:, K.R_ISSUE])[:n_trace][reads[:n_trace]]
    reads_done, writes_done = int(reads.sum()), int((done & write).sum())
    commands = {c.name: int(counts[i]) for i, c in enumerate(DRAM_COMMANDS)}
    column = commands["RD"] + commands["WR"]
    hits = int(counts[K_RD_HITS] + counts[K_WR_HITS])
    moved_bytes = (reads_done + writes_done) * spec.org.access_bytes
    energy = None if spec.energy_pj_per_bit is None else \
        column * spec.org.access_bytes * 8 * spec.energy_pj_per_bit * 1e-12
    assert counts[K_ACCEPTED] == n_trace + bool(counts[K_PHANTOM])
    return DramResult(
        memory=spec.name, frontend=frontend, cycles=cycles, requests=n_trace,
        reads_done=reads_done, writes_done=writes_done,
        bandwidth_gbps=moved_bytes / (cycles * spec.tCK_ns) if cycles else 0.0,
        avg_read_latency_cycles=float(latency.mean()) if latency.size else 0.0,
        p99_read_latency_cycles=float(np.percentile(latency, 99)) if latency.size else 0.0,
        avg_read_latency_from_issue_cycles=float(from_issue.mean()) if from_issue.size else 0.0,
        row_hit_rate=hits / column if column else 0.0, commands=commands, row_hits=hits,
        dual_commands=int(counts[K_DUAL]), phantom_read=bool(counts[K_PHANTOM]),
        peak_bandwidth_gbps=spec.peak_bandwidth / 1e9, energy_j=energy, tck_ns=spec.tCK_ns,
        controller_ticks=int(counts[K_TICKS]), wall_s=wall_s,
        log=_log_array(spec, raw_log))


def _log_array(spec: DramSpec, raw) -> np.ndarray:
    org = spec.org
    log = np.empty(len(raw), LOG_DTYPE)
    log["cycle"] = raw[:, 0]
    log["command"] = np.array([c.name for c in DRAM_COMMANDS])[raw[:, 1]]
    log["channel"], log["pseudo_channel"] = np.divmod(raw[:, 2], org.pseudo_channels)
    log["rank"] = raw[:, 3]
    bank = raw[:, 4]
    log["bankgroup"] = np.where(bank >= 0, bank // org.banks_per_group, -1)
    log["bank"] = np.where(bank >= 0, bank % org.banks_per_group, -1)
    log["row"], log["column"] = raw[:, 5], raw[:, 6]
    return log
