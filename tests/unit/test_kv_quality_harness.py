"""bench/kv_quality.py's harness: the data generators produce what they claim (checked by scanning
the tokens), and its metrics on an uncompressed (random-weight, tiny) model equal the same metrics
computed directly with torch on the HF model."""
import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import kv_model as km  # noqa: E402
import kv_quality as kq  # noqa: E402

CFG = km.ModelConfig()
TINY = dataclasses.replace(CFG, vocab=64, d=32, layers=2, heads=2, kv_heads=1, ffn=64,
                           max_len=128)


@pytest.fixture(scope="module")
def lang():
    return km.Language(CFG)


@pytest.mark.parametrize("length, depth", [(64, 0.0), (128, 0.5), (300, 0.9), (512, 1.0)])
def test_passkey_appears_once_at_the_requested_depth(lang, length, depth):
    p = km.passkey(lang, np.random.default_rng(length), length, (depth,))
    ctx = p.context
    assert len(ctx) == length and ctx[0] == km.BOS
    assert ctx.count(km.KEY) == 1 and ctx.count(km.IS) == 1
    at = ctx.index(km.KEY)
    assert p.depths == [at]
    filler = length - 1 - (km.KEY_DIGITS + 4)
    assert at == 1 + round(depth * filler)
    name, digits = ctx[at + 2], ctx[at + 3:at + 3 + km.KEY_DIGITS]
    assert ctx[at + 1] == km.IS and ctx[at + 3 + km.KEY_DIGITS] == km.DOT
    assert digits == p.answers[0] and all(d in km.DIGITS for d in digits)
    # the digits and the name occur nowhere else: the answer is only in the record
    assert sum(t in km.DIGITS for t in ctx) == km.KEY_DIGITS and ctx.count(name) == 1
    assert p.questions == [[km.Q, km.KEY, km.IS, name]]


def test_two_records_are_asked_in_the_given_order(lang):
    p = km.passkey(lang, np.random.default_rng(3), 256, (0.2, 0.7), ask=[1, 0])
    at = [i for i, t in enumerate(p.context) if t == km.KEY]
    assert at == p.depths and len(at) == 2
    names = [p.context[i + 2] for i in at]
    keys = [p.context[i + 3:i + 3 + km.KEY_DIGITS] for i in at]
    assert names[0] != names[1]
    assert [q[3] for q in p.questions] == names[::-1] and p.answers == keys[::-1]


def test_training_samples_have_the_requested_length_and_weight_the_answers(lang):
    rng = np.random.default_rng(0)
    for length in (64, 128, 512):
        toks, w = km.batch(lang, rng, length, 12, CFG.vocab, CFG.mix)
        assert toks.shape == w.shape == (12, length)
        assert toks.min() >= 0 and toks.max() < CFG.vocab
    toks, w = km.recall(lang, np.random.default_rng(1), 256)
    heavy = [t for t, x in zip(toks, w) if x == km.ANSWER]
    assert heavy and all(t in km.DIGITS for t in heavy)
    # every question's weighted digits are that record's digits
    at = {toks[i + 2]: toks[i + 3:i + 3 + km.KEY_DIGITS] for i, t in enumerate(toks)
          if t == km.KEY and toks[i - 1] != km.Q}
    for i, t in enumerate(toks):
        if t == km.Q and i + 4 + km.KEY_DIGITS <= len(toks):
            assert toks[i + 4:i + 4 + km.KEY_DIGITS] == at[toks[i + 3]]


def test_copy_spans_repeat(lang):
    toks = km.copy_text(np.random.default_rng(2), 400, CFG.vocab)
    assert len(toks) == 400
    first = toks.index(km.COPY)
    span = toks[1:first]
    assert toks[first + 1:first + 1 + len(span)] == span


def test_kv_fraction_matches_hand_counts():
    # eviction keeps t - floor(r t) of t tokens; quant 4-bit over 512 tokens, head dim 64
    assert kq.kv_fraction("l2norm", 0.5, 512, 64) == 0.5
    assert kq.kv_fraction("sink-window", 0.9, 100, 64) == 0.1
    codes = 480 * 64 * 4 / 8 * 2
    scales = 15 * 64 * 4 + 480 * 2 * 4
    assert kq.kv_fraction("quant", 4, 512, 64) == pytest.approx(
        (codes + scales + 2 * 32 * 64 * 2) / (2 * 512 * 64 * 2))
    assert kq.kv_fraction("think", 0.25, 512, 64) == (48 + 64) / 128


# ---- the metrics against torch --------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    import pimc
    import torch
    model = km.build(TINY).eval()
    prog = pimc.compile(model, target=None, backend="null")
    return model, kq.compile_setting(prog.ir, prog.weights, ""), torch


def test_perplexity_equals_torch(tiny):
    model, prog, torch = tiny
    rng = np.random.default_rng(4)
    docs = rng.integers(km.WORD0, TINY.vocab, (3, 40))
    got = kq.perplexity(kq.Runner(prog), docs, prefix=24)
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor(docs)).logits.double(), -1)
    nll = -logp[:, 23:-1].gather(-1, torch.tensor(docs[:, 24:, None])).squeeze(-1)
    assert got == pytest.approx(math.exp(float(nll.mean())), rel=1e-4)


def test_greedy_after_fed_question_equals_torch(tiny):
    """Runner: prefill the context, feed the question through @decode, decode greedily: the
    same tokens as torch's greedy loop over the whole sequence."""
    model, prog, torch = tiny
    rng = np.random.default_rng(5)
    ctx, question = rng.integers(km.WORD0, TINY.vocab, (2, 20)), rng.integers(0, 26, (2, 4))
    runner = kq.Runner(prog)
    _, state, pos = runner.prefill(ctx)
    logits, state, pos = runner.feed(state, pos, question)
    got, _, _ = runner.greedy(logits[:, -1], state, pos, 5)
    x = torch.tensor(np.concatenate([ctx, question], 1))
    want = []
    with torch.no_grad():
        for _ in range(5):
            nxt = model(input_ids=x).logits[:, -1].argmax(-1)
            want.append(nxt.numpy())
            x = torch.cat([x, nxt[:, None]], 1)
    np.testing.assert_array_equal(got, np.stack(want, 1))
