"""npusim against hand-computed tile counts and cycles (neupims: 8 arrays of 128x128 at 1 GHz,
2 MiB SRAM, fp16, 32 x 128-bit HBM2 channels at 2 Gb/s/pin = 1024 bytes per NPU cycle)."""
import math

import pytest

from pimc.errors import PimcError
from pimc.ir import parse
from pimc.passes import PassManager, parse_pipeline
from pimc.passes.lower_to_npu import plan_gemm
from pimc.runtime.npusim import add_tree_steps, gemm_time, op_time, vector_time
from pimc.targets import get_target, override

NEUPIMS = get_target("neupims")
BPC = 32 * 128 / 8 * 2  # bytes per 1 ns cycle: 32 channels x 16 B x 2 transfers


def test_neupims_bandwidth_is_1024_bytes_per_cycle():
    assert NEUPIMS.memory.peak_bandwidth / NEUPIMS.xpu.clock_hz == BPC == 1024


def test_tile_plan_fills_the_sram():
    plan = plan_gemm(4096, 4096, NEUPIMS.xpu)
    # SRAM 2 MiB - 8 arrays x 2 buffers x 128x128 x 2 B = 1572864 B for streamed rows of
    # 2 x 128 x 2 B (double-buffered input) + 8 x 128 x 2 B (accumulators) = 2560 B: 614 rows,
    # down to a multiple of 128.
    assert (plan.tile_m, plan.tile_k, plan.tile_n) == (512, 128, 128)
    assert (plan.k_tiles, plan.n_tiles, plan.arrays, plan.n_groups) == (32, 32, 8, 4)
    assert plan.m_blocks(1100) == [512, 512, 76]


def test_ragged_dims_round_up_and_use_fewer_arrays():
    plan = plan_gemm(1000, 300, NEUPIMS.xpu)
    # ceil(1000/128) = 8, ceil(300/128) = 3 column tiles, so 3 arrays; SRAM left
    # 2097152 - 3 x 2 x 32768 = 1900544 over 512 + 3 x 256 = 1280 B a row: 1484 -> 1408.
    assert (plan.k_tiles, plan.n_tiles, plan.arrays, plan.tile_m) == (8, 3, 3, 1408)


def test_one_pass_is_the_scale_sim_weight_stationary_fold():
    one_array = override(NEUPIMS, ["xpu.count=1"])
    for m in (128, 300):
        r = gemm_time(m, 128, 128, one_array)
        assert r.compute_cycles == 2 * 128 + 128 + m - 2  # 2 Sr + Sc + T - 2
        assert r.tiles == 1


def test_short_blocks_wait_for_the_next_weight_preload():
    r = gemm_time(16, 256, 128, NEUPIMS)  # 2 K tiles on one array, 16 rows each
    assert r.compute_cycles == 128 + 2 * 128 + 128 + 128 - 2
    assert r.tiles == 2


def test_large_gemm_is_compute_bound_near_peak():
    r = gemm_time(4096, 4096, 4096, NEUPIMS)
    blocks, k_tiles, rounds = 4096 // 512, 4096 // 128, 32 // 8
    compute = 128 + blocks * k_tiles * rounds * 512 + 128 + 128 - 2
    moved = 2 * (4096 * 4096 * rounds + 4096 * 4096 * blocks + 4096 * 4096)
    prologue = math.ceil(2 * (512 * 128 + 128 * 1024) / BPC)  # first block tile + 8 weight tiles
    epilogue = math.ceil(2 * 512 * 1024 / BPC)  # last block's 512 x 1024 outputs
    assert r.compute_cycles == compute == 524670
    assert r.memory_cycles == moved / BPC == 425984
    assert r.cycles == prologue + compute + epilogue == 526078
    assert r.tiles == blocks * k_tiles * 32
    assert r.utilisation == pytest.approx(4096 ** 3 / (8 * 128 * 128 * r.cycles))
    assert r.utilisation > 0.99


def test_gemv_is_bandwidth_bound():
    r = gemm_time(1, 4096, 4096, NEUPIMS)
    compute = 128 + 32 * 4 * 128 + 254  # every pass waits 128 cycles for its weight preload
    moved = 2 * (4096 * 4 + 4096 * 4096 + 4096)  # x once per round, W once, y once
    assert r.compute_cycles == compute == 16766
    assert r.memory_cycles == r.cycles == math.ceil(moved / BPC) == 32808
    assert r.cycles == pytest.approx(4096 * 4096 * 2 / 1.024e12 * 1e9, rel=2e-3)  # W at peak
    assert r.utilisation < 0.01


def test_halving_the_bandwidth_doubles_a_bandwidth_bound_gemv():
    slow = override(NEUPIMS, ["memory.data_rate_gbps=1.0"])
    assert gemm_time(1, 4096, 4096, slow).memory_cycles == 2 * 32808


def test_batch_repeats_the_gemm():
    one, four = gemm_time(256, 512, 512, NEUPIMS), gemm_time(256, 512, 512, NEUPIMS, batch=4)
    assert (four.cycles, four.tiles) == (4 * one.cycles, 4 * one.tiles)
    assert four.utilisation == pytest.approx(one.utilisation)


def test_vector_ops_follow_neupims_iteration_counts():
    assert add_tree_steps(128, 128) == 1 and add_tree_steps(4096, 128) == 32 + 1
    r = vector_time(64 * 4096, "rmsnorm", NEUPIMS, row=4096)
    per_row = 3 * 32 + 33 + 2  # 3 muls x 32 iterations, one tree, mul + sqrt
    assert r.compute_cycles == 64 // 8 * per_row == 1048
    assert r.memory_cycles == 2 * 64 * 4096 * 2 / BPC  # read x, write y
    assert r.cycles == 1048 and r.tiles == 64
    soft = vector_time(2 * 2048, "softmax", NEUPIMS, row=2048)
    assert soft.compute_cycles == 3 * 16 + 2 * (16 + 1)  # one row per unit, both side by side
    add = vector_time(64 * 4096, "add", NEUPIMS)  # 2048 lane-wide rows over 8 units
    assert add.compute_cycles == 256 and add.memory_cycles == 3 * 64 * 4096 * 2 / BPC
    assert add.cycles == add.memory_cycles  # elementwise work is bandwidth-bound


def test_vector_units_come_from_the_target_when_given():
    wide = override(NEUPIMS, ["xpu.vector_units=16", "xpu.vector_lanes=256"])
    assert vector_time(64 * 4096, "rmsnorm", wide, row=4096).compute_cycles == 4 * (3 * 16 + 17 + 2)


def test_lowered_op_is_timed_with_its_recorded_schedule():
    module = parse("""func.func @f(%x: tensor<Bx4096xf16>, %w: tensor<11008x4096xf16>)
        -> tensor<Bx11008xf16> {
      %y = "llm.linear"(%x, %w) : (tensor<Bx4096xf16>, tensor<11008x4096xf16>) -> tensor<Bx11008xf16>
      func.return %y : tensor<Bx11008xf16>
    }""")
    PassManager(parse_pipeline('place-devices{target=neupims,pin="linear:npu"},lower-to-npu')).run(module)
    op = next(iter(module.func("f").body.ops))
    assert op.name == "npu.gemm"
    assert op_time(op, NEUPIMS, {"B": 300}) == gemm_time(300, 4096, 11008, NEUPIMS)
    with pytest.raises(PimcError, match="give a value for B"):
        op_time(op, NEUPIMS)


@pytest.mark.parametrize("call, message", [
    (lambda: vector_time(10, "exp2", NEUPIMS), "unknown vector op kind 'exp2'; expected one of: add"),
    (lambda: vector_time(10, "softmax", NEUPIMS), "give row="),
    (lambda: gemm_time(0, 4, 4, NEUPIMS), "GEMM dim M = 0"),
    (lambda: gemm_time(4, 4, 4, get_target("gpu-h100")), "no systolic-array NPU"),
    (lambda: gemm_time(4, 4, 4, override(NEUPIMS, ["xpu.sram_bytes=1024"])),
     "1024 bytes of SRAM cannot hold"),
])
def test_errors_name_what_is_wrong(call, message):
    with pytest.raises(PimcError, match=message):
        call()
