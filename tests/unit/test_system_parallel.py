"""Tensor/pipeline parallelism and npusim timing in the system simulator, on gpt2-tiny
(2 layers, hidden 64, 4 heads, FFN 128), checked against hand-computed shard sizes."""
from __future__ import annotations

import pytest

from pimc.api import capture
from pimc.cli import main
from pimc.errors import PimcError
from pimc.passes import PassManager
from pimc.passes.pipelines import build
from pimc.runtime.npusim import gemm_time
from pimc.runtime.system.parallel import layer_of, shard_table, stage_ops
from pimc.runtime.system.serving import fixed_requests
from pimc.runtime.system.simulate import (SimOptions, kv_bytes_per_token, prepare,
                                          simulate_requests, weight_bytes)
from pimc.runtime.system.tasks import function_tasks
from pimc.targets import get_target

B, S = 4, 32


@pytest.fixture(scope="module")
def gpt2():
    module, _ = capture("gpt2-tiny")
    PassManager(build("default")).run(module)
    return module


def _decode(module):
    return next(f for f in module.funcs if f.sym_name == "decode")


def _placed(gpt2, target="npu-only"):
    from pimc.ir import parse, print_module
    module = parse(print_module(gpt2))
    spec = get_target(target)
    policy = "neupims" if spec.pim is not None else "pick-min"
    prepare(module, spec, B, S, SimOptions(policy=policy))
    return _decode(module)


def _by_location(table, suffix):
    return [(op, s) for op, s in table.items()
            if op.name == "llm.matmul" and op.loc.name.endswith(suffix)]


def test_megatron_shards_by_hand(gpt2):
    func = _decode(gpt2)
    table = shard_table(func, 2, {"B": B, "S": S, "T": 1})
    # column-parallel QKV: weight 64x192 and output Bx192 halved, input Bx64 whole
    [(op, qkv)] = _by_location(table, "h.0.attn.c_attn")
    assert qkv.split == "n" and qkv.flops == 0.5
    whole = 64 * 192 + B * 64 + B * 192
    assert qkv.bytes == pytest.approx((64 * 192 / 2 + B * 64 + B * 192 / 2) / whole)
    # row-parallel FFN down: weight 128x64 and input Bx128 halved, output Bx64 whole
    [(op, down)] = _by_location(table, "h.1.mlp.c_proj")
    assert down.split == "k"
    assert down.bytes == pytest.approx((128 * 64 / 2 + B * 128 / 2 + B * 64)
                                       / (128 * 64 + B * 128 + B * 64))
    assert _by_location(table, "h.0.attn.c_proj")[0][1].split == "k"
    assert _by_location(table, "h.0.mlp.c_fc")[0][1].split == "n"
    attention = [s for op, s in table.items() if op.name == "llm.attention"]
    assert len(attention) == 2 and all(s.flops == s.bytes == 0.5 for s in attention)
    assert not any(op.name == "llm.layernorm" for op in table)  # replicated
    assert shard_table(func, 1, {"B": B, "S": S, "T": 1}) == {}


def test_attention_task_halves_at_tp2(gpt2):
    func = _placed(gpt2)
    one, two = (function_tasks(func, get_target("npu-only"), B, S, tp=tp) for tp in (1, 2))
    att1 = [t.duration_s for t in one if t.kind == "llm.attention"]
    att2 = [t.duration_s for t in two if t.kind == "llm.attention"]
    # every tensor of attention is split by heads: the roofline time halves exactly
    assert att2 == pytest.approx([t / 2 for t in att1])


def test_pipeline_stage_keeps_the_first_layers(gpt2):
    func = _decode(gpt2)
    stage = stage_ops(func, 2)
    assert {layer_of(op) for op in stage} == {0, None}
    assert stage_ops(func, 1) is None
    with pytest.raises(PimcError, match="--pp: 3 stages exceed @decode's 2 layers"):
        stage_ops(func, 3)
    tasks = function_tasks(_placed(gpt2), get_target("npu-only"), B, S, pp=2)
    assert sum(t.kind == "llm.attention" for t in tasks) == 1


def test_npusim_times_gemms_and_fuses_the_bias(gpt2):
    target = get_target("neupims")
    tasks = function_tasks(_placed(gpt2, "neupims"), target, B, S, npusim=True)
    qkv = next(t for t in tasks if t.kind == "llm.matmul" and "h.0.attn.c_attn" in t.name)
    assert qkv.duration_s == pytest.approx(gemm_time(B, 64, 192, target).seconds(target))
    bias = next(t for t in tasks if t.kind == "llm.add" and "h.0.attn.c_attn" in t.name)
    assert bias.duration_s == 0.0  # loaded into the accumulator (NeuPIMs MatMul.cc)
    sharded = function_tasks(_placed(gpt2, "neupims"), target, B, S, tp=2, npusim=True)
    qkv2 = next(t for t in sharded if t.kind == "llm.matmul" and "h.0.attn.c_attn" in t.name)
    assert qkv2.duration_s == pytest.approx(gemm_time(B, 64, 96, target).seconds(target))


def test_kv_capacity_counts_every_device(gpt2):
    target = get_target("npu-only")
    out = simulate_requests(_copy(gpt2), target, fixed_requests(2, 8, 2),
                            SimOptions(tp=2, pp=2))
    per_token, weights = kv_bytes_per_token(gpt2, 16), weight_bytes(gpt2, 16)
    assert out["kv_capacity_tokens"] == int((target.memory.capacity_bytes * 4 - weights)
                                            // per_token)
    assert out["tp"] == 2 and out["pp"] == 2 and out["npu_timing"] == "npusim"


def _copy(module):
    from pimc.ir import parse, print_module
    return parse(print_module(module))


def test_neupims_mha_estimate_by_hand(gpt2):
    from pimc.runtime.system.neupims_mha import attention_seconds, request_cycles
    # gpt3-7B on tp 4 (NeuPIMs' config): 8 heads x 128, context 300, fp16 pages of 512:
    # K: 2 chunks x (100 + 10 tiles x 184) = 3880; V: 8 chunks x (100 + 4 x 184) = 6688
    assert request_cycles(8, 128, 300) == 3880 + 6688
    # 33 requests over 32 channels: the busiest channel runs 2 of them
    assert attention_seconds(33, 8, 128, 300, 32) == pytest.approx(2 * 10568e-9)
    # gpt2-tiny decode on neupims: B=4 requests, 4 heads x 16, key length S+1 = 33
    # K: ceil(64/512)=1 chunk x (100 + ceil(33/32)=2 x 184); V: 1 x 4 heads x (100 + 1 x 184)
    tasks = function_tasks(_placed(gpt2, "neupims"), get_target("neupims"), B, S,
                           pim_timing="neupims-mha")
    attention = [t.duration_s for t in tasks if t.kind == "llm.attention"]
    # plus the few ns of moving the query in from the NPU (the cost model's transfer time)
    assert attention == pytest.approx([(100 + 2 * 184 + 4 * (100 + 184)) * 1e-9] * 2, abs=5e-9)


@pytest.mark.parametrize("args, message", [
    (["--tp", "0"], "--tp: must be a positive integer, got 0"),
    (["--tp", "8"], "--tp: 8 exceeds @prefill's 4 KV heads; allowed: 1..4"),
    (["--pim-timing", "exact"], "--pim-timing: unknown 'exact'; valid: cost-model, neupims-mha"),
    (["--pp", "5"], "--pp: 5 stages exceed @prefill's 2 layers; allowed: 1..2"),
    (["--npu-timing", "fast"], "--npu-timing: unknown 'fast'; valid: auto, npusim, roofline"),
])
def test_cli_parallel_options_bad_values(args, message, capsys):
    assert main(["simulate", "gpt2-tiny", "--batch", "2", "--prompt-len", "4", "--gen-len", "2",
                 *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_pipelined_trace_has_no_overlap_per_track(gpt2, tmp_path):
    import json
    from collections import defaultdict
    path = tmp_path / "trace.json"
    out = simulate_requests(_copy(gpt2), get_target("neupims"), fixed_requests(4, 8, 5),
                            SimOptions(tp=2, pp=2, sub_batches=2, policy="neupims"),
                            trace_path=str(path))
    assert out["iterations"] == 4
    tracks = defaultdict(list)
    for e in json.loads(path.read_text())["traceEvents"]:
        if e["ph"] == "X":
            tracks[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    assert tracks
    for spans in tracks.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))


@pytest.mark.parametrize("pipeline, lengths", [
    ("kv-compress{method=l2norm,ratio=0.5,pattern=FC}", {"S": S, "S_KV": S // 2}),
    ("kv-compress{method=quant,bits=4,group=4,window=2}", {"S": S}),
])
def test_compressed_caches_split_by_heads(gpt2, pipeline, lengths):
    """Every state tensor (a compressed cache with its own length symbol, KIVI's codes,
    scale, zero and fixed-size residual) is a per-head tensor: tp 2 halves the attention."""
    from pimc.ir import parse, print_module
    from pimc.passes import parse_pipeline
    module = parse(print_module(gpt2))
    PassManager(parse_pipeline(pipeline)).run(module)
    func = _decode(module)
    table = shard_table(func, 2, {"B": B, "T": 1, **lengths})
    attention = [s for op, s in table.items() if op.name == "llm.attention"]
    assert len(attention) == 2 and all(s.flops == s.bytes == 0.5 for s in attention)
    # every op reading a cache works on its shard's heads, whatever else it reads
    # (the caches follow input_ids, position_ids and attention_mask; the mask is not per head)
    assert [a.name_hint for a in func.args[:3]] == ["input_ids", "position_ids", "attention_mask"]
    readers = {user for a in func.args[3:] for user, _ in a.uses}
    assert readers and all(table[op].bytes == 0.5 for op in readers)
