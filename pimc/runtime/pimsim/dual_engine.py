"""The cycle loop behind dual_row.run_mixed: one channel running a PIM kernel (all-bank ACTAB /
MACAB / PREA) and an ordinary request stream (ACT / PRE / RD / WR) together.

Timing comes from the spec's rule table only (dual_row.mixed_spec picks the rows of the mode),
compiled here into "earliest cycle" look-ups written apart from check.py's, so the checker can
catch this loop's mistakes. The organisation is one rank of one pseudo-channel (NeuPIMs' HBM2
channel), so an address is (bank group, bank) and sibling (rank-to-rank) rules never apply.

Policies, per cycle (at most one row and one column command, spec.Controller.dual_issue):
- PIM first on each command bus: the kernel is the latency-critical side (a MAC and a read ready
  in the same cycle: the MAC goes, the read the next cycle).
- Ordinary requests: a queue of `queue` entries filled in arrival order; column commands in
  queue order (FCFS); row commands (ACT/PRE) for the first queued request of each bank, oldest
  first, so the next rows open while the current one streams.
- PIM: open-page on its own row state; MAC i needs row[i] open (ACTAB), another row is closed
  first (PREA), and the kernel ends with a PREA.
- row_buffers = 1 (one row buffer shared by both classes): the channel serves one class at a
  time. A PIM turn runs whole row tiles (ACTAB ... PREA) and is never interrupted; it ends after
  `pim_quantum` tiles if ordinary requests wait (None: when the kernel ends). An ordinary turn
  serves up to `ordinary_quantum` requests (None: until none waits); the PIM turn that follows
  first precharges the banks it left open. This is NeuPIMs' blocked (naive NPU+PIM) mode.
- row_buffers = 2: both classes always active; they meet only on the command buses and in the
  cross-class rows the spec keeps for this mode.
- Refresh (unless refresh=False): all-bank REF every tREFI with priority, as the DRAMsim3 engine
  and pim_engine do: no new command until PREA / PRE have closed both classes' rows and REF has
  issued; then each class re-activates its row (the kernel's tile resumes at its next MAC).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from pimc.errors import PimcError
from pimc.runtime.pimsim.spec import LEVELS, DramSpec

DEPTH = {level: i + 1 for i, level in enumerate(LEVELS)}
NEVER = 1 << 62
PIM, ORDINARY = 0, 1


def compile_timing(spec: DramSpec):
    """(gaps, windows, scope depth): gaps[next] = [(prev, depth, tCK)], windows[next] =
    [(prev, depth, tCK, count)]; depth is how far down two commands' addresses must agree."""
    scope = {c.name: DEPTH[c.scope] for c in spec.commands}
    gaps = {name: [] for name in scope}
    windows = {name: [] for name in scope}
    for rule in spec.rules:
        if rule.sibling:
            continue  # one rank per channel: no other node at the sibling's level
        depth = min(DEPTH[rule.level], scope[rule.prev], scope[rule.next])
        if rule.window > 1:
            windows[rule.next].append((rule.prev, depth, rule.latency, rule.window))
        else:
            gaps[rule.next].append((rule.prev, depth, rule.latency))
    return gaps, windows, scope


def _key(depth: int, bg: int, ba: int) -> tuple:
    """The node two commands share at `depth`: the channel (= pseudo-channel = rank here), the
    bank group or the bank."""
    return () if depth <= DEPTH["rank"] else (bg,) if depth == DEPTH["bankgroup"] else (bg, ba)


class MixedEngine:
    """One channel; `run()` fills cycles, counts, log, pim_finish, ordinary_finish."""

    def __init__(self, spec: DramSpec, mac_row, mac_col, req, row_buffers: int,
                 pim_quantum: int | None = None, ordinary_quantum: int | None = None,
                 pim_first: bool = True, queue: int | None = None, channel: int = 0,
                 refresh: bool = True):
        org = spec.org
        if org.pseudo_channels != 1 or org.ranks != 1:
            raise PimcError(f"{spec.name}: the dual-row-buffer simulation models one rank of one "
                            f"pseudo-channel per channel (NeuPIMs' HBM2); this memory has "
                            f"{org.pseudo_channels} pseudo-channels x {org.ranks} ranks")
        self.gaps, self.windows, self.scope = compile_timing(spec)
        # (depth, count) of every window a command is counted in (tFAW: ACTs per rank)
        self.counted = {name: sorted({(d, c) for rules in self.windows.values()
                                      for p, d, _, c in rules if p == name})
                        for name in self.scope}
        self.B = org.banks_per_group
        self.banks = org.bank_groups * org.banks_per_group
        self.dual = row_buffers == 2
        self.mac_row, self.mac_col = np.asarray(mac_row).tolist(), np.asarray(mac_col).tolist()
        self.arrive = np.asarray(req["arrive"]).tolist()
        self.write = np.asarray(req["write"]).tolist()
        self.bank = (np.asarray(req["bankgroup"], np.int64) * self.B
                     + np.asarray(req["bank"], np.int64)).tolist()
        self.row, self.col = np.asarray(req["row"]).tolist(), np.asarray(req["column"]).tolist()
        self.pim_quantum = pim_quantum or NEVER
        self.ordinary_quantum = ordinary_quantum or NEVER
        self.qsize = queue or spec.controller.read_queue
        self.delay = (spec.read_delay, spec.write_delay)
        self.channel = channel
        self.phase = PIM if (pim_first and self.mac_row) or not self.arrive else ORDINARY
        self.last: dict[tuple, int] = {}
        self.history: dict[tuple, deque] = {}
        self.counts = {c.name: 0 for c in spec.commands}
        self.log: list[tuple] = []
        self.open = [-1] * self.banks  # ordinary row per bank (single mode: the shared buffer)
        self.pim_open = -1  # the PIM row open in every bank (its own buffer when dual)
        self.mac = 0  # next MAC
        self.next_req = 0  # next request to enter the queue
        self.queue: deque = deque()
        self.turn = 0  # tiles (PIM turn) or requests (ordinary turn) served in this turn
        self.pim_finish = self.ordinary_finish = 0
        self.trefi = spec.params["tREFI"] if refresh else 0
        self.next_ref = self.trefi or NEVER
        self.ref_pending = 0

    # --- timing -------------------------------------------------------------------------------
    def earliest(self, cmd: str, bg: int, ba: int) -> int:
        t = 0
        for prev, depth, lat in self.gaps[cmd]:
            v = self.last.get((prev, _key(depth, bg, ba)))
            if v is not None and v + lat > t:
                t = v + lat
        for prev, depth, lat, count in self.windows[cmd]:
            h = self.history.get((prev, depth, _key(depth, bg, ba)))
            if h is not None and len(h) == count and h[0] + lat > t:
                t = h[0] + lat
        return t

    def record(self, cmd: str, bg: int, ba: int, t: int) -> None:
        for depth in range(1, self.scope[cmd] + 1):
            self.last[(cmd, _key(depth, bg, ba))] = t
        for depth, count in self.counted[cmd]:
            key = (cmd, depth, _key(depth, bg, ba))
            if key not in self.history:
                self.history[key] = deque(maxlen=count)
            self.history[key].append(t)

    # --- who wants what ----------------------------------------------------------------------
    def pim_pending(self) -> bool:
        return self.mac < len(self.mac_row) or self.pim_open >= 0

    def ordinary_waiting(self, t: int) -> bool:
        return bool(self.queue) or (self.next_req < len(self.arrive)
                                    and self.arrive[self.next_req] <= t)

    def update_phase(self, t: int) -> None:
        """Single mode only: hand the channel to the other class at a turn boundary."""
        if self.dual:
            return
        if self.phase == PIM:
            boundary = self.pim_open < 0 and self.turn >= self.pim_quantum
            if not self.pim_pending() or (boundary and self.ordinary_waiting(t)):
                self.phase, self.turn = ORDINARY, 0
        elif self.pim_pending() and (not self.ordinary_waiting(t)
                                     or self.turn >= self.ordinary_quantum):
            self.phase, self.turn = PIM, 0

    def candidates(self, free_row: bool, free_col: bool):
        """(bus, command, bank group, bank, row, column) in priority order."""
        B = self.B
        if self.ref_pending:  # refresh first: close both classes' rows, then REF
            if not free_row:
                return
            if self.pim_open >= 0:
                yield "row", "PREA", 0, 0, -1, -1
            left_open = [b for b in range(self.banks) if self.open[b] >= 0]
            for b in left_open:
                yield "row", "PRE", b // B, b % B, -1, -1
            if self.pim_open < 0 and not left_open:
                yield "row", "REF", 0, 0, -1, -1
            return
        if self.dual or self.phase == PIM:
            if self.mac < len(self.mac_row):
                r = self.mac_row[self.mac]
                if self.pim_open == r:
                    if free_col:
                        yield "column", "MACAB", 0, 0, r, self.mac_col[self.mac]
                elif self.pim_open >= 0:
                    if free_row:
                        yield "row", "PREA", 0, 0, -1, -1
                elif free_row:
                    left_open = [] if self.dual else [b for b in range(self.banks)
                                                      if self.open[b] >= 0]
                    for b in left_open:  # the shared buffer: close the other class's rows
                        yield "row", "PRE", b // B, b % B, -1, -1
                    if not left_open:
                        yield "row", "ACTAB", 0, 0, r, -1
            elif self.pim_open >= 0 and free_row:
                yield "row", "PREA", 0, 0, -1, -1
        if not (self.dual or self.phase == ORDINARY) or not self.queue:
            return
        h = self.queue[0]
        if free_col and self.open[self.bank[h]] == self.row[h]:
            b = self.bank[h]
            yield "column", ("WR" if self.write[h] else "RD"), b // B, b % B, self.row[h], \
                self.col[h]
        if free_row:
            seen = set()
            for q in self.queue:
                b = self.bank[q]
                if b in seen:
                    continue
                seen.add(b)
                if self.open[b] < 0:
                    yield "row", "ACT", b // B, b % B, self.row[q], -1
                elif self.open[b] != self.row[q]:
                    yield "row", "PRE", b // B, b % B, -1, -1

    # --- effects -----------------------------------------------------------------------------
    def issue(self, cmd: str, bg: int, ba: int, row: int, col: int, t: int) -> None:
        self.record(cmd, bg, ba, t)
        self.counts[cmd] += 1
        self.log.append((t, cmd, self.channel, 0, 0, bg, ba, row, col))
        b = bg * self.B + ba
        if cmd == "ACTAB":
            self.pim_open = row
        elif cmd == "MACAB":
            self.mac += 1
        elif cmd == "PREA":
            self.pim_open = -1
            self.turn += not self.ref_pending  # a refresh's PREA ends no tile
            if not self.dual:
                self.open = [-1] * self.banks  # PREA closes the shared buffer of every bank
            self.pim_finish = t
        elif cmd == "ACT":
            self.open[b] = row
        elif cmd == "PRE":
            self.open[b] = -1
        elif cmd == "REF":
            self.ref_pending -= 1
        else:  # RD / WR: the head request is served
            q = self.queue.popleft()
            self.turn += 1
            self.ordinary_finish = t + self.delay[self.write[q]]

    def admit(self, t: int) -> None:
        while (self.next_req < len(self.arrive) and self.arrive[self.next_req] <= t
               and len(self.queue) < self.qsize):
            self.queue.append(self.next_req)
            self.next_req += 1

    def done(self) -> bool:
        return not self.pim_pending() and not self.queue and self.next_req == len(self.arrive)

    def run(self) -> int:
        t = 0
        while True:
            self.admit(t)
            if t >= self.next_ref:  # all-bank refresh every tREFI, with priority
                self.ref_pending += 1
                self.next_ref += self.trefi
            self.update_phase(t)
            if self.done():
                return max(self.pim_finish, self.ordinary_finish)
            free = {"row": True, "column": True}
            wake = NEVER
            for _ in range(2):  # one row and one column command per cycle
                chosen = None
                for bus, cmd, bg, ba, row, col in self.candidates(free["row"], free["column"]):
                    e = self.earliest(cmd, bg, ba)
                    if e <= t:
                        chosen = (cmd, bg, ba, row, col)
                        break
                    wake = min(wake, e)
                if chosen is None:
                    break
                self.issue(*chosen, t)
                free[bus] = False
                self.update_phase(t)
            if not free["row"] or not free["column"]:
                t += 1
                continue
            if self.next_req < len(self.arrive) and len(self.queue) < self.qsize:
                wake = min(wake, self.arrive[self.next_req])
            wake = min(wake, self.next_ref)
            if wake >= NEVER:
                raise PimcError(f"dual-row simulation stalled at cycle {t} (phase {self.phase}, "
                                f"MAC {self.mac}, {len(self.queue)} queued): no command can "
                                "ever issue")
            t = max(t + 1, wake)
