"""The independent timing checker (pimsim/check.py): silent on engine logs, and precise on logs
broken by moving one command a cycle early, by hand-written protocol errors and by a table the
engine did not follow."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from pimc.runtime.pimsim import Trace, get_spec, run_trace
from pimc.runtime.pimsim.check import DEPTH, LOG_FIELDS, check_log

LINE = 64  # bytes per request, as in tests/fixtures/reference/dramsim3/gen_traces.py
SPAN = 1 << 30


def address(memory: str, **coords) -> int:
    """The byte address of (ch, pc, ra, bg, ba, ro, co) under the preset's mapping."""
    return sum(coords.get(name, 0) << shift
               for name, shift, _ in get_spec(memory).address_mapping.fields)


# The reference trace shapes of gen_traces.py, shortened.
def stream(n, rng):
    return [(i * LINE % SPAN, "READ", i) for i in range(n)]


def random_reads(n, rng):
    return [(rng.randrange(SPAN // LINE) * LINE, "READ", i) for i in range(n)]


def mix_2r1w(n, rng):
    return [(i * LINE % SPAN, "WRITE" if i % 3 == 2 else "READ", i) for i in range(n)]


def random_mix(n, rng):
    return [(rng.randrange(SPAN // LINE) * LINE, rng.choice(("READ", "WRITE")), i)
            for i in range(n)]


def row_conflict(n, rng):
    return [((i & 1) << 18 | (i >> 1) % 32 * LINE, "READ", i) for i in range(n)]


def paced(n, rng):  # spans many refresh intervals
    return [(i * LINE % SPAN, "READ", 40 * i) for i in range(n)]


WORKLOADS = [stream, random_reads, mix_2r1w, random_mix, row_conflict, paced]


def engine_log(memory, requests, frontend="default"):
    return run_trace(Trace.from_requests(requests), memory, frontend).log


def moved_earlier(log, i):
    broken = log.copy()
    broken["cycle"][i] -= 1
    return broken


def nth(log, command, n=0):
    return int(np.flatnonzero(log["command"] == command)[n])


# ---- (1) engine runs are clean -------------------------------------------------------------------

@pytest.mark.parametrize("frontend", ["default", "dramsim3"])
@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.__name__)
@pytest.mark.parametrize("memory", ["hbm2", "hbm3", "hbm2-pim"])
def test_engine_runs_have_no_violations(memory, workload, frontend):
    log = engine_log(memory, workload(1500, random.Random(7)), frontend)
    assert len(log) >= 1500
    assert check_log(get_spec(memory), log) == []


@pytest.mark.parametrize("memory", ["hbm2", "hbm3"])
def test_refresh_heavy_runs_have_no_violations(memory):
    base = get_spec(memory)
    # A refresh every 2 tRFC: refresh interrupts the traffic all the time.
    spec = dataclasses.replace(base, params={**base.params, "tREFI": 2 * base.params["tRFC"]})
    log = run_trace(Trace.from_requests(random_mix(3000, random.Random(3))), spec).log
    assert (log["command"] == "REF").sum() > 50
    assert check_log(spec, log) == []


# ---- (2) one command a cycle early: exactly its rule, at its cycle -------------------------------

def only_violation(memory, log, i):
    """The single violation reported after moving command i one cycle earlier."""
    found = check_log(get_spec(memory), moved_earlier(log, i))
    assert len(found) == 1, [str(v) for v in found]
    v = found[0]
    assert (v.index, v.cycle, v.command) == (i, log["cycle"][i] - 1, log["command"][i])
    return v


def test_read_moved_before_trcd():
    log = engine_log("hbm2", [(0, "READ", 0)])
    i = nth(log, "RD")
    assert log["cycle"][i] - log["cycle"][nth(log, "ACT")] == 14  # tRCD: the read was tight
    v = only_violation("hbm2", log, i)
    assert (v.kind, v.rule.formula, v.rule.level, v.required, v.actual) == \
        ("timing", "tRCD", "bank", 14, 13)
    assert (v.rule.prev, v.rule.next, v.prev_cycle) == ("ACT", "RD", log["cycle"][i] - 14)


def test_act_moved_before_trp():
    # A row miss long after the first access: only tRP binds the second ACT (not tRC, tRAS).
    log = engine_log("hbm2", [(0, "READ", 0), (address("hbm2", ro=1), "READ", 200)])
    i = nth(log, "ACT", 1)
    v = only_violation("hbm2", log, i)
    assert (v.rule.formula, v.rule.prev, v.rule.next, v.required, v.actual) == \
        ("tRP", "PRE", "ACT", 14, 13)
    assert v.prev_cycle == log["cycle"][nth(log, "PRE")]


def test_fifth_act_moved_into_tfaw():
    banks = [dict(bg=0), dict(bg=1), dict(bg=2), dict(bg=3), dict(bg=0, ba=1)]
    log = engine_log("hbm2", [(address("hbm2", **b), "READ", 0) for b in banks])
    acts = np.flatnonzero(log["command"] == "ACT")
    assert len(acts) == 5 and log["cycle"][acts[4]] - log["cycle"][acts[0]] == 30  # tFAW
    v = only_violation("hbm2", log, int(acts[4]))
    assert (v.kind, v.rule.formula, v.rule.level, v.rule.window) == ("window", "tFAW", "rank", 4)
    assert (v.window_count, v.required, v.actual, v.prev_cycle) == \
        (5, 30, 29, log["cycle"][acts[0]])
    assert "5 ACT in 30 tCK" in str(v)


def test_read_moved_before_tccd_l():
    # HBM3: tCCD_L 4 > max(nBL, tCCD_S) 2, so only the bank-group rule binds the second read.
    log = engine_log("hbm3", [(0, "READ", 0), (address("hbm3", co=1), "READ", 0)])
    i = nth(log, "RD", 1)
    v = only_violation("hbm3", log, i)
    assert (v.rule.formula, v.rule.level, v.rule.prev, v.required, v.actual) == \
        ("max(nBL, tCCD_L)", "bankgroup", "RD", 4, 3)


def test_act_moved_into_trfc():
    # The bank is open at the refresh (PRE, then REF), and a request waits out tRFC.
    log = engine_log("hbm2", [(0, "READ", 0), (address("hbm2", ro=1), "READ", 3901)])
    i = nth(log, "ACT", 1)
    ref = int(np.flatnonzero((log["command"] == "REF") & (log["channel"] == 0))[0])
    assert log["cycle"][i] - log["cycle"][ref] == 260  # tRFC
    v = only_violation("hbm2", log, i)
    assert (v.rule.formula, v.rule.level, v.rule.prev, v.rule.next, v.required, v.actual) == \
        ("tRFC", "rank", "REF", "ACT", 260, 259)
    # The REF itself waited tRP for the PRE that closed the bank.
    v = only_violation("hbm2", log, ref)
    assert (v.rule.formula, v.rule.level, v.rule.prev, v.rule.next, v.actual) == \
        ("tRP", "bank", "PRE", "REF", 13)


def brute_force(spec, log, j):
    """Names of the rules command j breaks, by comparing it with every earlier command: the
    spec's semantics restated pairwise, with none of the checker's bookkeeping."""
    scope = {c.name: DEPTH[c.scope] for c in spec.commands}
    order = sorted(range(len(log)), key=lambda k: (log["cycle"][k], k))
    earlier = order[:order.index(j)]
    addr = {k: tuple(int(log[f][k]) for f in LOG_FIELDS[2:7])[:scope[log["command"][k]]]
            for k in [*earlier, j]}
    t = int(log["cycle"][j])
    broken = set()
    for rule in (r for r in spec.rules if r.next == log["command"][j]):
        d = DEPTH[rule.level]
        under = []
        for k in (k for k in earlier if log["command"][k] == rule.prev):
            a, b = addr[k], addr[j]
            if rule.sibling:
                related = (min(len(a), len(b)) >= d and a[:d - 1] == b[:d - 1]
                           and a[d - 1] != b[d - 1])
            else:
                m = min(d, len(a), len(b))
                related = a[:m] == b[:m]
            if related and t - log["cycle"][k] < rule.latency:
                under.append(k)
        if len(under) >= rule.window:
            broken.add(str(rule))
    return broken


def test_every_rule_that_binds_in_a_run_is_caught_when_broken():
    """For each command of a two-rank mixed run, moving it one cycle earlier breaks exactly the
    rules a pairwise brute force finds; every pairwise rule that ever binds is exercised."""
    spec = get_spec("hbm3")
    rng = random.Random(11)
    # Two ranks, few rows: row hits, conflicts, rank switches and read/write turnarounds, in
    # bursts of 30 every 600 cycles so that refreshes (one rank every 2535 tCK) fall among them.
    requests = [(address("hbm3", ra=rng.randrange(2), bg=rng.randrange(4), ba=rng.randrange(4),
                         ro=rng.randrange(2), co=rng.randrange(32)),
                 rng.choice(("READ", "WRITE")), i // 30 * 600) for i in range(300)]
    log = engine_log("hbm3", requests)
    seen = set()
    for j in range(len(log)):
        broken_log = moved_earlier(log, j)
        expected = brute_force(spec, broken_log, j)
        found = check_log(spec, broken_log)
        assert {str(v.rule) for v in found if v.rule} == expected, j
        assert all(v.index == j for v in found)
        seen |= expected
    # All 22 rules but two bind somewhere in this run: tRC (= tRAS + tRP) binds only where
    # tRAS and tRP both do, and REF -> REF only where one rank refreshes again within tRFC.
    assert {str(r) for r in spec.rules} - seen == \
        {"same bank: ACT -> ACT >= 63 tCK (tRC)", "same rank: REF -> REF >= 456 tCK (tRFC)"}


# ---- (3) protocol errors and the table as the only source ----------------------------------------

def hand_log(*entries):
    """(cycle, command, rank, bg, ba, row, column) on channel 0, pseudo-channel 0."""
    return [(c, n, 0, 0, ra, bg, ba, ro, co) for c, n, ra, bg, ba, ro, co in entries]


def test_read_to_a_closed_bank():
    log = hand_log((0, "ACT", 0, 0, 0, 5, -1), (100, "RD", 0, 1, 2, 5, 3))
    [v] = check_log(get_spec("hbm2"), log)
    assert (v.kind, v.cycle, v.command, v.address, v.index) == ("protocol", 100, "RD",
                                                                (0, 0, 0, 1, 2), 1)
    assert str(v) == "cycle 100: RD ch0 pc0 ra0 bg1 ba2 row 5 col 3: protocol: RD to a closed bank"


def test_bank_state_errors():
    log = hand_log((0, "ACT", 0, 0, 0, 5, -1),
                   (60, "ACT", 0, 0, 0, 6, -1),  # row 5 still open
                   (80, "WR", 0, 0, 0, 7, 0),  # row 6 open
                   (200, "PRE", 0, 0, 1, -1, -1),  # bank 1 never opened
                   (300, "REF", 0, -1, -1, -1, -1))  # bank 0 still open
    messages = [v.message for v in check_log(get_spec("hbm2"), log)]
    assert messages == ["ACT to a bank with row 5 already open", "WR names row 7 but row 6 is open",
                        "PRE to a closed bank", "REF with open banks: bg0 ba0 (row 6)"]


def test_command_bus_and_address_errors():
    log = hand_log((0, "ACT", 0, 0, 0, 5, -1), (0, "ACT", 0, 1, 0, 5, -1),  # one row bus
                   (500, "ACT", 0, 9, 0, 5, -1), (600, "NOP", 0, 0, 0, -1, -1))
    found = check_log(get_spec("hbm2"), log)
    assert [(v.kind, v.index) for v in found] == [("bus", 1), ("timing", 1), ("protocol", 2),
                                                   ("protocol", 3)]
    assert found[1].rule.formula == "tRRD_S" and "bankgroup 9" in found[2].message
    assert "unknown command" in found[3].message


def test_rules_come_from_the_table():
    """A spec whose table asks one more tCK of tRCD than the engine ran finds every read that
    follows its ACT by exactly the old tRCD; the log is unchanged."""
    base = get_spec("hbm2")
    log = engine_log("hbm2", [(0, "READ", 0), (address("hbm2", bg=1), "READ", 0)])
    stricter = dataclasses.replace(base, params={**base.params, "tRCD": 15})
    found = check_log(stricter, log)
    assert [(v.rule.formula, v.actual, v.required) for v in found] == [("tRCD", 14, 15)] * 2


def test_log_order_within_a_cycle_and_unsorted_logs():
    # The same commands shuffled across cycles: the checker orders by cycle (stably).
    log = hand_log((14, "RD", 0, 0, 0, 5, 0), (0, "ACT", 0, 0, 0, 5, -1))
    assert check_log(get_spec("hbm2"), log) == []
