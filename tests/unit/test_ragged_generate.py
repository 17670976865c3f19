"""HF's attention_mask through capture: ragged prompts left-padded into one batch (one prefill,
one decode step per token) equal HF `generate` with `padding_side="left"` token for token, on
the interpreter and numba-cpu; sliding windows (Mistral) and soft-capping (Gemma 2) equal HF's
logits; kv-compress eviction, which loses the mask in @decode, falls back to a batch per
prompt length."""
import numpy as np
import pytest
import torch

import pimc
from pimc.frontend import zoo
from pimc.runtime.generate import greedy, left_padded, positions, takes_attention_mask

LENGTHS, NEW = (3, 7, 5, 7), 10


def _rows(vocab: int, lengths=LENGTHS, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, vocab, n) for n in lengths]


def _hf_generate(model, rows, new: int = NEW) -> np.ndarray:
    """HF greedy generation of the left-padded batch; no eos, so every row runs `new` steps."""
    ids, mask = left_padded(rows, 0)
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        out = model.generate(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                             max_new_tokens=new, do_sample=False, pad_token_id=0)
    return out.numpy()


class Calls:
    """A runner that counts the steps it runs."""

    def __init__(self, run):
        self.run, self.funcs = run, []

    def __call__(self, func, *inputs):
        self.funcs.append(func)
        return self.run(func, *inputs)


@pytest.fixture(scope="module")
def llama():
    model = zoo.get("llama-tiny").build()
    return model, pimc.compile(model, backend="numba-cpu")


def test_hf_positions_for_left_padding():
    ids, mask = left_padded([np.array([5, 6]), np.array([7, 8, 9, 10])], 0)
    assert ids.tolist() == [[0, 0, 5, 6], [7, 8, 9, 10]]
    assert positions(mask).tolist() == [[1, 1, 0, 1], [0, 1, 2, 3]]  # HF: pads at 1


@pytest.mark.parametrize("runner", ["numba-cpu", "interpreter"])
def test_ragged_prompts_run_as_one_batch_and_equal_hf_generate(llama, runner):
    model, prog = llama
    rows = _rows(model.config.vocab_size)
    run = Calls(prog.run if runner == "numba-cpu" else prog.interpret)
    got = greedy(run, rows, NEW, pad_id=0, mask=takes_attention_mask(prog.ir),
                 kv_buffer=prog.executable.kv_buffer if runner == "numba-cpu" else None)
    assert run.funcs == ["prefill"] + ["decode"] * (NEW - 1)
    np.testing.assert_array_equal(got, _hf_generate(model, rows))


def test_program_generate_takes_ragged_prompts(llama):
    model, prog = llama
    rows = _rows(model.config.vocab_size, (2, 6), seed=3)
    np.testing.assert_array_equal(prog.generate(rows, NEW, pad_id=0), _hf_generate(model, rows))


def test_signatures_take_the_mask_after_the_positions(llama):
    _, prog = llama
    for func, mask in (("prefill", "tensor<BxTxi64>"), ("decode", "tensor<Bx(S+1)xi64>")):
        args = prog.ir.func(func).args
        assert [a.name_hint for a in args[:3]] == ["input_ids", "position_ids", "attention_mask"]
        assert str(args[2].type) == mask
    assert takes_attention_mask(prog.ir) == (True, True)


def test_eviction_drops_the_decode_mask_and_batches_by_length(llama):
    model, _ = llama
    prog = pimc.compile(model, backend="numba-cpu", target=None,
                        pipeline="kv-compress{method=l2norm,ratio=0.5}")
    decode = prog.ir.func("decode")
    assert str(decode.args[2].type) == "tensor<BxS_MASKxi64>"
    assert all(len(op.operands) == 3 for op in decode.body.ops if op.name == "llm.attention")
    assert takes_attention_mask(prog.ir) == (True, False)
    rows = _rows(model.config.vocab_size, (4, 6, 4))
    run = Calls(prog.run)
    got = greedy(run, rows, 4, pad_id=0, mask=takes_attention_mask(prog.ir))
    assert run.funcs.count("prefill") == 2  # one batch per prompt length
    for length in (4, 6):  # each row as the same program run on its length's batch alone
        members = [i for i, r in enumerate(rows) if r.size == length]
        alone = prog.generate([rows[i] for i in members], 4)
        np.testing.assert_array_equal(got[members, 6 - length:], alone)


def _hf_logits(model, ids, mask, steps: int = 3):
    """HF's logits for a prefill of the left-padded batch, then `steps` greedy decode steps,
    with the inputs pimc's steps get."""
    from transformers import DynamicCache
    pos = positions(mask)
    with torch.no_grad():
        out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                    position_ids=torch.from_numpy(pos), past_key_values=DynamicCache(),
                    use_cache=True)
    inputs, logits = [(ids, pos, mask)], [out.logits.numpy()]
    for _ in range(steps):
        tok = out.logits[:, -1:].argmax(-1)
        mask = np.concatenate([mask, np.ones((len(ids), 1), np.int64)], 1)
        pos = positions(mask)[:, -1:]
        with torch.no_grad():
            out = model(input_ids=tok, attention_mask=torch.from_numpy(mask),
                        position_ids=torch.from_numpy(pos), past_key_values=out.past_key_values,
                        use_cache=True)
        inputs.append((tok.numpy(), pos, mask))
        logits.append(out.logits.numpy())
    return inputs, logits


_CAPTURES: dict[str, tuple] = {}


def _captured(family: str, tmp_path_factory) -> tuple:
    """(the HF model, its capture saved as a program) for `family`, made once per process."""
    if family not in _CAPTURES:
        model = _tiny(family)
        path = tmp_path_factory.mktemp(family) / f"{family}.mlir"
        pimc.compile(model, backend="null", target=None).save(path)
        _CAPTURES[family] = model, str(path)
    return _CAPTURES[family]


def _tiny(family: str):
    torch.manual_seed(0)
    common = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    if family == "mistral":
        from transformers import MistralConfig, MistralForCausalLM
        return MistralForCausalLM(MistralConfig(sliding_window=4, **common)).eval()
    from transformers import Gemma2Config, Gemma2ForCausalLM
    return Gemma2ForCausalLM(Gemma2Config(head_dim=8, sliding_window=4, query_pre_attn_scalar=8,
                                          attn_logit_softcapping=1.5,
                                          final_logit_softcapping=30.0, **common)).eval()


@pytest.mark.parametrize("family, backend", [
    ("mistral", "numba-cpu"), ("mistral", "interpreter"),
    ("gemma2", "numba-cpu"), ("gemma2", "interpreter")])
def test_sliding_window_and_softcap_equal_hf(family, backend, tmp_path_factory):
    """A 9-token prompt beside a 6-token one (3 pads) over a window of 4: logits of the prefill
    (at real tokens: HF's eager attention gives a pad query, which sees no key, a uniform mix
    of every key, pimc zeros) and 3 decode steps within 1e-4 of HF's, and greedy tokens equal
    to HF generate's."""
    model, ir = _captured(family, tmp_path_factory)  # each family captured once
    prog = pimc.compile(ir, backend="null" if backend == "interpreter" else backend,
                        target=None)
    attrs = [op.attributes for op in prog.ir.func("prefill").body.ops
             if op.name == "llm.attention"]
    windows = [a["window"].value if "window" in a else None for a in attrs]
    assert windows == ([4, 4] if family == "mistral" else [4, None])  # gemma2: sliding, full
    assert all(("softcap" in a) == (family == "gemma2") for a in attrs)
    run = prog.run if backend == "numba-cpu" else prog.interpret
    inputs, want = _hf_logits(model, *left_padded(_rows(model.config.vocab_size, (9, 6)), 0))
    state = []
    for step, (args, logits) in enumerate(zip(inputs, want)):
        got, *state = run("decode" if step else "prefill", *args, *state)
        real = args[2][:, -got.shape[1]:] == 1  # a pad's logits are HF's own garbage
        np.testing.assert_allclose(got[real], logits[real], atol=1e-4, rtol=0)
    rows = _rows(model.config.vocab_size, (9, 5))
    np.testing.assert_array_equal(greedy(run, rows, 6, pad_id=0), _hf_generate(model, rows, 6))
