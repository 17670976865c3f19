"""Every registered pass preserves semantics: the reference interpreter gives the same outputs
before and after it, on a decoder module with symbolic dims bound to small sizes."""
import pytest

from pimc.frontend.synthetic import DecoderShape, decoder_module
from pimc.ir import parse, print_module
from pimc.passes import PASSES, PassManager, parse_pipeline
from pimc.testing import assert_same_semantics, random_weights

CFG = DecoderShape(layers=2, hidden=32, heads=4, kv_heads=2, ffn=64, vocab=40, dtype="f32")
DIMS = {"B": 2, "T": 5, "S": 3}
REQUIRED_OPTIONS = {"place-devices": {"target": "neupims"}}  # placement means nothing without one
# Passes this stateless decoder block cannot exercise, and the test that checks them instead:
# kv-compress needs a KV cache; at ratio 0 it must leave llama-tiny's outputs exactly unchanged.
ELSEWHERE = {"kv-compress": ("test_kv_compress.py",
                             "test_ratio_zero_equals_the_uncompressed_llama_exactly")}
PREREQUISITES = {"lower-to-pim": "raise-llm-ops,place-devices{target=neupims}",  # it lowers what
                 "lower-to-npu": "raise-llm-ops,place-devices{target=neupims}"}  # was placed


@pytest.mark.parametrize("name", [n for n in PASSES if n not in ELSEWHERE])
def test_pass_preserves_semantics(name):
    before = decoder_module(CFG)
    if name in PREREQUISITES:
        PassManager(parse_pipeline(PREREQUISITES[name])).run(before)
    after = parse(print_module(before))
    PassManager([PASSES.get(name)(**REQUIRED_OPTIONS.get(name, {}))]).run(after)
    assert print_module(after) != print_module(before), f"{name} changed nothing on the decoder"
    assert_same_semantics(before, after, DIMS, random_weights(before))


@pytest.mark.parametrize("name", list(ELSEWHERE))
def test_passes_checked_elsewhere_have_their_test(name):
    from pathlib import Path
    file, test = ELSEWHERE[name]
    assert f"def {test}(" in (Path(__file__).parent / file).read_text()


def test_oracle_detects_a_semantic_change():
    """The check itself can fail: swapping an add for a sub is caught."""
    before = decoder_module(CFG)
    text = print_module(before)
    i = text.index('"llm.add"')
    after = parse(text[:i] + '"llm.sub"' + text[i + len('"llm.add"'):])
    with pytest.raises(AssertionError, match="max"):
        assert_same_semantics(before, after, DIMS, random_weights(before))
