"""What a DRAM is, as data: its organisation, its command set, ONE declarative table of timing
rules, its address mapping and its controller's queues. The engine compiles the table into arrays;
an independent checker can re-read the same table and re-verify a command log against it.

Conventions (the same as pimc/targets/spec.py):
- Every latency is a whole number of tCK, the period of the DRAM command clock.
- `nBL` is the tCK one burst holds the data bus (BL4 on a DDR bus, or BL8 on HBM3's QDR bus: 2).

Timing-rule semantics follow Ramulator 2's node tree. A rule (level X, A -> B, d) says: after A
is issued to an address, B may not issue to any address under the same X node earlier than d tCK
later. A `sibling` rule applies instead to the *other* nodes of level X under the same parent
(rank-to-rank switches). A `window` rule (window w > 1) says at most w commands A may issue under
one X node in any d tCK (tFAW: 4 ACTs per rank). The effective gap between two commands is the
maximum over every rule that matches them.
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from functools import cached_property

from pimc.errors import PimcError

# Levels that hold state, outermost first. Rows and columns are address fields below `bank`.
LEVELS = ("channel", "pseudochannel", "rank", "bankgroup", "bank")


class SpecError(PimcError):
    """A DRAM specification that is inconsistent (bad mapping string, unknown parameter...)."""


@dataclass(frozen=True, slots=True)
class Organisation:
    channels: int
    pseudo_channels: int  # per channel; each pseudo-channel gets its own controller
    ranks: int  # per pseudo-channel
    bank_groups: int  # per rank
    banks_per_group: int
    rows: int  # per bank
    columns: int  # column accesses (bursts) per row
    access_bytes: int  # bytes one column access moves

    @property
    def units(self) -> int:
        """Independent controllers: one per pseudo-channel."""
        return self.channels * self.pseudo_channels

    @property
    def banks_per_rank(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def banks_per_unit(self) -> int:
        return self.ranks * self.banks_per_rank

    @property
    def row_bytes(self) -> int:
        return self.columns * self.access_bytes

    @property
    def capacity_bytes(self) -> int:
        return self.units * self.banks_per_unit * self.rows * self.row_bytes

    def count(self, field_name: str) -> int:
        """How many values an address-mapping field takes."""
        return {"ch": self.channels, "pc": self.pseudo_channels, "ra": self.ranks,
                "bg": self.bank_groups, "ba": self.banks_per_group, "ro": self.rows,
                "co": self.columns}[field_name]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    scope: str  # the level the command addresses: "bank", "rank", ...
    bus: str  # "row" or "column": HBM issues one row and one column command per cycle
    meaning: str
    # Bank state, for the checker (PIM commands; the plain ones are known by name): `effect` is
    # "open", "close", "access" or "" (none), and `banks` the banks it acts on: "scope" (every
    # bank under the addressed node), "channel" (every bank of the channel), "bank-all-groups" (the addressed bank index in every bank
    # group, rank and pseudo-channel of the channel), "bank-all-pch" (the addressed bank in every
    # pseudo-channel) or "" (none).
    effect: str = ""
    banks: str = ""


DRAM_COMMANDS = (
    Command("ACT", "bank", "row", "open a row into the bank's row buffer"),
    Command("PRE", "bank", "row", "close the bank's open row"),
    Command("RD", "bank", "column", "read one burst from the open row"),
    Command("WR", "bank", "column", "write one burst into the open row"),
    Command("REF", "rank", "row", "all-bank refresh of one rank (every bank closed)"),
)


@dataclass(frozen=True, slots=True)
class TimingRule:
    level: str
    prev: str
    next: str
    latency: int  # tCK
    window: int = 1
    sibling: bool = False
    formula: str = ""  # how `latency` follows from the timing parameters

    def __str__(self) -> str:
        where = f"other {self.level}" if self.sibling else f"same {self.level}"
        bound = f"{self.window} per {self.latency}" if self.window > 1 else f">= {self.latency}"
        return f"{where}: {self.prev} -> {self.next} {bound} tCK ({self.formula})"


# The plain-DRAM rules, as (level, prev, next, formula[, window][, "sibling"]). The formulas are
# DRAMsim3's src/timing.cc derivations, restated in tests/fixtures/reference/dramsim3/
# hbm2_8gb_x128.md ("Command-to-command minimum gaps"); RL = AL + CL and WL = AL + CWL.
DRAM_RULES = (
    ("bank", "ACT", "ACT", "tRC"),
    ("bankgroup", "ACT", "ACT", "tRRD_L"),
    ("rank", "ACT", "ACT", "tRRD_S"),
    ("rank", "ACT", "ACT", "tFAW", 4),
    ("bank", "ACT", "RD", "tRCD"),
    ("bank", "ACT", "WR", "tRCDWR"),
    ("bank", "ACT", "PRE", "tRAS"),
    ("bank", "PRE", "ACT", "tRP"),
    ("bank", "PRE", "REF", "tRP"),
    ("bank", "RD", "PRE", "AL + tRTP"),
    ("bank", "WR", "PRE", "WL + nBL + tWR"),
    ("bankgroup", "RD", "RD", "max(nBL, tCCD_L)"),
    ("rank", "RD", "RD", "max(nBL, tCCD_S)"),
    ("rank", "RD", "RD", "nBL + tRTRS", "sibling"),
    ("pseudochannel", "RD", "WR", "RL + nBL - WL + tRTRS"),
    ("bankgroup", "WR", "RD", "WL + nBL + tWTR_L"),
    ("rank", "WR", "RD", "WL + nBL + tWTR_S"),
    # Negative on most parts (another rank's read may start while this write's data is still
    # on the bus); build_rules drops a rule that evaluates to <= 0.
    ("rank", "WR", "RD", "WL + nBL + tRTRS - RL", "sibling"),
    ("bankgroup", "WR", "WR", "max(nBL, tCCD_L)"),
    ("rank", "WR", "WR", "max(nBL, tCCD_S)"),
    ("rank", "WR", "WR", "nBL", "sibling"),
    ("rank", "REF", "ACT", "tRFC"),
    ("rank", "REF", "REF", "tRFC"),
)

# AttAcc's HBM3-PIM command set, appended after the five DRAM commands (tests/fixtures/reference/
# attacc/ATTACC.md §3). Scope is the level whose rules the command is checked against (Ramulator
# 2's node path stops there). A command's address is its request's (a bank of pCH 0, as AttAcc's
# traces give it) and `banks` says what it acts on: ACTAB/MACAB are checked down the path to bank
# 0 but act on every bank of the channel, PREA only against channel rules; MACSB and ACTSB/PRESB
# address bank b of bank group 0, rank 0 and stand for bank b of every bank group; MACPB and
# ACTPB/PREPB address one (rank, bank group, bank) of pCH 0 and stand for it in both pCHs. SFM
# is always ready (no rule ends in it) but delays the data moves on its path.
PIM_COMMANDS = (
    Command("ACTAB", "bank", "row", "open one row in every bank of the channel", "open",
            "channel"),
    Command("PREA", "channel", "row", "close every bank of the channel", "close", "channel"),
    Command("MACAB", "bank", "column", "MAC in every bank (BA placement)", "access",
            "channel"),
    Command("ACTSB", "bank", "row", "open bank b of every bank group", "open", "bank-all-groups"),
    Command("PRESB", "bank", "row", "close bank b of every bank group", "close",
            "bank-all-groups"),
    Command("MACSB", "bank", "column", "MAC in bank b of every bank group (BG placement)",
            "access", "bank-all-groups"),
    Command("ACTPB", "bank", "row", "open one bank in both pseudo-channels", "open", "bank-all-pch"),
    Command("PREPB", "bank", "row", "close one bank in both pseudo-channels", "close",
            "bank-all-pch"),
    Command("MACPB", "bank", "column", "MAC on the buffer die from one bank of both pCHs "
            "(BUFFER placement)", "access", "bank-all-pch"),
    Command("WRGB", "bank", "column", "write the query/input vector into the GEMV buffer"),
    Command("MVSB", "bank", "column", "move GEMV results to the softmax buffer"),
    Command("MVGB", "bank", "column", "move softmax output to the GEMV buffer"),
    Command("SFM", "bank", "column", "softmax on the buffer die (no duration modelled)"),
    Command("REFab", "pseudochannel", "row", "all-bank refresh of one pseudo-channel", "refresh",
            "scope"),
)
_MOVES = ("WRGB", "MVSB", "MVGB", "SFM", "RD", "WR")  # share the pCH's internal data path
# AttAcc's PIM timing rules (ATTACC.md §3 table), in the DRAM_RULES format. Left out on purpose:
# the pCH-level rules into REFab (Ramulator checks REFab against channel rules only, so they
# never bind) and any rule into SFM at a level below the channel (likewise never checked).
PIM_RULES = (
    *(("channel", "ACTAB", n, "2") for n in ("ACTAB", "ACT", "PRE", "PREA", "REFab")),
    ("channel", "MACAB", "MACAB", "tCCDAB"),
    ("channel", "ACTAB", "ACTAB", "tRC"),
    ("channel", "ACTAB", "MACAB", "tRCD"),
    ("channel", "ACTAB", "PREA", "tRAS"),
    ("channel", "MACAB", "PREA", "tRTP"),
    ("channel", "PREA", "ACTAB", "tRP"),
    ("pseudochannel", "REFab", "ACTAB", "tRFC"),
    *(("channel", "ACTSB", n, "2") for n in ("ACTSB", "ACT", "PRE", "PREA", "PRESB", "REFab")),
    ("channel", "MACSB", "MACSB", "tCCDSB"),
    ("bank", "ACTSB", "ACTSB", "tRC"),
    ("bank", "ACTSB", "MACSB", "tRCD"),
    ("bank", "ACTSB", "PRESB", "tRAS"),
    ("bank", "MACSB", "PRESB", "tRTP"),
    ("bank", "PRESB", "ACTSB", "tRP"),
    ("pseudochannel", "REFab", "ACTSB", "tRFC"),
    *(("channel", "ACTPB", n, "2") for n in ("ACTPB", "ACT", "PRE", "PREA", "PREPB", "REFab")),
    ("channel", "MACPB", "MACPB", "nBL"),
    ("rank", "MACPB", "MACPB", "tCCD_S"),
    ("bankgroup", "MACPB", "MACPB", "tCCD_L"),
    ("bank", "ACTPB", "ACTPB", "tRC"),
    ("bank", "ACTPB", "MACPB", "tRCD"),
    ("bank", "ACTPB", "PREPB", "tRAS"),
    ("bank", "MACPB", "PREPB", "tRTP"),
    ("bank", "PREPB", "ACTPB", "tRP"),
    ("pseudochannel", "REFab", "ACTPB", "tRFC"),
    *((level, a, b, f) for level, f in (("pseudochannel", "nBL"), ("rank", "tCCD_S"),
                                        ("bankgroup", "tCCD_L"))
      for a in _MOVES for b in _MOVES
      if b != "SFM" and not (a in ("RD", "WR") and b in ("RD", "WR"))),
)

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv}


def evaluate(formula: str, params: dict[str, int]) -> int:
    """An integer formula over timing parameters: names, integers, + - * //, max() and min()."""
    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in params:
                raise SpecError(f"timing formula '{formula}': unknown parameter '{node.id}'; "
                                f"known: {', '.join(sorted(params))}")
            return params[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("max", "min"):
            return (max if node.func.id == "max" else min)(walk(a) for a in node.args)
        raise SpecError(f"timing formula '{formula}': unsupported syntax")
    return walk(ast.parse(formula, mode="eval"))


def build_rules(rows, params: dict[str, int]) -> tuple[TimingRule, ...]:
    """TimingRules from (level, prev, next, formula[, window][, "sibling"]) rows."""
    rules = []
    for level, prev, nxt, formula, *extra in rows:
        window = next((e for e in extra if isinstance(e, int)), 1)
        latency = evaluate(formula, params)
        if latency > 0:
            rules.append(TimingRule(level, prev, nxt, latency, window, "sibling" in extra, formula))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class Controller:
    """The memory controller's queues and policies (defaults: DRAMsim3 on HBM2_8Gb_x128,
    tests/fixtures/reference/dramsim3/hbm2_8gb_x128.md "System / controller")."""

    read_queue: int = 32  # trans_queue_size
    write_buffer: int = 32  # DRAMsim3 gives the write buffer the same size
    bank_queue: int = 8  # cmd_queue_size, per bank (queue_structure PER_BANK)
    write_drain_low: int = 8  # drain when more than this many writes wait and the banks idle
    row_hit_cap: int = 4  # row hits served before a waiting row miss may precharge (DRAMsim3)
    dual_issue: bool = True  # hbm_dual_cmd: a row and a column command in the same cycle


@dataclass(frozen=True, slots=True)
class AddressMapping:
    """Byte address -> coordinates. `scheme` lists two-letter fields from the most significant
    to the least (DRAMsim3's notation: ch, pc (pseudo-channel), ra, bg, ba, ro, co) under the
    offset inside one access, which is dropped. With power-of-two counts each field is a bit
    field, as in DRAMsim3; other counts (5 stacks of 16 channels) decode as mixed-radix digits."""

    scheme: str
    org: Organisation
    strides: tuple[tuple[str, int, int], ...] = field(init=False)  # (name, bytes, count), LSB up

    def __post_init__(self):
        names = [self.scheme[i:i + 2] for i in range(0, len(self.scheme), 2)]
        known = ("ch", "pc", "ra", "bg", "ba", "ro", "co")
        # A field with one value takes no bits and may be left out ("rorabgbachco" on a part
        # without pseudo-channels, as DRAMsim3 writes it).
        missing = [f for f in known if f not in names and self.org.count(f) > 1] \
            if len(self.scheme) % 2 == 0 and set(names) <= set(known) else None
        if missing is None or missing or len(set(names)) != len(names):
            raise SpecError(f"address mapping '{self.scheme}': expected two-letter fields from "
                            f"{', '.join(known)}, each once; fields with more than one value must "
                            f"appear (e.g. 'rorabgbachco')")
        stride, strides = self.org.access_bytes, []
        for name in reversed(names):
            strides.append((name, stride, self.org.count(name)))
            stride *= self.org.count(name)
        strides += [(name, stride, 1) for name in known if name not in names]  # always 0
        object.__setattr__(self, "strides", tuple(strides))

    @property
    def fields(self) -> tuple[tuple[str, int, int], ...]:
        """(name, shift, width) bit fields, when every count is a power of two."""
        out = []
        for name, stride, count in self.strides:
            if count & (count - 1) or stride & (stride - 1):
                raise SpecError(f"address mapping '{self.scheme}': {name} has {count} values, "
                                "not a power of two, so it is not a bit field; use encode()")
            out.append((name, stride.bit_length() - 1, count.bit_length() - 1))
        return tuple(out)

    def decode(self, addresses):
        """{field: array} for an integer numpy array of byte addresses."""
        return {name: addresses // stride % count for name, stride, count in self.strides}

    def encode(self, **coords: int) -> int:
        """The lowest byte address of the given coordinates (absent ones are 0)."""
        return sum(coords.get(name, 0) * stride for name, stride, _ in self.strides)


@dataclass(frozen=True)
class DramSpec:
    """One DRAM part, ready to simulate. `params` holds every timing parameter in tCK (plus
    tCK_ns); `rules` is the table the engine and the checker both read."""

    name: str
    source: str  # where the numbers come from
    org: Organisation
    params: dict[str, int]
    tCK_ns: float
    mapping: str
    controller: Controller = Controller()
    commands: tuple[Command, ...] = DRAM_COMMANDS
    rule_rows: tuple = DRAM_RULES
    energy_pj_per_bit: float | None = None  # data moved, cell to pins (see presets.py)
    pim: dict = field(default_factory=dict)  # PIM figures for the PIM command rows (later)

    @cached_property
    def rules(self) -> tuple[TimingRule, ...]:
        return build_rules(self.rule_rows, self.derived_params)

    @property
    def derived_params(self) -> dict[str, int]:
        p = dict(self.params)
        p.setdefault("AL", 0)
        p["RL"], p["WL"] = p["AL"] + p["CL"], p["AL"] + p["CWL"]
        return p

    @property
    def address_mapping(self) -> AddressMapping:
        return AddressMapping(self.mapping, self.org)

    @property
    def read_delay(self) -> int:
        """READ issue to the last data beat returned."""
        return self.derived_params["RL"] + self.params["nBL"]

    @property
    def write_delay(self) -> int:
        return self.derived_params["WL"] + self.params["nBL"]

    @property
    def peak_bandwidth(self) -> float:
        """Bytes/s: one access per nBL tCK on every pseudo-channel's data bus."""
        return self.org.units * self.org.access_bytes / (self.params["nBL"] * self.tCK_ns * 1e-9)

    def command(self, name: str) -> Command:
        for c in self.commands:
            if c.name == name:
                return c
        raise SpecError(f"{self.name}: unknown command '{name}'; valid: "
                        f"{', '.join(c.name for c in self.commands)}")

    def describe(self) -> str:
        o = self.org
        return (f"{self.name}: {o.channels} ch x {o.pseudo_channels} pch x {o.ranks} rank x "
                f"{o.bank_groups} bg x {o.banks_per_group} banks, {o.rows} rows x {o.row_bytes} B, "
                f"{o.capacity_bytes / 2**30:g} GiB, tCK {self.tCK_ns} ns, "
                f"{self.peak_bandwidth / 1e9:.1f} GB/s peak")
