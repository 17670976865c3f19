"""bench/kv_model.py's generator and training loop: the synthetic language's next word depends
on the word before (counted over sampled text against the chain's definition), the passkey record
puts the name right before the digits, and training is seeded."""
import dataclasses
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import kv_model as km  # noqa: E402

CFG = km.ModelConfig()
TINY = dataclasses.replace(CFG, vocab=64, d=32, layers=2, heads=2, kv_heads=2, ffn=64,
                           max_len=128, steps=3, batch_tokens=256, lengths=(64,),
                           length_p=(1.0,))


def test_next_word_follows_the_group_of_the_word_before():
    lang = km.Language(CFG)
    rng = np.random.default_rng(0)
    hits = Counter()
    for _ in range(3000):
        s = [w - km.WORD0 for w in lang.sentence(rng)[:-1]]
        for a, i, j in zip(s, s[1:], s[2:]):
            hits[j == lang.succ[i][lang.group[a]]] += 1
    # P(picked successor) = pick + (1 - pick) / k, independent of the sampling code's branches
    want = km.Language.pick + (1 - km.Language.pick) / CFG.successors
    got = hits[True] / (hits[True] + hits[False])
    assert abs(got - want) < 0.02
    assert all(w >= km.WORD0 for w in lang.sentence(rng)[:-1])


def test_record_and_question_put_the_name_right_before_the_digits():
    p = km.passkey(km.Language(CFG), np.random.default_rng(1), 128, (0.5,))
    at = p.depths[0]
    name = p.questions[0][-1]
    assert p.questions[0] == [km.Q, km.KEY, km.IS, name]
    assert p.context[at:at + 3] == [km.KEY, km.IS, name]
    assert p.context[at + 3:at + 3 + km.KEY_DIGITS] == p.answers[0]


def test_training_is_seeded():
    runs = [km.train(TINY, log=lambda *a: None, threads=1)[1] for _ in range(2)]
    assert runs[0]["final_loss"] == runs[1]["final_loss"]
    assert runs[0]["params"] == sum([64 * 32 * 2, 2 * (4 * 32 * 32 + 3 * 32 * 64 + 2 * 32), 32])
    assert set(runs[0]["passkey_torch"]) == {128, 256, 512}


def test_repeats_say_each_span_twice_with_no_markers():
    toks = km.repeats(np.random.default_rng(3), 4000, CFG.vocab)
    assert toks[0] == km.BOS and len(toks) == 4000
    body, spans = toks[1:], 0
    while len(body) >= 48:  # a span is 4..23 tokens; find its length by the repetition
        n = next(n for n in range(4, 24) if body[:n] == body[n:2 * n])
        body, spans = body[2 * n:], spans + 1
    assert spans > 50
    assert all(km.DIGITS[0] <= t < CFG.vocab for t in toks[1:])
