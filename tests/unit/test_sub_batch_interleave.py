"""sub-batch-interleave: llama-tiny's @decode split into sub-batches computes what it computed
(reference interpreter and numba-cpu), in NeuPIMs' interleaved order, with costs that follow the
sub-batch sizes, and bad options or unsplittable functions give one-line errors."""
from collections import Counter

import numpy as np
import pytest

import pimc
from pimc.api import Program
from pimc.backends import registry
from pimc.errors import OptionError, PassFailure, PimcError
from pimc.ir import parse, print_module
from pimc.passes import PassManager, parse_pipeline
from pimc.passes.analyze_intensity import evaluate, op_cost
from pimc.passes.pipelines import expand
from pimc.runtime.interpreter import run

SPLIT = "sub-batch-interleave{n=2}"
LAYERS, KV_HEADS, HEAD_DIM, VOCAB = 2, 2, 16, 256  # llama-tiny (pimc/frontend/zoo.py)


@pytest.fixture(scope="module")
def llama():
    """llama-tiny captured and cleaned by the default pipeline, not placed."""
    return pimc.compile("llama-tiny", target=None, backend="null")


def run_pipeline(module, pipeline: str):
    copy = parse(print_module(module))
    PassManager(parse_pipeline(pipeline)).run(copy)
    return copy


def decode_inputs(batch: int, past: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Token ids, their positions (after `past` cached tokens), the attention mask and random
    past K/V caches, in @decode's argument order: ids, positions, mask, keys of each layer,
    values of each layer."""
    rng = np.random.default_rng(seed)
    caches = [rng.standard_normal((batch, KV_HEADS, past, HEAD_DIM)).astype(np.float32)
              for _ in range(2 * LAYERS)]
    return [rng.integers(0, VOCAB, (batch, 1)), np.full((batch, 1), past),
            np.ones((batch, past + 1), np.int64), *caches]


@pytest.mark.parametrize("batch", [4, 3, 1])  # even, uneven, and an empty sub-batch 0
def test_llama_decode_outputs_unchanged_under_the_interpreter(llama, batch):
    split = run_pipeline(llama.ir, SPLIT)
    inputs = decode_inputs(batch)
    before = run(llama.ir, "decode", inputs, llama.weights)
    after = run(split, "decode", inputs, llama.weights)
    assert [a.shape for a in after] == [(batch, 1, VOCAB)] + [(batch, KV_HEADS, 6, HEAD_DIM)] * 4
    for b, a in zip(before, after):
        # f32 GEMMs of B//2 rows round differently from B rows inside BLAS: at most an ulp or two
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    for past, present in zip(inputs[3:], after[1:]):  # the joined caches keep every past row
        assert np.array_equal(present[:, :, :5], past)


def test_llama_decode_split_and_order(llama):
    before = llama.ir.func("decode")
    split = run_pipeline(llama.ir, SPLIT).func("decode")
    assert split.function_type == before.function_type
    ops = [op for op in split.body.ops if op.name != "func.return"]
    tagged = Counter(op.attr("subbatch") for op in ops if "subbatch" in op.attributes)
    per_batch = sum(1 for op in before.body.ops if op.name not in ("func.return", "llm.weight",
                                                                     "llm.constant"))
    arguments = 7  # ids, positions, the mask and four caches, sliced once per sub-batch
    assert tagged == {0: per_batch + arguments, 1: per_batch + arguments}
    shared = [op.name for op in ops if "subbatch" not in op.attributes]
    # joins: the logits, the four caches' new rows, and those rows appended to the past caches
    assert Counter(shared) == Counter({"llm.weight": 22, "llm.constant": 1, "llm.concat": 9})
    # NeuPIMs: the attention of one sub-batch next to the other's NPU work, layer by layer
    attention = [op.attr("subbatch") for op in ops if op.name == "llm.attention"]
    assert attention == [0, 1, 0, 1]
    first_sb1 = next(i for i, op in enumerate(ops) if op.attr("subbatch") == 1)
    assert ops[first_sb1 - 1].name == "llm.attention"  # sb1 starts once sb0 reaches its MHA


@pytest.mark.parametrize("batch,context", [(4, 64), (3, 7)])
def test_costs_follow_the_sub_batch_sizes(llama, batch, context):
    """Flops add up exactly; bytes grow by one more read of every weight per extra sub-batch
    (each sub-batch's GEMMs stream the weights again), counted here from the IR's weights."""
    dims = {"B": batch, "S": context}
    costed = run_pipeline(llama.ir, "analyze-intensity")
    split = run_pipeline(costed, SPLIT)

    def totals(module):
        costs = [evaluate(op_cost(op), dims) for op in module.func("decode").body.ops
                 if op.name != "func.return"]
        return sum(c.flops for c in costs), sum(c.bytes for c in costs)

    weights = {op.result for op in costed.func("decode").body.ops
               if op.name in ("llm.weight", "llm.constant")}
    reread = sum(int(np.prod([int(d) for d in v.type.shape])) * v.type.element.bits // 8
                 for op in costed.func("decode").body.ops for v in op.operands
                 if v in weights and op.name != "llm.embedding")
    # an embedding reads only the looked-up rows of its table: B rows either way
    (flops0, bytes0), (flops1, bytes1) = totals(costed), totals(split)
    assert flops1 == flops0
    assert bytes1 - bytes0 == reread
    # Split before analyze-intensity, the joins count as copies: of the logits and, twice (join
    # and append), of each cache's new rows, read and written in f32, never of the past caches.
    _, bytes2 = totals(run_pipeline(llama.ir, f"{SPLIT},analyze-intensity"))
    joined = batch * VOCAB + 2 * (2 * LAYERS) * batch * KV_HEADS * HEAD_DIM
    assert bytes2 - bytes1 == 2 * 4 * joined


def test_runs_before_and_after_place_devices(llama):
    placed = "analyze-intensity,place-devices{target=neupims,policy=neupims,batch=64}"
    for pipeline in (f"{placed},{SPLIT}", f"{SPLIT},{placed}"):
        func = run_pipeline(llama.ir, pipeline).func("decode")
        attention = [op for op in func.body.ops if op.name == "llm.attention"]
        assert [op.attr("subbatch") for op in attention] == [0, 1, 0, 1], pipeline
        assert {op.attr("device") for op in attention} == {"pim"}, pipeline
        linears = [op for op in func.body.ops if op.name == "llm.linear"]
        assert {op.attr("device") for op in linears} == {"npu"}, pipeline
        assert all("cost" in op.attributes for op in func.body.ops if op.name != "func.return")


def test_numba_cpu_runs_the_split_program_bit_for_bit(llama):
    backend = registry.get("numba-cpu")
    programs = [Program(m, llama.weights, "numba-cpu", "", backend.compile(m, None))
                for m in (run_pipeline(llama.ir, ""), run_pipeline(llama.ir, SPLIT))]
    for batch in (4, 3):
        inputs = decode_inputs(batch, seed=batch)
        plain, split = (p.run("decode", *inputs) for p in programs)
        assert all(np.array_equal(a, b) for a, b in zip(plain, split))


@pytest.mark.slow  # a second capture of llama-tiny plus two numba compiles: about 15 s
def test_compile_with_the_pass_in_the_pipeline():
    pipeline = expand("default") + "," + SPLIT
    split = pimc.compile("llama-tiny", target=None, backend="numba-cpu", pipeline=pipeline)
    plain = pimc.compile("llama-tiny", target=None, backend="numba-cpu")
    assert "subbatch = 1" in print_module(split.ir)
    inputs = decode_inputs(4)
    assert all(np.array_equal(a, b) for a, b in
               zip(plain.run("decode", *inputs), split.run("decode", *inputs)))


CONCRETE = """func.func @decode(%x: tensor<2x1x8xf32>) -> tensor<2x1x8xf32> {
  %y = "llm.silu"(%x) : (tensor<2x1x8xf32>) -> tensor<2x1x8xf32>
  func.return %y : tensor<2x1x8xf32>
}"""
NO_BATCH = """func.func @decode(%x: tensor<f32>) -> tensor<f32> {
  %y = "llm.silu"(%x) : (tensor<f32>) -> tensor<f32>
  func.return %y : tensor<f32>
}"""
ACROSS = """func.func @decode(%x: tensor<Bx8xf32>) -> tensor<Bx8xf32> {
  %y = "llm.softmax"(%x) {axis = 0} : (tensor<Bx8xf32>) -> tensor<Bx8xf32>
  func.return %y : tensor<Bx8xf32>
}"""


@pytest.mark.parametrize("text,pipeline,error,match", [
    (CONCRETE, "sub-batch-interleave{n=0}", OptionError, "option 'n' .* must be >= 1, got 0"),
    (CONCRETE, "sub-batch-interleave{n=-2}", OptionError, "option 'n' .* must be >= 1"),
    (CONCRETE, "sub-batch-interleave{n=3}", OptionError,
     r"option 'n' .* is 3, more than the batch 2 of @decode \(allowed: 1..2\)"),
    (NO_BATCH, SPLIT, OptionError, "option 'func' .* @decode has no batch dim to split"),
    (CONCRETE, "sub-batch-interleave{func=prefill}", OptionError,
     "option 'func' .* no function @prefill; functions: @decode"),
    (ACROSS, SPLIT, PassFailure, "'llm.softmax' works along axis 0, which holds the batch"),
    (ACROSS.replace("softmax", "silu").replace(" {axis = 0}", ""), f"{SPLIT},{SPLIT}",
     PassFailure, "@decode is split already"),
])
def test_errors_are_one_line(text, pipeline, error, match):
    with pytest.raises(error, match=match) as info:
        module = parse(text)
        PassManager(parse_pipeline(pipeline)).run(module)
    assert "\n" not in info.value.message


def test_result_without_a_leading_batch_is_refused_before_any_change():
    text = """func.func @decode(%x: tensor<Bx4xf32>) -> tensor<4xBxf32> {
  %y = "llm.transpose"(%x) {perm = [1, 0]} : (tensor<Bx4xf32>) -> tensor<4xBxf32>
  func.return %y : tensor<4xBxf32>
}"""
    module = parse(text)
    before = print_module(module)
    with pytest.raises(PassFailure, match=r"result tensor<4xBxf32> of @decode does not carry "
                                          "the batch as its leading dim alone"):
        PassManager(parse_pipeline(SPLIT)).run(module)
    assert print_module(module) == before


def test_an_axis_of_a_shared_operand_is_no_batch_axis():
    """llm.take's axis 0 indexes the shared table, not the batched indices: it splits, and a
    result returned twice is joined once."""
    text = """func.func @decode(%i: tensor<Bx2xi64>, %w: tensor<10x8xf32>) -> (tensor<Bx2x8xf32>, tensor<Bx2x8xf32>) {
  %y = "llm.take"(%w, %i) {axis = 0} : (tensor<10x8xf32>, tensor<Bx2xi64>) -> tensor<Bx2x8xf32>
  func.return %y, %y : tensor<Bx2x8xf32>, tensor<Bx2x8xf32>
}"""
    split = run_pipeline(parse(text), "sub-batch-interleave{n=3}")
    names = [op.name for op in split.func("decode").body.ops]
    assert names == ["llm.slice", "llm.take"] * 3 + ["llm.concat", "func.return"]
    rng = np.random.default_rng(0)
    i, w = rng.integers(0, 10, (5, 2)), rng.standard_normal((10, 8)).astype(np.float32)
    for y in run(split, "decode", [i, w]):
        assert np.array_equal(y, w[i])


def test_concrete_batch_uneven_split_under_the_interpreter():
    """A concrete batch of 5 in 2 sub-batches of 2 and 3 rows, checked against numpy."""
    text = CONCRETE.replace("2x1x8", "5x1x8")
    split = run_pipeline(parse(text), SPLIT)
    sizes = [op.results[0].type.shape[0] for op in split.func("decode").body.ops
             if op.name == "llm.slice"]
    assert sizes == [2, 3]
    x = np.random.default_rng(0).standard_normal((5, 1, 8)).astype(np.float32)
    (y,) = run(split, "decode", [x])
    np.testing.assert_allclose(y, x / (1 + np.exp(-x)), rtol=1e-6)


def test_pimc_error_names_the_pass_in_the_cli(tmp_path, capsys):
    from pimc.cli import main
    path = tmp_path / "f.mlir"
    path.write_text(CONCRETE)
    assert main(["opt", str(path), "-p", "sub-batch-interleave{n=3}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "option 'n' of pass 'sub-batch-interleave'" in err
    assert issubclass(OptionError, PimcError)


def test_a_kivi_quantised_cache_splits_with_unchanged_outputs(llama):
    """kv.quantize's axis names a grouping inside each sequence's cache, not a dim: the pass
    splits the quantised decode, and the logits and stored state match the unsplit program."""
    quant = run_pipeline(llama.ir, "kv-compress{method=quant,bits=4,group=4,window=2}")
    split = run_pipeline(quant, SPLIT)
    assert any(op.name == "kv.quantize" and "subbatch" in op.attributes
               for op in split.func("decode").body.ops)
    rng = np.random.default_rng(7)
    ids = rng.integers(0, VOCAB, (4, 7))
    _, *state = run(quant, "prefill", [ids, np.tile(np.arange(7), (4, 1)),
                                       np.ones((4, 7), np.int64)], llama.weights)
    inputs = [rng.integers(0, VOCAB, (4, 1)), np.full((4, 1), 7), np.ones((4, 8), np.int64),
              *state]
    before = run(quant, "decode", inputs, llama.weights)
    after = run(split, "decode", inputs, llama.weights)
    for b, a in zip(before, after):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
        else:  # the packed codes
            assert np.array_equal(a, b)
