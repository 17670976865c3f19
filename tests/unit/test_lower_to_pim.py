"""lower-to-pim on captured models: layouts from the target, unchanged results, bad input."""
import numpy as np
import pytest

import pimc
from pimc.errors import OptionError, PassFailure
from pimc.ir import parse
from pimc.passes import PassManager, parse_pipeline
from pimc.targets import get_target

LOWERED = "canonicalize,raise-llm-ops,cse,dce,analyze-intensity,place-devices,lower-to-pim"


def test_lowered_llama_runs_on_numba_cpu_with_the_same_logits():
    plain = pimc.compile("llama-tiny", target="neupims")
    lowered = pimc.compile("llama-tiny", target="neupims", pipeline=LOWERED)
    ops = lowered.op_histogram("decode")
    assert ops["pim.gemv"] > 0 and ops["pim.attention"] == 2  # batch 1: GEMVs and attention on PIM
    ids = np.random.default_rng(0).integers(0, 256, (2, 7))
    pos = np.tile(np.arange(7), (2, 1))
    np.testing.assert_allclose(lowered(ids, pos)[0], plain(ids, pos)[0], atol=1e-5)
    assert (lowered.generate(ids, 6) == plain.generate(ids, 6)).all()


def test_gemv_layout_is_the_target_row_tiling():
    prog = pimc.compile("llama2-7b", target="hbm-pim", backend="null", pipeline=LOWERED)
    target = get_target("hbm-pim")
    units = target.pim.units(target.memory)
    for op in prog.ir.func("decode").body.ops:
        if op.name == "pim.gemv":
            n, k = op.operands[1].type.shape
            rows = -(-n // units)
            assert op.attr("units") == units and op.attr("rows_per_unit") == rows
            assert op.attr("dram_rows_per_unit") == -(-rows * k * 2 // target.memory.row_bytes)


def test_weight_too_big_for_a_unit_is_an_error():
    module = parse("""func.func @decode(%x: tensor<1x67108864xf16>, %w: tensor<512x67108864xf16>)
        -> tensor<1x512xf16> {
      %y = "llm.linear"(%x, %w) : (tensor<1x67108864xf16>, tensor<512x67108864xf16>) -> tensor<1x512xf16>
      func.return %y : tensor<1x512xf16>
    }""")
    with pytest.raises(PassFailure, match=r"512x67108864 weight needs 134217728 bytes per PIM unit"):
        PassManager(parse_pipeline("place-devices{target=neupims,pin=\"linear:pim\"},lower-to-pim")).run(module)


def test_needs_a_target():
    module = parse("""func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
      func.return %x : tensor<2xf32>
    }""")
    with pytest.raises(OptionError, match="needs a target"):
        PassManager(parse_pipeline("lower-to-pim")).run(module)
