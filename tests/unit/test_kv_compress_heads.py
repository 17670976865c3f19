"""kv-compress patterns: per-layer (C/F letters) and per-head (DuoAttention-style groups of one
letter per KV head) policies. Full layers and heads keep every token, compressed ones what the
method keeps (checked against numpy), @decode runs step after step with the two cache lengths,
ratio 0 with a per-head split computes exactly what the unsplit model computes, and quant or
ThinK combine with eviction as documented."""
import numpy as np
import pytest

import pimc
from pimc.errors import PimcError
from pimc.ir import parse, print_module
from pimc.passes import PassManager, parse_pipeline
from pimc.runtime.interpreter import run
from test_kv_compress import (B, HKV, HQ, attention_mass, compressed, kept_positions,
                              llama_decode, llama_prefill, prefill_inputs, rand)
from test_kv_quant_state import kivi_roundtrip, stored_values


@pytest.fixture(scope="module")
def llama():
    return pimc.compile("llama-tiny", target=None, backend="null")


def with_pipeline(module, pipeline):
    copy = parse(print_module(module))
    PassManager(parse_pipeline(pipeline)).run(copy)
    return copy


@pytest.mark.parametrize("method", ["l2norm", "snapkv,window=2"])
def test_layer_pattern_compresses_the_chosen_layers_only(llama, method):
    module = with_pipeline(llama.ir, f"kv-compress{{method={method},pattern=FC}}")
    types = [str(t) for t in module.func("prefill").function_type.results[1:]]
    # results: keys of layers 0 and 1, then values of layers 0 and 1
    assert types == ["tensor<Bx2xTx16xf32>", "tensor<Bx2x(T-T//2)x16xf32>"] * 2
    # @decode: the compressed layer's past has its own length S_KV; the full layer's grows
    logits, *caches = run(module, "prefill", llama_prefill(llama), llama.weights)
    grows = "snapkv" in method
    for step in range(2):
        ids = logits[:, -1:].argmax(-1)
        logits, *caches = run(module, "decode", [ids, np.full((B, 1), 12 + step),
                                                 np.ones((B, 13 + step), np.int64), *caches],
                              llama.weights)
        assert [c.shape[2] for c in caches] == [13 + step, 6 + grows * (step + 1)] * 2


def test_head_pattern_keeps_full_heads_whole_and_evicts_in_the_others():
    q, k, v = prefill_inputs(10)
    out = run(compressed("kv-compress{method=l2norm,ratio=0.3,pattern=FC/}"), "prefill",
              [q, k, v])
    assert [x.shape for x in out[1:]] == [(B, 1, 10, 16), (B, 1, 7, 16)] * 2
    np.testing.assert_array_equal(out[1], k[:, :1])
    np.testing.assert_array_equal(out[3], v[:, :1])
    for b in range(B):
        norms = np.linalg.norm(k[b, 1].astype(np.float64), axis=-1)
        kept = kept_positions(list(norms), 7, largest=False)
        np.testing.assert_array_equal(out[2][b, 0], k[b, 1, kept])
        np.testing.assert_array_equal(out[4][b, 0], v[b, 1, kept])
    # decode: the query heads of KV head 1 (GQA: 2 and 3) attend over the kept cache only
    qd, kn, vn = rand(B, HQ, 1, 16, seed=4), rand(B, HKV, 1, 16, seed=5), rand(B, HKV, 1, 16, seed=6)
    dec = run(compressed("kv-compress{method=l2norm,ratio=0.3,pattern=FC/}"), "decode",
              [qd, kn, vn, out[1], out[2], out[3], out[4]])
    keys = [np.concatenate([out[1], kn[:, :1]], 2), np.concatenate([out[2], kn[:, 1:]], 2)]
    values = [np.concatenate([out[3], vn[:, :1]], 2), np.concatenate([out[4], vn[:, 1:]], 2)]
    for head in range(HQ):
        group = head // 2
        s = np.einsum("bd,bnd->bn", qd[:, head, 0], keys[group][:, 0]) * 0.25
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        want = np.einsum("bn,bnd->bd", p, values[group][:, 0])
        np.testing.assert_allclose(dec[0][:, head, 0], want, rtol=1e-5, atol=1e-6)
    assert dec[1].shape == (B, 1, 11, 16) and dec[2].shape == (B, 1, 7, 16)


def test_head_split_at_ratio_zero_computes_what_the_unsplit_llama_computes(llama):
    module = with_pipeline(llama.ir, "kv-compress{method=h2o,ratio=0,pattern=CF/}")
    before = run(llama.ir, "prefill", llama_prefill(llama), llama.weights)
    after = run(module, "prefill", llama_prefill(llama), llama.weights)
    assert np.array_equal(after[0], before[0])
    for i, cache in enumerate(before[1:]):  # each cache split into heads [0] (C) and [1] (F)
        assert np.array_equal(after[1 + 2 * i], cache[:, 1:])  # the full group comes first
        assert np.array_equal(after[2 + 2 * i], cache[:, :1])
    inputs = llama_decode(llama)
    split = [part for c in inputs[3:] for part in (c[:, 1:], c[:, :1])]
    scores = [np.zeros((B, 1, 12), np.float32)] * 2
    logits = run(module, "decode", inputs[:3] + split + scores, llama.weights)[0]
    assert np.array_equal(logits, run(llama.ir, "decode", inputs, llama.weights)[0])


def test_head_pattern_runs_decode_steps_on_llama(llama):
    module = with_pipeline(llama.ir, "kv-compress{method=h2o,window=2,pattern=FC/C}")
    logits, *state = run(module, "prefill", llama_prefill(llama), llama.weights)
    for step in range(3):
        ids = logits[:, -1:].argmax(-1)
        logits, *state = run(module, "decode", [ids, np.full((B, 1), 12 + step),
                                                np.ones((B, 13 + step), np.int64), *state],
                             llama.weights)
    # keys: layer 0 full head (grows) and kept head, layer 1 both heads kept; values alike;
    # then the H2O scores of layer 0's kept head and layer 1's heads
    assert [x.shape[1:3] for x in state] == [(1, 15), (1, 6), (2, 6)] * 2 + [(1, 6), (2, 6)]


@pytest.mark.parametrize("pattern, message", [
    ("FCF/", "option 'pattern' gives layer 0 of @prefill 3 head letters .'FCF'., but it has 2"),
    ("/", "option 'pattern' takes one letter per layer"),
    ("FX", "option 'pattern' takes one letter per layer"),
])
def test_bad_patterns(pattern, message):
    with pytest.raises(PimcError, match=message) as info:
        compressed(f"kv-compress{{method=l2norm,pattern={pattern}}}")
    assert "\n" not in str(info.value)


def test_head_patterns_are_for_eviction_methods():
    with pytest.raises(PimcError, match="per-head letters apply to the eviction methods"):
        compressed("kv-compress{method=quant,pattern=FC/}")


def test_quantisation_after_a_head_split_quantises_both_caches():
    q, k, v = prefill_inputs(10)
    split = run(compressed("kv-compress{method=l2norm,pattern=FC/}"), "prefill", [q, k, v])
    both = run(compressed("kv-compress{method=l2norm,pattern=FC/},"
                          "kv-compress{method=quant,bits=4,group=4,window=2}"), "prefill", [q, k, v])
    for i, per_channel in ((1, True), (2, True), (3, False), (4, False)):  # 4 stored tensors
        got = stored_values(both[4 * i - 3:4 * i + 1], 4, 4, per_channel, 2)  # each
        assert np.array_equal(got, kivi_roundtrip(split[i], 4, 4, per_channel, 2))


def test_eviction_after_think_selects_from_the_pruned_keys():
    q, k, v = prefill_inputs(9)
    pruned = run(compressed("kv-compress{method=think,window=3}"), "prefill", [q, k, v])[1]
    out = run(compressed("kv-compress{method=think,window=3},kv-compress{method=h2o,window=2}"),
              "prefill", [q, k, v])
    mass = attention_mass(q, pruned, rows=9)
    for b in range(B):
        for h in range(HKV):
            kept = kept_positions(mass[b, h], 5, window=2)
            np.testing.assert_array_equal(out[1][b, h], pruned[b, h, kept])
            np.testing.assert_array_equal(out[2][b, h], v[b, h, kept])
