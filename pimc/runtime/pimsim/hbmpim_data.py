"""Operand placement and result readback for functional HBM-PIM runs (PIMSimulator's host side,
PIMSIM.md §6.1-6.2): what `preloadNoReplacement` / `preloadGemv` write before the kernel and
what the host reads (and, for GEMV, sums over the 16 lanes) after it. Placement writes the bank
arrays directly; like PIMSimulator's benchmark, the kernel's cycles exclude it."""
from __future__ import annotations

import numpy as np

from pimc.backends.pim.hbmpim_stream import COLS, ELT_ROWS, GRFS, LANES, tiles_per_out
from pimc.errors import PimcError
from pimc.runtime.pimsim.hbmpim_pim import Device


def _burst_coords(n_bursts: int, channels: int):
    """Scheme8 (ch lowest, then bank, bank group, column, row) for consecutive bursts."""
    b = np.arange(n_bursts)
    ch = b % channels
    ba = (b // channels) % 4
    bg = (b // (4 * channels)) % 4
    colg = b // (16 * channels)
    return ch, bg * 4 + ba, colg // COLS, colg % COLS


def _fp16(name: str, a, n: int) -> np.ndarray:
    a = np.asarray(a)
    if a.size != n:
        raise PimcError(f"{name}: expected {n} elements, got {a.size}")
    return a.astype(np.float16).reshape(-1, LANES)


def elt_load(dev: Device, kernel: str, x, y, elements: int) -> None:
    ops = [x] if kernel == "relu" else [x, y]
    if any(o is None for o in ops):
        raise PimcError(f"{kernel}: functional mode needs {'x' if kernel == 'relu' else 'x and y'}")
    ch, bank, drow, col = _burst_coords(elements // LANES, dev.C)
    for base, op, name in zip(ELT_ROWS, ops, ("x", "y")):
        data = _fp16(name, op, elements)
        for r in np.unique(drow):
            m = drow == r
            dev.row(base + int(r))[ch[m], bank[m], col[m]] = data[m]


def elt_output(dev: Device, elements: int) -> np.ndarray:
    ch, bank, drow, col = _burst_coords(elements // LANES, dev.C)
    out = np.empty((elements // LANES, LANES), np.float16)
    for r in np.unique(drow):
        m = drow == r
        out[m] = dev.row(ELT_ROWS[2] + int(r))[ch[m], bank[m], col[m]]
    return out.reshape(-1)


def gemv_load(dev: Device, w, x, n_out: int, n_in: int):
    """Weights into the banks (preloadGemv); returns the input bursts the kernel broadcasts."""
    if w is None or x is None:
        raise PimcError("gemv: functional mode needs w and x")
    w, x = np.asarray(w), np.asarray(x)
    if w.ndim != 2 or x.shape != (w.shape[1],):
        raise PimcError(f"gemv: w must be rows x cols and x of length cols; got {w.shape}, {x.shape}")
    C = dev.C
    rows_p, cols_p = n_out * GRFS * 8 * C, n_in * GRFS * LANES
    wp = np.zeros((rows_p, cols_p), np.float16)
    wp[:w.shape[0], :w.shape[1]] = w
    xp = np.zeros(cols_p, np.float16)
    xp[:x.size] = x
    wb = wp.reshape(rows_p, cols_p // LANES, LANES)  # bursts
    k = np.arange(64)
    grfb, grfa = k // 8, k % 8
    for j in range(n_out):
        for t in range(n_in):
            base = 64 * (t // 2 + j * tiles_per_out(n_in, t % 2))
            r, c = (base + k) // COLS, (base + k) % COLS
            for g in range(8 * C):
                ch, p = g // 8, g % 8
                bank = 2 * p + t % 2
                o = j * GRFS * 8 * C + 8 * g + grfa
                data = wb[o, t * GRFS + grfb]
                for rr in np.unique(r):
                    m = r == rr
                    dev.row(int(rr))[ch, bank, c[m]] = data[m]
    return xp.reshape(-1, LANES)[:, None, :].repeat(C, axis=1)  # (bursts, C, 16)


def gemv_output(dev: Device, rows: int, n_out: int, n_in: int) -> np.ndarray:
    C = dev.C
    y = np.zeros(n_out * GRFS * 8 * C, np.float32)
    for j in range(n_out):
        base = n_out * (n_in // 2) * 64 + j * GRFS
        for k in range(GRFS):
            r, c = (base + k) // COLS, (base + k) % COLS
            bursts = dev.row(r)[:, 1::2, c]  # (C, 8 blocks, 16) from the odd banks
            # the host's final reduction: sum of the 16 lanes, in fp16 like PIMSimulator's
            sums = bursts.astype(np.float32).sum(axis=-1).astype(np.float16)
            for g in range(8 * C):
                y[j * GRFS * 8 * C + 8 * g + k] = sums[g // 8, g % 8]
    return y[:rows].astype(np.float16)
