"""The system simulator sees kv-compress: what a request's caches hold and reserve, what decode
attention reads, and the batch and tokens/s that follow; every expected number is worked out
here by hand from llama-tiny's config (2 layers, 4 query heads, 2 KV heads, head dim 16) and
the methods' definitions (kv_compress.py; KIVI, Liu et al. 2024, §3.3), at the targets' fp16."""
from __future__ import annotations

import json
import math

import pytest

from pimc.analysis.timing import time_function
from pimc.api import capture
from pimc.cli import main
from pimc.frontend.zoo import get
from pimc.ir import parse, print_module
from pimc.passes import PassManager, parse_pipeline
from pimc.passes.analyze_intensity import evaluate, op_cost
from pimc.passes.cost_model import get_cost_model
from pimc.passes.pipelines import build
from pimc.passes.place_devices import bindings_for
from pimc.runtime.system.kv_layout import kv_layout
from pimc.runtime.system.serving import fixed_requests
from pimc.runtime.system.simulate import (SimOptions, kv_bytes_per_token, prepare,
                                          simulate_requests)
from pimc.targets import get_target

CFG = get("llama-tiny").config
LAYERS, KV_HEADS = CFG["num_hidden_layers"], CFG["num_key_value_heads"]
Q_HEADS, D = CFG["num_attention_heads"], CFG["hidden_size"] // CFG["num_attention_heads"]
E = 2  # bytes per element: fp16, the targets' arithmetic type (simulate counts floats at it)
FULL = 2 * LAYERS * KV_HEADS * D * E  # K and V of every layer: 256 bytes per token
P, G = 256, 16


@pytest.fixture(scope="module")
def base() -> str:
    module, _ = capture("llama-tiny")
    PassManager(build("default")).run(module)
    return print_module(module)


def compressed(base: str, pipeline: str):
    module = parse(base)
    if pipeline:
        PassManager(parse_pipeline(pipeline)).run(module)
    return module


def layout(base, pipeline):
    return kv_layout(compressed(base, pipeline), 16)


def test_the_full_cache_is_unchanged(base):
    kv = layout(base, "")
    assert FULL == 256 and kv.bytes_per_token == FULL and not kv.compressed
    assert kv.reserved_tokens(P, G) == P + G
    assert kv.lengths([(100, 3), (50, 5)]) == round((103 + 55) / 2)  # serving's mean context


def kivi_head(tokens, bits, group, residual):
    """One KV head's K and V as KIVI stores them: codes of the tokens outside the residual,
    keys' scale and zero per channel per `group` tokens, values' per token per `group`
    channels, the residual at fp16."""
    quantised = tokens - min(residual, tokens)
    codes = quantised * D * bits / 8
    keys = codes + 2 * E * math.ceil(quantised / group) * D + min(residual, tokens) * D * E
    values = codes + 2 * E * quantised * math.ceil(D / group) + min(residual, tokens) * D * E
    return keys + values


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_quant_stores_kivis_layout(base, bits):
    kv = layout(base, f"kv-compress{{method=quant,bits={bits},group=32,window=32}}")
    per_token = LAYERS * KV_HEADS * (2 * D * bits / 8 + 2 * E * D / 32 +
                                     2 * E * math.ceil(D / 32))
    assert kv.bytes_per_token == per_token  # 4 bits: 88 B, not 256
    request = LAYERS * KV_HEADS * kivi_head(P + G, bits, 32, 32)
    assert kv.request_bytes(P, G) == request
    assert kv.reserved_tokens(P, G) == math.ceil(request / per_token)
    assert kv.lengths([(P, 3)]) == {"S": P + 3}  # every token stays


def test_kv_capacity_scales_inversely_with_the_bytes_per_token(base):
    tgt, reqs = get_target("neupims"), fixed_requests(2, 64, 4)
    full = simulate_requests(compressed(base, ""), tgt, reqs)
    quant = simulate_requests(compressed(base, "kv-compress{method=quant,bits=4,window=32}"),
                              tgt, reqs)
    per_token = LAYERS * KV_HEADS * (2 * D * 4 / 8 + 2 * E * D / 32 + 2 * E)  # 88
    assert full["kv_bytes_per_token"] == FULL and quant["kv_bytes_per_token"] == per_token
    # the same free memory, F with floor(F / 256) = full's capacity
    low, high = full["kv_capacity_tokens"] * FULL, (full["kv_capacity_tokens"] + 1) * FULL - 1
    assert low // per_token <= quant["kv_capacity_tokens"] <= high // per_token


def decode_attention(base, pipeline, batch, requests):
    """The @decode attentions' costs at the requests' cache lengths, and their time."""
    module = compressed(base, pipeline)
    tgt = get_target("neupims")
    prepare(module, tgt, batch, P, SimOptions())
    decode = module.func("decode")
    kv = kv_layout(module, 16)
    bindings = bindings_for(decode, batch, kv.lengths(requests))
    atts = [op for op in decode.walk() if op.name == "llm.attention"]
    times = [t for t in time_function(decode, tgt, batch, kv.lengths(requests),
                                      keep_devices=True) if t.op.name == "llm.attention"]
    return [evaluate(op_cost(a), bindings) for a in atts], sum(t.op_s for t in times)


def attention_bytes(batch, tokens, key_channels=D):
    """Q and the output at fp16, K (`key_channels` of D per token) and V of `tokens` tokens."""
    return 2 * batch * Q_HEADS * D * E + batch * KV_HEADS * tokens * (key_channels + D) * E


def test_eviction_keeps_the_budget_and_halves_decode_attention(base):
    pipe = "kv-compress{method=l2norm,ratio=0.5}"
    kv = layout(base, pipe)
    budget = P - math.floor(0.5 * P)  # 128: the prompt's kept tokens, fixed through decode
    assert kv.reserved_tokens(P, G) == budget and kv.request_bytes(P, G) == budget * FULL
    # S_MASK: the padding mask still spans each whole context and the new token (mean + 1)
    assert kv.lengths([(P, 5), (200, 1)]) == {"S": round((budget + 100) / 2),
                                              "S_MASK": round((P + 5 + 200 + 1) / 2) + 1}
    requests, batch = [(P, 1)] * 4, 4
    full, full_s = decode_attention(base, "", batch, requests)
    kept, kept_s = decode_attention(base, pipe, batch, requests)
    full, kept = [c.bytes for c in full], [c.bytes for c in kept]
    # the step reads the past cache and the new token: S + 1 tokens
    assert full == [attention_bytes(batch, P + 1 + 1)] * LAYERS
    assert kept == [attention_bytes(batch, budget + 1)] * LAYERS
    assert kept[0] / full[0] < 0.51 and kept_s < 0.55 * full_s  # on neupims' PIM


def test_sink_window_keeps_sinks_plus_window(base):
    kv = layout(base, "kv-compress{method=sink-window,sinks=4,window=60}")
    assert kv.reserved_tokens(P, G) == 64 and kv.reserved_tokens(1000, G) == 64


def test_snapkv_decode_grows_from_the_budget(base):
    kv = layout(base, "kv-compress{method=snapkv,ratio=0.5,window=4}")
    assert kv.reserved_tokens(P, G) == P // 2 + G  # prefill-only: decode appends
    assert kv.lengths([(P, 5)]) == {"S": P // 2 + 5, "S_MASK": P + 5 + 1}


def test_layer_pattern_counts_only_the_compressed_layers(base):
    pipe = "kv-compress{method=h2o,ratio=0.5,pattern=FC}"
    kv = layout(base, pipe)
    budget = P // 2
    # layer 0 full (P + G tokens), layer 1 the budget, plus H2O's per-token score per KV head
    per_token = FULL + KV_HEADS * E
    request = 2 * KV_HEADS * D * E * ((P + G) + budget) + KV_HEADS * budget * E
    assert kv.bytes_per_token == per_token and kv.request_bytes(P, G) == request
    assert kv.reserved_tokens(P, G) == math.ceil(request / per_token)
    assert kv.lengths([(P, 3)]) == {"S": P + 3, "S_KV": budget, "S_MASK": P + 3 + 1}
    out = simulate_requests(compressed(base, pipe), get_target("neupims"),
                            fixed_requests(2, P, G))
    assert out["max_kv_tokens"] == 2 * math.ceil(request / per_token)


def test_head_pattern_counts_only_the_compressed_heads(base):
    pipe = "kv-compress{method=l2norm,ratio=0.5,pattern=FC/}"  # head 0 full, head 1 evicted
    kv = layout(base, pipe)
    request = LAYERS * 2 * D * E * ((P + G) + P // 2)
    assert kv.bytes_per_token == FULL and kv.request_bytes(P, G) == request
    assert kv.lengths([(P, 3)]) == {"S": P + 3, "S_KV": P // 2, "S_MASK": P + 3 + 1}
    out = simulate_requests(compressed(base, pipe), get_target("duplex"), fixed_requests(2, P, G))
    assert out["max_kv_tokens"] == 2 * math.ceil(request / FULL)


def test_think_stores_the_kept_key_channels(base):
    pipe = "kv-compress{method=think,ratio=0.5,window=4}"
    kv = layout(base, pipe)
    kept = D - math.floor(0.5 * D)  # 8 of 16 key channels, for the prompt's tokens
    per_token = LAYERS * KV_HEADS * (kept + D) * E
    # keys: the prompt's at `kept` channels, the generated ones whole; values whole
    request = LAYERS * KV_HEADS * E * (P * kept + G * D + (P + G) * D)
    assert kv.bytes_per_token == per_token and kv.request_bytes(P, G) == request
    assert kv.reserved_tokens(P, G) == math.ceil(request / per_token)
    batch = 4
    full, _ = decode_attention(base, "", batch, [(P, 1)] * batch)
    pruned, _ = decode_attention(base, pipe, batch, [(P, 1)] * batch)
    assert [c.bytes for c in full] == [attention_bytes(batch, P + 2)] * LAYERS
    assert [c.bytes for c in pruned] == \
        [attention_bytes(batch, P + 2) - batch * KV_HEADS * P * (D - kept) * E] * LAYERS
    # QK^T over the kept channels: one multiply-add fewer per pruned channel and query head
    assert [c.flops for c in pruned] == \
        [c.flops - 2 * batch * Q_HEADS * P * (D - kept) for c in full]


@pytest.mark.parametrize("target, device", [("neupims", "npu"), ("duplex", "xpu")])
def test_quantised_decode_attention_is_faster_on_the_xpu(base, target, device):
    """KIVI reads fewer bytes and dequantises (a multiply and an add per K/V element) where the
    attention runs; the bandwidth-bound xPU gains."""
    tgt = get_target(target)
    spec, model = tgt.devices()[device], get_cost_model("roofline", tgt)
    batch, s = 8, 1024
    costs = []
    for pipe in ("", "kv-compress{method=quant,bits=4,window=32}"):
        module = compressed(base, pipe)
        PassManager(parse_pipeline("analyze-intensity{dtype=f16}")).run(module)
        att = next(op for op in module.func("decode").walk() if op.name == "llm.attention")
        costs.append(evaluate(op_cost(att), {"B": batch, "S": s, "T": 1}))
    full, quant = costs
    n = s + 1
    assert quant.flops == full.flops + 2 * 2 * batch * KV_HEADS * n * D  # the dequantisation
    assert quant.bytes == 2 * batch * Q_HEADS * D * E + \
        batch * KV_HEADS * kivi_head(n, 4, 32, 32)
    busy = [model.op_time(c, spec) - spec.overhead_s for c in (full, quant)]  # less the launch
    assert busy[1] < 0.5 * busy[0]


def test_a_quantised_cache_stays_resident_for_pim_attention(base):
    """KIVI's decode step quantises the new token into the stored cache in place, as an append
    writes it: attention on PIM reads the cache where it is, moving only the query, as for the
    full cache."""
    moved = []
    for pipe in ("", "kv-compress{method=quant,bits=4,window=32}"):
        module = compressed(base, pipe)
        tgt = get_target("neupims")
        prepare(module, tgt, 4, P, SimOptions(policy="neupims"))  # attention on the PIM
        decode = module.func("decode")
        times = time_function(decode, tgt, 4, kv_layout(module, 16).lengths([(P, 1)]),
                              keep_devices=True)
        moved.append([t.transfer_s for t in times if t.op.name == "llm.attention"])
    assert moved[1] == moved[0]


@pytest.mark.parametrize("pipe, fits", [
    ("kv-compress{method=l2norm,ratio=0.5}", 4),  # 544 tokens / 128 kept
    ("kv-compress{method=quant,bits=4,window=32}", 4),  # 544 x 256 / 88 B tokens / 335
])
def test_tokens_per_s_grow_where_kv_capacity_binds(base, pipe, fits):
    # the memory of two uncompressed requests of P + G tokens
    tgt, reqs = get_target("neupims"), fixed_requests(8, P, G)
    opts = SimOptions(kv_capacity_tokens=2 * (P + G))
    full = simulate_requests(compressed(base, ""), tgt, reqs, opts)
    ours = simulate_requests(compressed(base, pipe), tgt, reqs, opts)
    assert full["kv_batch_fits"] == 2 and ours["kv_batch_fits"] == fits
    assert ours["tokens_per_s"] > 1.2 * full["tokens_per_s"]  # twice the batch per wave


def test_cli_simulate_takes_a_kv_pipeline(capsys):
    assert main(["simulate", "llama-tiny", "-t", "neupims", "--batch", "2", "--prompt-len",
                 "64", "--gen-len", "4", "-p", "default,kv-compress{method=l2norm,ratio=0.5}",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kv_compressed"] and out["kv_bytes_per_token"] == FULL
    assert out["max_kv_tokens"] == 2 * 32 and out["kv_bytes_per_context_token"] == 32 * FULL / 68


@pytest.mark.slow
def test_llama2_7b_bytes_per_token():
    module, _ = capture("llama2-7b")
    PassManager(build("default")).run(module)
    text = print_module(module)
    cfg = get("llama2-7b").config
    layers, heads = cfg["num_hidden_layers"], cfg.get("num_key_value_heads",
                                                      cfg["num_attention_heads"])
    d = cfg["hidden_size"] // cfg["num_attention_heads"]
    assert kv_bytes_per_token(module, 16) == 2 * layers * heads * d * 2 == 524288
    quant = compressed(text, "kv-compress{method=quant,bits=4,window=32}")
    # per KV head per token: 2 x (128 x 4 bits) codes, keys' 2 fp16 per channel per 32 tokens,
    # values' 2 fp16 per token per 32 channels
    assert kv_bytes_per_token(quant, 16) == layers * heads * (2 * 64 + 2 * 2 * 128 / 32 +
                                                              2 * 2 * 4) == 163840
