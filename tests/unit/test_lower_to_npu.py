"""lower-to-npu and the npu backend: tile schedules from the target, unchanged results through
the interpreter, schedule text with hand-computed counts that npusim runs, bad input."""
import math
from collections import Counter

import numpy as np
import pytest

import pimc
from pimc.cli import main
from pimc.errors import OptionError, PimcError, VerifyError
from pimc.frontend.synthetic import DecoderShape, decoder_module
from pimc.ir import parse, print_module
from pimc.ir.verifier import verify
from pimc.passes import PassManager, parse_pipeline
from pimc.runtime.interpreter import run
from pimc.runtime.npusim import gemm_time, run_schedules
from pimc.targets import get_target
from pimc.targets.load import PRESETS

LOWERED = "canonicalize,raise-llm-ops,cse,dce,analyze-intensity,place-devices,lower-to-npu"

STATIC = """func.func @f(%a: tensor<2x3x40xf32>, %b: tensor<300x40xf32>, %w: tensor<300x40xf32>,
                    %bias: tensor<300xf32>) -> (tensor<2x3x300xf32>, tensor<2x3x300xf32>) {
  %m = "llm.matmul"(%a, %b) {transpose_b = true} : (tensor<2x3x40xf32>, tensor<300x40xf32>) -> tensor<2x3x300xf32>
  %y = "llm.linear"(%a, %w, %bias) : (tensor<2x3x40xf32>, tensor<300x40xf32>, tensor<300xf32>) -> tensor<2x3x300xf32>
  func.return %m, %y : tensor<2x3x300xf32>, tensor<2x3x300xf32>
}"""
PIN_NPU = 'place-devices{target=neupims,pin="matmul:npu,linear:npu"},lower-to-npu'


def test_lowered_llama_interprets_to_the_same_logits():
    plain = pimc.compile("llama-tiny", target="neupims", backend="null")
    lowered = parse(print_module(plain.ir))
    PassManager(parse_pipeline("lower-to-npu")).run(lowered)  # target: the module's pimc.target
    assert Counter(op.name for op in lowered.walk())["npu.gemm"] > 0  # prefill GEMMs: NPU work
    ids = np.random.default_rng(0).integers(0, 256, (2, 7))
    pos = np.tile(np.arange(7), (2, 1))
    mask = np.ones((2, 7), np.int64)
    mask[1, :2] = 0  # a left-padded row: the mask's cast/reshape reach the lowered attention
    got = run(lowered, "prefill", [ids, pos, mask], plain.weights)
    for g, want in zip(got, plain.interpret("prefill", ids, pos, mask), strict=True):
        np.testing.assert_array_equal(g, want)


def test_static_gemms_lower_with_their_semantics_and_schedule():
    module = parse(STATIC)
    PassManager(parse_pipeline(PIN_NPU)).run(module)
    matmul, linear = [op for op in module.func("f").body.ops if op.name.startswith("npu.")]
    assert (matmul.name, linear.name) == ("npu.matmul", "npu.gemm")
    assert matmul.attr("transpose_b") is True and len(linear.operands) == 3
    for op in (matmul, linear):  # K = 40: one 128-row tile; N = 300: ceil(300 / 128) = 3
        assert (op.attr("k_tiles"), op.attr("n_tiles"), op.attr("arrays")) == (1, 3, 3)
    rng = np.random.default_rng(1)
    a, b, w = rng.standard_normal((2, 3, 40)), rng.standard_normal((300, 40)), \
        rng.standard_normal((300, 40))
    bias = rng.standard_normal(300)
    m, y = run(module, "f", [x.astype(np.float32) for x in (a, b, w, bias)])
    np.testing.assert_allclose(m, a @ b.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y, a @ w.T + bias, rtol=1e-4, atol=1e-4)


def test_schedule_tiles_the_weights_of_a_full_size_layer():
    module = decoder_module(DecoderShape(layers=1, hidden=4096, heads=32, kv_heads=32, ffn=11008,
                                         vocab=32000, dtype="f16"))
    PassManager(parse_pipeline("raise-llm-ops,place-devices{target=neupims,batch=64},"
                               "lower-to-npu")).run(module)
    gemms = [op for op in module.walk() if op.name == "npu.gemm"]
    assert {tuple(op.operands[1].type.shape) for op in gemms} >= {(11008, 4096), (4096, 11008)}
    for op in gemms:
        n, k = op.operands[1].type.shape
        assert (op.attr("k_tiles"), op.attr("n_tiles")) == (math.ceil(k / 128), math.ceil(n / 128))
        assert op.attr("arrays") == min(8, math.ceil(n / 128))


def test_needs_an_npu_target():
    module = parse(STATIC)
    with pytest.raises(OptionError, match="needs a target"):
        PassManager(parse_pipeline("lower-to-npu")).run(module)
    with pytest.raises(OptionError, match="target 'gpu-a100' has no NPU"):
        PassManager(parse_pipeline("lower-to-npu{target=gpu-a100}")).run(module)


def test_sram_too_small_for_the_tiles_is_an_error(tmp_path):
    small = tmp_path / "small.toml"
    small.write_text((PRESETS / "neupims.toml").read_text().replace(
        "sram_bytes = 2097152", "sram_bytes = 4096"))
    module = parse(STATIC)
    with pytest.raises(PimcError, match="4096 bytes of SRAM cannot hold 3 double-buffered"):
        PassManager(parse_pipeline(PIN_NPU.replace("lower-to-npu", f"lower-to-npu{{target={small}}}"))).run(module)


def test_npu_op_without_its_schedule_fails_verification():
    module = parse("""func.func @f(%x: tensor<2x40xf32>, %w: tensor<8x40xf32>) -> tensor<2x8xf32> {
      %y = "npu.gemm"(%x, %w) {tile_m = 8, tile_k = 128, tile_n = 128, k_tiles = 1, n_tiles = 1} : (tensor<2x40xf32>, tensor<8x40xf32>) -> tensor<2x8xf32>
      func.return %y : tensor<2x8xf32>
    }""")
    with pytest.raises(VerifyError, match="arrays"):
        verify(module)


# ---- the npu backend -------------------------------------------------------------------------

PREFILL = """func.func @prefill(%x: tensor<BxTx4096xf16>, %w: tensor<11008x4096xf16>) -> tensor<BxTx11008xf16> {
  %y = "llm.linear"(%x, %w) : (tensor<BxTx4096xf16>, tensor<11008x4096xf16>) -> tensor<BxTx11008xf16>
  func.return %y : tensor<BxTx11008xf16>
}"""


def test_cli_emits_the_schedule_with_hand_computed_counts(tmp_path):
    src, out = tmp_path / "mlp.mlir", tmp_path / "schedule.txt"
    src.write_text(PREFILL)
    assert main(["compile", str(src), "-t", "neupims", "--backend", "npu", "--emit",
                 "npu-schedule", "--batch", "2", "--context", "256", "-o", str(out)]) == 0
    text = out.read_text()
    # M = B x T = 512 rows in one block of <= 512; K tiles 4096/128 = 32; N tiles
    # ceil(11008/128) = 86 over 8 arrays: 11 rounds. Passes 32 x 86 = 2752, 32 x 11 = 352 on the
    # busiest array, each 512 cycles, + 128 preload + 254 fill/drain. Bytes (fp16): x once per
    # round, W once, y once.
    moved = 2 * (512 * 4096 * 11 + 4096 * 11008 + 512 * 11008)
    assert "B=2, T=256" in text.splitlines()[0]
    assert "[512x4096] x [4096x11008]" in text
    assert "32 K x 86 N on 8 array(s)" in text and "M in 1 block(s) of <= 512 rows" in text
    assert f"passes 2752 (352 on the busiest array), array cycles {128 + 352 * 512 + 254}, " \
           f"bytes moved {moved}" in text


def test_npusim_runs_the_backend_schedules(tmp_path):
    src = tmp_path / "mlp.mlir"
    src.write_text(PREFILL)
    dumped = {}
    pimc.compile(str(src), target="neupims", backend="npu", backend_options={"batch": 2, "context": 256},
                 dump=lambda name, artifact: dumped.setdefault(name, artifact))
    results = run_schedules(dumped["npu-schedule"])
    assert results == [gemm_time(512, 4096, 11008, get_target("neupims"))]
    assert sum(results) == results[0]
    lowered = dumped["npu-lower"]
    assert [op.name for op in lowered.func("prefill").body.ops][0] == "npu.gemm"


@pytest.mark.parametrize("args, message", [
    (["-t", "gpu-h100"], "npu backend: target 'gpu-h100' has no NPU"),
    (["-t", "none"], "npu backend needs a target"),
])
def test_backend_errors(args, message, tmp_path, capsys):
    src = tmp_path / "mlp.mlir"
    src.write_text(PREFILL)
    assert main(["compile", str(src), *args, "--backend", "npu", "--emit", "npu-schedule"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
