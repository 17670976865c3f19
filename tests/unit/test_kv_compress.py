"""kv-compress: the kept cache entries are those each method's paper defines (checked against
plain numpy loops written here, not pimc's kernels), ratio 0 leaves llama-tiny's outputs exactly
as they were, an int8 KIVI cache stays within 1e-2 of fp32 logits, a compressed llama-tiny runs
prefill + decode steps under the interpreter, and bad input gives one-line errors."""
import math

import numpy as np
import pytest

import pimc
from pimc.errors import PimcError
from pimc.ir import parse, print_module, verify
from pimc.passes import PassManager, parse_pipeline
from pimc.runtime.interpreter import run

B, HQ, HKV, D = 2, 4, 2, 16
SCALE = 0.25
LAYERS, VOCAB = 2, 256  # llama-tiny (pimc/frontend/zoo.py)

# One attention layer as a decoder captures it: @prefill returns its K/V, @decode appends.
MODULE = """
func.func @prefill(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) {
  %a = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
  func.return %a, %k, %v : tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>
}
func.func @decode(%q: tensor<Bx4x1x16xf32>, %kn: tensor<Bx2x1x16xf32>, %vn: tensor<Bx2x1x16xf32>, %k: tensor<Bx2xSx16xf32>, %v: tensor<Bx2xSx16xf32>) -> (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) {
  %kc = "llm.concat"(%k, %kn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %vc = "llm.concat"(%v, %vn) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
  %a = "llm.attention"(%q, %kc, %vc) {scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  func.return %a, %kc, %vc : tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
}
"""


def compressed(pipeline: str, text: str = MODULE):
    module = parse(text)
    PassManager(parse_pipeline(pipeline)).run(module)
    return module


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def prefill_inputs(t: int, seed: int = 0):
    return rand(B, HQ, t, D, seed=seed), rand(B, HKV, t, D, seed=seed + 1), \
        rand(B, HKV, t, D, seed=seed + 2)


# ---- independent references: loops over (batch, kv head), straight from the papers ----------

def softmax_rows(s):
    e = np.exp(s - s.max())
    return e / e.sum()


def attention_mass(q, k, rows):
    """[B, Hkv, N]: Σ over the last `rows` queries of each group head of its causal softmax."""
    t, n, g = q.shape[2], k.shape[2], HQ // HKV
    out = np.zeros((B, HKV, n))
    for b in range(B):
        for h in range(HKV):
            for head in range(h * g, (h + 1) * g):
                for i in range(t - rows, t):
                    pos = n - t + i  # the queries are the last t tokens
                    s = np.array([q[b, head, i] @ k[b, h, j] * SCALE for j in range(pos + 1)],
                                 dtype=np.float64)
                    out[b, h, :pos + 1] += softmax_rows(s)
    return out


def kept_positions(score, count, sinks=0, window=0, largest=True):
    """One (batch, head): the sinks, the recent window, then the best-scored of the rest."""
    n = len(score)
    fixed = set(range(sinks)) | set(range(n - window, n))
    rest = sorted((j for j in range(n) if j not in fixed),
                  key=lambda j: (-score[j] if largest else score[j], j))
    return sorted(fixed | set(rest[:count - len(fixed)]))


def assert_kept(present, cache, positions_of):
    for b in range(B):
        for h in range(HKV):
            np.testing.assert_array_equal(present[b, h], cache[b, h, positions_of(b, h)])


# ---- eviction: kept entries --------------------------------------------------------------------

def test_l2norm_keeps_the_lowest_norm_keys():
    q, k, v = prefill_inputs(10)
    _, kk, vv = run(compressed("kv-compress{method=l2norm,ratio=0.3}"), "prefill", [q, k, v])
    count = 10 - math.floor(0.3 * 10)
    assert kk.shape == (B, HKV, count, D)
    norms = [[[math.sqrt(sum(float(x) ** 2 for x in k[b, h, j])) for j in range(10)]
              for h in range(HKV)] for b in range(B)]
    pos = lambda b, h: kept_positions(norms[b][h], count, largest=False)  # noqa: E731
    assert_kept(kk, k, pos)
    assert_kept(vv, v, pos)
    # decode: past 6 + 1 new token, the budget stays 6: the highest-norm key of the 7 goes
    kn, vn = rand(B, HKV, 1, D, seed=5), rand(B, HKV, 1, D, seed=6)
    out = run(compressed("kv-compress{method=l2norm,ratio=0.3}"), "decode",
              [rand(B, HQ, 1, D), kn, vn, k[:, :, :6], v[:, :, :6]])
    full_k = np.concatenate([k[:, :, :6], kn], axis=2)
    for b in range(B):
        for h in range(HKV):
            worst = max(range(7), key=lambda j: np.linalg.norm(full_k[b, h, j].astype(float)))
            np.testing.assert_array_equal(out[1][b, h], np.delete(full_k[b, h], worst, axis=0))


def test_sink_window_keeps_the_sinks_and_the_most_recent():
    q, k, v = prefill_inputs(12)
    out = run(compressed("kv-compress{method=sink-window,sinks=2,window=5}"), "prefill", [q, k, v])
    assert_kept(out[1], k, lambda b, h: [0, 1, 7, 8, 9, 10, 11])
    # decode: past 7 + 1 new, evict one: the oldest token after the sinks (position 2)
    kn, vn, pk, pv = rand(B, HKV, 1, D), rand(B, HKV, 1, D, seed=3), k[:, :, :7], v[:, :, :7]
    out = run(compressed("kv-compress{method=sink-window,sinks=2}"), "decode",
              [rand(B, HQ, 1, D), kn, vn, pk, pv])
    full_k = np.concatenate([pk, kn], axis=2)
    assert_kept(out[1], full_k, lambda b, h: [0, 1, 3, 4, 5, 6, 7])


def test_h2o_keeps_heavy_hitters_and_the_recent_window_and_carries_scores():
    q, k, v = prefill_inputs(9)
    out = run(compressed("kv-compress{method=h2o,ratio=0.5,window=2}"), "prefill", [q, k, v])
    count = 9 - 4
    mass = attention_mass(q, k, rows=9)
    assert_kept(out[1], k, lambda b, h: kept_positions(mass[b, h], count, window=2))
    kept = [[kept_positions(mass[b, h], count, window=2) for h in range(HKV)] for b in range(B)]
    acc = np.array([[mass[b, h, kept[b][h]] for h in range(HKV)] for b in range(B)])
    np.testing.assert_allclose(out[3], acc, rtol=1e-5)
    # decode: the new token's attention adds to the carried scores; one token is evicted
    qd, kn, vn = rand(B, HQ, 1, D, seed=7), rand(B, HKV, 1, D, seed=8), rand(B, HKV, 1, D, seed=9)
    dec = run(compressed("kv-compress{method=h2o,ratio=0.5,window=2}"), "decode",
              [qd, kn, vn, out[1], out[2], out[3]])
    full_k = np.concatenate([out[1], kn], axis=2)
    step = attention_mass(qd, full_k, rows=1)
    step[:, :, :count] += acc
    assert_kept(dec[1], full_k, lambda b, h: kept_positions(step[b, h], count, window=2))
    assert dec[3].shape == (B, HKV, count)


def pooled(x, kernel):
    """avg_pool1d(kernel, stride 1, padding kernel//2, zeros counted), as SnapKV pools."""
    half, n = kernel // 2, len(x)
    return np.array([sum(x[j] for j in range(i - half, i + half + 1) if 0 <= j < n) / kernel
                     for i in range(n)])


def test_snapkv_scores_from_the_observation_window_pooled():
    q, k, v = prefill_inputs(16)
    out = run(compressed("kv-compress{method=snapkv,ratio=0.5,window=4,pool=3}"), "prefill",
              [q, k, v])
    mass = attention_mass(q, k, rows=4)
    assert_kept(out[1], k, lambda b, h: kept_positions(pooled(mass[b, h], 3), 8, window=4))
    # prefill-only: @decode appends without evicting
    dec = compressed("kv-compress{method=snapkv,window=4}").func("decode")
    assert not [op for op in dec.body.ops if op.name.startswith("kv.")]


def test_think_prunes_the_lowest_scoring_key_channels():
    q, k, v = prefill_inputs(8)
    out = run(compressed("kv-compress{method=think,ratio=0.25,window=3}"), "prefill", [q, k, v])
    g = HQ // HKV
    for b in range(B):
        for h in range(HKV):
            obs = np.concatenate([q[b, head, 5:] for head in range(h * g, (h + 1) * g)])
            score = [np.linalg.norm(np.outer(obs[:, d], k[b, h, :, d])) for d in range(D)]
            keep = sorted(range(D), key=lambda d: (-score[d], d))[:12]
            want = np.where(np.isin(np.arange(D), keep), k[b, h], 0)
            np.testing.assert_array_equal(out[1][b, h], want)
    np.testing.assert_array_equal(out[2], v)


# ---- llama-tiny --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llama():
    return pimc.compile("llama-tiny", target=None, backend="null")


def with_pipeline(module, pipeline):
    copy = parse(print_module(module))
    PassManager(parse_pipeline(pipeline)).run(copy)
    return copy


def llama_prefill(llama, prompt=12, seed=0):
    ids = np.random.default_rng(seed).integers(0, VOCAB, (B, prompt))
    return [ids, np.tile(np.arange(prompt), (B, 1)), np.ones((B, prompt), np.int64)]


def llama_decode(llama, prompt=12, seed=0):
    """The next token's inputs after an uncompressed prefill of `prompt` tokens."""
    logits, *caches = run(llama.ir, "prefill", llama_prefill(llama, prompt, seed), llama.weights)
    return [logits[:, -1:].argmax(-1), np.full((B, 1), prompt),
            np.ones((B, prompt + 1), np.int64), *caches]


ALL = ["l2norm", "sink-window", "h2o", "snapkv", "quant", "think"]


@pytest.mark.parametrize("method", ALL)
def test_ratio_zero_equals_the_uncompressed_llama_exactly(llama, method):
    module = with_pipeline(llama.ir, f"kv-compress{{method={method},ratio=0}}")
    for func, inputs in (("prefill", llama_prefill(llama)), ("decode", llama_decode(llama))):
        extra = [np.zeros((B, 2, 12), np.float32)] * LAYERS \
            if method == "h2o" and func == "decode" else []
        before = run(llama.ir, func, inputs, llama.weights)
        after = run(module, func, inputs + extra, llama.weights)
        for b, a in zip(before, after):
            assert np.array_equal(a, b), (method, func)


def test_int8_cache_logits_within_1e_2_of_fp32(llama):
    """A decode step after a 40-token prompt: the quantised model's prefill stores the KIVI
    cache, its decode step reads it; logits against the fp32 model's."""
    prefill = llama_prefill(llama, prompt=40)
    inputs = llama_decode(llama, prompt=40)
    fp32 = run(llama.ir, "decode", inputs, llama.weights)[0]
    errors = {}
    for bits in (8, 4, 2):
        module = with_pipeline(llama.ir, f"kv-compress{{method=quant,bits={bits},window=0}}")
        state = run(module, "prefill", prefill, llama.weights)[1:]
        logits = run(module, "decode", inputs[:3] + state, llama.weights)[0]
        errors[bits] = float(np.abs(logits - fp32).max())
    assert errors[8] < 1e-2
    assert 0 < errors[8] < errors[4] < errors[2]  # the cache really is quantised


@pytest.mark.parametrize("pipeline", [
    "kv-compress{method=l2norm,ratio=0.5}",
    "kv-compress{method=h2o,ratio=0.5,window=2}",
    "kv-compress{method=l2norm,ratio=0.5},kv-compress{method=quant,bits=4,group=4,window=2}",
])
def test_compressed_llama_runs_prefill_then_decode_steps(llama, pipeline):
    module = with_pipeline(llama.ir, pipeline)
    logits, *state = run(module, "prefill", llama_prefill(llama), llama.weights)
    kept = (B, 2, 6, 8) if "quant" in pipeline else (B, 2, 6, 16)  # int4 codes: 2 to a byte
    assert state[0].shape == kept
    for step in range(3):  # the budget holds: each step appends one token and evicts one
        ids = logits[:, -1:].argmax(-1)
        logits, *state = run(module, "decode", [ids, np.full((B, 1), 12 + step),
                                                np.ones((B, 13 + step), np.int64), *state],
                             llama.weights)
        assert state[0].shape == kept and np.isfinite(logits).all()


def test_compile_with_kv_compress_interprets(llama, tmp_path):
    """pimc.compile(..., backend="null") with kv-compress in the pipeline; Program.interpret runs
    the compressed prefill and returns the kept caches and the H2O scores after them."""
    llama.save(tmp_path / "llama.mlir")
    prog = pimc.compile(str(tmp_path / "llama.mlir"), target=None, backend="null",
                        pipeline="kv-compress{method=h2o,window=2}")
    logits, *state = prog.interpret("prefill", *llama_prefill(llama, prompt=8))
    assert logits.shape == (B, 8, VOCAB)
    assert [x.shape for x in state] == [(B, 2, 4, 16)] * 4 + [(B, 2, 4)] * 2


# ---- bad input ---------------------------------------------------------------------------------

STATIC = MODULE.replace("xTx", "x8x")
ENCODER = """
func.func @forward(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %a = "llm.attention"(%q, %k, %v) : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32>
  func.return %a : tensor<1x4x8x16xf32>
}
"""


@pytest.mark.parametrize("options, text, message", [
    ("method=streaming", MODULE, "option 'method': unknown method 'streaming'"),
    ("ratio=0.5", MODULE, "option 'method': required; one of l2norm, sink-window"),
    ("method=l2norm,ratio=1", MODULE, r"option 'ratio' must be in \[0, 1\)"),
    ("method=h2o,ratio=-0.25", MODULE, r"option 'ratio' must be in \[0, 1\)"),
    ("method=quant,bits=3", MODULE, "option 'bits' must be one of 8, 4, 2, got 3"),
    ("method=snapkv,window=9", STATIC, "option 'window' .9. is larger than the 8-token context"),
    ("method=sink-window,sinks=4,window=6", STATIC, "keep 10 tokens, more than the 8-token"),
    ("method=quant,window=12", STATIC, "option 'window' .12. is larger than the 8-token"),
    ("method=h2o,ratio=0.75,window=3", STATIC, r"'sinks' \(0\) \+ 'window' \(3\) exceed the 2"),
    ("method=l2norm,pattern=FX", MODULE, "option 'pattern' takes one letter per layer"),
    ("method=l2norm", ENCODER, "@forward has no KV cache"),
])
def test_bad_input_gives_a_one_line_error(options, text, message):
    with pytest.raises(PimcError, match=message) as info:
        compressed(f"kv-compress{{{options}}}", text)
    assert "\n" not in str(info.value)


def test_eviction_after_quantisation_is_refused():
    with pytest.raises(PimcError, match="is already quantised; evict before method=quant"):
        compressed("kv-compress{method=quant,window=0},kv-compress{method=l2norm}")


# ---- kv op verifiers ---------------------------------------------------------------------------

K8, F = "tensor<1x2x8x16xf32>", "func.func @f(%k: tensor<1x2x8x16xf32>, %q: tensor<1x4x8x16xf32>, " \
    "%i: tensor<1x2x4xi64>, %s: tensor<1x2x8xf32>, %c: tensor<1x2x8x16xi8>, %z: tensor<1x2x2x16xf32>, " \
    "%j: tensor<1x3x4xi64>, %p: tensor<1x3x8x16xf32>, %o: tensor<1x2x8x6xf32>)"


@pytest.mark.parametrize("op, message", [
    (f'"kv.select"(%k, %s) : ({K8}, tensor<1x2x8xf32>) -> tensor<1x2x8x16xf32>',
     "indices must have an integer element type"),
    (f'"kv.select"(%k, %c) : ({K8}, tensor<1x2x8x16xi8>) -> tensor<1x2x8x16xf32>',
     r"indices must have rank 1 \[K\] or 3 \[B, H, K\]"),
    ('"kv.key_norm"(%c) : (tensor<1x2x8x16xi8>) -> tensor<1x2x8xf32>',
     "k must have a float element type"),
    (f'"kv.keep"(%k, %s) {{count = 9}} : ({K8}, tensor<1x2x8xf32>) -> tensor<1x2x9xi64>',
     "keeps 9 of only 8 cached tokens"),
    (f'"kv.keep"(%k) {{count = 4, sinks = 2, window = 3}} : ({K8}) -> tensor<1x2x4xi64>',
     r"sinks \(2\) \+ window \(3\) exceed the kept count \(4\)"),
    (f'"kv.attention_score"(%q, %k) {{pool = 4}} : (tensor<1x4x8x16xf32>, {K8}) -> tensor<1x2x8xf32>',
     "attribute 'pool' must be an odd kernel size"),
    (f'"kv.attention_score"(%q, %k) {{window = 9}} : (tensor<1x4x8x16xf32>, {K8}) -> tensor<1x2x8xf32>',
     r"attribute 'window' \(9\) exceeds the 8 query rows"),
    (f'%a, %b, %c2 = "kv.quantize"(%k) {{axis = "channel", bits = 3, group = 4}} : ({K8}) -> '
     '(tensor<1x2x8x16xi8>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>)',
     "attribute 'bits' must be one of 8, 4, 2"),
    ('"kv.dequantize"(%c, %z, %z) {axis = "channel", bits = 8, group = 2} : '
     '(tensor<1x2x8x16xi8>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>) -> tensor<1x2x8x16xf32>',
     r"scale must have shape tensor<1x2x4x16xf32> for group 2 along the channels"),
    ('"kv.dequantize"(%c, %z, %z) {axis = "channel", bits = 8, group = 4, residual = 2} : '
     '(tensor<1x2x8x16xi8>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>) -> tensor<1x2x8x16xf32>',
     "a residual needs the residual buffer as operand 'residual'"),
    (f'"kv.select"(%k, %j) : ({K8}, tensor<1x3x4xi64>) -> tensor<1x2x4x16xf32>',
     "indices dim H differs from the cache's"),
    (f'"kv.attention_score"(%p, %k) : (tensor<1x3x8x16xf32>, {K8}) -> tensor<1x2x8xf32>',
     r"query heads \(3\) must be a multiple of kv heads \(2\)"),
    (f'"kv.attention_score"(%q, %k, %i) : (tensor<1x4x8x16xf32>, {K8}, tensor<1x2x4xi64>) -> '
     'tensor<1x2x8xf32>', "acc must have a float element type"),
    (f'"kv.keep"(%k, %s) {{count = 0}} : ({K8}, tensor<1x2x8xf32>) -> tensor<1x2x0xi64>',
     "attribute 'count' must be >= 1"),
    (f'%a, %b, %c2 = "kv.quantize"(%k) {{axis = "token", bits = 8, group = 0}} : ({K8}) -> '
     '(tensor<1x2x8x16xi8>, tensor<1x2x8x1xf32>, tensor<1x2x8x1xf32>)',
     "attribute 'group' must be >= 1"),
    (f'"kv.dequantize"(%k, %z, %z) {{axis = "channel", bits = 8, group = 4}} : ({K8}, '
     'tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>) -> tensor<1x2x8x16xf32>',
     r"codes must be packed bytes \(i8\)"),
    ('"kv.dequantize"(%c, %z, %z) {axis = "channel", bits = 4, group = 4} : '
     '(tensor<1x2x8x16xi8>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>) -> tensor<1x2x8x32xf32>',
     r"scale must have shape tensor<1x2x2x32xf32>"),  # 16 bytes of int4 codes: 32 channels
    ('%a, %b, %c2 = "kv.quantize"(%o) {axis = "channel", bits = 2, group = 4} : '
     '(tensor<1x2x8x6xf32>) -> (tensor<1x2x8x1xi8>, tensor<1x2x2x6xf32>, tensor<1x2x2x6xf32>)',
     "needs a head dim that is a multiple of 4, found 6"),
    ('"kv.dequantize"(%c, %z, %z, %q) {axis = "channel", bits = 8, group = 4, residual = 2} : '
     '(tensor<1x2x8x16xi8>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>, tensor<1x4x8x16xf32>) '
     '-> tensor<1x2x8x16xf32>', r"residual must be tensor<1x2x2x16xf32> \(the last 'residual'"),
    (f'"kv.prune_channels"(%k, %q) {{keep = 17}} : ({K8}, tensor<1x4x8x16xf32>) -> {K8}',
     r"attribute 'keep' must be in 1..16 \(the head dim\)"),
])
def test_kv_op_verifier_errors(op, message):
    line = op if op.startswith("%") else f"%r = {op}"
    text = f"{F} {{\n  {line}\n  func.return\n}}\n"
    with pytest.raises(PimcError, match=message):
        verify(parse(text))


def test_compressed_module_prints_and_parses_back():
    module = compressed("kv-compress{method=h2o},kv-compress{method=quant,bits=2,group=4,window=2}")
    text = print_module(module)
    assert print_module(parse(text)) == text
