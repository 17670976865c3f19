"""The pim backend: decode attention placed on PIM becomes AttAcc HBM3-PIM command streams, with
shapes taken from the IR and the target; what it cannot emit is a one-line error."""
import math

import numpy as np
import pytest

import pimc
from pimc.backends.pim.attention_stream import attention_stream, stream_counts
from pimc.cli import main
from pimc.frontend import zoo
from pimc.targets import get_target

PIPELINE = "canonicalize,raise-llm-ops,cse,dce,analyze-intensity,place-devices,lower-to-pim"


def _streams(model="gpt2-tiny", target="attacc-bank", batch=4, context=128, layout="attacc"):
    dumped = {}
    pimc.compile(model, target=target, backend="pim", pipeline=PIPELINE,
                 place_devices={"policy": "attacc", "batch": batch, "context": context},
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


@pytest.mark.parametrize("args, message", [
    (["llama-tiny", "-t", "attacc-bank"],  # batch 1: the GEMVs are on PIM too
     "no command-stream generator for pim.gemv yet"),
    (["gpt2-tiny", "-t", "neupims", "--policy", "neupims"],
     "the attention stream models AttAcc's HBM3-PIM stack (16 channels); target 'neupims' has HBM2"),
    (["gpt2-tiny", "-t", "none"], "--emit pim-cmds needs a target with PIM"),
    (["gpt2-tiny", "-t", "attacc-bank", "--layout", "odd"], "--layout: unknown 'odd'; valid: pimc, attacc"),
])
def test_cli_errors(args, message, tmp_path, capsys):
    out = tmp_path / "cmds.txt"
    assert main(["compile", *args, "--emit", "pim-cmds", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()
