"""The event-driven, cycle-level DRAM engine: one numba kernel over arrays, integer cycles.

After each tick a controller computes the earliest cycle at which anything could change (a
queued command's timing expires, a refresh falls due, a request can move or arrive) and the loop
jumps to the earliest such cycle over all controllers and the front end; idle cycles are never
ticked. A tick in an idle cycle would change nothing (every decision reads only state that
changes at events), so the jump is exact.

Front ends. `dramsim3` replays DRAMsim3's trace CPU (tests/fixtures/reference/dramsim3/DRAMSIM3.md
§2): each cycle, after the memory ticks, it offers the next request in file order if its issue
cycle has come; a full queue blocks it and everything behind it; at most one request per cycle;
writes are posted (done one cycle after acceptance); the phantom end-of-file read is offered once,
the cycle after the last request was accepted. `default` keeps one FIFO per controller and hands
it its requests as soon as they are due and its queue has room, so nothing waits behind another
controller; a write completes when its data is written, and the last few writes drain at the end.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pimc.runtime.pimsim.controller import (
    ACT, JIT, B_CQ, B_CQ_N, B_HITS, B_OPEN, B_RANK, DONE, FAW_MAX, INF, MERGED, NC, P_BPR,
    P_DRAMSIM3, P_DUAL, P_FAW_AT, P_FAW_N, P_PHANTOM, P_RANKS, P_RD_DELAY, P_REF_INTERVAL, P_RQ,
    P_RQ_AT, P_WQ, P_WQ_AT, P_WR_DELAY, PENDING, PRE, Q_ADDED, Q_COMPLETE, Q_NEXT, Q_STATE,
    R_COL, R_ISSUE, R_PREV_RD, R_PREV_WR, R_ROW, R_UNIT, R_WRITE, RD, REF, REFQ, U_IN_REF,
    U_IN_REF_RANK, U_LEFT, U_REF_NEXT, U_REFQ, U_REFQ_H, U_REFQ_N, U_RQ_N, U_WQ_N, WR,
    next_time, refresh_command, scan_banks, schedule, update_timing)

LOG_FIELDS = 7  # cycle, command, controller, rank, bank within rank (-1: REF), row, column
# Counter vector layout: commands by id, then these.
(K_RD_HITS, K_WR_HITS, K_DUAL, K_PENDING, K_ACCEPTED, K_PHANTOM, K_END,
 K_TICKS) = range(NC, NC + 8)
N_COUNTERS = NC + 8


@njit(**JIT)
def issue(P, lat, REQ, UNIT, BANK, counts, log, n_log, u, T, c, b, k):
    """Issue command c to bank b (for the request at position k of its queue; -1 for refresh)
    and append it to the log. Returns the new log length."""
    req = BANK[u, b, B_CQ + k] if k >= 0 else -1
    r = BANK[u, b, B_RANK]
    e = log[n_log]
    e[0], e[1], e[2], e[3] = T, c, u, r
    e[4] = -1 if c == REF else b - r * P[P_BPR]
    e[5] = BANK[u, b, B_OPEN] if c == PRE else (REQ[req, R_ROW] if req >= 0 else -1)
    e[6] = REQ[req, R_COL] if c == RD or c == WR else -1
    counts[c] += 1
    if c == ACT:
        BANK[u, b, B_OPEN] = REQ[req, R_ROW]
        BANK[u, b, B_HITS] = 0
        n = P[P_FAW_N]
        if n > 0:  # the activation window: a ring of the last n ACT cycles
            w = P[P_FAW_AT] + r * (FAW_MAX + 2)
            UNIT[u, w + 2 + UNIT[u, w]] = T
            UNIT[u, w] = (UNIT[u, w] + 1) % n
            UNIT[u, w + 1] = min(UNIT[u, w + 1] + 1, n)
    elif c == PRE:
        BANK[u, b, B_OPEN] = -1
        BANK[u, b, B_HITS] = 0
    elif c == REF:
        UNIT[u, U_REFQ_H] = (UNIT[u, U_REFQ_H] + 1) % REFQ
        UNIT[u, U_REFQ_N] -= 1
        UNIT[u, U_IN_REF] = 0
    else:
        if c == RD:
            j = req
            while j >= 0:  # every read merged into this one completes with it
                REQ[j, Q_COMPLETE] = T + P[P_RD_DELAY]
                REQ[j, Q_STATE] = DONE
                counts[K_PENDING] -= 1
                j = REQ[j, Q_NEXT]
        else:
            REQ[req, Q_STATE] = DONE
            if not P[P_DRAMSIM3]:
                REQ[req, Q_COMPLETE] = T + P[P_WR_DELAY]
                counts[K_PENDING] -= 1
        if BANK[u, b, B_HITS] > 0:  # a hit: the open row has already served a column command
            counts[K_WR_HITS if c == WR else K_RD_HITS] += 1
        BANK[u, b, B_HITS] += 1
        for j in range(k, BANK[u, b, B_CQ_N] - 1):
            BANK[u, b, B_CQ + j] = BANK[u, b, B_CQ + j + 1]
        BANK[u, b, B_CQ_N] -= 1
    update_timing(P, lat, BANK, u, T, c, b)
    return n_log + 1


@njit(**JIT)
def tick(P, lat, REQ, UNIT, BANK, counts, log, n_log, u, T):
    """DRAMsim3's Controller::ClockTick at cycle T. Returns the new log length."""
    if T > 0 and T % P[P_REF_INTERVAL] == 0:  # refresh falls due for the next rank in turn
        UNIT[u, U_REFQ + (UNIT[u, U_REFQ_H] + UNIT[u, U_REFQ_N]) % REFQ] = UNIT[u, U_REF_NEXT]
        UNIT[u, U_REFQ_N] += 1
        UNIT[u, U_REF_NEXT] = (UNIT[u, U_REF_NEXT] + 1) % P[P_RANKS]
    c, b, k = -1, -1, -1
    if UNIT[u, U_REFQ_N] > 0:
        UNIT[u, U_IN_REF] = 1
        UNIT[u, U_IN_REF_RANK] = UNIT[u, U_REFQ + UNIT[u, U_REFQ_H]]
        c, b, _ = refresh_command(P, UNIT, BANK, u, T)
    if c < 0:
        c, b, k, _ = scan_banks(P, REQ, UNIT, BANK, u, T, True)
    if c >= 0:
        n_log = issue(P, lat, REQ, UNIT, BANK, counts, log, n_log, u, T, c, b, k)
        if P[P_DUAL]:
            # A second command of the other kind (row vs column) in the same cycle. Two column
            # commands never both pass timing in one cycle on these parts, so DRAMsim3's loss
            # of a second one it declines (it dequeues before checking) never arises.
            c2, b2, k2, _ = scan_banks(P, REQ, UNIT, BANK, u, T, True)
            if c2 >= 0 and (c2 == RD or c2 == WR) != (c == RD or c == WR):
                n_log = issue(P, lat, REQ, UNIT, BANK, counts, log, n_log, u, T, c2, b2, k2)
                counts[K_DUAL] += 1
    schedule(P, REQ, UNIT, BANK, u, True)
    return n_log


@njit(**JIT)
def has_room(P, REQ, UNIT, u, i):
    return UNIT[u, U_WQ_N] < P[P_WQ] if REQ[i, R_WRITE] else UNIT[u, U_RQ_N] < P[P_RQ]


@njit(**JIT)
def accept(P, REQ, UNIT, counts, u, i, T):
    """DRAMsim3's AddTransaction at controller cycle T + 1 (the memory has already ticked)."""
    REQ[i, Q_ADDED] = T + 1
    UNIT[u, U_LEFT] -= 1
    counts[K_ACCEPTED] += 1
    w = REQ[i, R_PREV_WR]
    buffered = w >= 0 and REQ[w, Q_STATE] == PENDING
    if REQ[i, R_WRITE]:
        if buffered:  # the buffered write absorbs this one
            REQ[i, Q_STATE] = MERGED
            REQ[i, Q_COMPLETE] = T + 2
            return
        REQ[i, Q_STATE] = PENDING
        UNIT[u, P[P_WQ_AT] + UNIT[u, U_WQ_N]] = i
        UNIT[u, U_WQ_N] += 1
        if P[P_DRAMSIM3]:  # posted: done a cycle after acceptance
            REQ[i, Q_COMPLETE] = T + 2
        else:
            counts[K_PENDING] += 1
        return
    if buffered:  # answered from the write buffer
        REQ[i, Q_STATE] = DONE
        REQ[i, Q_COMPLETE] = T + 2
        return
    counts[K_PENDING] += 1
    REQ[i, Q_STATE] = PENDING
    r = REQ[i, R_PREV_RD]
    if r >= 0 and REQ[r, Q_STATE] == PENDING:  # merge into the pending read of this address
        while REQ[r, Q_NEXT] >= 0:
            r = REQ[r, Q_NEXT]
        REQ[r, Q_NEXT] = i
        return
    UNIT[u, P[P_RQ_AT] + UNIT[u, U_RQ_N]] = i
    UNIT[u, U_RQ_N] += 1


@njit(cache=True, nogil=True)  # reference counting on: it allocates; nogil: pimc.progress
def simulate(P, lat, REQ, UNIT, BANK, order, ustart, counts, log):
    """Run every request to completion. `order` lists the requests per controller in file
    order, controller u's from ustart[u] (the default front end); the dramsim3 front end reads
    them in index order, the last being the phantom read when P[P_PHANTOM]. Returns the log
    length, -1 when the log is full (the caller enlarges it and runs again), or -2 if nothing
    can happen while requests are outstanding (a bug)."""
    n = REQ.shape[0]
    units = UNIT.shape[0]
    dramsim3 = P[P_DRAMSIM3] != 0
    phantom = P[P_PHANTOM] != 0
    next_ev = np.full(units, INF, np.int64)
    head = ustart[:-1].copy()
    for u in range(units):
        next_ev[u] = P[P_REF_INTERVAL]
        if not dramsim3 and head[u] < ustart[u + 1]:
            next_ev[u] = min(next_ev[u], REQ[order[head[u]], R_ISSUE])
    fe, fe_last, n_log, end = 0, -1, 0, -1
    T = next_ev.min()
    if dramsim3 and n > 0:
        T = min(T, REQ[0, R_ISSUE])
    while True:
        for u in range(units):
            if next_ev[u] > T:
                continue
            if n_log + 2 > log.shape[0]:
                return -1
            n_log = tick(P, lat, REQ, UNIT, BANK, counts, log, n_log, u, T)
            counts[K_TICKS] += 1
            t_fe = INF
            if not dramsim3:
                while head[u] < ustart[u + 1]:
                    i = order[head[u]]
                    if not has_room(P, REQ, UNIT, u, i):
                        break
                    if REQ[i, R_ISSUE] > T:
                        t_fe = REQ[i, R_ISSUE]
                        break
                    accept(P, REQ, UNIT, counts, u, i, T)
                    head[u] += 1
            next_ev[u] = min(next_time(P, REQ, UNIT, BANK, u, T), t_fe)
        if dramsim3 and fe < n and REQ[fe, R_ISSUE] <= T:
            u = REQ[fe, R_UNIT]
            if has_room(P, REQ, UNIT, u, fe):
                accept(P, REQ, UNIT, counts, u, fe, T)
                if phantom and fe == n - 1:
                    counts[K_PHANTOM] = 1
                fe_last = T
                fe += 1
                next_ev[u] = min(next_ev[u], T + 1)
            elif phantom and fe == n - 1:
                fe += 1  # offered once; a full queue loses it
        if end < 0 and counts[K_PENDING] == 0 and (fe == n if dramsim3
                                                    else counts[K_ACCEPTED] == n):
            end = REQ[:, Q_COMPLETE].max() if n > 0 else 0
            counts[K_END] = end
        nt = next_ev.min()
        if dramsim3 and fe < n:
            if phantom and fe == n - 1:
                t = fe_last + 1
            elif has_room(P, REQ, UNIT, REQ[fe, R_UNIT], fe):
                t = max(REQ[fe, R_ISSUE], fe_last + 1)
            else:
                t = INF  # blocked until its controller moves a request on
            nt = min(nt, max(t, T + 1))
        if end >= 0 and nt > end:
            return n_log
        if nt >= INF:
            return -2
        T = nt
