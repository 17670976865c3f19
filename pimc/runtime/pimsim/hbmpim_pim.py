"""Samsung HBM-PIM's device side: the SB / HAB / HAB_PIM mode machine of one pseudo-channel,
its CRF program and its 8 PIM blocks (16-lane fp16 SIMD, GRF_A / GRF_B), with data.

Facts from tests/fixtures/reference/pimsim/PIMSIM.md §2 (blocks, registers), §3 (instruction set,
auto-indexing, NOP / JUMP / EXIT), §4 (modes, special rows, register space) and the traces
(how instructions and mode events are printed). Every channel of a kernel receives the same
command stream, so one Device holds the data of all C channels (leading axis) and executes each
command on all of them at once.
"""
from __future__ import annotations

import numpy as np

from pimc.backends.pim.hbmpim_stream import (BANKS, BLOCKS, COLS, EVEN, GRFS, HAB_TO_SB_ROW,
                                             LANES, REG_ROW, SB_TO_HAB_ROW, Instr, program)
from pimc.runtime.pimsim.hbmpim_ctrl import HAB, HAB_PIM, SB, Issued

NORMAL_ROW_BIT = 1 << 12  # rows with this bit set are plain accesses, never PIM triggers
# program: the CRF programs are the backend's (hbmpim_stream); tests read them from here too
__all__ = ["Device", "Instr", "program", "BANKS", "BLOCKS", "COLS", "GRFS", "LANES"]


class Device:
    """Mode machine + PIM blocks of C identical pseudo-channels. `rows[row]` holds the bank
    data of that row: fp16 array (C, 16 banks, 32 columns, 16 lanes)."""

    def __init__(self, channels: int = 1, functional: bool = False):
        self.mode, self.C, self.functional = SB, channels, functional
        self.rows: dict[int, np.ndarray] = {}
        self.grf = {"GRF_A": np.zeros((channels, BLOCKS, GRFS, LANES), np.float16),
                    "GRF_B": np.zeros((channels, BLOCKS, GRFS, LANES), np.float16)}
        self.crf: list[Instr] = []
        self.pc = self.rep = 0
        self.jumps: dict[int, int] = {}
        self.toggle = 0
        self.use_all_grf = False
        self.sb_to_hab: set[int] = set()
        self.hab_to_sb: set[int] = set()
        self.last_row = np.zeros(BANKS, np.int64)  # printed with PRE (last normal row opened)
        self.trace: list[tuple] = []  # (printed cycle, kind, command, bank, row, col, pc, instr, reg, tag)
        self.pim_ops = 0  # triggered arithmetic instructions (x 8 blocks x 16 lanes each)

    # -- data ---------------------------------------------------------------------------------
    def row(self, r: int) -> np.ndarray:
        if r not in self.rows:
            self.rows[r] = np.zeros((self.C, BANKS, COLS, LANES), np.float16)
        return self.rows[r]

    def _bank(self, r: int, parity: int, col: int) -> np.ndarray:
        return self.row(r)[:, parity::2, col]  # (C, 8 blocks, 16)

    # -- commands -----------------------------------------------------------------------------
    def execute(self, rec: Issued) -> None:
        cmd, bank, row = rec.command, rec.bank, rec.row
        if rec.rank != 0:
            return
        names = {"ACT": "ACTIVATE", "PRE": "PRECHARGE", "RD": "READ", "WR": "WRITE", "REF": "REFRESH"}
        if cmd == "ACT":
            self.trace.append((rec.printed, "dram_cmd", "ACTIVATE", bank, row, rec.col, "", "", "", rec.tag))
            if not row & NORMAL_ROW_BIT:
                same = range(bank % 2, BANKS, 2) if self.mode != SB else [bank]
                self.last_row[list(same)] = row
            if self.mode == SB and row == SB_TO_HAB_ROW:
                self.sb_to_hab.add(bank)
                if self.sb_to_hab >= {0, 1, 8, 9}:
                    self.mode, self.sb_to_hab = HAB, set()
                    self.trace.append((rec.printed, "pim_event", "HAB", "", "", "", "", "", "", rec.tag))
            return
        if cmd == "PRE":
            self.trace.append((rec.printed, "dram_cmd", "PRECHARGE", bank,
                               int(self.last_row[bank]), "", "", "", "", ""))
            if self.mode == HAB and row == HAB_TO_SB_ROW and bank < 2:
                self.hab_to_sb.add(bank)
                if self.hab_to_sb >= {0, 1}:
                    self.mode, self.hab_to_sb = SB, set()
                    self.trace.append((rec.printed, "pim_event", "SB_mode", "", "", "", "", "", "", ""))
            return
        if cmd == "REF":
            self.trace.append((rec.printed, "dram_cmd", "REFRESH", "", "", "", "", "", "", ""))
            return
        if row == REG_ROW and self.mode != SB:
            self._register_write(rec)
            return
        triggers = (self.mode == HAB_PIM and (not row & NORMAL_ROW_BIT or self.toggle & 4)
                    and (self.toggle & 3 == 0 or (self.toggle & 3) == (1 if bank % 2 else 2)))
        if not triggers:
            self.trace.append((rec.printed, "dram_cmd", names[cmd], bank, row, rec.col, "", "", "", ""))
            if not self.functional:
                return
            if self.mode != SB and not row & NORMAL_ROW_BIT:
                self._hab_copy(cmd, bank, row, rec.col)  # BANK_TO_PIM / PIM_TO_BANK
            elif cmd == "WR" and rec.txn is not None and rec.txn.data is not None:
                self.row(row)[:, bank, rec.col] = rec.txn.data
            return
        self._trigger(rec, names[cmd])

    def _hab_copy(self, cmd: str, bank: int, row: int, col: int) -> None:
        """HAB mode, a normal row (PIMSIM.md §4): a RD copies the bank burst of every block's
        bank of that parity into a GRF, a WR copies the GRF back. The GRF is GRF_B[col % 8], or
        with use-all-GRF GRF_A[col & 15] / GRF_B[(col & 15) - 8] (PIMRank::readHab)."""
        k = col & 15 if self.use_all_grf else 8 + col % 8
        name, idx = ("GRF_A", k) if k < 8 else ("GRF_B", k - 8)
        if cmd == "RD":
            self.grf[name][:, :, idx] = self._bank(row, bank % 2, col)
        else:
            self.row(row)[:, bank % 2::2, col] = self.grf[name][:, :, idx]

    def _register_write(self, rec: Issued) -> None:
        col, data = rec.col, (rec.txn.data if rec.txn is not None else None)
        if col == 0:
            ctrl = data or {}
            self.use_all_grf = bool(ctrl.get("use_all_grf"))
            if ctrl.get("pim_op"):
                self.mode, self.pc, self.rep, self.jumps = HAB_PIM, 0, 0, {}
                self.toggle = ctrl.get("toggle", 0)
                for name, key in (("GRF_A", "zero_grf_a"), ("GRF_B", "zero_grf_b")):
                    if ctrl.get(key):
                        self.grf[name][:] = 0
                self.trace.append((rec.printed, "pim_event", "HAB_PIM", "", "", "", "", "", "", ""))
            else:
                self.mode = HAB
                self.trace.append((rec.printed, "pim_event", "HAB_mode", "", "", "", "", "", "", ""))
        elif 4 <= col <= 7:
            self.crf[(col - 4) * 8:(col - 4) * 8 + 8] = data or []
            self.trace.append((rec.printed, "pim_event", "BWRITE_CRF", "", "", "", "", "", col - 4, ""))
        elif 8 <= col <= 15 or 0x18 <= col <= 0x1F:
            name, idx = ("GRF_A", col - 8) if col < 16 else ("GRF_B", col - 0x18)
            if self.functional and data is not None:
                self.grf[name][:, :, idx] = np.asarray(data, np.float16)[:, None, :]
            self.trace.append((rec.printed, "pim_event", f"BWRITE_{name}", "", "", "", "", "", idx, ""))

    def _trigger(self, rec: Issued, name: str) -> None:
        """Run the CRF instruction at the PC for one triggering column command."""
        while True:
            if self.pc >= len(self.crf):
                return
            ins = self.crf[self.pc]
            if ins.op == "JUMP":
                left = self.jumps.get(self.pc, ins.count)
                if left > 0:
                    self.jumps[self.pc] = left - 1
                    self.trace.append((rec.printed, "dram_cmd", name, rec.bank, rec.row, rec.col,
                                       self.pc, ins.text(self.pc), "", ""))
                    self.pc -= ins.offset
                else:
                    self.jumps.pop(self.pc, None)
                    self.pc += 1
                continue
            if ins.op == "EXIT":
                return
            self.trace.append((rec.printed, "dram_cmd", name, rec.bank, rec.row, rec.col, self.pc,
                               ins.text(self.pc), "", ""))
            if self.functional:
                self._compute(ins, rec)
            if ins.op != "NOP":
                self.pim_ops += 1
            self.rep += 1
            if self.rep >= ins.repeats():
                self.pc, self.rep = self.pc + 1, 0
            return

    def _compute(self, ins: Instr, rec: Issued) -> None:
        row, col = rec.row, rec.col
        idx = col % GRFS
        if ins.op == "NOP":
            if rec.command == "WR":  # store GRF_A (even bank) / GRF_B (odd bank) to the bank
                src = self.grf["GRF_A" if rec.bank % 2 == 0 else "GRF_B"][:, :, idx]
                self.row(row)[:, rec.bank % 2::2, col] = src
            return
        bank = self._bank(row, 0 if ins.bank == EVEN else 1, col)
        dst = self.grf[ins.dst]
        if ins.op == "FILL":
            dst[:, :, idx] = np.maximum(bank, np.float16(0)) if ins.relu else bank
        elif ins.op == "ADD":
            dst[:, :, idx] = self.grf[ins.src0][:, :, idx] + bank
        elif ins.op == "MUL":
            dst[:, :, idx] = self.grf[ins.src0][:, :, idx] * bank
        elif ins.op == "MAC":
            a_idx = (row & 1) * 4 + ((col >> 3) & 3)
            product = self.grf["GRF_A"][:, :, a_idx] * bank  # fp16 multiply, rounded
            dst[:, :, idx] = dst[:, :, idx] + product  # fp16 accumulate, rounded
