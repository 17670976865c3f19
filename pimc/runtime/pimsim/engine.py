"""The event-driven, cycle-level DRAM engine: one numba kernel over arrays, integer cycles.

After each tick a controller computes the earliest cycle at which anything could change (a
queued command's timing expires, a refresh falls due, a request can move or arrive) and the loop
jumps to the earliest such cycle over all controllers and the front end; idle cycles are never
ticked. A tick in an idle cycle would change nothing (every decision reads only state that
changes at events), so the jump is exact.

Front ends. `dramsim3` replays DRAMsim3's trace CPU (/work/shared/reference/dramsim3/DRAMSIM3.md
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
    ACT, B_CQ_N, B_HITS, B_OPEN, DONE, F_COUNT, F_HEAD, INF, MERGED, NC, P_BPR, P_DRAMSIM3,
    P_DUAL, P_FAW_N, P_PHANTOM, P_RANKS, P_RD_DELAY, P_REF_INTERVAL, P_RQ, P_WQ, P_WR_DELAY, PENDING,
    PRE, Q_ADDED, Q_COMPLETE, Q_NEXT, Q_STATE, R_COL, R_ISSUE, R_PREV_RD, R_PREV_WR, R_ROW,
    R_UNIT, R_WRITE, RD, REF, REFQ, U_IN_REF, U_IN_REF_RANK, U_LEFT, U_REF_NEXT, U_REFQ_H,
    U_REFQ_N, U_RQ_N, U_WQ_N, WR, find_command, next_time, refresh_command, schedule,
    update_timing)

LOG_FIELDS = 7  # cycle, command, controller, rank, bank within rank (-1: REF), row, column
# Counter vector layout: commands by id, then these.
(K_RD_HITS, K_WR_HITS, K_DUAL, K_PENDING, K_ACCEPTED, K_PHANTOM, K_END) = range(NC, NC + 7)
N_COUNTERS = NC + 7


@njit(cache=True)
def issue(P, R, Q, lat, relm, rank_of, ready, FAW, FS, US, BS, CQ, counts, log, n_log,
          u, T, c, b, k):
    """Issue command c to bank b (for the request at position k of its queue; -1 for refresh)
    and append it to the log. Returns the new log length."""
    req = CQ[u, b, k] if k >= 0 else -1
    r = rank_of[b]
    e = log[n_log]
    e[0], e[1], e[2], e[3] = T, c, u, r
    e[4] = -1 if c == REF else b - r * P[P_BPR]
    e[5] = BS[u, b, B_OPEN] if c == PRE else (R[req, R_ROW] if req >= 0 else -1)
    e[6] = R[req, R_COL] if c == RD or c == WR else -1
    counts[c] += 1
    if c == ACT:
        BS[u, b, B_OPEN] = R[req, R_ROW]
        BS[u, b, B_HITS] = 0
        n = P[P_FAW_N]
        if n > 0:
            FAW[u, r, FS[u, r, F_HEAD]] = T
            FS[u, r, F_HEAD] = (FS[u, r, F_HEAD] + 1) % n
            FS[u, r, F_COUNT] = min(FS[u, r, F_COUNT] + 1, n)
    elif c == PRE:
        BS[u, b, B_OPEN] = -1
        BS[u, b, B_HITS] = 0
    elif c == REF:
        US[u, U_REFQ_H] = (US[u, U_REFQ_H] + 1) % REFQ
        US[u, U_REFQ_N] -= 1
        US[u, U_IN_REF] = 0
    else:
        if c == RD:
            j = req
            while j >= 0:  # every read merged into this one completes with it
                Q[j, Q_COMPLETE] = T + P[P_RD_DELAY]
                Q[j, Q_STATE] = DONE
                counts[K_PENDING] -= 1
                j = Q[j, Q_NEXT]
        else:
            Q[req, Q_STATE] = DONE
            if not P[P_DRAMSIM3]:
                Q[req, Q_COMPLETE] = T + P[P_WR_DELAY]
                counts[K_PENDING] -= 1
        if BS[u, b, B_HITS] > 0:  # a hit: the open row has already served a column command
            counts[K_WR_HITS if c == WR else K_RD_HITS] += 1
        BS[u, b, B_HITS] += 1
        for j in range(k, BS[u, b, B_CQ_N] - 1):
            CQ[u, b, j] = CQ[u, b, j + 1]
        BS[u, b, B_CQ_N] -= 1
    update_timing(P, lat, relm, rank_of, ready, u, T, c, b)
    return n_log + 1


@njit(cache=True)
def tick(P, R, Q, lat, relm, rank_of, ready, FAW, FS, US, BS, RQ, WQ, CQ, REFQ_, counts, log,
         n_log, u, T):
    """DRAMsim3's Controller::ClockTick at cycle T. Returns the new log length."""
    if T > 0 and T % P[P_REF_INTERVAL] == 0:  # refresh falls due for the next rank in turn
        REFQ_[u, (US[u, U_REFQ_H] + US[u, U_REFQ_N]) % REFQ] = US[u, U_REF_NEXT]
        US[u, U_REFQ_N] += 1
        US[u, U_REF_NEXT] = (US[u, U_REF_NEXT] + 1) % P[P_RANKS]
    c, b, k = -1, -1, -1
    if US[u, U_REFQ_N] > 0:
        US[u, U_IN_REF] = 1
        US[u, U_IN_REF_RANK] = REFQ_[u, US[u, U_REFQ_H]]
        c, b = refresh_command(P, ready, US, BS, REFQ_, u, T)
    if c < 0:
        c, b, k = find_command(P, R, rank_of, ready, FAW, FS, US, BS, CQ, u, T)
    if c >= 0:
        n_log = issue(P, R, Q, lat, relm, rank_of, ready, FAW, FS, US, BS, CQ, counts, log,
                      n_log, u, T, c, b, k)
        if P[P_DUAL]:
            # A second command of the other kind (row vs column) in the same cycle. Two column
            # commands never both pass timing in one cycle on these parts, so DRAMsim3's loss
            # of a second one it declines (it dequeues before checking) never arises.
            c2, b2, k2 = find_command(P, R, rank_of, ready, FAW, FS, US, BS, CQ, u, T)
            if c2 >= 0 and (c2 == RD or c2 == WR) != (c == RD or c == WR):
                n_log = issue(P, R, Q, lat, relm, rank_of, ready, FAW, FS, US, BS, CQ, counts,
                              log, n_log, u, T, c2, b2, k2)
                counts[K_DUAL] += 1
    schedule(P, R, Q, US, BS, RQ, WQ, CQ, u)
    return n_log


@njit(cache=True)
def has_room(P, R, US, u, i):
    return US[u, U_WQ_N] < P[P_WQ] if R[i, R_WRITE] else US[u, U_RQ_N] < P[P_RQ]


@njit(cache=True)
def accept(P, R, Q, US, RQ, WQ, counts, u, i, T):
    """DRAMsim3's AddTransaction at controller cycle T + 1 (the memory has already ticked)."""
    Q[i, Q_ADDED] = T + 1
    US[u, U_LEFT] -= 1
    counts[K_ACCEPTED] += 1
    w = R[i, R_PREV_WR]
    buffered = w >= 0 and Q[w, Q_STATE] == PENDING
    if R[i, R_WRITE]:
        if buffered:  # the buffered write absorbs this one
            Q[i, Q_STATE] = MERGED
            Q[i, Q_COMPLETE] = T + 2
            return
        Q[i, Q_STATE] = PENDING
        WQ[u, US[u, U_WQ_N]] = i
        US[u, U_WQ_N] += 1
        if P[P_DRAMSIM3]:  # posted: done a cycle after acceptance
            Q[i, Q_COMPLETE] = T + 2
        else:
            counts[K_PENDING] += 1
        return
    if buffered:  # answered from the write buffer
        Q[i, Q_STATE] = DONE
        Q[i, Q_COMPLETE] = T + 2
        return
    counts[K_PENDING] += 1
    Q[i, Q_STATE] = PENDING
    r = R[i, R_PREV_RD]
    if r >= 0 and Q[r, Q_STATE] == PENDING:  # merge into the pending read of this address
        while Q[r, Q_NEXT] >= 0:
            r = Q[r, Q_NEXT]
        Q[r, Q_NEXT] = i
        return
    RQ[u, US[u, U_RQ_N]] = i
    US[u, U_RQ_N] += 1


@njit(cache=True)
def simulate(P, R, Q, lat, relm, rank_of, ready, FAW, FS, US, BS, RQ, WQ, CQ, REFQ_, order,
             ustart, counts, log):
    """Run every request to completion. `order` lists the requests per controller in file
    order, controller u's from ustart[u] (the default front end); the dramsim3 front end reads
    them in index order, the last being the phantom read when P[P_PHANTOM]. Returns the log
    length, -1 when the log is full (the caller enlarges it and runs again), or -2 if nothing
    can happen while requests are outstanding (a bug)."""
    n = R.shape[0]
    units = US.shape[0]
    dramsim3 = P[P_DRAMSIM3] != 0
    phantom = P[P_PHANTOM] != 0
    next_ev = np.full(units, INF, np.int64)
    head = ustart[:-1].copy()
    for u in range(units):
        next_ev[u] = P[P_REF_INTERVAL]
        if not dramsim3 and head[u] < ustart[u + 1]:
            next_ev[u] = min(next_ev[u], R[order[head[u]], R_ISSUE])
    fe, fe_last, n_log, end = 0, -1, 0, -1
    T = next_ev.min()
    if dramsim3 and n > 0:
        T = min(T, R[0, R_ISSUE])
    while True:
        for u in range(units):
            if next_ev[u] > T:
                continue
            if n_log + 2 > log.shape[0]:
                return -1
            n_log = tick(P, R, Q, lat, relm, rank_of, ready, FAW, FS, US, BS, RQ, WQ, CQ, REFQ_,
                         counts, log, n_log, u, T)
            t_fe = INF
            if not dramsim3:
                while head[u] < ustart[u + 1]:
                    i = order[head[u]]
                    if not has_room(P, R, US, u, i):
                        break
                    if R[i, R_ISSUE] > T:
                        t_fe = R[i, R_ISSUE]
                        break
                    accept(P, R, Q, US, RQ, WQ, counts, u, i, T)
                    head[u] += 1
            next_ev[u] = min(next_time(P, R, rank_of, ready, FAW, FS, US, BS, RQ, WQ, CQ, REFQ_,
                                       u, T), t_fe)
        if dramsim3 and fe < n and R[fe, R_ISSUE] <= T:
            u = R[fe, R_UNIT]
            if has_room(P, R, US, u, fe):
                accept(P, R, Q, US, RQ, WQ, counts, u, fe, T)
                if phantom and fe == n - 1:
                    counts[K_PHANTOM] = 1
                fe_last = T
                fe += 1
                next_ev[u] = min(next_ev[u], T + 1)
            elif phantom and fe == n - 1:
                fe += 1  # offered once; a full queue loses it
        if end < 0 and counts[K_PENDING] == 0 and (fe == n if dramsim3
                                                    else counts[K_ACCEPTED] == n):
            end = Q[:, Q_COMPLETE].max() if n > 0 else 0
            counts[K_END] = end
        nt = next_ev.min()
        if dramsim3 and fe < n:
            if phantom and fe == n - 1:
                t = fe_last + 1
            elif has_room(P, R, US, R[fe, R_UNIT], fe):
                t = max(R[fe, R_ISSUE], fe_last + 1)
            else:
                t = INF  # blocked until its controller moves a request on
            nt = min(nt, max(t, T + 1))
        if end >= 0 and nt > end:
            return n_log
        if nt >= INF:
            return -2
        T = nt
