"""pimsim's DRAM engine: hand-computed command timing on HBM2 (DRAMsim3's HBM2_8Gb_x128:
tests/fixtures/reference/dramsim3/hbm2_8gb_x128.md), DRAMsim3's own results on its reference
traces, the front ends, and bad input."""
from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pimc.cli import main
from pimc.errors import PimcError, UnknownNameError
from pimc.runtime.pimsim import (DRAM_RULES, Trace, TraceError, get_spec, parse_trace, read_trace,
                                 run_trace)

REFERENCE = Path(__file__).parents[1] / "fixtures" / "reference" / "dramsim3"
HBM2 = get_spec("hbm2")
P = HBM2.derived_params  # tRCD 14, tRP 14, CL 14, nBL 2, tRFC 260, tFAW 30, tREFI 3900


def addr(ch=0, bg=0, ba=0, row=0, col=0) -> int:
    """An HBM2 byte address (rorabgbachco: column [10:6], channel [13:11], bank [15:14], bank
    group [17:16], row [32:18])."""
    return row << 18 | bg << 16 | ba << 14 | ch << 11 | col << 6


def run(requests, memory=HBM2, frontend="default"):
    return run_trace(Trace.from_requests(requests), memory, frontend)


def commands(result, name):
    return result.log[result.log["command"] == name]


# ---- hand-computed timing -------------------------------------------------------------------------

def test_read_after_act_waits_exactly_trcd():
    # DRAMSIM3.md §2: accepted at t, ACT at t+2, READ at t+16, data at t+32, latency 31 (the
    # default front end accepts a due request at once, as DRAMsim3's does when nothing waits).
    r = run([(addr(), "READ", 0)])
    act, rd = commands(r, "ACT")["cycle"], commands(r, "RD")["cycle"]
    assert list(act) == [2] and list(rd) == [2 + P["tRCD"]]
    assert r.avg_read_latency_cycles == 31
    assert r.cycles == rd[0] + P["CL"] + P["nBL"] + 1


def test_row_hit_latency():
    # DRAMSIM3.md §2: a row hit accepted at t reads at t+2 and DRAMsim3 reports 17.
    r = run([(addr(col=0), "READ", 0), (addr(col=1), "READ", 100)])
    second = r.log[-1]
    assert second["command"] == "RD" and second["cycle"] == 102
    assert r.p99_read_latency_cycles <= 31 and r.row_hit_rate == 0.5


def test_row_conflict_costs_trp_trcd_cl():
    hit = run([(addr(col=0), "READ", 0), (addr(col=1), "READ", 100)])
    conflict = run([(addr(row=0), "READ", 0), (addr(row=1), "READ", 100)])
    pre, act, rd = (commands(conflict, c)["cycle"] for c in ("PRE", "ACT", "RD"))
    assert act[1] - pre[0] == P["tRP"] and rd[1] - act[1] == P["tRCD"]
    done = conflict.cycles - 1  # the second read's last data beat
    assert done - pre[0] == P["tRP"] + P["tRCD"] + P["CL"] + P["nBL"]
    latency = lambda r: 2 * r.avg_read_latency_cycles - 31  # noqa: E731 (the second read's)
    assert latency(conflict) - latency(hit) == P["tRP"] + P["tRCD"]


def test_tfaw_limits_the_fifth_act():
    # Five banks, the first four in different bank groups: ACTs tRRD_S apart until the window
    # of four is full; the fifth waits for the first + tFAW.
    banks = [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]
    requests = [(addr(bg=g, ba=b), "READ", i) for i, (g, b) in enumerate(banks)]
    act = commands(run(requests), "ACT")["cycle"]
    assert list(np.diff(act[:4])) == [P["tRRD_S"]] * 3
    assert act[4] - act[0] == P["tFAW"]
    without = dataclasses.replace(HBM2, rule_rows=tuple(r for r in DRAM_RULES if r[3] != "tFAW"))
    act = commands(run(requests, without), "ACT")["cycle"]
    assert act[4] - act[3] == P["tRRD_S"]  # no window: the fifth follows at tRRD_S


@pytest.mark.parametrize("memory, same_group, other_group", [
    ("hbm3", 4, 2),  # AttAcc HBM3: tCCD_L 4, tCCD_S 2 (ATTACC.md §2)
    ("hbm2", 2, 2),  # DRAMsim3: max(burst 2, tCCD) = 2 for both (hbm2_8gb_x128.md)
])
def test_tccd_long_within_a_bank_group_short_across(memory, same_group, other_group):
    spec = get_spec(memory)

    def at(bg, ba, col):
        return spec.address_mapping.encode(bg=bg, ba=ba, co=col)

    for second_group, gap in ((0, same_group), (1, other_group)):
        requests = [(at(0, 0, c), "READ", 0) for c in range(8)] + \
                   [(at(second_group, 1, c), "READ", 0) for c in range(8)]
        rd = commands(run(requests, spec, "default"), "RD")
        banks = rd["bankgroup"] * 4 + rd["bank"]
        switches = np.flatnonzero(np.diff(banks) != 0)
        assert switches.size, "the two banks' reads interleave"
        assert min(np.diff(rd["cycle"])[switches]) == gap


def test_refresh_blocks_the_rank_for_trfc():
    # All banks are closed at tREFI = 3900, so every channel refreshes then; a read arriving
    # during the refresh activates exactly tRFC after the REF.
    r = run([(addr(), "READ", 3950)])
    ref = commands(r, "REF")
    assert list(ref["cycle"]) == [P["tREFI"]] * 8 and sorted(ref["channel"]) == list(range(8))
    assert commands(r, "ACT")["cycle"][0] == P["tREFI"] + P["tRFC"]


def test_refresh_precharges_an_open_bank_first():
    # ACT at 3882, READ at 3896: the row is still open at 3900. (A later read on channel 1
    # keeps the simulation running past the refresh.)
    r = run([(addr(), "READ", 3880), (addr(ch=1), "READ", 5000)])
    ch0 = r.log[r.log["channel"] == 0]
    assert list(ch0["command"]) == ["ACT", "RD", "PRE", "REF"]
    act, _, pre, ref = ch0["cycle"]
    assert pre == act + P["tRAS"] and ref == pre + P["tRP"]


def test_idle_cycles_are_not_ticked():
    r = run([(addr(), "READ", 0), (addr(ch=1), "READ", 1_000_000)])
    assert r.cycles > 1_000_000
    refreshes = 8 * (r.cycles // P["tREFI"])
    assert r.commands["REF"] == refreshes
    assert r.controller_ticks < 2 * refreshes + 50  # the events, not the million cycles


# ---- controller behaviour -------------------------------------------------------------------------

def test_read_merging_and_write_forwarding():
    r = run([(addr(), "READ", 0), (addr(), "READ", 1), (addr(col=3), "WRITE", 2),
             (addr(col=3), "READ", 3)], frontend="dramsim3")
    assert r.commands["RD"] == 1 and r.reads_done == 4  # + the phantom read, merged too
    assert r.commands["WR"] == 0 and r.writes_done == 1  # posted, still buffered


def test_write_drain_watermark():
    # Posted writes are done at once, so a later read on channel 1 keeps the simulation going.
    few = [(addr(col=c), "WRITE", c) for c in range(8)] + [(addr(ch=1), "READ", 1000)]
    assert run(few, frontend="dramsim3").commands["WR"] == 0  # never above the low watermark
    assert run([(addr(col=8), "WRITE", 8)] + few, frontend="dramsim3").commands["WR"] == 9
    assert run(few).commands["WR"] == 8  # the default front end drains the rest at the end


def test_default_frontend_does_not_block_behind_a_busy_channel():
    busy = [(addr(row=i % 2, col=i // 2), "READ", 0) for i in range(64)]  # conflicts, channel 0
    other = (addr(ch=1), "READ", 0)
    for frontend, blocked in (("default", False), ("dramsim3", True)):
        r = run(busy + [other], frontend=frontend)
        ch1 = r.log[(r.log["channel"] == 1) & (r.log["command"] == "RD")]["cycle"][0]
        assert (ch1 > 100) == blocked


def test_streaming_reads_reach_90_percent_of_peak():
    n = 100_000
    trace = Trace("stream", np.arange(n, dtype=np.int64) * 64, np.zeros(n, bool),
                  np.zeros(n, np.int64), np.arange(1, n + 1))
    r = run_trace(trace, "hbm2")
    assert r.peak_bandwidth_gbps == pytest.approx(256)
    assert r.bandwidth_gbps >= 0.9 * 256
    assert r.energy_j == pytest.approx(n * 64 * 8 * 3.59e-12)


# ---- DRAMsim3's reference traces ------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_traces(tmp_path_factory):
    out = tmp_path_factory.mktemp("dramsim3")
    subprocess.run([sys.executable, str(REFERENCE / "gen_traces.py"), str(out)], check=True,
                   capture_output=True)
    return out


REFERENCE_ROWS = {row["workload"]: row for row in csv.DictReader(open(REFERENCE /
                                                                      "results_subset.csv"))}


@pytest.mark.parametrize("workload", sorted(REFERENCE_ROWS))
def test_matches_dramsim3(reference_traces, workload):
    ref = REFERENCE_ROWS[workload]
    r = run_trace(reference_traces / f"{workload}.trace", "hbm2", "dramsim3")
    assert r.cycles == pytest.approx(int(ref["sim_cycles"]), rel=0.02)
    assert r.bandwidth_gbps == pytest.approx(float(ref["bandwidth_GBps"]), rel=0.02)
    assert r.avg_read_latency_cycles == pytest.approx(float(ref["avg_read_latency_cycles"]),
                                                      rel=0.10)
    # The controller replays DRAMsim3's decisions, so its command counts agree exactly.
    counted = {"ACT": "act_cmds", "PRE": "pre_cmds", "RD": "read_cmds", "REF": "ref_cmds"}
    assert {c: r.commands[c] for c in counted} == {c: int(ref[k]) for c, k in counted.items()}
    assert r.row_hits == int(ref["read_row_hits"]) + int(ref["write_row_hits"])
    assert r.phantom_read == (ref["phantom_read"] == "1")


# ---- spec -----------------------------------------------------------------------------------------

def test_hbm2_address_mapping_matches_dramsim3():
    # hbm2_8gb_x128.md "Address mapping" examples, checked there with DRAMsim3's command trace.
    m = HBM2.address_mapping
    cases = {0x40: dict(co=1), 0x800: dict(ch=1), 0x4000: dict(ba=1), 0x10000: dict(bg=1),
             0x40000: dict(ro=1), 0x3FFC0000: dict(ro=0xFFF)}
    for a, want in cases.items():
        got = {k: int(v[0]) for k, v in m.decode(np.array([a])).items()}
        assert got == {k: want.get(k, 0) for k in got}, hex(a)


def test_rule_table_gives_dramsim3_command_gaps():
    gap = {(r.level, r.prev, r.next, r.sibling): r.latency for r in HBM2.rules if r.window == 1}
    # hbm2_8gb_x128.md "Command-to-command minimum gaps"
    assert gap["pseudochannel", "RD", "WR", False] == 14
    assert gap["bankgroup", "WR", "RD", False] == 14 and gap["rank", "WR", "RD", False] == 12
    assert gap["bank", "RD", "PRE", False] == 5 and gap["bank", "WR", "PRE", False] == 22
    assert gap["bank", "ACT", "ACT", False] == 48 and gap["rank", "REF", "ACT", False] == 260


def test_mixed_radix_mapping():
    spec = get_spec("attacc-bank")  # 5 stacks x 16 channels: not a power of two
    assert spec.org.channels == 80
    m = spec.address_mapping
    a = m.encode(ch=79, pc=1, ra=1, bg=3, ba=2, ro=1234, co=31)
    assert {k: int(v[0]) for k, v in m.decode(np.array([a])).items()} == \
        dict(ch=79, pc=1, ra=1, bg=3, ba=2, ro=1234, co=31)
    assert m.encode(ch=79, pc=1, ra=1, bg=3, ba=3, ro=spec.org.rows - 1, co=31) + \
        spec.org.access_bytes == spec.org.capacity_bytes


def test_target_memory_builds_the_same_table():
    neupims = get_spec("neupims")  # its [memory] repeats HBM2_8Gb_x128 over 4 stacks
    assert neupims.rules == HBM2.rules
    assert neupims.org.channels == 32 and neupims.org.capacity_bytes == 4 * 2**33
    for name in ("hbm3", "hbm3-npc", "hbm2-pim", "hbm-pim", "attacc-bank"):
        assert get_spec(name).rules


# ---- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("0x40 READ 0\n0x80 READ\n", "t.trace:2: expected '<hex address> READ|WRITE <cycle>'"),
    ("0x40 READ 0\n\n0x80 FETCH 3\n", "t.trace:3: unknown command 'FETCH'; valid: READ, WRITE"),
    ("0xZZ READ 0\n", "t.trace:1: address '0xZZ' is not a hexadecimal number"),
    ("0x40 READ -3\n", "t.trace:1: cycle '-3' is not a non-negative integer"),
])
def test_malformed_trace_names_file_and_line(text, message):
    with pytest.raises(TraceError, match="^" + message.replace("|", r"\|")):
        parse_trace(text, "t.trace")


def test_address_beyond_capacity(tmp_path):
    path = tmp_path / "big.trace"
    path.write_text("0x40 READ 0\n0x200000000 READ 1\n")
    with pytest.raises(TraceError, match=r"big.trace:2: address 0x200000000 is beyond hbm2's "
                                         r"capacity of 8 GiB"):
        run_trace(read_trace(path), "hbm2")


def test_unknown_memory_lists_presets():
    with pytest.raises(UnknownNameError, match="unknown memory preset 'hbm9'.*valid: .*hbm2, "
                                               "hbm2-pim, hbm3"):
        get_spec("hbm9")


@pytest.mark.parametrize("content, args, message", [
    ("0x40 WRITE 0\n0x80 MOVE 1\n", [], "dram.trace:2: unknown command 'MOVE'"),
    ("0x40 READ 0\n", ["--memory", "hbm9"], "--memory: unknown memory preset 'hbm9'"),
    ("0x40 READ x\n", [], "dram.trace:1: cycle 'x' is not a non-negative integer"),
    ("0x40 READ 0\n", ["--frontend", "fast"], "--frontend: unknown front end 'fast'"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, content, args, message):
    path = tmp_path / "dram.trace"
    path.write_text(content)
    assert main(["dram", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pimc: error: {path.parent}/{message}" if "trace:" in message
                          else f"pimc: error: {message}")
    assert err.count("\n") == 1


def test_cli_json(tmp_path, capsys):
    path = tmp_path / "dram.trace"
    path.write_text("".join(f"{addr(col=c):#x} READ {c}\n" for c in range(32)))
    assert main(["dram", str(path), "--memory", "hbm2", "--frontend", "dramsim3",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"cycles", "requests", "bandwidth_gbps", "avg_read_latency_cycles", "row_hit_rate",
            "wall_s"} <= set(out)
    assert out["requests"] == 32 and out["commands"]["RD"] == 32 and out["row_hit_rate"] > 0.9
    assert issubclass(TraceError, PimcError)
