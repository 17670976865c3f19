"""Functional PIM: the command streams of backends/pim carry data.

`attention(q, k, v, placement, org)` and `gemv(w, x, placement, org)` build the memory image
(channel, row, pseudo-channel, rank, group, bank, column -> fp16 elements) from K/V or W exactly
where the layout places them, then interpret the stream's commands in order:
- WRGB writes the host's query/input slice into the addressed units' global buffer;
- a MAC reads the addressed column in every bank it acts on (Geometry.lanes) and multiplies it
  with the global buffer: a dot product accumulated per unit and key/row (scores, GEMV), or the
  unit's probability times the value column accumulated per output slice (context);
- MVSB moves a block of results from the units under (rank, group) to the buffer die (scores,
  y) or sums the units' output slices there (context);
- SFM is the softmax of one head's scores on the buffer die; MVGB moves probabilities into the
  units' global buffers; BARRIER only orders.
Which key, row or slice a command works on comes from its address fields through the same
layout object that placed the data (attention_pimc.py, gemv_stream.py document the encoding).
Buffers start as NaN, so a command that is missing leaves NaN or a wrong sum in the result.
Arithmetic: fp16 operands, fp32 accumulation (AttAcc's and NeuPIMs' MAC units accumulate wider).
"""
from __future__ import annotations

import numpy as np

from pimc.backends.pim.attention_pimc import BLOCK, AttentionLayout
from pimc.backends.pim.attention_stream import BARRIER, MAC, MVGB, MVSB, SFM, WRGB
from pimc.backends.pim.gemv_stream import GemvLayout
from pimc.errors import PimcError


def _image(geo, nrows: int) -> np.ndarray:
    o = geo.org
    return np.zeros((o.channels, nrows, o.pseudo_channels, o.ranks, o.bank_groups, o.banks,
                     o.columns, geo.nmac), np.float16)


def _place(mem, geo, c, unit, part, i, base, values) -> None:
    """values[...] (one nmac vector each) of `unit`'s MAC numbers i into channel c's image."""
    rank, bg, bank, row, col = geo.mac_address(i, base)
    p, r, g, b = geo.unit_lane(unit, part, rank, bg, bank)
    mem[c, row, p, r, g, b, col] = values


def _pad(a: np.ndarray, shape) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


def _by_rank(geo, rank: int) -> np.ndarray:
    lanes = geo.lanes()
    if geo.placement != "BUFFER":
        lanes = lanes[lanes[:, 1] == rank]
    return np.unique(lanes[:, 4])


def attention(q, k, v, placement: str = "BA", org=None, dbyte: int = 2, scale=None,
              stream=None) -> np.ndarray:
    """Decode attention on one stack: q [H, D], k and v [Hkv, L, D] (H a multiple of Hkv; query
    head h reads KV head h // (H / Hkv), stored once per query head). Returns [H, D] fp32."""
    q, k, v = (np.asarray(a, np.float16) for a in (q, k, v))
    H, D = q.shape
    Hkv, L, _ = k.shape
    if H % Hkv:
        raise PimcError(f"attention: {H} query heads are not a multiple of {Hkv} KV heads")
    lay = AttentionLayout(L, H, D, dbyte, placement, org)
    geo, o, U, keys, kk = lay.geo, lay.org, lay.U, lay.keys, lay.kk
    width = geo.split * kk * geo.nmac
    mem = _image(geo, 2 * lay.G * lay.region)
    u, part, n, kq = (a.ravel() for a in np.meshgrid(np.arange(U), np.arange(geo.split),
                                                    np.arange(keys), np.arange(kk), indexing="ij"))
    for h in range(H):
        g, c = divmod(h, o.channels)
        kp = _pad(k[h * Hkv // H], (U * keys, width)).reshape(U * keys, -1, geo.nmac)
        vp = _pad(v[h * Hkv // H], (U * keys, width)).reshape(U * keys, -1, geo.nmac)
        _place(mem, geo, c, u, part, n * kk + kq, lay.kbase(g), kp[u * keys + n, part * kk + kq])
        _place(mem, geo, c, u, part, kq * keys + n, lay.vbase(g), vp[u * keys + n, part * kk + kq])
    qp = _pad(q, (H, width)).reshape(H, geo.split, kk, geo.nmac)
    shape = (o.channels, lay.G)
    gbq = np.full(shape + (geo.split, kk, geo.nmac), np.nan, np.float32)
    acc_s = np.zeros(shape + (U, keys), np.float32)
    scores = np.full(shape + (U * keys,), np.nan, np.float32)
    probs = np.full(shape + (U * keys,), np.nan, np.float32)
    gbp = np.full(shape + (U, keys), np.nan, np.float32)
    acc_c = np.zeros(shape + (U, geo.split, kk, geo.nmac), np.float32)
    out = np.zeros(shape + (width,), np.float32)
    scale = 1.0 / np.sqrt(D) if scale is None else scale
    stream = lay.stream() if stream is None else stream
    for cmd in stream:
        op, c, rank, bg, bank, row, col = (int(cmd[f]) for f in cmd.dtype.names)
        if op == BARRIER:
            continue
        g, kind = lay.region_of(row)
        h = g * o.channels + c
        if op == WRGB:
            gbq[c, g, bank, col] = qp[h, bank, col]
        elif op == MAC:
            lanes = geo.lanes(rank, bg, bank)
            data = mem[c, row, lanes[:, 0], lanes[:, 1], lanes[:, 2], lanes[:, 3], col]
            data = data.astype(np.float32)
            i = geo.mac_index(rank, bg, bank, row, col, lay.kbase(g) if kind == "K"
                              else lay.vbase(g))
            if kind == "K":
                key, s = divmod(i, kk)
                dots = (data * gbq[c, g, lanes[:, 5], s]).sum(1)
                np.add.at(acc_s[c, g], (lanes[:, 4], key), dots)
            else:
                j, key = divmod(i, keys)
                np.add.at(acc_c[c, g], (lanes[:, 4], lanes[:, 5], j),
                          data * gbp[c, g, lanes[:, 4], key][:, None])
        elif op == MVSB and kind == "K":
            blk = np.arange(BLOCK * col, min(BLOCK * col + BLOCK, keys))
            for un in geo.drained(rank, bg):
                scores[c, g, un * keys + blk] = acc_s[c, g, un, blk]
        elif op == MVSB:
            units = _by_rank(geo, rank)
            p = bank if placement == "BA" else 0
            out[c, g, lay.slice_of(p, col)] += acc_c[c, g, units, p, col].sum(0)
        elif op == SFM:
            s = scores[c, g] * scale
            s[L:] = -np.inf  # the last units' padding keys
            e = np.exp(s - np.max(s))
            probs[c, g] = e / e.sum()
        elif op == MVGB:
            blk = np.arange(col * geo.nmac, min((col + 1) * geo.nmac, keys))
            for un in geo.drained(rank, bg):
                gbp[c, g, un, blk] = probs[c, g, un * keys + blk]
    return np.stack([out[h % o.channels, h // o.channels, :D] for h in range(H)])


def gemv(w, x, placement: str = "BA", org=None, dbyte: int = 2, rows_per_unit=None,
         stream=None) -> np.ndarray:
    """y = x W^T on one stack: w [rows, cols], x [batch, cols]. Returns [batch, rows] fp32."""
    w, x = np.asarray(w, np.float16), np.atleast_2d(np.asarray(x, np.float16))
    rows, cols = w.shape
    lay = GemvLayout(rows, cols, x.shape[0], dbyte, placement, org, rows_per_unit)
    geo, o, U, rpu, kk = lay.geo, lay.org, lay.U, lay.rpu, lay.kk
    width = kk * geo.nmac
    mem = _image(geo, lay.region)
    wp = _pad(w, (o.channels * U * rpu, width)).reshape(-1, kk, geo.nmac)
    u, n, s = (a.ravel() for a in np.meshgrid(np.arange(U), np.arange(rpu), np.arange(kk),
                                              indexing="ij"))
    for c in lay.chans:
        _place(mem, geo, c, u, 0, n * kk + s, 0, wp[lay.row_of(c, u, n), s])
    xp = _pad(x, (x.shape[0], width)).reshape(x.shape[0], kk, geo.nmac)
    gb = np.full((o.channels, kk, geo.nmac), np.nan, np.float32)
    acc = np.zeros((o.channels, U, rpu), np.float32)
    y = np.full((x.shape[0], o.channels * U * rpu), np.nan, np.float32)
    stream = lay.stream() if stream is None else stream
    for cmd in stream:
        op, c, rank, bg, bank, row, col = (int(cmd[f]) for f in cmd.dtype.names)
        if op == WRGB:
            gb[c, col] = xp[row, col]
        elif op == MAC:
            lanes = geo.lanes(rank, bg, bank)
            data = mem[c, row, lanes[:, 0], lanes[:, 1], lanes[:, 2], lanes[:, 3], col]
            r, s = divmod(geo.mac_index(rank, bg, bank, row, col, 0), kk)
            np.add.at(acc[c], (lanes[:, 4], r), (data.astype(np.float32) * gb[c, s]).sum(1))
        elif op == MVSB:
            blk = np.arange(BLOCK * col, min(BLOCK * col + BLOCK, rpu))
            for un in geo.drained(rank, bg):
                y[row, lay.row_of(c, un, blk)] = acc[c, un, blk]
                acc[c, un, blk] = 0.0  # read out: the next input vector starts from zero
    return y[:, :rows]
