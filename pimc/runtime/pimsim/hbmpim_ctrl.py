"""One HBM-PIM pseudo-channel as Samsung's PIMSimulator (DRAMSim2 underneath) runs it: the
dedicated executor behind hbmpim.py.

Why a dedicated executor and not the pimsim engine: PIMSimulator's controller is DRAMSim2's, not
DRAMsim3's FR-FCFS. Its command queue holds only column commands; ACTs and PREs are made on the
fly (an ACT for the first queued command whose bank is idle, a PRE for a bank whose open row no
queued command up to the first barrier wants, tried only when nothing else can issue); barriers
serialise the groups; one command issues per cycle. The ADD and RELU traces are reproduced command
for command only with these policies, which the engine's scheduler does not have. The timing
itself comes from the same spec (`hbm2-pim` preset's parameters), and the command log has the
engine's LOG_FIELDS, so check.py verifies it against the declarative table.

Facts restated from tests/fixtures/reference/pimsim/PIMSIM.md (§1 timing, §4 modes, §5 timing of
PIM commands, §8 cycles) and the two reference traces:
- Column commands issued while the rank is in HAB / HAB_PIM appear one cycle later in the trace
  (a WR and an ACT printed in one cycle at 360; ACT -> first RD 15 = tRCDRD 14 + 1). The log
  keeps the issue cycle; the trace rows use the printed one.
- RD -> PRE of a bank is 3 cycles in PIMSimulator (trace: RD issued 249 -> PRE 252), WR -> PRE
  WL + BL/2 + tWR = 26, RD -> WR RL + BL/2 + tRTRS - WL = 15, WR -> RD (any bank of the rank)
  WL + BL/2 + tWTR_L = 19 (DRAMSim2's bank-state updates).
- Refresh: rank r is first due at tREFI / ranks * (r + 1), then every tREFI. PIMSimulator sends
  the REF as soon as no bank of the rank is open, even while one is still precharging, which
  breaks PRE -> REF >= tRP (check.py reports it). `strict_refresh=True` waits for tRP as well:
  protocol-clean, at most 14 cycles later per refresh (cycles within 0.5% of PIMSimulator's
  instead of within 1 cycle).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pimc.backends.pim.hbmpim_stream import BAR, Txn

IDLE, ACTIVE, PRECHARGING, REFRESHING = 0, 1, 2, 3
SB, HAB, HAB_PIM = "SB", "HAB", "HAB_PIM"


@dataclass
class Timing:
    """DRAMSim2's derived delays in tCK, from the spec's parameters."""

    tRCDRD: int
    tRCDWR: int
    tRP: int
    tRAS: int
    tRC: int
    tRRDS: int
    tRRDL: int
    tCCDS: int
    tCCDL: int
    half_bl: int
    read_to_pre: int
    write_to_pre: int
    read_to_write: int
    write_to_read: int
    rl: int
    wl: int
    tXAW: int
    xaw: int
    tRFC: int
    tREFI: int
    rtrs: int

    @classmethod
    def from_params(cls, p: dict) -> "Timing":
        rl, wl, hb = p["CL"] + p.get("AL", 0), p["CWL"] + p.get("AL", 0), p["nBL"]
        return cls(tRCDRD=p["tRCD"], tRCDWR=p["tRCDWR"], tRP=p["tRP"], tRAS=p["tRAS"],
                   tRC=p["tRC"], tRRDS=p["tRRD_S"], tRRDL=p["tRRD_L"], tCCDS=p["tCCD_S"],
                   tCCDL=p["tCCD_L"], half_bl=hb, read_to_pre=p.get("AL", 0) + p["tRTP"],
                   write_to_pre=wl + hb + p["tWR"], read_to_write=rl + hb + p["tRTRS"] - wl,
                   write_to_read=wl + hb + p["tWTR_L"], rl=rl, wl=wl, tXAW=p["tFAW"], xaw=4,
                   tRFC=p["tRFC"], tREFI=p["tREFI"], rtrs=p["tRTRS"])


@dataclass
class Issued:
    """One issued command: `cycle` is the controller's, `printed` the trace's."""

    cycle: int
    printed: int
    command: str  # ACT, PRE, RD, WR, REF
    rank: int
    bank: int
    row: int
    col: int
    tag: str
    txn: Txn | None = None
    mode: str = SB


@dataclass
class ChannelRun:
    issued: list[Issued] = field(default_factory=list)
    cycles: int = 0
    last_read: int = -1


class Channel:
    """DRAMSim2's per-rank command queue + bank states for one pseudo-channel, cycle-stepped.
    `device(issued)` is called for every command at its issue cycle (the PIM mode machine and
    the PIM units live there)."""

    def __init__(self, timing: Timing, ranks: int = 2, banks: int = 16, queue_depth: int = 64,
                 device=None, refresh: bool = True, strict_refresh: bool = True):
        self.t, self.ranks, self.banks, self.depth = timing, ranks, banks, queue_depth
        self.device, self.refresh, self.strict_refresh = device, refresh, strict_refresh
        n = ranks * banks
        self.state = np.zeros(n, np.int64)
        self.open_row = np.full(n, -1, np.int64)
        self.countdown = np.zeros(n, np.int64)
        self.next_act = np.zeros(n, np.int64)
        self.next_pre = np.zeros(n, np.int64)
        self.next_rd = np.zeros(n, np.int64)
        self.next_wr = np.zeros(n, np.int64)
        self.xaw = [[] for _ in range(ranks)]  # ACT issue cycles inside the window
        self.ref_countdown = [timing.tREFI // ranks * (r + 1) for r in range(ranks)]
        self.ref_rank, self.ref_waiting, self.ref_target = 0, False, 0
        self.next_pre_bank = 0  # (rank, bank) round robin index, rank-then-bank
        self.queue: list[Txn] = []
        self.c = 0  # the next cycle: a second run() continues where the first one ended

    # -- issuability ----------------------------------------------------------------------
    def _same_bg(self, a: int, b: int) -> bool:
        return a // 4 == b // 4

    def mode_allows_act(self, bank: int) -> bool:
        return self.device is None or self.device.mode == SB or bank < 2

    def issuable(self, cmd: str, rank: int, bank: int, row: int, c: int) -> bool:
        i = rank * self.banks + bank
        if cmd == "ACT":
            if not self.mode_allows_act(bank):
                return False
            window = [x for x in self.xaw[rank] if c - x < self.t.tXAW]
            return (self.state[i] in (IDLE, REFRESHING) and c >= self.next_act[i]
                    and len(window) < self.t.xaw)
        if cmd in ("RD", "WR"):
            nxt = self.next_rd[i] if cmd == "RD" else self.next_wr[i]
            return self.state[i] == ACTIVE and c >= nxt and row == self.open_row[i]
        if cmd == "PRE":
            return self.state[i] == ACTIVE and c >= self.next_pre[i]
        raise AssertionError(cmd)

    # -- the three searches of CommandQueue::pop --------------------------------------------
    def _refresh(self, c: int):
        if not self.ref_waiting:
            return None
        r = self.ref_target
        busy = False
        for b in range(self.banks):
            i = r * self.banks + b
            if self.state[i] == ACTIVE:
                busy = True
                if self.issuable("PRE", r, b, -1, c):
                    return ("PRE", r, b, int(self.open_row[i]), -1, "", None)
            elif self.state[i] == PRECHARGING and self.strict_refresh:
                busy = True
        if not busy:
            self.ref_waiting = False
            return ("REF", r, 0, -1, -1, "", None)
        return None

    def _command(self, c: int):
        q = self.queue
        for i, txn in enumerate(q):
            cmd = "WR" if txn.write else "RD"
            if self.issuable(cmd, 0, txn.bank, txn.row, c):
                if i != 0 and BAR in txn.tag:
                    break
                depend = False
                for j in range(i):
                    p = q[j]
                    if (p.bank == txn.bank and p.row == txn.row and p.col == txn.col) \
                            or BAR in p.tag:
                        depend = True
                        break
                if not depend:
                    del q[i]
                    return (cmd, 0, txn.bank, txn.row, txn.col, "", txn)
        for i, txn in enumerate(q):
            if i != 0 and BAR in txn.tag:
                break
            if self.state[txn.bank] == IDLE and self.issuable("ACT", 0, txn.bank, txn.row, c):
                return ("ACT", 0, txn.bank, txn.row, txn.col, txn.tag, txn)
        return None

    def _precharge(self, c: int):
        n = self.ranks * self.banks
        start = self.next_pre_bank
        k = start
        while True:
            rank, bank = k % self.ranks, k // self.ranks  # rank-then-bank round robin
            i = rank * self.banks + bank
            found = False
            for txn in self.queue:
                if rank == 0 and txn.bank == bank and self.state[i] == ACTIVE \
                        and txn.row == self.open_row[i]:
                    found = True
                    break
                if BAR in txn.tag:
                    break
            if not found and self.issuable("PRE", rank, bank, -1, c):
                self.next_pre_bank = k
                return ("PRE", rank, bank, int(self.open_row[i]), -1, "", None)
            k = (k + 1) % n
            if k == start:
                return None

    # -- state updates (MemoryController::updateCommandQueue) --------------------------------
    def _apply(self, cmd: str, rank: int, bank: int, row: int, c: int) -> None:
        t, B = self.t, self.banks
        i = rank * B + bank
        if cmd == "RD" or cmd == "WR":
            if cmd == "RD":
                self.next_pre[i] = max(self.next_pre[i], c + t.read_to_pre)
            else:
                self.next_pre[i] = max(self.next_pre[i], c + t.write_to_pre)
            for r in range(self.ranks):
                for b in range(B):
                    j = r * B + b
                    if r != rank:
                        if self.state[j] == ACTIVE:
                            if cmd == "RD":
                                rd, wr = t.half_bl + t.rtrs, t.read_to_write
                            else:
                                rd, wr = t.wl + t.half_bl + t.rtrs - t.rl, t.half_bl + t.rtrs
                            self.next_rd[j] = max(self.next_rd[j], c + rd)
                            self.next_wr[j] = max(self.next_wr[j], c + wr)
                        continue
                    ccd = max(t.tCCDL if self._same_bg(b, bank) else t.tCCDS, t.half_bl)
                    rd, wr = (ccd, t.read_to_write) if cmd == "RD" else (t.write_to_read, ccd)
                    self.next_rd[j] = max(self.next_rd[j], c + rd)
                    self.next_wr[j] = max(self.next_wr[j], c + wr)
        elif cmd == "ACT":
            self.state[i], self.open_row[i] = ACTIVE, row
            self.next_act[i] = max(c + t.tRC, self.next_act[i])
            self.next_pre[i] = max(c + t.tRAS, self.next_pre[i])
            self.next_rd[i] = max(self.next_rd[i], c + t.tRCDRD)
            self.next_wr[i] = max(self.next_wr[i], c + t.tRCDWR)
            for b in range(B):
                if b != bank:
                    j = rank * B + b
                    gap = t.tRRDL if self._same_bg(b, bank) else t.tRRDS
                    self.next_act[j] = max(c + gap, self.next_act[j])
            self.xaw[rank] = [x for x in self.xaw[rank] if c - x < t.tXAW] + [c]
        elif cmd == "PRE":
            self.state[i], self.countdown[i] = PRECHARGING, t.tRP
            self.next_act[i] = max(c + t.tRP, self.next_act[i])
        elif cmd == "REF":
            for b in range(B):
                j = rank * B + b
                self.state[j], self.countdown[j] = REFRESHING, t.tRFC
                self.next_act[j] = c + t.tRFC

    def run(self, txns: list[Txn], max_cycles: int = 50_000_000) -> ChannelRun:
        out = ChannelRun()
        pending, nxt, n = txns, 0, len(txns)
        start = c = self.c
        t, end, last_write = self.t, None, -1
        while True:
            # updateBankState
            live = self.countdown > 0
            if live.any():
                self.countdown[live] -= 1
                done = live & (self.countdown == 0)
                self.state[done] = IDLE
            # updateRefresh
            if self.refresh and self.ref_countdown[self.ref_rank] == 0:
                self.ref_waiting, self.ref_target = True, self.ref_rank
                self.ref_countdown[self.ref_rank] = t.tREFI
                self.ref_rank = (self.ref_rank + 1) % self.ranks
            # CommandQueue::pop: refresh, then column commands / ACT, then PRE
            got = self._refresh(c) or self._command(c) or self._precharge(c)
            if got is not None:
                cmd, rank, bank, row, col, tag, txn = got
                self._apply(cmd, rank, bank, row, c)
                mode = self.device.mode if self.device is not None else SB
                printed = c + 1 if cmd in ("RD", "WR") and mode != SB else c
                rec = Issued(c, printed, cmd, rank, bank, row, col, tag, txn, mode)
                out.issued.append(rec)
                if self.device is not None:
                    self.device.execute(rec)
                if cmd == "RD":
                    out.last_read = c
                elif cmd == "WR":
                    last_write = c
            # updateTransactionQueue: one transaction per cycle into the command queue
            if c >= start + 1 and nxt < n and len(self.queue) < self.depth:
                self.queue.append(pending[nxt])
                nxt += 1
            for r in range(self.ranks):
                self.ref_countdown[r] -= 1
            c += 1
            if nxt == n and not self.queue:
                # Keep stepping (PREs still issue) until the last read's data has returned.
                if end is None:
                    end = max(out.last_read + t.rl + t.half_bl, last_write + t.wl + t.half_bl)
                if c > end:
                    break
            if c > max_cycles:
                raise RuntimeError("hbm-pim channel did not drain")
        # The kernel ends when the last read's data has returned (PIMSIM.md §8).
        out.cycles = end + 1 - start
        self.c = c
        return out
