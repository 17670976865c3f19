"""One memory controller's decisions, as numba functions over integer arrays.

Each controller behaves as DRAMsim3's (tests/fixtures/reference/dramsim3/DRAMSIM3.md §2): a read
queue and a write buffer feed per-bank command queues, one request per cycle; commands issue
FR-FCFS from the bank queues, visited round-robin; a row miss may precharge only from the head of
its bank queue, and only once no row hit waits behind it or the open row has served
`row_hit_cap` hits; writes drain when the buffer fills, or holds more than `write_drain_low` while
the bank queues are empty; all-bank refresh blocks the rank's queues until its REF issues.

Layout. All state is in four arrays with named columns (the constants below): P (parameters and
offsets), REQ[request], UNIT[controller] and BANK[controller, bank], where a bank index flattens
(rank, bank group, bank). These functions only index arrays that their caller owns, so they are
compiled without numba's reference counting (`_nrt=False`, a numba compiler flag): otherwise every
call increfs and decrefs each array argument atomically, which cost 5x the simulation itself.
"""
from __future__ import annotations

from numba import njit

JIT = dict(cache=True, _nrt=False)

# Command ids: the order of spec.DRAM_COMMANDS.
ACT, PRE, RD, WR, REF = 0, 1, 2, 3, 4
NC = 5
# Relations between two banks of one controller: the first index of the latency array.
SAME_BANK, SAME_BANKGROUP, SAME_RANK, OTHER_RANK = 0, 1, 2, 3
NEVER = -(1 << 40)  # the latency of "no rule": delays nothing
INF = 1 << 62
# Request states.
IDLE, PENDING, DONE, MERGED = 0, 1, 2, 3
REFQ = 16  # refresh-queue ring size (one rank falls due per tREFI/ranks)
FAW_MAX = 8  # the longest activation window modelled

# P: parameters, then where UNIT's variable-length sections start.
(P_NB, P_BPR, P_BQ, P_RQ, P_WQ, P_DRAIN_LOW, P_HITCAP, P_DUAL, P_RD_DELAY, P_WR_DELAY,
 P_REF_INTERVAL, P_FAW_N, P_FAW_T, P_RANKS, P_DRAMSIM3, P_PHANTOM, P_RQ_AT, P_WQ_AT,
 P_FAW_AT) = range(19)
N_P = 19
# REQ[request]: the request (read-only), then its progress. Q_NEXT chains merged reads.
(R_UNIT, R_BANK, R_ROW, R_COL, R_WRITE, R_ISSUE, R_PREV_RD, R_PREV_WR, Q_STATE, Q_NEXT,
 Q_ADDED, Q_COMPLETE) = range(12)
N_REQ = 12
# UNIT[controller]: counters, then the refresh ring, the read queue, the write buffer and per
# rank the activation window (head, count, FAW_MAX times).
(U_QIDX, U_WDRAIN, U_REFQ_H, U_REFQ_N, U_REF_NEXT, U_IN_REF, U_IN_REF_RANK, U_RQ_N, U_WQ_N,
 U_LEFT) = range(10)
U_REFQ = 10
U_FIXED = U_REFQ + REFQ
# BANK[controller, bank]: open row (-1: closed), column commands since ACT, queue length, rank,
# bank group (constant), the earliest cycle for each command, then the bank queue.
B_OPEN, B_HITS, B_CQ_N, B_RANK, B_GROUP = range(5)
B_READY = 5
B_CQ = B_READY + NC


@njit(**JIT)
def act_ready(P, UNIT, BANK, u, b):
    t = BANK[u, b, B_READY + ACT]
    n = P[P_FAW_N]
    if n > 0:
        w = P[P_FAW_AT] + BANK[u, b, B_RANK] * (FAW_MAX + 2)
        if UNIT[u, w + 1] == n:  # the oldest of the last n ACTs bounds the next
            t = max(t, UNIT[u, w + 2 + UNIT[u, w]] + P[P_FAW_T])
    return t


@njit(**JIT)
def blocked(P, REQ, BANK, u, b, k, c):
    """A ready command the scheduler still refuses: a precharge behind an older request of its
    bank, or ahead of waiting row hits while under the cap; a write behind a read of its
    column (DRAMsim3's ArbitratePrecharge and HasRWDependency)."""
    if c == PRE:
        if k > 0:
            return True
        orow = BANK[u, b, B_OPEN]
        for j in range(k, BANK[u, b, B_CQ_N]):
            if REQ[BANK[u, b, B_CQ + j], R_ROW] == orow:
                return BANK[u, b, B_HITS] < P[P_HITCAP]
        return False
    if c == WR:
        req = BANK[u, b, B_CQ + k]
        for j in range(k):
            e = BANK[u, b, B_CQ + j]
            if not REQ[e, R_WRITE] and REQ[e, R_ROW] == REQ[req, R_ROW] \
                    and REQ[e, R_COL] == REQ[req, R_COL]:
                return True
    return False


@njit(**JIT)
def scan_banks(P, REQ, UNIT, BANK, u, T, advance):
    """DRAMsim3's GetCommandToIssue: the first command that may issue at T, visiting the bank
    queues round-robin from the one after the last visited (the pointer moves when `advance`).
    Returns (command, bank, queue position, -1), or (-1, -1, -1, the earliest cycle after T at
    which one might)."""
    nb = P[P_NB]
    best = INF
    b = UNIT[u, U_QIDX]
    for _ in range(nb):
        b += 1
        if b == nb:
            b = 0
        if advance:
            UNIT[u, U_QIDX] = b
        n = BANK[u, b, B_CQ_N]
        if n == 0 or (UNIT[u, U_IN_REF] and BANK[u, b, B_RANK] == UNIT[u, U_IN_REF_RANK]):
            continue
        orow = BANK[u, b, B_OPEN]
        if orow < 0:  # closed: every entry needs the same ACT, the head's goes first
            t = act_ready(P, UNIT, BANK, u, b)
            if t <= T:
                return ACT, b, 0, -1
            best = min(best, t)
            continue
        soonest = min(BANK[u, b, B_READY + RD], BANK[u, b, B_READY + WR],
                      BANK[u, b, B_READY + PRE])
        if soonest > T:  # nothing in this bank is ready: skip the scan
            best = min(best, soonest)
            continue
        for k in range(n):
            req = BANK[u, b, B_CQ + k]
            c = PRE if REQ[req, R_ROW] != orow else (WR if REQ[req, R_WRITE] else RD)
            t = BANK[u, b, B_READY + c]
            if t > T:
                best = min(best, t)
            elif not blocked(P, REQ, BANK, u, b, k, c):
                return c, b, k, -1
    return -1, -1, -1, best


@njit(**JIT)
def refresh_command(P, UNIT, BANK, u, T):
    """DRAMsim3's FinishRefresh for the rank at the head of the refresh queue: a PRE to the
    first open bank whose PRE is ready, else REF once every bank is closed and ready. Returns
    (command, bank, -1), or (-1, -1, the earliest cycle after T at which one might)."""
    r = UNIT[u, U_REFQ + UNIT[u, U_REFQ_H]]
    bpr = P[P_BPR]
    n_ready, best = 0, INF
    for b in range(r * bpr, (r + 1) * bpr):
        c = PRE if BANK[u, b, B_OPEN] >= 0 else REF
        t = BANK[u, b, B_READY + c]
        if t > T:
            best = min(best, t)
        elif c == PRE:
            return PRE, b, -1
        else:
            n_ready += 1
    if n_ready == bpr:
        return REF, r * bpr, -1
    return -1, -1, best


@njit(**JIT)
def update_timing(P, lat, BANK, u, T, c, b):
    """Apply command c at bank b, cycle T, to every bank's earliest cycle per command."""
    rank, group = BANK[u, b, B_RANK], BANK[u, b, B_GROUP]
    for b2 in range(P[P_NB]):
        if BANK[u, b2, B_RANK] != rank:
            rel = OTHER_RANK
        elif c == REF or BANK[u, b2, B_GROUP] != group:  # REF addresses the whole rank
            rel = SAME_RANK
        else:
            rel = SAME_BANK if b2 == b else SAME_BANKGROUP
        for c2 in range(NC):
            t = T + lat[rel, c, c2]
            if t > BANK[u, b2, B_READY + c2]:
                BANK[u, b2, B_READY + c2] = t


@njit(**JIT)
def drain_starts(P, UNIT, BANK, u):
    n = UNIT[u, U_WQ_N]
    if n == 0:
        return False
    if n >= P[P_WQ]:
        return True
    if n <= P[P_DRAIN_LOW] and (P[P_DRAMSIM3] or UNIT[u, U_LEFT] > 0 or UNIT[u, U_RQ_N] > 0):
        return False  # (the default front end also drains the last few writes at the end)
    for b in range(P[P_NB]):
        if BANK[u, b, B_CQ_N] > 0:
            return False
    return True


@njit(**JIT)
def schedule(P, REQ, UNIT, BANK, u, move):
    """DRAMsim3's ScheduleTransaction: move the first request whose bank queue has room from
    the read queue (or, while draining, the write buffer) to its bank queue. With `move`
    False, only say whether one could move."""
    draining = UNIT[u, U_WDRAIN] > 0
    if not draining and drain_starts(P, UNIT, BANK, u):
        if not move:
            return True
        UNIT[u, U_WDRAIN] = UNIT[u, U_WQ_N]
        draining = True
    at, field = (P[P_WQ_AT], U_WQ_N) if draining else (P[P_RQ_AT], U_RQ_N)
    for i in range(UNIT[u, field]):
        req = UNIT[u, at + i]
        b = REQ[req, R_BANK]
        if BANK[u, b, B_CQ_N] < P[P_BQ]:
            if not move:
                return True
            if draining:
                r = REQ[req, R_PREV_RD]
                if r >= 0 and REQ[r, Q_STATE] == PENDING:  # a read of this address goes first
                    UNIT[u, U_WDRAIN] = 0
                    return False
                UNIT[u, U_WDRAIN] -= 1
            BANK[u, b, B_CQ + BANK[u, b, B_CQ_N]] = req
            BANK[u, b, B_CQ_N] += 1
            for j in range(at + i, at + UNIT[u, field] - 1):
                UNIT[u, j] = UNIT[u, j + 1]
            UNIT[u, field] -= 1
            return True
    return False


@njit(**JIT)
def next_time(P, REQ, UNIT, BANK, u, T):
    """The earliest cycle after T at which this controller's tick could do anything."""
    if schedule(P, REQ, UNIT, BANK, u, False):
        return T + 1
    ri = P[P_REF_INTERVAL]
    best = (T // ri + 1) * ri
    if UNIT[u, U_REFQ_N] > 0:
        c, _, t = refresh_command(P, UNIT, BANK, u, T)
        if c >= 0:
            return T + 1
        best = min(best, t)
    c, _, _, t = scan_banks(P, REQ, UNIT, BANK, u, T, False)
    return T + 1 if c >= 0 else min(best, t)
