"""The pim backend: decode attention and GEMV placed on PIM become command streams, with shapes
taken from the IR and the organisation from the target; what it cannot emit is a one-line error."""
import math

import numpy as np
import pytest

import pimc
from pimc.backends.pim.attention_stream import attention_stream, stream_counts
from pimc.cli import main
from pimc.frontend import zoo
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
    rows_per_unit 1, so stack 0 holds all 64 rows; one 64-B column holds 32 fp16 inputs: 2
    WRGBs and 2 MACABs per channel; one MVSB per (rank, group) moves the 16-row block."""
    streams = _streams("llama-tiny", "neupims", batch=1, context=64, layout="pimc",
                       policy=None)
    q = next(k for k in streams.kernels if k.kind == "gemv" and k.shape["rows"] == 64)
    assert q.shape["rows_per_unit"] == 1 and q.shape["rows_in_stack"] == 64
    assert q.counts() == {"MACAB": 8 * 2, "WRGB": 8 * 2, "MVSB": 8 * 4, "MVGB": 0, "SFM": 0}
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
