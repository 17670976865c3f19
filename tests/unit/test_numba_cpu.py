"""numba-cpu against PyTorch and HF generate on the tiny zoo models, and its bad-input errors."""
import numpy as np
import pytest
import torch

import pimc
from pimc.backends.base import Capabilities, UnsupportedByBackend
from pimc.backends.numba_cpu import NumbaCpuBackend
from pimc.errors import PimcError
from pimc.frontend import zoo
from pimc.ir import parse

TINY = ["llama-tiny", "qwen2-tiny", "gpt2-tiny", "mixtral-tiny"]


@pytest.fixture(scope="module", params=TINY)
def compiled(request):
    return zoo.get(request.param).build(), pimc.compile(request.param, backend="numba-cpu")


def test_logits_match_pytorch_for_prefill_and_16_decode_steps(compiled):
    model, prog = compiled
    gen = torch.Generator().manual_seed(2)
    b, t = 2, 13
    ids = torch.randint(0, model.config.vocab_size, (b, t), generator=gen)
    pos = torch.arange(t).repeat(b, 1)
    with torch.no_grad():
        ref = model(input_ids=ids, position_ids=pos, use_cache=True)
    logits, *cache = prog(ids.numpy(), pos.numpy())
    worst = np.abs(logits - ref.logits.numpy()).max()
    past, tok = ref.past_key_values, ref.logits[:, -1].argmax(-1, keepdim=True)
    for step in range(16):
        p = torch.full((b, 1), t + step)
        with torch.no_grad():
            ref = model(input_ids=tok, position_ids=p, past_key_values=past, use_cache=True)
        logits, *cache = prog.run("decode", tok.numpy(), p.numpy(),
                                  np.ones((b, t + step + 1), np.int64), *cache)
        worst = max(worst, np.abs(logits - ref.logits.numpy()).max())
        past, tok = ref.past_key_values, ref.logits[:, -1].argmax(-1, keepdim=True)
    assert worst < 1e-4


@pytest.mark.parametrize("batch", [1, 3])
def test_greedy_tokens_equal_hf_generate(compiled, batch):
    model, prog = compiled
    prompt = torch.randint(0, model.config.vocab_size, (batch, 5),
                           generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        hf = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=32,
                            min_new_tokens=32, do_sample=False, pad_token_id=0)
    assert (prog.generate(prompt.numpy(), 32) == hf.numpy()).all()


def test_wrong_input_shape_names_the_argument_and_symbolic_dims(compiled):
    _, prog = compiled
    ids = np.zeros((2, 5), np.int64)
    with pytest.raises(PimcError, match=r"argument %position_ids of @prefill has shape \(3, 5\), "
                                        r"expected tensor<BxTxi64>: B is 2 from an earlier input, here 3"):
        prog(ids, np.zeros((3, 5), np.int64))
    with pytest.raises(PimcError, match=r"argument %input_ids of @prefill must be an integer tensor"):
        prog(ids.astype(np.float32), ids)
    with pytest.raises(PimcError, match=r"@prefill takes 3 inputs \(%input_ids, %position_ids, "
                                        r"%attention_mask\), got 1"):
        prog.run("prefill", ids)  # Program.__call__ fills the positions and mask as HF does


def test_generating_past_max_seq_len_is_an_error(compiled):
    _, prog = compiled
    limit = prog.ir.attributes["pimc.max_seq_len"].value
    with pytest.raises(PimcError, match=f"exceeds the model's max_seq_len {limit}"):
        prog.generate(np.zeros((1, 4), np.int64), limit)


def test_an_op_without_a_rule_names_op_and_backend():
    module = parse("""func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
      %y = "llm.silu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
      func.return %y : tensor<4xf32>
    }""", "m.mlir")

    class WithoutSilu(NumbaCpuBackend):  # as if the rule table lacked llm.silu
        capabilities = Capabilities(ops=NumbaCpuBackend.capabilities.ops - {"llm.silu"})

    backend = WithoutSilu()
    with pytest.raises(UnsupportedByBackend, match=r"backend 'numba-cpu' has no rule for 'llm.silu' at m.mlir:2:7"):
        backend.compile(module)


def test_codegen_stage_is_python_source():
    module = parse("""func.func @f(%x: tensor<Bx4xf32>, %w: tensor<8x4xf32>) -> tensor<Bx8xf32> {
      %y = "llm.linear"(%x, %w) : (tensor<Bx4xf32>, tensor<8x4xf32>) -> tensor<Bx8xf32>
      func.return %y : tensor<Bx8xf32>
    }""")
    dumped = {}
    exe = NumbaCpuBackend().compile(module, dump=lambda name, art: dumped.setdefault(name, art))
    assert "def f(W, A, x_0, w_1, **dims):" in dumped["codegen"]
    assert "K.linear(x_0, w_1, None, out=None)" in dumped["codegen"]  # returned: a fresh array
    x, w = np.random.rand(3, 4).astype(np.float32), np.random.rand(8, 4).astype(np.float32)
    (y,) = exe.run(module, "f", [x, w])
    assert np.allclose(y, x @ w.T, atol=1e-5)


def test_kv_append_is_in_place_only_in_a_preallocated_buffer():
    from pimc.backends.numba_cpu.kv_cache import append, kv_buffer
    rng = np.random.default_rng(0)
    cache = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    new = rng.standard_normal((2, 3, 1, 5)).astype(np.float32)
    buf = kv_buffer(cache, 6)
    grown = append(buf, new, 2)
    assert grown.base is buf.base and grown.shape == (2, 3, 5, 5)  # no copy of the cache
    assert np.array_equal(grown, np.concatenate((cache, new), 2))
    assert np.array_equal(append(grown, new, 2)[:, :, :5], grown)
    full = append(append(grown, new, 2), new, 2)  # past capacity: a fresh array
    assert full.shape[2] == 7 and full.base is None or full.base is not buf.base
    plain = rng.standard_normal((2, 3, 8, 5)).astype(np.float32)
    before = plain.copy()
    out = append(plain[:, :, :4], new, 2)  # an ordinary view is never written through
    assert np.array_equal(plain, before) and np.array_equal(out[:, :, 4:], new)


def test_decode_from_preallocated_cache_equals_decode_from_plain_cache(compiled):
    model, prog = compiled
    ids = np.random.default_rng(3).integers(0, model.config.vocab_size, (2, 6))
    logits, *cache = prog(ids, np.tile(np.arange(6), (2, 1)))
    tok, pos, mask = logits[:, -1].argmax(-1)[:, None], np.full((2, 1), 6), np.ones((2, 7), int)
    plain = prog.run("decode", tok, pos, mask, *cache)
    arena = prog.run("decode", tok, pos, mask,
                     *[prog.executable.kv_buffer(c, 16) for c in cache])
    assert max(np.abs(a - b).max() for a, b in zip(plain, arena)) < 1e-5
