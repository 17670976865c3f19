"""Functional PIM: the command streams carry data. Attention and GEMV interpreted command by
command over the memory image the layout builds equal numpy (fp16 inputs, fp32/fp64 reference)
on AttAcc's HBM3 placements and on NeuPIMs' HBM2, for ragged shapes; corrupting one command
changes the result; the engine times the same streams on every target and the independent
checker passes them."""
from __future__ import annotations

import numpy as np
import pytest

from pimc.backends.pim.attention_pimc import AttentionLayout
from pimc.backends.pim.attention_stream import MAC, MVGB, MVSB, WRGB
from pimc.backends.pim.gemv_stream import GemvLayout
from pimc.backends.pim.layout import HBM3, PimOrg
from pimc.errors import PimcError
from pimc.runtime.pimsim import pim_functional as F
from pimc.runtime.pimsim.attacc import run_stream
from pimc.runtime.pimsim.check import check_log
from pimc.runtime.pimsim.pim_kernels import pim_spec, simulate_pim_op
from pimc.targets import get_target

NEUPIMS = PimOrg.of(get_target("neupims"))
ORGS = {"hbm3": HBM3, "neupims": NEUPIMS}
TOL = dict(rtol=2e-3, atol=2e-3)


def _fp16(*arrays):
    return [np.asarray(a, np.float16).astype(np.float64) for a in arrays]


def numpy_attention(q, k, v):
    q, k, v = _fp16(q, k, v)
    rep = q.shape[0] // k.shape[0]
    out = []
    for h in range(q.shape[0]):
        s = k[h // rep] @ q[h] / np.sqrt(q.shape[1])
        p = np.exp(s - s.max())
        out.append(p / p.sum() @ v[h // rep])
    return np.array(out)


def numpy_gemv(w, x):
    w, x = _fp16(w, x)
    return x @ w.T


def test_neupims_org_is_the_targets():
    # HBM2 legacy channels of 2-KiB rows; a MAC reads the 16 fp16 (32 B) its bank's 16 multipliers
    # take (NeuPIMs pim_comp_coverage 16), half a 64-B burst, so a row holds 64 PIM columns
    assert NEUPIMS == PimOrg(8, 1, 1, 4, 4, 32768, 64, 32)


# (query heads, KV heads, context, head_dim): contexts not a multiple of the units (16 on HBM3
# BA/BG, 2 on BUFFER, 4 on NeuPIMs BA), grouped-query heads, more heads than channels (two
# groups: the pipelined pair) and three groups (the odd tail).
ATTN_SHAPES = [(3, 3, 37, 32), (20, 10, 5, 64), (40, 40, 9, 16)]


@pytest.mark.parametrize("org", ORGS)
@pytest.mark.parametrize("placement", ["BA", "BG", "BUFFER"])
@pytest.mark.parametrize("H, Hkv, L, D", ATTN_SHAPES)
def test_attention_equals_numpy(org, placement, H, Hkv, L, D):
    rng = np.random.default_rng(H * L + D)
    q, k, v = rng.standard_normal((H, D)), rng.standard_normal((Hkv, L, D)), \
        rng.standard_normal((Hkv, L, D))
    out = F.attention(q, k, v, placement, ORGS[org])
    np.testing.assert_allclose(out, numpy_attention(q, k, v), **TOL)


GEMV_SHAPES = [(101, 48, 2), (7, 200, 1), (300, 16, 3)]  # rows, cols, batch


@pytest.mark.parametrize("org", ORGS)
@pytest.mark.parametrize("placement", ["BA", "BG", "BUFFER"])
@pytest.mark.parametrize("rows, cols, batch", GEMV_SHAPES)
def test_gemv_equals_numpy(org, placement, rows, cols, batch):
    rng = np.random.default_rng(rows + cols)
    w, x = rng.standard_normal((rows, cols)), rng.standard_normal((batch, cols))
    np.testing.assert_allclose(F.gemv(w, x, placement, ORGS[org]), numpy_gemv(w, x), **TOL)


def test_gemv_with_lower_to_pims_rows_per_unit():
    """More rows per unit than the stack needs (lower-to-pim tiles over every stack)."""
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((50, 64)), rng.standard_normal((1, 64))
    y = F.gemv(w, x, "BA", NEUPIMS, rows_per_unit=3)
    np.testing.assert_allclose(y, numpy_gemv(w, x), **TOL)


def _drop(stream, op, which=0):
    pos = np.flatnonzero(stream["op"] == op)[which]
    return np.delete(stream, pos)


@pytest.mark.parametrize("op", [MAC, WRGB, MVSB, MVGB])
def test_one_corrupted_attention_command_changes_the_result(op):
    rng = np.random.default_rng(7)
    q, k, v = rng.standard_normal((3, 32)), rng.standard_normal((3, 20, 32)), \
        rng.standard_normal((3, 20, 32))
    lay = AttentionLayout(20, 3, 32, 2, "BG")
    good = F.attention(q, k, v, "BG", stream=lay.stream())
    np.testing.assert_allclose(good, numpy_attention(q, k, v), **TOL)
    bad = F.attention(q, k, v, "BG", stream=_drop(lay.stream(), op))
    assert not np.allclose(bad, good, **TOL)  # (NaN compares unequal)


def test_one_dropped_or_moved_gemv_mac_changes_the_result():
    rng = np.random.default_rng(8)
    w, x = rng.standard_normal((40, 64)), rng.standard_normal((2, 64))
    stream = GemvLayout(40, 64, 2, 2, "BA", NEUPIMS).stream()
    assert np.allclose(F.gemv(w, x, "BA", NEUPIMS, stream=stream), numpy_gemv(w, x), **TOL)
    assert not np.allclose(F.gemv(w, x, "BA", NEUPIMS, stream=_drop(stream, MAC, 5)),
                           numpy_gemv(w, x), **TOL)
    moved = stream.copy()
    moved["column"][np.flatnonzero(moved["op"] == MAC)[0]] += 1  # reads the wrong column
    assert not np.allclose(F.gemv(w, x, "BA", NEUPIMS, stream=moved), numpy_gemv(w, x), **TOL)


@pytest.mark.parametrize("target, placement", [("neupims", "BA"), ("attacc-bg", "BG"),
                                               ("attacc-buffer", "BUFFER")])
def test_engine_runs_the_streams_on_the_targets_organisation_and_the_checker_passes(
        target, placement):
    t = get_target(target)
    spec, org = pim_spec(t), PimOrg.of(t)
    assert spec.org.channels == t.memory.channels  # one stack
    for stream in (AttentionLayout(300, 20, 64, 2, placement, org).stream(),
                   GemvLayout(1000, 200, 2, 2, placement, org).stream()):
        r = run_stream(stream, spec, placement, log=True)
        assert r.cycles > 0 and check_log(spec, r.log) == []
        macs = int((stream["op"] == MAC).sum())
        assert sum(v for k, v in r.commands.items() if k.startswith("MAC")) == macs


def test_simulate_pim_op_counts_and_memo():
    # attacc-bank, one stack of 16 channels x 64 bank units: rows_per_unit = 10240 / 5120 = 2,
    # every stack holds 2048 rows; MACABs per stack = rows * cols * 2 B / (64 units x 32 B)
    r = simulate_pim_op("gemv", {"batch": 1, "rows": 10240, "cols": 64}, "attacc-bank")
    assert r.commands["MACAB"] == 2048 * 64 * 2 // (64 * 32)
    assert r.commands["WRGB"] == 16 * 4  # 64 inputs = 4 columns per channel
    # 8 MACABs per channel at nCCDAB 6 after one ACTAB (tRCD 19): a lower bound, by hand
    assert r.cycles >= 19 + 7 * 6 and r.time_s == pytest.approx(r.cycles * 0.769e-9)
    assert simulate_pim_op("gemv", {"batch": 1, "rows": 10240, "cols": 64}, "attacc-bank") is r
    a = simulate_pim_op("attention", {"batch": 2, "heads": 8, "head_dim": 64, "context": 100},
                        "neupims")
    # 16 heads over 4 stacks: 4 per stack, keys = ceil(100 / 4 units), kk = 1: 25 score and 25
    # context MACs per head
    assert a.commands["MACAB"] == 4 * 50 and a.energy_j > 0 and a.engine == "pim_engine"
    s = simulate_pim_op("gemv", {"batch": 2, "rows": 256, "cols": 256}, "hbm-pim")
    assert s.engine == "hbmpim" and s.cycles > 0
    with pytest.raises(PimcError, match="unknown kind 'conv'; valid: attention, gemv"):
        simulate_pim_op("conv", {}, "neupims")


def test_pim_kernel_cli_on_neupims(capsys):
    """8 heads on 8 channels, 64 keys over 4 bank groups (16 each), head_dim 32 in one 64-B
    column slice: 16 score + 16 context MACABs per head; at one MACAB per 2 tCK per channel
    the 32 MACs of a channel take at least 64 cycles."""
    import json
    from pimc.cli import main
    assert main(["pim-kernel", "attention", "--context", "64", "--heads", "8", "--head-dim",
                 "32", "-t", "neupims", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["commands"]["MACAB"] == 8 * 32 and out["commands"]["SFM"] == 8
    assert out["cycles"] >= 32 * 2 and out["memory"] == "neupims-pim"
    assert main(["pim-kernel", "attention", "--context", "64", "--heads", "8", "--head-dim",
                 "32", "-t", "neupims", "--layout", "attacc"]) == 2
    assert "AttAcc's generator needs its 16-channel HBM3 stack" in capsys.readouterr().err
