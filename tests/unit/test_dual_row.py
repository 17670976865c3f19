"""NeuPIMs' dual row buffers (pimsim/dual_row.py): each class alone takes the cycles worked out by
hand from the HBM2 timing of the neupims target; together they overlap with two row buffers and
take turns with one; the checker passes every log and catches a command moved a cycle early."""
from __future__ import annotations

import numpy as np
import pytest

from pimc.errors import PimcError
from pimc.runtime.pimsim import Trace
from pimc.runtime.pimsim.check import check_log
from pimc.runtime.pimsim.dual_row import (REQUEST_DTYPE, gemv_stream, interference, mixed_spec,
                                          requests_from_trace, run_mixed, streaming_requests)
from pimc.targets import get_target
from pimc.targets.load import override

# HBM2 as the neupims target gives it (DRAMsim3 HBM2_8Gb_x128, tCK 1 ns), and its MAC spacing.
tRCD, tRP, tRAS, tRC, tRTP, tFAW, tRRD_L = 14, 14, 34, 48, 5, 30, 6
RL, WL, nBL, CCD = 14, 4, 2, 2  # CCD: max(nBL, tCCD_L): reads/writes stream one per 2 tCK
MAC = 2  # neupims pim.mac_interval_tck ([newton] COMP -> COMP)
COLUMNS, BANKS = 32, 16


def pim_alone_cycles(tiles: int, macs_per_tile: int) -> int:
    """ACTAB, tRCD, MACs every MAC tCK, the last MAC's tRTP (or tRAS), PREA, tRP, next ACTAB:
    the final PREA's cycle."""
    busy = max(tRCD + MAC * (macs_per_tile - 1) + tRTP, tRAS)
    period = max(busy + tRP, tRC)
    return (tiles - 1) * period + busy


def reads_alone_cycles(n: int) -> int:
    """ACT at 0, the first RD tRCD later, one RD per CCD (the next banks open in the shadow of
    the current one), and the last burst's data RL + nBL after it."""
    return tRCD + CCD * (n - 1) + RL + nBL


def run(*args, **options):
    """run_mixed without refresh: the hand counts leave tREFI out (test_refresh adds it)."""
    return run_mixed(*args, refresh=False, **options)


@pytest.fixture(scope="module")
def spec():
    return mixed_spec("neupims")


@pytest.fixture(scope="module")
def gemv(spec):
    # 256 output rows = 16 per bank; 512 fp16 inputs = 16 columns each: 256 MACs = 8 DRAM rows
    return gemv_stream(spec, out_rows=256, in_cols=512)


@pytest.fixture(scope="module")
def reads(spec):
    return streaming_requests(spec, 2048)  # 4 rows per bank: rows close and reopen


def test_target_picks_the_mode(spec):
    assert spec.pim["row_buffers"] == 2 and mixed_spec("npu-pim-naive").pim["row_buffers"] == 1
    assert spec.params["tCCDAB"] == MAC
    assert mixed_spec("neupims", row_buffers=1).pim["row_buffers"] == 1
    with pytest.raises(PimcError, match="row_buffers: 3 .*valid: 1"):
        mixed_spec("neupims", row_buffers=3)
    with pytest.raises(PimcError, match="no-such-target"):
        mixed_spec("no-such-target")


def test_gemv_stream_counts(spec, gemv):
    assert len(gemv) == (256 // BANKS) * (512 * 2 // 64)
    assert gemv["row"].max() == 256 // COLUMNS - 1 and gemv["column"].max() == COLUMNS - 1


@pytest.mark.parametrize("row_buffers", [1, 2])
def test_pim_alone_matches_hand_count(gemv, row_buffers):
    r = run("neupims", gemv, None, row_buffers)
    assert r.pim_finish == r.cycles == pim_alone_cycles(8, COLUMNS) == 746
    assert r.commands == {"ACTAB": 8, "MACAB": 256, "PREA": 8}
    assert check_log(r.spec, r.log) == []


@pytest.mark.parametrize("row_buffers", [1, 2])
def test_reads_alone_match_hand_count(spec, reads, row_buffers):
    r = run("neupims", None, reads, row_buffers)
    assert r.ordinary_finish == r.cycles == reads_alone_cycles(2048) == 4124
    # 64 row slots: one ACT each, and a PRE for each reopened bank (48)
    assert r.commands == {"ACT": 64, "PRE": 64 - BANKS, "RD": 2048}
    assert r.ordinary_bandwidth_gbps == pytest.approx(2048 * 64 / 4124)
    assert check_log(r.spec, r.log) == []


def test_writes_alone_match_hand_count(spec):
    r = run("neupims", None, streaming_requests(spec, 256, write=True), 2)
    assert r.ordinary_finish == tRCD + CCD * 255 + WL + nBL  # tRCDWR = tRCD = 14 on HBM2
    assert check_log(r.spec, r.log) == []


def test_dual_buffers_overlap(gemv, reads):
    d = interference("neupims", gemv, reads, refresh=False)
    mixed, tiles = d["mixed"], 8
    assert mixed.row_buffers == 2
    # PIM keeps both buses first: only an ordinary ACT just before an ACTAB (tRRD_L) delays it
    assert 746 <= mixed.pim_finish <= 746 + tiles * tRRD_L
    # Reads lose at most: the first ACT waits tFAW behind the first ACTAB, and one column slot
    # per tile when a MAC and a read are ready in the same cycle
    assert 4124 <= mixed.ordinary_finish <= 4124 + tFAW + 1 + tiles
    assert mixed.cycles <= max(746, 4124) + tFAW + 1 + tiles  # near max(alone), not the sum
    assert d["pim_slowdown"] == mixed.pim_finish / 746
    assert check_log(mixed.spec, mixed.log) == []
    print(f"dual: PIM {mixed.pim_finish} (alone 746), reads {mixed.ordinary_finish} "
          f"(alone 4124), {mixed.ordinary_bandwidth_gbps:.2f} GB/s")


def test_balanced_classes_max_versus_sum(spec):
    """22 tiles of PIM and 1,024 reads each take 2,076 cycles alone: two row buffers finish near
    the max, one row buffer at the sum plus the tRP between the kernel's PREA and the first ACT."""
    pim, reads = gemv_stream(spec, out_rows=44 * BANKS, in_cols=512), streaming_requests(spec, 1024)
    assert pim_alone_cycles(22, COLUMNS) == reads_alone_cycles(1024) == 2076
    dual = run("neupims", pim, reads)
    assert 2076 <= dual.pim_finish <= 2076 + 22 * tRRD_L
    assert 2076 <= dual.cycles <= 2076 + tFAW + 1 + 22
    single = run("npu-pim-naive", pim, reads)
    assert single.cycles == 2076 + tRP + 2076
    assert check_log(dual.spec, dual.log) == [] and check_log(single.spec, single.log) == []


def test_single_buffer_takes_turns(gemv, reads):
    r = run("npu-pim-naive", gemv, reads)
    assert r.row_buffers == 1
    # The kernel first, uninterrupted; the first ACT waits tRP after the final PREA
    assert r.pim_finish == 746
    assert r.ordinary_finish == 746 + tRP + 4124 == 4884
    assert check_log(r.spec, r.log) == []


def test_single_buffer_reads_first_then_kernel(gemv, reads):
    r = run("npu-pim-naive", gemv, reads, pim_first=False)
    assert r.ordinary_finish == 4124
    # The kernel waits for the last RD's tRTP, PREs of the 16 open banks and tRP, then runs
    assert r.pim_finish >= 4124 - RL - nBL + tRTP + tRP + 746
    assert r.commands["PRE"] == 64 and check_log(r.spec, r.log) == []


def test_single_buffer_turns_reactivate_rows(gemv, reads):
    r = run("npu-pim-naive", gemv, reads, pim_quantum=1, ordinary_quantum=128)
    # 8 one-tile PIM turns split the reads into 8 turns: the 7 rows open when a PIM turn
    # starts are closed and opened again
    assert r.commands["ACTAB"] == 8 and r.commands["ACT"] == 64 + 7
    assert r.cycles >= 746 + 4124 + 7 * tRP
    assert check_log(r.spec, r.log) == []


def test_set_row_buffers_changes_the_result(gemv, reads):
    naive = override(get_target("neupims"), ["pim.row_buffers=1"])
    a = run(get_target("neupims"), gemv, reads)
    b = run(naive, gemv, reads)
    assert (a.row_buffers, b.row_buffers) == (2, 1)
    assert b.cycles == run("npu-pim-naive", gemv, reads).cycles > a.cycles


def test_shared_column_path_option_slows_both(gemv, reads):
    free = run("neupims", gemv, reads)
    shared = run("neupims", gemv, reads, shared_column_path=True)
    assert shared.pim_finish > free.pim_finish and shared.ordinary_finish > free.ordinary_finish
    assert check_log(shared.spec, shared.log) == []


def _moved(log, index):
    out = log.copy()
    out["cycle"][index] -= 1
    return out


def _first(log, command, after=-1):
    return int(np.flatnonzero((log["command"] == command) & (log["cycle"] > after))[0])


def test_mutations_are_caught(gemv, reads):
    dual = run("neupims", gemv, reads)
    log = dual.log
    second_mac = _first(log, "MACAB", after=log["cycle"][_first(log, "MACAB")])
    cases = {_first(log, "ACT"): "tFAW",  # ACTAB -> ACT, the rule dual mode keeps
             second_mac: "tCCDAB", _first(log, "MACAB"): "tRCD",
             _first(log, "ACTAB", after=0): "tRP"}  # PREA -> ACTAB
    for i, formula in cases.items():
        found = check_log(dual.spec, _moved(log, i))
        assert [v.rule.formula for v in found] == [formula]
    # a read that lost its column slot to a MAC: one cycle early, it shares the MAC's cycle
    rd = _first(log, "RD", after=log["cycle"][_first(log, "ACT")])
    assert log["cycle"][rd] - 1 in log["cycle"][log["command"] == "MACAB"]
    assert [v.kind for v in check_log(dual.spec, _moved(log, rd))] == ["bus"]
    single = run("npu-pim-naive", gemv, reads)
    i = _first(single.log, "ACT")  # the first ACT after the kernel's final PREA
    found = check_log(single.spec, _moved(single.log, i))
    assert [v.rule.formula for v in found] == ["tRP"]


def test_dual_log_breaks_the_single_buffer_protocol(gemv, reads):
    """The exemption is the mode's: the same log, read as one row buffer per bank, opens rows
    in banks the PIM unit holds."""
    dual = run("neupims", gemv, reads)
    found = check_log(mixed_spec("neupims", row_buffers=1), dual.log)
    assert any(v.kind == "protocol" for v in found)


def test_checker_keeps_the_two_buffers_apart():
    """A hand-written log: an ordinary row and a PIM row open in the same bank, a MAC and a read
    a cycle apart, then REF with the ordinary row still open."""
    log = [(0, "ACT", 0, 0, 0, 0, 0, 7, -1), (30, "ACTAB", 0, 0, 0, 0, 0, 5, -1),
           (44, "MACAB", 0, 0, 0, 0, 0, 5, 0), (45, "RD", 0, 0, 0, 0, 0, 7, 0),
           (80, "PREA", 0, 0, 0, 0, 0, -1, -1), (94, "REF", 0, 0, 0, 0, 0, -1, -1)]
    dual = check_log(mixed_spec("neupims", 2), log)
    assert [(v.cycle, v.kind) for v in dual] == [(94, "protocol")]
    single = check_log(mixed_spec("neupims", 1), log)
    assert [(v.cycle, v.kind, v.rule and v.rule.formula) for v in single] == [
        (30, "timing", "tRC"), (30, "protocol", None),  # ACTAB over an open row
        (45, "timing", "max(nBL, tCCD_S)"), (45, "protocol", None)]  # MACAB -> RD; row 5 open


def test_refresh(spec):
    """60 tiles outlast tREFI = 3,900: the refresh that falls in tile 41 (ACTAB at 41 x 95) waits
    tRAS for its PREA, then tRP and REF; tRFC later the tile starts over."""
    pim = gemv_stream(spec, out_rows=120 * BANKS, in_cols=512)
    r = run_mixed("neupims", pim, None)
    assert 41 * 95 < 3900 < 41 * 95 + tRCD
    assert r.pim_finish == pim_alone_cycles(60, COLUMNS) + tRAS + tRP + 260  # tRFC 260
    assert r.commands == {"ACTAB": 61, "MACAB": 60 * COLUMNS, "PREA": 61, "REF": 1}
    mixed = run_mixed("neupims", pim, streaming_requests(spec, 4096))
    assert mixed.commands["REF"] == mixed.cycles // 3900
    assert check_log(r.spec, r.log) == [] and check_log(mixed.spec, mixed.log) == []


def test_requests_from_a_trace(spec, reads):
    amap = spec.address_mapping
    addr = [amap.encode(ch=c, bg=int(r["bankgroup"]), ba=int(r["bank"]), ro=int(r["row"]),
                        co=int(r["column"])) for r in reads[:256] for c in (0, 1)]
    trace = Trace.from_requests([(a, "READ", 0) for a in addr])
    got = requests_from_trace(trace, spec, channel=1)
    assert np.array_equal(got, reads[:256])
    assert run("neupims", None, trace).ordinary_finish == reads_alone_cycles(256)


def test_arrivals_pace_the_reads(spec):
    # one read every 8 tCK: each issues on arrival once its row is open
    r = run("neupims", None, streaming_requests(spec, 64, interval=8))
    assert r.ordinary_finish == 8 * 63 + RL + nBL


def test_backend_streams_keep_only_macs(spec):
    stream = np.zeros(4, np.dtype([("op", "i1"), ("row", "i4"), ("column", "i2")]))
    stream["op"] = [1, 0, 0, 2]  # WRGB, MAC, MAC, MVSB
    stream["column"] = [0, 0, 1, 0]
    r = run("neupims", stream, None)
    assert r.commands["MACAB"] == 2 and r.pim_finish == pim_alone_cycles(1, 2)


def test_bad_inputs_are_one_line_errors(spec):
    reqs = streaming_requests(spec, 4)
    reqs["bank"][2] = 9
    with pytest.raises(PimcError, match=r"requests\[2\]: bank 9"):
        run("neupims", None, reqs)
    with pytest.raises(PimcError, match="missing field"):
        run("neupims", None, np.zeros(2, [("row", "i4")]))
    with pytest.raises(PimcError, match="'row' and 'column'"):
        run("neupims", np.zeros(2, [("x", "i4")]), None)
    with pytest.raises(PimcError, match="pseudo-channel"):
        run(mixed_spec("hbm3", mac_interval_tck=4), None, np.zeros(0, REQUEST_DTYPE))
