"""Samsung HBM-PIM (Aquabolt-XL) command streams: the host transactions of PIMSimulator's kernels
(GEMV, ADD, MUL, RELU) for one pseudo-channel, and the CRF programs they write.

Here, in the backend, so that `pimc compile -t hbm-pim --emit pim-cmds` prints the same stream
that runtime/pimsim/hbmpim.py runs cycle by cycle (runtime imports backends, not the reverse).
Every PIM channel receives the same stream (PIMSIM.md §8), so one channel's is the kernel's.

Sequences: tests/fixtures/reference/pimsim/PIMSIM.md §6 (park in, SB->HAB, CRF programming,
HAB->HAB_PIM, compute groups with barriers, HAB_PIM->HAB, HAB->SB, park out), §6.1-6.3 (data
layout, tiling), §3 (CRF instructions), §4 (mode and register rows). A transaction is one 32-byte
READ or WRITE; the controller makes the ACTs and PREs. `tag` is PIMSimulator's own (its trace
prints it with the ACT it causes); a tag containing BAR is a barrier: nothing after it issues
before it, and it issues only once everything before it has. `op` names the step for people.

    txns = gemv_txns(*gemv_tiles(rows=64, cols=256, channels=64))
    print("\\n".join(stream_lines(txns)))
"""
from __future__ import annotations

from dataclasses import dataclass

from pimc.errors import PimcError

# PIMSIM.md §2 (8 PIM blocks per pseudo-channel, 8 GRF_A + 8 GRF_B registers of 16 fp16 lanes)
# and §1 (16 banks, 32 bursts of 32 B per row)
BLOCKS, GRFS, LANES, COLS, BANKS = 8, 8, 16, 32, 16
# PIMSIM.md §4: register space, SB->HAB and HAB->SB trigger rows; park in / out at row 0x1000
REG_ROW, SB_TO_HAB_ROW, HAB_TO_SB_ROW, PARK_ROW = 0x3FFF, 0x17FF, 0x1FFF, 1 << 12
NORMAL_ROWS = 1 << 12  # rows 0..0xFFF hold data; rows with bit 12 set are mode / register rows
ELT_ROWS = (0, 128, 256)  # input 0, input 1, result (PIMSIM.md §6.2)
BAR = "BAR"
EVEN, ODD = "EVEN_BANK", "ODD_BANK"


@dataclass
class Txn:
    """One host transaction: a 32-byte READ or WRITE to (flat bank, row, column)."""

    write: bool
    bank: int  # flat bank 0..15 = bank group * 4 + bank
    row: int
    col: int
    tag: str = ""
    data: object = None  # control burst (dict), CRF entries or fp16 data for register writes
    op: str = ""  # the step it belongs to (stream_lines)

    @property
    def barrier(self) -> bool:
        return BAR in self.tag


@dataclass(frozen=True)
class Instr:
    """One CRF entry. op: FILL, ADD, MUL, MAC, NOP, JUMP, EXIT. `dst`/`src0` are "GRF_A" or
    "GRF_B", `bank` EVEN_BANK or ODD_BANK; `count` is NOP's repeat or JUMP's loop count,
    `offset` how many entries JUMP goes back."""

    op: str
    dst: str = ""
    src0: str = ""
    bank: str = ""
    auto: bool = False
    relu: bool = False
    count: int = 0
    offset: int = 0

    def repeats(self) -> int:
        if self.op == "NOP":
            return self.count + 1
        return 8 if self.op == "FILL" or self.auto else 1

    def text(self, pc: int) -> str:
        if self.op == "NOP":
            return f"NOP {self.count + 1}x"
        if self.op == "JUMP":
            return f"JUMP {self.count}x [PC - {self.offset + 1}]"
        if self.op == "EXIT":
            return "EXIT"
        if self.op == "FILL":
            return f"FILL {self.dst}[0], {self.bank}" + (", relu" if self.relu else "")
        return f"{self.op} {self.dst}[0], {self.src0}[0], {self.bank}" + (", auto" if self.auto else "")


def program(kernel: str, n_tile: int = 1, even_jumps: int = 0, odd_jumps: int = 0) -> list[Instr]:
    """The CRF program PIMSimulator's host writes for a kernel (PIMSIM.md §6)."""
    if kernel in ("ADD", "MUL"):
        p = [Instr("FILL", "GRF_A", bank=EVEN), Instr(kernel, "GRF_A", "GRF_A", EVEN, auto=True),
             Instr("NOP", count=7),
             Instr("FILL", "GRF_B", bank=ODD), Instr(kernel, "GRF_B", "GRF_B", ODD, auto=True),
             Instr("NOP", count=7)]
    elif kernel == "RELU":
        p = [Instr("FILL", "GRF_A", bank=EVEN, relu=True), Instr("NOP", count=7),
             Instr("FILL", "GRF_B", bank=ODD, relu=True), Instr("NOP", count=7)]
    elif kernel == "GEMV":
        p = [Instr("MAC", "GRF_B", "GRF_A", EVEN, auto=True), Instr("JUMP", count=even_jumps, offset=1)]
        if odd_jumps >= 0:
            p += [Instr("MAC", "GRF_B", "GRF_A", ODD, auto=True), Instr("JUMP", count=odd_jumps, offset=1)]
        return p + [Instr("NOP", count=7), Instr("EXIT")]
    else:
        raise ValueError(kernel)
    if n_tile > 1:
        p.append(Instr("JUMP", count=n_tile - 1, offset=len(p)))
    return p + [Instr("EXIT")]


# -- the steps of PIMSIM.md §6 -----------------------------------------------------------------
def _safe(row: int, col: int) -> tuple[int, int]:
    """PIMSimulator's addrGenSafe: a column past the row's 32 wraps into the next row."""
    return row + col // COLS, col % COLS


def _group(out, write, bank, row, col, tag, n=GRFS, barrier=True, data=None, op=""):
    for k in range(n):
        r, c = _safe(row, col + k)
        out.append(Txn(write, bank, r, c, tag, None if data is None else data[k], op))
    if barrier:
        out[-1].tag += BAR


def _park(out, name: str) -> None:
    """A read of row 0x1000 in every bank: each bank's row buffer parked on a known row."""
    for ba in range(4):
        for bg in range(4):
            tag = f"{name}_"
            if bg == 0 and ba == 0:
                tag = "START_" + tag
            elif bg == 3 and ba == 3:
                tag = "END_" + tag
            out.append(Txn(False, bg * 4 + ba, PARK_ROW, 0, tag, op=name))
    out[-1].tag += BAR


def _prologue(out, crf) -> None:
    _park(out, "PARK_IN")
    for bank, tag in ((0, "START_SB_TO_HAB_"), (1, ""), (8, ""), (9, "END_SB_TO_HAB_")):
        out.append(Txn(True, bank, SB_TO_HAB_ROW, 0x1F, tag, op="SB_TO_HAB"))
    out[-1].tag += BAR
    for i in range(0, len(crf), 8):  # 8 CRF entries per 32-byte burst, columns 4..7
        out.append(Txn(True, 1, REG_ROW, 4 + i // 8, "PROGRAM_CRF", crf[i:i + 8], "CRF"))
    out[-1].tag += BAR


def _pim_mode(out, on: bool, toggle: int = 0, zero_b: bool = False) -> None:
    ctrl = dict(pim_op=on, toggle=toggle, zero_grf_a=False, zero_grf_b=zero_b)
    out.append(Txn(True, 0, REG_ROW, 0, "PIM" + BAR, ctrl,
                   "HAB_TO_HAB_PIM" if on else "HAB_PIM_TO_HAB"))


def _epilogue(out) -> None:
    out.append(Txn(True, 0, HAB_TO_SB_ROW, 0x1F, "START_HAB_TO_SB", op="HAB_TO_SB"))
    out.append(Txn(True, 1, HAB_TO_SB_ROW, 0x1F, "END_HAB_TO_SB" + BAR, op="HAB_TO_SB"))
    _park(out, "PARK_OUT")


# -- element-wise kernels (PIMSIM.md §6.2, §6.3) ------------------------------------------------
def eltwise_tiles(kernel: str, elements: int, channels: int) -> int:
    per_tile = BANKS * GRFS * LANES * channels  # 2048 elements per channel per tile
    if elements <= 0 or elements % per_tile:
        raise PimcError(f"--elements: {kernel} on HBM-PIM needs a positive multiple of "
                        f"{per_tile} (16 banks x 8 bursts x 16 lanes x {channels} channels); "
                        f"got {elements}")
    n_tile = elements // per_tile
    if n_tile * GRFS > (ELT_ROWS[1] - ELT_ROWS[0]) * COLS:
        raise PimcError(f"--elements: {elements} {kernel} elements need {n_tile * GRFS // COLS} "
                        f"DRAM rows per bank and operand; HBM-PIM's layout leaves "
                        f"{ELT_ROWS[1] - ELT_ROWS[0]} (max {per_tile * 512} elements on "
                        f"{channels} channels)")
    return n_tile


def eltwise_txns(kernel: str, n_tile: int) -> list[Txn]:
    kind = kernel.upper()
    out: list[Txn] = []
    _prologue(out, program(kind, n_tile))
    _pim_mode(out, True)
    in0, in1, res = ELT_ROWS
    for i in range(n_tile):
        c = GRFS * i
        if kind == "RELU":
            _group(out, False, 0, in0, c, "FILL&ReLU", op="FILL_RELU")
            _group(out, True, 0, res, c, "GRF_A_TO_EVEN_BANK", op="STORE_GRF_A")
            _group(out, False, 1, in0, c, "FILL&ReLU", op="FILL_RELU")
            _group(out, True, 1, res, c, "GRF_B_TO_ODD_BANK", op="STORE_GRF_B")
            continue
        for b in range(2):
            _group(out, False, b, in0, c, "BANK_TO_GRF_", op="FILL")
            _group(out, False, b, in1, c, "ADD", op=kind)
            _group(out, True, b, res, c, "GRF_TO_BANK", op=("STORE_GRF_A", "STORE_GRF_B")[b])
    _pim_mode(out, False)
    _epilogue(out)
    return out


def placement_txns(kernel: str, elements: int, channels: int) -> list[Txn]:
    """The operand writes of PIMSimulator's functional flow (preloadNoReplacement: bursts in
    address order, Scheme8 puts consecutive bursts on consecutive channels, then banks, bank
    groups, columns, rows), for one channel."""
    n, out = elements // LANES // channels, []
    for base in ELT_ROWS[:1 if kernel == "relu" else 2]:
        for b in range(n):
            colg = b // BANKS
            out.append(Txn(True, (b // 4) % 4 * 4 + b % 4, base + colg // COLS, colg % COLS,
                           op="WRITE"))
    return out


# -- GEMV (PIMSIM.md §6.1) ----------------------------------------------------------------------
def gemv_tiles(rows: int, cols: int, channels: int) -> tuple[int, int]:
    """(output tiles, input tiles): 8 rows per block x 8 blocks x channels outputs, 8 bursts of
    16 inputs per tile."""
    if rows <= 0 or cols <= 0:
        raise PimcError(f"--rows/--cols: GEMV needs positive sizes; got {rows} x {cols}")
    if cols % LANES:
        raise PimcError(f"--cols: GEMV inputs must be a multiple of {LANES} (one fp16 burst); got {cols}")
    n_out = -(-rows // (GRFS * BLOCKS * channels))
    n_in = -(-cols // (GRFS * LANES))
    need = (n_out * (n_in // 2) * 64 + n_out * GRFS) // COLS + 1
    need = max(need, (n_out * -(-n_in // 2) * 64) // COLS + 1)
    if need > NORMAL_ROWS:
        raise PimcError(f"--rows/--cols: a {rows} x {cols} GEMV needs {need} DRAM rows per bank "
                        f"on {channels} channels; HBM-PIM has {NORMAL_ROWS} data rows")
    return n_out, n_in


def tiles_per_out(n_in: int, parity: int) -> int:
    """Input tiles per output tile in the even (parity 0) or odd bank. PIMSimulator uses
    n_in // 2 for both, which overlaps the even bank's tiles when n_in is odd and there is more
    than one output tile; the cycles are the same either way."""
    return -(-n_in // 2) if parity == 0 else n_in // 2


def gemv_txns(n_out: int, n_in: int, x_bursts=None) -> list[Txn]:
    """`x_bursts` (functional mode): the input's bursts, 8 per input tile, written to GRF_A."""
    out: list[Txn] = []
    _prologue(out, program("GEMV", even_jumps=GRFS * -(-n_in // 2) - 1,
                           odd_jumps=GRFS * (n_in // 2) - 1 if n_in > 1 else -1))
    for j in range(n_out):
        _pim_mode(out, True, zero_b=True)
        for parity in (0, 1):
            for i in range(parity, n_in, 2):
                data = None if x_bursts is None else x_bursts[i * GRFS:(i + 1) * GRFS]
                for g in range(GRFS):
                    out.append(Txn(True, 1, REG_ROW, 8 + g, "WRIO_TO_GRF_",
                                   None if data is None else data[g], "WR_GRF_A"))
                out[-1].tag += BAR
                col = GRFS * GRFS * (i // 2 + j * tiles_per_out(n_in, parity))
                for c_idx in range(0, 64, 8):
                    _group(out, False, parity, 0, col + c_idx, "MAC_", op="MAC")
        col = n_out * (n_in // 2) * 64 + j * GRFS
        _group(out, True, 1, 0, col, "GRFB_TO_BANK_", op="STORE_GRF_B")
        _pim_mode(out, False)
    _epilogue(out)
    return out


def gemv_stream(rows: int, cols: int, channels: int) -> list[Txn]:
    """One channel's transactions of y = W x (W rows x cols) spread over `channels` channels."""
    return gemv_txns(*gemv_tiles(rows, cols, channels))


# -- text -----------------------------------------------------------------------------------------
def txn_line(t: Txn) -> str:
    """`OP RD|WR bgG baB rowR colC [barrier]`; mode and register rows in hex as PIMSIM.md §4."""
    row = f"row0x{t.row:X}" if t.row >= NORMAL_ROWS else f"row{t.row}"
    line = (f"{t.op or 'TXN'} {'WR' if t.write else 'RD'} bg{t.bank // 4} ba{t.bank % 4} {row} "
            f"col{t.col}" + (" barrier" if t.barrier else ""))
    if t.op == "HAB_TO_HAB_PIM" and t.data and t.data.get("zero_grf_b"):
        line += "  // zero GRF_B"  # the control burst's byte 21 (PIMSIM.md §4)
    if t.op == "CRF" and t.data:
        first = (t.col - 4) * 8  # the burst at column 4 + k holds entries 8k .. 8k + 7
        line += "  // " + "; ".join(ins.text(first + i) for i, ins in enumerate(t.data))
    return line


def stream_lines(txns: list[Txn]) -> list[str]:
    return [txn_line(t) for t in txns]


def txn_counts(txns: list[Txn]) -> dict[str, int]:
    """RD, WR and barrier counts, then each step's transactions in order of first appearance."""
    counts = {"RD": 0, "WR": 0, "barriers": 0}
    for t in txns:
        counts["WR" if t.write else "RD"] += 1
        counts["barriers"] += t.barrier
        key = t.op or "TXN"
        counts[key] = counts.get(key, 0) + 1
    return counts
