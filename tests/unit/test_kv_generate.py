"""kv-compress running for real: numba-cpu's kv kernels against the interpreter's numpy
semantics, `Program.generate` with every method on llama-tiny and qwen2-tiny equal token for
token to a greedy loop driven by the interpreter, ratio 0 equal to the uncompressed model,
eviction in place in a preallocated cache (packed int4/int2 codes: test_kv_quant_state.py)."""
import numpy as np
import pytest

import pimc
from pimc.backends.numba_cpu import kv_kernels
from pimc.backends.numba_cpu.kv_cache import KVBuffer, kv_buffer
from pimc.runtime import kv_ops
from pimc.runtime.generate import greedy, takes_attention_mask

PROMPT, NEW = 12, 8

# Every method, with options that fit a 12-token prompt, and combinations.
PIPELINES = {
    "l2norm": "kv-compress{method=l2norm,ratio=0.5}",
    "sink-window": "kv-compress{method=sink-window,ratio=0.5,sinks=2}",
    "h2o": "kv-compress{method=h2o,ratio=0.5,window=2}",
    "snapkv": "kv-compress{method=snapkv,ratio=0.5,window=4,pool=3}",
    "quant": "kv-compress{method=quant,bits=4,group=4,window=2}",
    "think": "kv-compress{method=think,ratio=0.5,window=4}",
    "l2norm+quant": "kv-compress{method=l2norm,ratio=0.5},"
                    "kv-compress{method=quant,bits=2,group=4,window=2}",
    "h2o-per-head+quant": "kv-compress{method=h2o,ratio=0.5,window=2,pattern=FC/C},"
                          "kv-compress{method=quant,bits=8,group=4,window=0}",
    "h2o-half-window": "kv-compress{method=h2o,ratio=0.5}",  # a symbolic window, S//2
    "l2norm-odd-layers": "kv-compress{method=l2norm,ratio=0.5,pattern=FC}",  # S and S_KV
    "think+snapkv": "kv-compress{method=think,ratio=0.5,window=4},"
                    "kv-compress{method=snapkv,ratio=0.5,window=4}",
}
METHODS = ["l2norm", "sink-window", "h2o", "snapkv", "quant", "think"]


def _save(name: str, tmp_path_factory):
    """The captured model as .mlir + weights: captured once, compiled per pipeline."""
    path = tmp_path_factory.mktemp("kv") / f"{name}.mlir"
    prog = pimc.compile(name, target=None, backend="null")
    prog.save(path)
    return str(path), prog.ir.attributes


@pytest.fixture(scope="module", params=["llama-tiny", "qwen2-tiny"])
def saved(request, tmp_path_factory):
    return _save(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def llama_saved(tmp_path_factory):
    return _save("llama-tiny", tmp_path_factory)


def build(saved, pipeline: str = ""):
    return pimc.compile(saved[0], target=None, backend="numba-cpu", pipeline=pipeline or "dce")


def prompt(vocab: int = 256, batch: int = 2, seed: int = 0):
    return np.random.default_rng(seed).integers(0, vocab, (batch, PROMPT))


def interpreted_greedy(prog, ids, n=NEW):
    """The reference: the same greedy loop, every step run by the numpy interpreter."""
    return greedy(lambda func, *inputs: prog.interpret(func, *inputs), ids, n,
                  mask=takes_attention_mask(prog.ir))


@pytest.mark.parametrize("method", list(PIPELINES))
def test_generate_equals_the_interpreter_greedy_loop(saved, method):
    prog = build(saved, PIPELINES[method])
    ids = prompt()
    tokens = prog.generate(ids, NEW)
    assert tokens.shape == (2, PROMPT + NEW)
    assert np.array_equal(tokens, interpreted_greedy(prog, ids))


def test_ragged_prompts_and_eos_with_h2o(saved):
    """Rows of different lengths run as separate batches (eviction drops the padding mask),
    each with its own budget and scores; a row that emits eos is padded with it, as in the
    interpreter's loop."""
    prog = build(saved, PIPELINES["h2o"])
    rows = [prompt(seed=4)[0], prompt(seed=5)[0, :9]]
    first = interpreted_greedy(prog, rows)
    eos = int(first[0, PROMPT + 2])  # a token row 0 emits: it stops there
    tokens = prog.generate(rows, NEW, eos=eos)
    assert np.array_equal(tokens, greedy(lambda f, *x: prog.interpret(f, *x), rows, NEW, eos,
                                         mask=takes_attention_mask(prog.ir)))
    assert (tokens[0, PROMPT + 2:] == eos).all()


@pytest.mark.parametrize("method", METHODS)
def test_ratio_zero_generate_equals_the_uncompressed_model(saved, method):
    ids = prompt(seed=1)
    plain = build(saved).generate(ids, NEW)
    compressed = build(saved, f"kv-compress{{method={method},ratio=0}}").generate(ids, NEW)
    assert np.array_equal(compressed, plain)


@pytest.mark.parametrize("method", list(PIPELINES))
def test_numba_steps_equal_the_interpreter_on_llama(llama_saved, method):
    """Prefill and three decode steps, each fed the interpreter's state: every output (logits,
    kept caches, H2O scores) agrees; the kept caches hold the same tokens."""
    prog = build(llama_saved, PIPELINES[method])
    ids = prompt(seed=2)
    inputs = [ids, np.tile(np.arange(PROMPT), (2, 1)), np.ones((2, PROMPT), np.int64)]
    func = "prefill"
    for step in range(4):
        ref = prog.interpret(func, *inputs)
        got = prog.run(func, *[np.copy(x) for x in inputs])
        assert [g.shape for g in got] == [r.shape for r in ref]
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, atol=2e-6, rtol=1e-5, err_msg=f"{func} {step}")
        logits, *state = ref
        inputs = [logits[:, -1:].argmax(-1), np.full((2, 1), PROMPT + step),
                  np.ones((2, PROMPT + step + 1), np.int64), *state]
        func = "decode"


def test_eviction_stays_in_the_preallocated_buffer(saved):
    """An evicting layer's decode step appends into the buffer's spare token and compacts in
    place: the cache it returns is the same memory, at the same fixed size. A quantised
    cache's packed codes are state that each step writes afresh: kv_buffer leaves them be."""
    prog = build(saved, PIPELINES["l2norm"])
    ids = prompt(seed=3)
    logits, *state = prog.run("prefill", ids, np.tile(np.arange(PROMPT), (2, 1)),
                              np.ones((2, PROMPT), np.int64))
    buffers = [kv_buffer(c, c.shape[2] + 1) for c in state]
    for step in range(3):
        tok = logits[:, -1:].argmax(-1)
        logits, *out = prog.run("decode", tok, np.full((2, 1), PROMPT + step),
                                np.ones((2, PROMPT + step + 1), np.int64), *buffers)
        for before, after in zip(buffers, out):
            assert isinstance(after, KVBuffer) and np.shares_memory(before, after)
            assert after.shape == before.shape
        buffers = out
    codes = build(saved, PIPELINES["quant"]).run("prefill", ids, np.tile(np.arange(PROMPT),
                                                                         (2, 1)),
                                                 np.ones((2, PROMPT), np.int64))[1]
    assert codes.dtype == np.int8 and kv_buffer(codes, 99) is codes


# ---- the kernels against kv_ops, on random data ---------------------------------------------

def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_scores_norms_keep_and_select_equal_the_interpreters():
    q, k, acc = rand(2, 4, 5, 16, seed=1), rand(2, 2, 9, 16, seed=2), rand(2, 2, 8, seed=3)
    assert np.array_equal(kv_kernels.key_norm(k), kv_ops.key_norm(k))
    for window, pool, a in ((0, 1, None), (3, 3, None), (0, 1, acc)):
        mine = kv_kernels.attention_score(q, k, a, 0.25, window, pool)
        np.testing.assert_array_max_ulp(mine, kv_ops.attention_score(q, k, a, 0.25, window,
                                                                      pool), maxulp=1)
    scores = kv_ops.key_norm(k)
    for s, largest in ((scores, False), (scores, True), (None, True)):
        idx = kv_kernels.keep(k, s, 6, 1, 2, largest)
        assert np.array_equal(idx, kv_ops.keep(k, s, 6, 1, 2, largest))
        assert np.array_equal(kv_kernels.select(k, idx), kv_ops.select(k, idx))
        compacted = kv_kernels.select(k.copy(), idx, inplace=True)
        assert np.array_equal(compacted, kv_ops.select(k, idx))
    assert np.array_equal(kv_kernels.prune_channels(k, q, 5, 2), kv_ops.prune_channels(k, q, 5, 2))
