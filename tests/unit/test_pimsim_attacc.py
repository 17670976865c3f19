"""AttAcc's HBM3-PIM decode attention on pimsim (pimsim/attacc*.py, pim_engine.py): the request
stream's command counts equal AttAcc's (attacc_hbm3pim_subset.csv), cycles agree within the
fidelity bounds, the independent checker passes the engine's logs and catches a MAC moved one
cycle early, bad shapes give one-line errors, and `pimc pim-kernel attention` prints the result."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from pimc.cli import main
from pimc.errors import PimcError
from pimc.runtime.pimsim.attacc import run_attention
from pimc.backends.pim.attention_stream import MAC_COMMAND, attention_stream, stream_counts
from pimc.runtime.pimsim.check import check_log

# In the repository (gzip: 71 KB instead of 672 KB); a missing file fails, it never skips.
CSV = Path(__file__).parents[1] / "fixtures/reference/attacc/attacc_hbm3pim_subset.csv.gz"


def reference_rows():
    with gzip.open(CSV, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    return {(r["pim_type"], r["power_constraint"], int(r["L"]), r["dbyte"]): r for r in rows}


ROWS = reference_rows()


def shape(r):
    return int(r["L"]), int(r["nhead_per_hbm"]), int(r["dhead"]), int(r["dbyte"])


def expected_counts(r):
    return {MAC_COMMAND[r["pim_type"]]: int(r["n_mac"]), "WRGB": int(r["n_wrgb"]),
            "MVSB": int(r["n_mvsb"]), "MVGB": int(r["n_mvgb"]), "SFM": int(r["n_sfm"])}


# A handful of rows per placement, both head configurations, odd and even strides.
COUNT_CASES = [(pl, L, db) for pl in ("BA", "BG", "BUFFER") for L, db in
               ((2048, "2"), (2052, "2"), (2060, "1"), (3000, "2"), (4096, "1"))]


@pytest.mark.parametrize("placement,L,dbyte", COUNT_CASES)
def test_stream_counts_equal_attacc(placement, L, dbyte):
    ref = ROWS[(placement, "1", L, dbyte)]
    stream = attention_stream(*shape(ref), placement=placement, layout="attacc")
    assert stream_counts(stream, placement) == expected_counts(ref)


# Cycles: BA and BG on both head configurations and power settings; BUFFER on the int8 one.
CYCLE_CASES = [(pl, pc, 2048, db) for pl in ("BA", "BG") for pc in ("1", "0") for db in "21"]
CYCLE_CASES += [("BUFFER", "1", 2048, "1")]


@pytest.mark.parametrize("placement,power,L,dbyte", CYCLE_CASES)
def test_cycles_and_counts_match_attacc(placement, power, L, dbyte):
    ref = ROWS[(placement, power, L, dbyte)]
    result = run_attention(*shape(ref), placement=placement, power_constraint=power == "1",
                           layout="attacc")
    got = {k: result.commands.get(k, 0) for k in expected_counts(ref)}
    assert got == expected_counts(ref)
    error = (result.cycles - int(ref["cycles"])) / int(ref["cycles"])
    assert abs(error) <= 0.05, (result.cycles, ref["cycles"])


@pytest.mark.parametrize("placement", ["BA", "BG", "BUFFER"])
@pytest.mark.parametrize("power", [True, False])
def test_checker_passes_engine_logs_and_catches_an_early_mac(placement, power):
    # 2,048 keys so that refreshes happen; channel 0 only (no rule spans channels)
    result = run_attention(2048, 40, 128, 2, placement, power, layout="attacc", log=True)
    log = result.log[result.log["channel"] == 0].copy()
    assert {"REFab", MAC_COMMAND[placement]} <= set(log["command"])
    assert check_log(result.spec, log) == []
    macs = np.nonzero(log["command"] == MAC_COMMAND[placement])[0]
    # the first MAC that follows another MAC of the channel at exactly the minimum spacing
    gap = {"BA": 6 if power else 4, "BG": 6 if power else 4, "BUFFER": 2}[placement]
    k = next(m for a, m in zip(macs, macs[1:]) if log["cycle"][m] - log["cycle"][a] == gap)
    log["cycle"][k] -= 1
    found = check_log(result.spec, log)
    assert found and found[0].index == k and found[0].kind == "timing"
    assert found[0].rule.next == MAC_COMMAND[placement]


def test_pimc_layout_has_no_quirks():
    attacc = stream_counts(attention_stream(1024, 48, 128, 2, "BA", "attacc"), "BA")
    pimc = stream_counts(attention_stream(1024, 48, 128, 2, "BA", "pimc"), "BA")
    # 3 groups: no dummy MAC; B's context once and A's once; every WRGB/MVGB; one SFM per head
    assert pimc["SFM"] == 48 and attacc["SFM"] > 48  # odd tail repeats SFM in AttAcc's trace
    assert pimc["WRGB"] == 48 * 8 and pimc["MACAB"] == 48 * 2 * 64 * 2
    assert attacc["MACAB"] == pimc["MACAB"] + 16


@pytest.mark.parametrize("kwargs,field", [
    (dict(L=8192, nhead=16, dhead=128), "context"),
    (dict(L=1024, nhead=40000, dhead=128), "heads"),
    (dict(L=1024, nhead=16, dhead=100), "head_dim"),
    (dict(L=0, nhead=16, dhead=128), "context"),
])
def test_bad_shapes_name_the_field(kwargs, field):
    with pytest.raises(PimcError) as e:
        run_attention(**kwargs, placement="BA")
    assert str(e.value).startswith(f"{field}:") and "\n" not in str(e.value)


def test_cli_json(capsys):
    code = main(["pim-kernel", "attention", "--context", "512", "--heads", "32", "--head-dim",
                 "128", "--dtype", "fp16", "-t", "attacc-bank", "--format", "json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"cycles", "time_s", "commands", "bandwidth_gbps", "energy_j"} <= set(out)
    assert out["commands"]["MACAB"] == 32 * 2 * 32 * 2 and out["cycles"] > 0


def test_cli_power_constraint_and_bad_input(capsys):
    args = ["pim-kernel", "attention", "--context", "512", "--heads", "32", "--head-dim", "128",
            "-t", "attacc-bank", "--format", "json"]
    assert main(args + ["--set", "pim.power_constraint=true"]) == 0
    on = json.loads(capsys.readouterr().out)
    assert main(args + ["--set", "pim.power_constraint=false"]) == 0
    off = json.loads(capsys.readouterr().out)
    assert main(args) == 0  # AttAcc's default (HBM3_5.2Gbps) keeps the power constraint
    default = json.loads(capsys.readouterr().out)
    assert on["memory"] == default["memory"] == "hbm3-pim" and off["memory"] == "hbm3-pim-npc"
    assert off["cycles"] < on["cycles"] == default["cycles"]
    assert main(args[:3] + ["9000"] + args[4:]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pimc: error: context:") and err.count("\n") == 1


def test_exact_sequence_of_a_tiny_bank_kernel():
    """One group of 16 heads, 32 keys, head_dim 64 (one MAC column per key block), BA with the
    power constraint; channel 0's row and MAC commands and the data moves' gaps, by hand:
    ACTAB at the first tick (issued beside the first WRGB, row bus vs column bus); MACAB after
    nRCDRD 19, the next after nCCDAB 6; PREA for the V row at ACTAB + nRAS 45; ACTAB after nRP
    19; MACABs again 19 and 6 later. WRGBs all hit bank group 0: nCCDL 4 apart."""
    result = run_attention(32, 16, 64, 2, "BA", True, layout="attacc", log=True)
    log = result.log[result.log["channel"] == 0]
    seq = [(str(c), int(t)) for c, t in zip(log["command"], log["cycle"])]
    row_and_mac = [x for x in seq if x[0] in ("ACTAB", "PREA", "MACAB")]
    assert row_and_mac == [("ACTAB", 1), ("MACAB", 20), ("MACAB", 26), ("PREA", 46),
                           ("ACTAB", 65), ("MACAB", 84), ("MACAB", 90)]
    assert [t for c, t in seq if c == "WRGB"] == [1, 5, 9, 13]
    moves = [t for c, t in seq if c in ("MVSB", "MVGB")]
    assert min(b - a for a, b in zip(moves, moves[1:])) == 2  # nBL on pCH 0
    assert result.cycles == seq[-1][1] == 105
