"""One memory controller's decisions, as numba functions over arrays of integers, indexed by
controller `u`, bank `b` (rank, bank group and bank flattened) and command id.

Each controller behaves as DRAMsim3's (/work/shared/reference/dramsim3/DRAMSIM3.md §2): a read
queue and a write buffer feed per-bank command queues, one request per cycle; commands issue
FR-FCFS from the bank queues, visited round-robin; a row miss may precharge only from the head of
its bank queue, and only once no row hit waits behind it or the open row has served
`row_hit_cap` hits; writes drain when the buffer fills, or holds more than `write_drain_low` while
the bank queues are empty; all-bank refresh blocks the rank's queues until its REF issues.

State lives in a few 2-D arrays with named columns (the constants below), passed one by one:
numba passes a tuple of arrays to a callee by increfing every member, which cost 20x here.
"""
from __future__ import annotations

from numba import njit

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

# P: parameters.
(P_NB, P_BPR, P_BQ, P_RQ, P_WQ, P_DRAIN_LOW, P_HITCAP, P_DUAL, P_RD_DELAY, P_WR_DELAY,
 P_REF_INTERVAL, P_FAW_N, P_FAW_T, P_RANKS, P_DRAMSIM3, P_UNITS, P_PHANTOM) = range(17)
N_P = 17
# R[request]: the requests, read-only.
R_UNIT, R_BANK, R_ROW, R_COL, R_WRITE, R_ISSUE, R_PREV_RD, R_PREV_WR = range(8)
N_R = 8
# Q[request]: their progress. Q_NEXT chains reads merged into one DRAM read.
Q_STATE, Q_NEXT, Q_ADDED, Q_COMPLETE = range(4)
N_Q = 4
# US[controller]: queue lengths, round-robin pointer, write drain, refresh queue.
(U_QIDX, U_WDRAIN, U_REFQ_H, U_REFQ_N, U_REF_NEXT, U_IN_REF, U_IN_REF_RANK, U_RQ_N, U_WQ_N,
 U_LEFT) = range(10)
N_U = 10
# BS[controller, bank]: open row (-1: closed), column commands since ACT, bank-queue length.
B_OPEN, B_HITS, B_CQ_N = range(3)
N_B = 3
# FS[controller, rank]: the activation window ring FAW[controller, rank, :]: head, count.
F_HEAD, F_COUNT = range(2)


@njit(cache=True)
def required(R, BS, u, b, req):
    orow = BS[u, b, B_OPEN]
    if orow < 0:
        return ACT
    if orow == R[req, R_ROW]:
        return WR if R[req, R_WRITE] else RD
    return PRE


@njit(cache=True)
def ready_at(P, rank_of, ready, FAW, FS, u, b, c):
    t = ready[u, b, c]
    if c == ACT and P[P_FAW_N] > 0:
        r = rank_of[b]
        if FS[u, r, F_COUNT] == P[P_FAW_N]:  # the oldest of the last FAW_N ACTs bounds the next
            t = max(t, FAW[u, r, FS[u, r, F_HEAD]] + P[P_FAW_T])
    return t


@njit(cache=True)
def blocked(P, R, BS, CQ, u, b, k, c):
    """A ready command the scheduler still refuses: a precharge behind an older request of its
    bank, or ahead of waiting row hits while under the cap; a write behind a read of its
    column (DRAMsim3's ArbitratePrecharge and HasRWDependency)."""
    if c == PRE:
        if k > 0:
            return True
        orow = BS[u, b, B_OPEN]
        for j in range(k, BS[u, b, B_CQ_N]):
            if R[CQ[u, b, j], R_ROW] == orow:
                return BS[u, b, B_HITS] < P[P_HITCAP]
        return False
    if c == WR:
        req = CQ[u, b, k]
        for j in range(k):
            e = CQ[u, b, j]
            if not R[e, R_WRITE] and R[e, R_ROW] == R[req, R_ROW] \
                    and R[e, R_COL] == R[req, R_COL]:
                return True
    return False


@njit(cache=True)
def find_command(P, R, rank_of, ready, FAW, FS, US, BS, CQ, u, T):
    """DRAMsim3's GetCommandToIssue: the first issuable command, visiting the bank queues
    round-robin from the one after the last visited. Returns (command, bank, queue position)."""
    nb = P[P_NB]
    for _ in range(nb):
        b = US[u, U_QIDX] + 1
        if b == nb:
            b = 0
        US[u, U_QIDX] = b
        if US[u, U_IN_REF] and rank_of[b] == US[u, U_IN_REF_RANK]:
            continue
        for k in range(BS[u, b, B_CQ_N]):
            c = required(R, BS, u, b, CQ[u, b, k])
            if T >= ready_at(P, rank_of, ready, FAW, FS, u, b, c) \
                    and not blocked(P, R, BS, CQ, u, b, k, c):
                return c, b, k
    return -1, -1, -1


@njit(cache=True)
def refresh_command(P, ready, US, BS, REFQ_, u, T):
    """DRAMsim3's FinishRefresh for the rank at the head of the refresh queue: a PRE to the
    first open bank whose PRE is ready, else REF once every bank is closed and ready."""
    r = REFQ_[u, US[u, U_REFQ_H]]
    bpr = P[P_BPR]
    n_ready = 0
    for b in range(r * bpr, (r + 1) * bpr):
        if BS[u, b, B_OPEN] >= 0:
            if T >= ready[u, b, PRE]:
                return PRE, b
        elif T >= ready[u, b, REF]:
            n_ready += 1
    if n_ready == bpr:
        return REF, r * bpr
    return -1, -1


@njit(cache=True)
def update_timing(P, lat, relm, rank_of, ready, u, T, c, b):
    for b2 in range(P[P_NB]):
        if c == REF:  # a rank command: rank-level rules in its rank, sibling rules elsewhere
            rel = SAME_RANK if rank_of[b2] == rank_of[b] else OTHER_RANK
        else:
            rel = relm[b, b2]
        for c2 in range(NC):
            t = T + lat[rel, c, c2]
            if t > ready[u, b2, c2]:
                ready[u, b2, c2] = t


@njit(cache=True)
def drain_starts(P, US, BS, u):
    n = US[u, U_WQ_N]
    if n == 0:
        return False
    if n >= P[P_WQ]:
        return True
    if n <= P[P_DRAIN_LOW] and (P[P_DRAMSIM3] or US[u, U_LEFT] > 0 or US[u, U_RQ_N] > 0):
        return False  # (the default front end also drains the last few writes at the end)
    for b in range(P[P_NB]):
        if BS[u, b, B_CQ_N] > 0:
            return False
    return True


@njit(cache=True)
def schedule(P, R, Q, US, BS, RQ, WQ, CQ, u):
    """DRAMsim3's ScheduleTransaction: move the first request whose bank queue has room from
    the read queue (or, while draining, the write buffer) to its bank queue."""
    if US[u, U_WDRAIN] == 0 and drain_starts(P, US, BS, u):
        US[u, U_WDRAIN] = US[u, U_WQ_N]
    writes = US[u, U_WDRAIN] > 0
    q = WQ if writes else RQ
    field = U_WQ_N if writes else U_RQ_N
    for i in range(US[u, field]):
        req = q[u, i]
        b = R[req, R_BANK]
        if BS[u, b, B_CQ_N] < P[P_BQ]:
            if writes:
                r = R[req, R_PREV_RD]
                if r >= 0 and Q[r, Q_STATE] == PENDING:  # a read of this address goes first
                    US[u, U_WDRAIN] = 0
                    return
                US[u, U_WDRAIN] -= 1
            CQ[u, b, BS[u, b, B_CQ_N]] = req
            BS[u, b, B_CQ_N] += 1
            for j in range(i, US[u, field] - 1):
                q[u, j] = q[u, j + 1]
            US[u, field] -= 1
            return


@njit(cache=True)
def can_schedule(P, R, US, BS, RQ, WQ, u):
    writes = US[u, U_WDRAIN] > 0 or drain_starts(P, US, BS, u)
    q = WQ if writes else RQ
    for i in range(US[u, U_WQ_N] if writes else US[u, U_RQ_N]):
        if BS[u, R[q[u, i], R_BANK], B_CQ_N] < P[P_BQ]:
            return True
    return False


@njit(cache=True)
def next_time(P, R, rank_of, ready, FAW, FS, US, BS, RQ, WQ, CQ, REFQ_, u, T):
    """The earliest cycle after T at which this controller's tick could do anything."""
    if can_schedule(P, R, US, BS, RQ, WQ, u):
        return T + 1
    ri = P[P_REF_INTERVAL]
    best = (T // ri + 1) * ri
    bpr = P[P_BPR]
    if US[u, U_REFQ_N] > 0:
        r = REFQ_[u, US[u, U_REFQ_H]]
        for b in range(r * bpr, (r + 1) * bpr):
            t = ready[u, b, PRE] if BS[u, b, B_OPEN] >= 0 else ready[u, b, REF]
            best = min(best, max(t, T + 1))
    for b in range(P[P_NB]):
        if US[u, U_IN_REF] and rank_of[b] == US[u, U_IN_REF_RANK]:
            continue
        for k in range(BS[u, b, B_CQ_N]):
            c = required(R, BS, u, b, CQ[u, b, k])
            t = ready_at(P, rank_of, ready, FAW, FS, u, b, c)
            if t > T:
                best = min(best, t)
            elif not blocked(P, R, BS, CQ, u, b, k, c):
                return T + 1
    return best
