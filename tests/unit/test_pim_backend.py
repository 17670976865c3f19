"""The pim backend: decode attention and GEMV placed on PIM become command streams, with shapes
taken from the IR and the organisation from the target; what it cannot emit is a one-line error."""
import math

import numpy as np
import pytest

import pimc
from pimc.backends.pim.attention_pimc import AttentionLayout
from pimc.backends.pim.attention_stream import attention_stream, stream_counts
from pimc.backends.pim.emit import KernelStream
from pimc.backends.pim.gemv_stream import GemvLayout
from pimc.backends.pim.layout import PimOrg
from pimc.cli import main
from pimc.frontend import zoo
from pimc.runtime.pimsim import pim_functional
from pimc.targets import get_target

PIPELINE = "canonicalize,raise-llm-ops,cse,dce,analyze-intensity,place-devices,lower-to-pim"


def _streams(model="gpt2-tiny", target="attacc-bank", batch=4, context=128, layout="attacc",
             policy="attacc"):
    dumped = {}
    placement = {"batch": batch, "context": context, **({"policy": policy} if policy else {})}
    pimc.compile(model, target=target, backend="pim", pipeline=PIPELINE,
                 place_devices=placement,
                 backend_options={"batch": batch, "context": context, "layout": layout},
                 dump=lambda name, artifact: dumped.setdefault(name, artifact))
    return dumped["pim-cmds"]


@pytest.mark.parametrize("target, placement", [("attacc-bank", "BA"), ("attacc-bg", "BG")])
def test_decode_attention_streams_use_the_ir_shapes_and_the_target(target, placement):
    streams = _streams(target=target)
    model = zoo.get("gpt2-tiny").build().config  # 2 layers, 4 heads of 16
    assert len(streams.kernels) == model.n_layer  # decode only: prefill attention stays llm
    stacks = get_target(target).memory.stacks
    want = attention_stream(128 + 1, math.ceil(4 * model.n_head / stacks),
                            model.n_embd // model.n_head, 2, placement, "attacc")
    for k in streams.kernels:
        assert k.placement == placement and np.array_equal(k.stream, want)
        assert k.counts() == stream_counts(want, placement)
    text = streams.text()
    assert text.count("\nBARRIER") and text.splitlines()[1].startswith(("WRGB", "MAC"))


def test_cli_emits_pim_cmds(tmp_path, capsys):
    out = tmp_path / "cmds.txt"
    assert main(["compile", "gpt2-tiny", "-t", "attacc-bank", "--policy", "attacc", "--emit",
                 "pim-cmds", "--batch", "4", "--context", "128", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert sum(line.startswith("// @decode pim.attention") for line in lines) == 2
    assert any(line.startswith("MACAB ch0 ") for line in lines)


TARGETS = ["neupims", "attacc-bank", "attacc-bg", "attacc-buffer", "duplex", "hbm-pim"]


@pytest.mark.slow  # ~6 s a target (the model capture); neupims also runs in the test below
@pytest.mark.parametrize("target", TARGETS)
def test_llama_tiny_emits_pim_cmds_on_every_pim_target(target, tmp_path):
    out = tmp_path / "cmds.txt"
    assert main(["compile", "llama-tiny", "-t", target, "--emit", "pim-cmds", "--context", "64",
                 "-o", str(out)]) == 0
    heads = [line for line in out.read_text().splitlines() if line.startswith("// @decode")]
    # what place-devices put on PIM at batch 1: each layer's GEMVs (q, k, v, o, gate, up, down)
    # and its attention; attacc-buffer keeps everything on the xPU (an empty stream)
    assert len(heads) == (0 if target == "attacc-buffer" else 2 * 8 + 1)


def test_neupims_gemv_stream_counts_by_hand():
    """llama-tiny's q projection (64 x 64) on NeuPIMs: 4 stacks x 8 channels x 16 bank units,
    rows_per_unit 1, so stack 0 holds all 64 rows; a MAC reads the 16 fp16 its unit multiplies
    (32 B, half an HBM2 burst): 4 WRGBs and 4 MACABs per channel for the 64 inputs; one MVSB per
    (rank, group) moves the 16-row block."""
    streams = _streams("llama-tiny", "neupims", batch=1, context=64, layout="pimc",
                       policy=None)
    q = next(k for k in streams.kernels if k.kind == "gemv" and k.shape["rows"] == 64)
    assert q.shape["rows_per_unit"] == 1 and q.shape["rows_in_stack"] == 64
    assert q.counts() == {"MACAB": 8 * 4, "WRGB": 8 * 4, "MVSB": 8 * 4, "MVGB": 0, "SFM": 0}
    att = next(k for k in streams.kernels if k.kind == "attention")
    # 4 query heads over 2 KV heads, 4 stacks: one (query head) per stack; 65 keys over 4 bank
    # groups = 17 keys each, head_dim 16 fits one column slice: 17 score + 17 context MACs
    assert att.shape["heads_per_stack"] == 1 and att.shape["kv_heads"] == 2
    assert att.counts()["MACAB"] == 34 and att.counts()["SFM"] == 1


@pytest.mark.parametrize("args, message", [
    (["llama-tiny", "-t", "attacc-bank", "--layout", "attacc"],  # GQA
     "--layout attacc is AttAcc's generator, MHA on its 16-channel HBM3 stack; this op has 4 "
     "query / 2 KV heads"),
    (["gpt2-tiny", "-t", "neupims", "--policy", "neupims", "--layout", "attacc"],
     "on HBM2 with 8 channels (use --layout pimc)"),
    (["gpt2-tiny", "-t", "none"], "--emit pim-cmds needs a target with PIM"),
    (["gpt2-tiny", "-t", "attacc-bank", "--layout", "odd"], "--layout: unknown 'odd'; valid: pimc, attacc"),
])
def test_cli_errors(args, message, tmp_path, capsys):
    out = tmp_path / "cmds.txt"
    assert main(["compile", *args, "--emit", "pim-cmds", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


# A toy organisation small enough to write its streams by hand: 2 channels x 1 pCH x 1 rank x
# 2 groups x 2 banks, 4 columns of 32 B (16 fp16) per row.
TOY = PimOrg(2, 1, 1, 2, 2, 4096, 4, 32)


def _text(stream, kind="gemv"):
    return KernelStream("toy", {}, "BA", stream, kind).text().splitlines()[1:]


def test_golden_gemv_stream():
    """y = W x, W 5 x 32: 8 bank units, 1 row each, so channels 0 and 1 hold rows (units
    numbered channel-innermost); 32 inputs = 2 columns: 2 WRGBs, 2 MACABs per channel; one
    MVSB per (rank, group) moves the block of results; barriers fence both channels."""
    lay = GemvLayout(5, 32, 1, 2, "BA", TOY)
    assert (lay.rpu, lay.kk, lay.chans) == (1, 2, [0, 1])
    want = []
    for op, col, bg in (("WRGB", 0, 0), ("WRGB", 1, 0), ("B", 0, 0), ("MACAB", 0, 0),
                        ("MACAB", 1, 0), ("B", 0, 0), ("MVSB", 0, 0), ("MVSB", 0, 1), ("B", 0, 0)):
        want += ["BARRIER"] * 2 if op == "B" else \
            [f"{op} ch{c} ra0 bg{bg} ba0 row0 col{col}" for c in (0, 1)]
    assert _text(lay.stream()) == want
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((5, 32)), rng.standard_normal((1, 32))
    ref = np.asarray(x, np.float16).astype(float) @ np.asarray(w, np.float16).astype(float).T
    np.testing.assert_allclose(pim_functional.gemv(w, x, "BA", TOY), ref, rtol=2e-3, atol=2e-3)


def test_golden_attention_stream():
    """One head of 3 keys x 16 dims on one channel of the toy (one bank group of 2 banks: the
    banks split the head dim, bank 1's half is padding): the query into both banks' buffers; 3
    score MACs; the score block out; softmax; the probabilities in; 3 context MACs from the V
    region (row 1024 = 4096 keys x 1 column / 4 columns); one output move per bank."""
    org = PimOrg(1, 1, 1, 1, 2, 4096, 4, 32)
    lay = AttentionLayout(3, 1, 16, 2, "BA", org)
    assert (lay.U, lay.keys, lay.kk, lay.vbase(0)) == (1, 3, 1, 1024)
    at = "ch0 ra0 bg0 ba{} row{} col{}"
    want = [f"WRGB {at.format(0, 0, 0)}", f"WRGB {at.format(1, 0, 0)}", "BARRIER",
            *(f"MACAB {at.format(0, 0, c)}" for c in range(3)), "BARRIER",
            f"MVSB {at.format(0, 0, 0)}", f"SFM {at.format(0, 0, 0)}",
            f"MVGB {at.format(0, 1024, 0)}", "BARRIER",
            *(f"MACAB {at.format(0, 1024, c)}" for c in range(3)), "BARRIER",
            f"MVSB {at.format(0, 1024, 0)}", f"MVSB {at.format(1, 1024, 0)}"]
    assert _text(lay.stream(), "attention") == want


def _hbmpim_group(op, rw, bank, row, cols, barrier=True):
    lines = [f"{op} {rw} bg{bank // 4} ba{bank % 4} {row} col{c}" for c in cols]
    return lines[:-1] + [lines[-1] + " barrier"] if barrier else lines


def test_golden_hbmpim_gemv_stream():
    """y = W x, W 128 x 256 on one HBM-PIM pseudo-channel, written out from PIMSIM.md §4 and
    §6.1: an output tile is 8 rows x 8 blocks = 64 outputs (2 tiles), an input tile 128 inputs
    (2 tiles: 0 in the even banks, MACs at BG0/BA0; 1 in the odd, BG0/BA1). Output tile j's
    64 weight bursts per bank are 2 DRAM rows (2j, 2j + 1), read in 8 barrier-closed groups
    of 8 after 8 GRF_A writes (row 0x3FFF cols 8..15); its 8 results go to the odd banks
    after the weights (burst 2 x 64 + 8j: row 4, columns 8j..8j + 7)."""
    from pimc.backends.pim.hbmpim_stream import gemv_stream, stream_lines

    def park(name):  # row 0x1000 of all 16 banks, in PIMSimulator's order (groups inner)
        lines = [f"{name} RD bg{bg} ba{ba} row0x1000 col0" for ba in range(4) for bg in range(4)]
        return lines[:-1] + [lines[-1] + " barrier"]

    want = park("PARK_IN")
    want += [f"SB_TO_HAB WR bg{bg} ba{ba} row0x17FF col31" for bg, ba in
             ((0, 0), (0, 1), (2, 0), (2, 1))]
    want[-1] += " barrier"
    # 6 CRF entries in one burst; each MAC loops 8 x (input tiles of its parity) - 1 times
    want.append("CRF WR bg0 ba1 row0x3FFF col4 barrier  // MAC GRF_B[0], GRF_A[0], EVEN_BANK, "
                "auto; JUMP 7x [PC - 2]; MAC GRF_B[0], GRF_A[0], ODD_BANK, auto; "
                "JUMP 7x [PC - 2]; NOP 8x; EXIT")
    for j in range(2):
        want.append("HAB_TO_HAB_PIM WR bg0 ba0 row0x3FFF col0 barrier  // zero GRF_B")
        for bank in (0, 1):
            want += _hbmpim_group("WR_GRF_A", "WR", 1, "row0x3FFF", range(8, 16))
            for burst in range(0, 64, 8):
                row = 2 * j + burst // 32
                want += _hbmpim_group("MAC", "RD", bank, f"row{row}",
                                      range(burst % 32, burst % 32 + 8))
        want += _hbmpim_group("STORE_GRF_B", "WR", 1, "row4", range(8 * j, 8 * j + 8))
        want.append("HAB_PIM_TO_HAB WR bg0 ba0 row0x3FFF col0 barrier")
    want += ["HAB_TO_SB WR bg0 ba0 row0x1FFF col31", "HAB_TO_SB WR bg0 ba1 row0x1FFF col31 barrier"]
    want += park("PARK_OUT")
    txns = gemv_stream(128, 256, channels=1)
    assert stream_lines(txns) == want
    assert len(want) == 39 + 2 * (1 + 2 * (8 + 64) + 8 + 1) == 347


@pytest.mark.parametrize("rows, cols, channels, n_out, n_in", [
    (4096, 4096, 64, 1, 32),  # results_subset.csv's GEMV: one 4096-row output tile
    (100, 384, 1, 2, 3),  # an odd number of input tiles: the odd banks hold one fewer
    (8192, 16, 64, 2, 1),  # one input burst still fills a tile (padded)
])
def test_hbmpim_gemv_counts_by_hand(rows, cols, channels, n_out, n_in):
    """PIMSIM.md §6.1: per output tile a switch in and out, 8 GRF_A writes and 64 MACs per input
    tile, 8 result writes; once: 16 + 16 park reads, 4 + 2 mode writes and the CRF (6 entries,
    4 with one input tile: one burst). Barriers: 5 fixed; per output tile 2 switches, 1 + 8 per
    input tile and 1 for the results."""
    from pimc.backends.pim.hbmpim_stream import gemv_stream, txn_counts
    counts = txn_counts(gemv_stream(rows, cols, channels))
    assert counts == {
        "RD": 32 + 64 * n_out * n_in, "WR": 4 + 1 + 2 + n_out * (2 + 8 * n_in + 8),
        "barriers": 5 + n_out * (2 + 9 * n_in + 1), "PARK_IN": 16, "SB_TO_HAB": 4, "CRF": 1,
        "HAB_TO_HAB_PIM": n_out, "WR_GRF_A": 8 * n_out * n_in, "MAC": 64 * n_out * n_in,
        "STORE_GRF_B": 8 * n_out, "HAB_PIM_TO_HAB": n_out, "HAB_TO_SB": 2, "PARK_OUT": 16}
