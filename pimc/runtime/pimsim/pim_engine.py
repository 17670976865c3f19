"""The PIM controller engine: AttAcc's HBM3-PIM controller (ATTACC.md §5) run over a request
stream (backends/pim/attention_stream.STREAM_DTYPE), with the timing rules compiled from the spec's declarative
table (spec.PIM_RULES), so the checker and the engine read the same rows.

The organisation is an argument, `org` = (channels, pseudo-channels, ranks, bank groups, banks
per group) (`org_of(spec)`): HBM3 (16, 2, 2, 4, 4) is AttAcc's stack; NeuPIMs' HBM2 is
(8, 1, 1, 4, 4). Requests address pseudo-channel 0 and stand for every pseudo-channel, as in
AttAcc's traces; refresh issues one REFab per pseudo-channel.

Per channel: one PIM request buffer of 33 entries, barrier fences (requests behind the first
barrier may only activate/precharge), a FR-FCFS pick that lets data moves fill idle column slots
except behind a not-yet-ready row hit to their bank, one row and one column command per tick
(the second pick must be of the other class), ACT*/PRE* prerequisites inserted for MACs, and
all-bank refresh every tREFI (PREA, then one REFab per pseudo-channel) with priority. The front
end sends requests in file order while the target channel has room: a full channel stalls every
channel (head-of-line blocking). Time jumps to the next tick at which any channel can issue.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from pimc.runtime.pimsim.spec import LEVELS, DramSpec

PIM_NAMES = ("ACTAB", "PREA", "MACAB", "ACTSB", "PRESB", "MACSB", "ACTPB", "PREPB", "MACPB",
             "WRGB", "MVSB", "MVGB", "SFM", "REFab")
BUFFER = 33  # AttAcc's PIM buffer: max_size 32, accepts while size <= 32
NEVER = np.int64(-1)


def org_of(spec: DramSpec) -> np.ndarray:
    """The engine's organisation vector for a spec: channels, pCH, ranks, bank groups, banks."""
    o = spec.org
    return np.array([o.channels, o.pseudo_channels, o.ranks, o.bank_groups, o.banks_per_group],
                    np.int64)


@nb.njit(cache=True, nogil=True)
def _nodes(org):
    """Timing nodes per channel: 1 channel, P pCH, P*R ranks, P*R*G groups, P*R*G*B banks
    (87 on HBM3)."""
    p, r, g, b = org[1], org[2], org[3], org[4]
    return 1 + p + p * r + p * r * g + p * r * g * b


def compile_pim(spec: DramSpec):
    """(lat[level, prev, next] (0 = no rule), check depth per command, command names)."""
    names = [c.name for c in spec.commands]
    n = len(names)
    lat = np.zeros((len(LEVELS), n, n), np.int64)
    for rule in spec.rules:
        if rule.window > 1 or rule.sibling:
            continue  # plain-DRAM windows/siblings: PIM streams never issue ACT/RD/WR
        a, b = names.index(rule.prev), names.index(rule.next)
        k = LEVELS.index(rule.level)
        lat[k, a, b] = max(lat[k, a, b], rule.latency)
    depth = np.array([LEVELS.index(c.scope) + 1 for c in spec.commands], np.int64)
    code = np.array([names.index(x) for x in PIM_NAMES], np.int64)
    return lat, depth, code


@nb.njit(cache=True, nogil=True)
def _node(level, rank, bg, bank, pch, org):
    if level == 0:
        return 0
    P, R, G, B = org[1], org[2], org[3], org[4]
    if level == 1:
        return 1 + pch
    r = pch * R + rank
    if level == 2:
        return 1 + P + r
    if level == 3:
        return 1 + P + P * R + r * G + bg
    return 1 + P + P * R + P * R * G + (r * G + bg) * B + bank


@nb.njit(cache=True, nogil=True)
def _ready_at(ready, c, cmd, depth, rank, bg, bank, pch, org):
    t = np.int64(0)
    for lv in range(depth):
        v = ready[c, _node(lv, rank, bg, bank, pch, org), cmd]
        if v > t:
            t = v
    return t


@nb.njit(cache=True, nogil=True)
def _update(ready, lat, c, cmd, upto, rank, bg, bank, pch, clk, org):
    ncmd = lat.shape[2]
    for lv in range(upto):
        node = _node(lv, rank, bg, bank, pch, org)
        for nx in range(ncmd):
            d = lat[lv, cmd, nx]
            if d > 0 and clk + d > ready[c, node, nx]:
                ready[c, node, nx] = clk + d


@nb.njit(cache=True, nogil=True)
def _pick(c, clk, buf, size, op, rank, bg, bank, row, openr, ready, depth, code, placement,
          isact, cmdv, rdy, hitv, keyv, hitkey, org):
    """The scheduler's best request: (position, command, ready tick, lowest ready tick seen)."""
    big = np.int64(1) << 62
    while size[c] > 0 and op[buf[c, 0]] == 5:  # a barrier at the head retires for free
        for p in range(size[c] - 1):
            buf[c, p] = buf[c, p + 1]
        size[c] -= 1
    m = size[c]
    if m == 0:
        return -1, -1, big, big
    G, B = org[3], org[4]
    for k in range(hitkey.size):
        hitkey[k] = False
    actc, prec, macc = code[3 * placement], code[3 * placement + 1], code[3 * placement + 2]
    fenced = False
    for p in range(m):
        q = buf[c, p]
        o = op[q]
        cmdv[p] = -1
        if o == 5:
            fenced = True
            continue
        key = (rank[q] * G + bg[q]) * B + bank[q]
        hit = False
        if o == 0:
            st = openr[c, 0] if placement == 0 else openr[c, key]
            if st < 0:
                cmd = actc
            elif st != row[q]:
                cmd = prec
            else:
                cmd = macc
                hit = True
                hitkey[key] = True
        else:
            cmd = code[8 + o]
        if fenced and not isact[cmd]:
            continue
        cmdv[p] = cmd
        hitv[p] = hit
        keyv[p] = key
    cand = -1
    low = big
    for p in range(m):  # ready ticks only as far as the pick needs them
        if cmdv[p] < 0:
            continue
        q = buf[c, p]
        rdy[p] = _ready_at(ready, c, cmdv[p], depth[cmdv[p]], rank[q], bg[q], bank[q], 0, org)
        if rdy[p] < low:
            low = rdy[p]
        if cand < 0:
            cand = p
            if rdy[p] <= clk:
                break
        elif rdy[p] <= clk and (hitv[p] or not hitkey[keyv[p]]):
            cand = p
            break
    if cand < 0:
        return -1, -1, big, low
    return cand, cmdv[cand], rdy[cand], low


@nb.njit(cache=True, nogil=True)
def simulate(op, ch, rank, bg, bank, row, col, placement, lat, depth, code, nrefi, log_cap, org,
             fed):
    """Run the stream; returns (cycles, counts per command, log arrays, log length). `fed[0]`
    counts the requests the front end has handed on, for a watcher (pimc.progress)."""
    n = op.size
    nch, npch, G, B = org[0], org[1], org[3], org[4]
    nkey = org[2] * G * B  # open-row slots: the banks of pseudo-channel 0 (requests address it)
    ncmd = lat.shape[1]
    big = np.int64(1) << 62
    isact = np.zeros(ncmd, np.bool_)
    isrow = np.zeros(ncmd, np.bool_)
    for k in range(9):
        if k % 3 != 2:
            isact[code[k]] = True
            isrow[code[k]] = True
    isrow[code[13]] = True
    PREA, REFAB = code[1], code[13]
    buf = np.zeros((nch, BUFFER), np.int64)
    size = np.zeros(nch, np.int64)
    ready = np.zeros((nch, _nodes(org), ncmd), np.int64)
    openr = np.full((nch, nkey), -1, np.int64)
    pend = np.zeros(nch, np.int64)
    refn = np.zeros(nch, np.int64)
    next_ref = np.full(nch, nrefi if nrefi > 0 else big, np.int64)
    wake = np.zeros(nch, np.int64)
    counts = np.zeros(ncmd, np.int64)
    cmdv = np.zeros(BUFFER, np.int64)
    rdy = np.zeros(BUFFER, np.int64)
    hitv = np.zeros(BUFFER, np.bool_)
    keyv = np.zeros(BUFFER, np.int64)
    hitkey = np.zeros(nkey, np.bool_)
    log = np.zeros((log_cap, 9), np.int64)
    nlog = 0
    clk = np.int64(0)
    fp = 0
    while True:
        while fp < n:  # front end: file order, stop at the first full channel
            c = ch[fp]
            if size[c] > BUFFER - 1:
                break
            buf[c, size[c]] = fp
            size[c] += 1
            fp += 1
            fed[0] = fp
            if wake[c] > clk + 1:
                wake[c] = clk + 1
        clk += 1
        for c in range(nch):
            if next_ref[c] == clk:
                pend[c] += npch  # one REFab per pseudo-channel
                next_ref[c] += nrefi
            elif wake[c] > clk:
                continue
            issued = 0
            need_row = False
            low = big
            refresh = pend[c] > 0
            if refresh:
                pch = refn[c] % npch
                anyopen = False
                for k in range(nkey):
                    if openr[c, k] >= 0:
                        anyopen = True
                cmd = PREA if anyopen else REFAB
                t = _ready_at(ready, c, cmd, depth[cmd], 0, 0, 0, pch, org)
                if t <= clk:
                    _update(ready, lat, c, cmd, 2, 0, 0, 0, pch, clk, org)
                    if cmd == PREA:
                        openr[c, :] = -1
                    else:
                        pend[c] -= 1
                        refn[c] += 1
                    counts[cmd] += 1
                    if nlog < log_cap:
                        log[nlog, 0] = clk
                        log[nlog, 1] = cmd
                        log[nlog, 2] = c
                        log[nlog, 3] = pch
                        log[nlog, 7] = -1
                        log[nlog, 8] = -1
                    nlog += 1
                    issued += 1
                else:
                    low = t
            # attempt 0: the primary pick (skipped while a refresh has priority); attempt 1:
            # the second pick, of the other bus class (column only behind a refresh)
            for attempt in range(2):
                if attempt == 0 and refresh:
                    continue
                if attempt == 1 and issued == 0 and not refresh:
                    break
                p, cmd, t, lw = _pick(c, clk, buf, size, op, rank, bg, bank, row, openr, ready,
                                      depth, code, placement, isact, cmdv, rdy, hitv, keyv,
                                      hitkey, org)
                if lw < low:
                    low = lw
                if p < 0 or t > clk:
                    continue
                if attempt == 1 and isrow[cmd] != need_row:
                    continue
                q = buf[c, p]
                _update(ready, lat, c, cmd, 5, rank[q], bg[q], bank[q], 0, clk, org)
                key = (rank[q] * G + bg[q]) * B + bank[q]
                k3 = -1
                for k in range(9):
                    if code[k] == cmd:
                        k3 = k
                final = k3 < 0 or k3 % 3 == 2
                if k3 >= 0 and k3 % 3 != 2:
                    value = row[q] if k3 % 3 == 0 else -1
                    if k3 < 3:
                        openr[c, :] = value
                    elif k3 < 6:
                        for r4 in range(nkey // B):  # bank b of every (rank, group)
                            openr[c, r4 * B + bank[q]] = value
                    else:
                        openr[c, key] = value
                if final:
                    for j in range(p, size[c] - 1):
                        buf[c, j] = buf[c, j + 1]
                    size[c] -= 1
                counts[cmd] += 1
                if nlog < log_cap:
                    log[nlog, 0] = clk
                    log[nlog, 1] = cmd
                    log[nlog, 2] = c
                    log[nlog, 3] = 0
                    log[nlog, 4] = rank[q]
                    log[nlog, 5] = bg[q]
                    log[nlog, 6] = bank[q]
                    log[nlog, 7] = row[q] if (k3 >= 0 and k3 % 3 != 1) else -1
                    log[nlog, 8] = col[q] if final else -1
                nlog += 1
                issued += 1
                need_row = not isrow[cmd]
            if issued > 0:
                wake[c] = clk + 1
            else:
                w = low if low > clk + 1 else clk + 1
                wake[c] = w if w < next_ref[c] else next_ref[c]
        if fp == n:
            done = True
            for c in range(nch):
                if size[c] > 0 or pend[c] > 0:
                    done = False
            if done:
                break
        nxt = big
        for c in range(nch):
            if wake[c] < nxt:
                nxt = wake[c]
            if next_ref[c] < nxt:
                nxt = next_ref[c]
        if nxt > clk + 1:
            clk = nxt - 1
    return clk, counts, log, nlog
