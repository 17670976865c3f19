"""An independent timing checker: re-reads a command log and reports every command that breaks
the spec's declarative timing table or the bank protocol.

It is written apart from the scheduler on purpose: it imports only the spec (organisation,
command set, rule table) and evaluates each rule straight from its (level, prev, next, latency,
window, sibling) row, so an engine that compiled the table wrongly disagrees with it. Clarity
comes before speed, but bookkeeping is per node (the last cycle each command issued under each
channel, pseudo-channel, rank, bank group and bank), so a command costs O(rules that end in it).

Matching, as spec.py defines it (Ramulator 2's node tree): a rule at level X relates two commands
whose addresses agree from the channel down to X. A command addresses the levels down to its
scope; below that it covers every node (a rank-scope REF is under every bank of its rank), so two
commands agree down to the shallowest of X and their two scopes. A sibling rule relates commands
under the same parent of X but in different X nodes; it needs both to address level X.

The log is the engine's (`DramResult.log`): records with fields `LOG_FIELDS`, by name in a numpy
structured array or in that order in tuples. Bank fields of a rank-scope command are ignored.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import product

import numpy as np

from pimc.runtime.pimsim.spec import LEVELS, DramSpec, TimingRule

LOG_FIELDS = ("cycle", "command", "channel", "pseudo_channel", "rank", "bankgroup", "bank", "row",
              "column")
DEPTH = {level: i + 1 for i, level in enumerate(LEVELS)}  # address prefix length per level
OPENS, CLOSES, ACCESSES, REFRESHES = "ACT", "PRE", ("RD", "WR"), "REF"


@dataclass(frozen=True)
class Violation:
    """One broken rule. `kind` is "timing", "window", "protocol" or "bus"; the timing fields
    (rule, prev_cycle, required, actual, window_count) are set where they apply."""

    index: int  # position in the log as given
    cycle: int
    command: str
    address: tuple[int, ...]  # channel, pseudo-channel, rank, bank group, bank (to the scope)
    row: int
    column: int
    kind: str
    rule: TimingRule | None = None
    prev_cycle: int | None = None  # the preceding command that binds (window: the oldest)
    required: int | None = None  # tCK
    actual: int | None = None  # tCK since prev_cycle
    window_count: int | None = None  # prev commands in the window, this one included
    message: str = ""

    def __str__(self) -> str:
        names = ("ch", "pc", "ra", "bg", "ba")
        where = " ".join(f"{n}{v}" for n, v in zip(names, self.address))
        if self.row >= 0:
            where += f" row {self.row}"
        if self.column >= 0:
            where += f" col {self.column}"
        head = f"cycle {self.cycle}: {self.command} {where}: "
        if self.kind == "timing":
            return (f"{head}violates {self.rule}: {self.rule.prev} at cycle {self.prev_cycle}, "
                    f"gap {self.actual} < {self.required}")
        if self.kind == "window":
            return (f"{head}violates {self.rule}: {self.window_count} {self.rule.prev} in "
                    f"{self.actual + 1} tCK from cycle {self.prev_cycle}")
        return f"{head}{self.kind}: {self.message}"


def check_log(spec: DramSpec, log) -> list[Violation]:
    """Every violation in `log`, in issue order (cycle, then log order within a cycle)."""
    return _Checker(spec).run(_columns(log))


def _columns(log) -> dict[str, list]:
    """The log as one Python list per field (fast to iterate)."""
    if isinstance(log, np.ndarray) and log.dtype.names:
        return {name: log[name].tolist() for name in LOG_FIELDS}
    rows = list(log)
    return {name: [r[i] for r in rows] for i, name in enumerate(LOG_FIELDS)}


class _Checker:
    def __init__(self, spec: DramSpec):
        self.spec = spec
        org = spec.org
        self.counts = {"channel": org.channels, "pseudochannel": org.pseudo_channels,
                       "rank": org.ranks, "bankgroup": org.bank_groups,
                       "bank": org.banks_per_group}
        self.scope = {c.name: DEPTH[c.scope] for c in spec.commands}
        self.bus = {c.name: c.bus for c in spec.commands}
        # PIM commands say which banks they open, close, access or refresh (spec.Command).
        self.effects = {c.name: (c.effect, c.banks) for c in spec.commands if c.effect}
        # Rules indexed by the command they constrain, so each command visits only its own.
        self.gaps: dict[str, list[TimingRule]] = {c: [] for c in self.scope}
        self.siblings: dict[str, list[TimingRule]] = {c: [] for c in self.scope}
        self.windows: dict[str, list[TimingRule]] = {c: [] for c in self.scope}
        self.windows_from: dict[str, list[TimingRule]] = {c: [] for c in self.scope}
        for rule in spec.rules:
            for name in (rule.prev, rule.next):
                spec.command(name)  # an unknown name in the table is a SpecError
            if rule.window > 1:
                self.windows[rule.next].append(rule)
                self.windows_from[rule.prev].append(rule)
            elif rule.sibling:
                self.siblings[rule.next].append(rule)
            else:
                self.gaps[rule.next].append(rule)
        self.last: dict[tuple, int] = {}  # (command, address prefix) -> last issue cycle
        self.history: dict[tuple, deque] = {}  # (window rule, node) -> its last `window` cycles
        self.open_rows: dict[tuple, int] = {}  # bank address -> open row
        # NeuPIMs' dual row buffers (spec.pim["row_buffers"] == 2, dual_row.py): PIM commands
        # open, use and close a second buffer per bank, apart from ACT/PRE/RD/WR's.
        self.pim_rows = {} if spec.pim.get("row_buffers", 1) == 2 else self.open_rows
        self.bus_use: dict[tuple, list] = {}  # (channel, pseudo-channel) -> [cycle, buses]
        self.found: list[Violation] = []

    def run(self, cols) -> list[Violation]:
        # Issue order is cycle order; within a cycle the log's own order (dual issue) counts.
        order = np.argsort(np.asarray(cols["cycle"], dtype=np.int64), kind="stable").tolist()
        fields = [cols[name] for name in LOG_FIELDS]
        for i in order:
            cycle, name, ch, pc, ra, bg, ba, row, col = (f[i] for f in fields)
            self.index, self.where = i, (cycle, name, row, col)
            if name not in self.scope:
                self.report((ch, pc, ra, bg, ba), "protocol",
                            message=f"unknown command; valid: {', '.join(self.scope)}")
                continue
            addr = (ch, pc, ra, bg, ba)[:self.scope[name]]
            if not self.in_organisation(addr):
                continue
            self.check_bus(cycle, name, addr)
            self.check_gaps(cycle, name, addr)
            self.check_siblings(cycle, name, addr)
            self.check_windows(cycle, name, addr)
            self.check_protocol(name, addr, row)
            self.record(cycle, name, addr)
        return self.found

    def report(self, addr, kind, **details) -> None:
        cycle, name, row, col = self.where
        self.found.append(Violation(self.index, cycle, name, tuple(addr), row, col, kind,
                                    **details))

    def in_organisation(self, addr) -> bool:
        for level, value in zip(LEVELS, addr):
            if not 0 <= value < self.counts[level]:
                self.report(addr, "protocol", message=f"{level} {value} is outside the "
                            f"organisation ({self.counts[level]} per parent)")
                return False
        org = self.spec.org
        _, _, row, col = self.where
        if row >= org.rows or col >= org.columns:
            self.report(addr, "protocol", message=f"row {row} or column {col} is outside the "
                        f"organisation ({org.rows} rows, {org.columns} columns)")
            return False
        return True

    def check_bus(self, cycle, name, addr) -> None:
        """One row and one column command per cycle per pseudo-channel (each has its own
        controller and command bus); a single command per cycle without dual issue."""
        used = self.bus_use.setdefault(addr[:2], [cycle, []])
        if used[0] != cycle:
            used[:] = [cycle, []]
        bus = self.bus[name]
        if bus in used[1] or (used[1] and not self.spec.controller.dual_issue):
            self.report(addr, "bus", message=f"a second command in one cycle on this "
                        f"pseudo-channel's {'/'.join(used[1])} command bus")
        used[1].append(bus)

    def check_gaps(self, cycle, name, addr) -> None:
        for rule in self.gaps[name]:
            # The latest prev under the shared node binds: it gives the largest earliest cycle.
            depth = min(DEPTH[rule.level], self.scope[rule.prev], len(addr))
            prev = self.last.get((rule.prev, addr[:depth]))
            if prev is not None and cycle - prev < rule.latency:
                self.report(addr, "timing", rule=rule, prev_cycle=prev, required=rule.latency,
                            actual=cycle - prev)

    def check_siblings(self, cycle, name, addr) -> None:
        for rule in self.siblings[name]:
            depth = DEPTH[rule.level]
            if min(len(addr), self.scope[rule.prev]) < depth:
                continue  # one of them does not address this level: no sibling relation
            others = (addr[:depth - 1] + (v,) for v in range(self.counts[rule.level])
                      if v != addr[depth - 1])
            prevs = [t for key in others if (t := self.last.get((rule.prev, key))) is not None]
            if prevs and cycle - max(prevs) < rule.latency:
                self.report(addr, "timing", rule=rule, prev_cycle=max(prevs),
                            required=rule.latency, actual=cycle - max(prevs))

    def check_windows(self, cycle, name, addr) -> None:
        for rule in self.windows[name]:
            for node in self.window_nodes(rule, addr):
                recent = self.history.get((rule, node), ())
                if len(recent) == rule.window and cycle - recent[0] < rule.latency:
                    # `recent` holds the last `window` prevs, so all of them lie in the window.
                    count = rule.window + (rule.prev == name)
                    self.report(addr, "window", rule=rule, prev_cycle=recent[0],
                                required=rule.latency, actual=cycle - recent[0],
                                window_count=count)

    def window_nodes(self, rule, addr):
        """The nodes whose window this command falls in: its own, or every node under it when
        its scope is wider than the window's level (each window is counted separately)."""
        depth = min(DEPTH[rule.level], self.scope[rule.prev])
        return [addr[:depth]] if len(addr) >= depth else self.banks_under(addr, depth)

    def banks_under(self, addr, depth=len(LEVELS)):
        """Every node at `depth` (by default every bank) under the node `addr`."""
        below = [range(self.counts[level]) for level in LEVELS[len(addr):depth]]
        return [addr + tail for tail in product(*below)]

    def check_protocol(self, name, addr, row) -> None:
        """Bank state for the plain DRAM commands and for PIM commands with an `effect`."""
        if name in self.effects:
            self.check_effect(name, addr, row)
        elif name in (OPENS, CLOSES, *ACCESSES) and len(addr) == len(LEVELS):
            open_row = self.open_rows.get(addr)
            if name == OPENS:
                if open_row is not None:
                    self.report(addr, "protocol", message=f"ACT to a bank with row {open_row} "
                                "already open")
                self.open_rows[addr] = row
            elif open_row is None:
                # DRAMs accept a PRE to an idle bank as a no-op, but a scheduler that sends one
                # has lost track of its banks, so the reference flags it.
                what = "PRE to" if name == CLOSES else f"{name} to"
                self.report(addr, "protocol", message=f"{what} a closed bank")
            elif row >= 0 and row != open_row:
                self.report(addr, "protocol", message=f"{name} names row {row} but row "
                            f"{open_row} is open")
            if name == CLOSES:
                self.open_rows.pop(addr, None)
        elif name == REFRESHES:
            states = [self.open_rows] + [self.pim_rows] * (self.pim_rows is not self.open_rows)
            still_open = [(bank, rows[bank]) for rows in states for bank in self.banks_under(addr)
                          if bank in rows]
            if still_open:
                banks = ", ".join(f"bg{b[3]} ba{b[4]} (row {r})" for b, r in still_open)
                self.report(addr, "protocol", message=f"REF with open banks: {banks}")

    def effect_banks(self, banks, addr):
        """The banks a PIM command acts on (spec.Command.banks)."""
        if banks == "channel":
            return self.banks_under(addr[:1])
        if banks == "bank-all-groups" and len(addr) == len(LEVELS):
            return [addr[:1] + mid + addr[4:] for mid in product(
                *(range(self.counts[lv]) for lv in ("pseudochannel", "rank", "bankgroup")))]
        if banks == "bank-all-pch" and len(addr) == len(LEVELS):
            return [addr[:1] + (p,) + addr[2:] for p in range(self.counts["pseudochannel"])]
        return self.banks_under(addr)

    def check_effect(self, name, addr, row) -> None:
        effect, banks = self.effects[name]
        targets = self.effect_banks(banks, addr)
        if effect == "open":
            busy = [b for b in targets if b in self.pim_rows]
            if busy:
                self.report(addr, "protocol", message=f"{name} to {len(busy)} bank(s) already "
                            f"open (first: bg{busy[0][3]} ba{busy[0][4]} row "
                            f"{self.pim_rows[busy[0]]})")
            for b in targets:
                self.pim_rows[b] = row
        elif effect == "close":
            for b in targets:
                self.pim_rows.pop(b, None)
        elif effect == "access":
            wrong = [b for b in targets if self.pim_rows.get(b) != row]
            if wrong:
                self.report(addr, "protocol", message=f"{name} to row {row} but {len(wrong)} "
                            f"of its banks have another row or none open (first: "
                            f"{self.pim_rows.get(wrong[0])})")
        elif effect == "refresh":
            still_open = [b for b in targets if b in self.open_rows or b in self.pim_rows]
            if still_open:
                self.report(addr, "protocol", message=f"{name} with {len(still_open)} open "
                            "bank(s)")

    def record(self, cycle, name, addr) -> None:
        for depth in range(1, len(addr) + 1):
            self.last[(name, addr[:depth])] = cycle
        for rule in self.windows_from[name]:
            depth = min(DEPTH[rule.level], len(addr))
            key = (rule, addr[:depth])
            if key not in self.history:
                self.history[key] = deque(maxlen=rule.window)
            self.history[key].append(cycle)
