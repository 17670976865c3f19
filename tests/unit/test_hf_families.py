"""Every HF decoder family through torch.export, against HF itself.

Each family's tiny config (pimc/frontend/families.py, seeded random weights) is captured as
@prefill and @decode; a prefill of a 7-token prompt and 15 decode steps must give HF generate's
16 greedy tokens exactly and its logits at every step within 1e-4, on the reference interpreter
(as captured and after raise-llm-ops) and on numba-cpu.
"""
import numpy as np
import pytest
import torch

import pimc
from pimc.frontend import families
from pimc.frontend.hf import capture
from pimc.ir import parse, print_module, verify
from pimc.passes import PassManager
from pimc.passes.pipelines import build

NEW_TOKENS, PROMPT, BATCH = 16, 7, 2
# numba-cpu compiles are slow: two families run in CI (a 0-d weight, window and soft cap;
# multi-query with a mask computed in ops), the rest are marked slow
FAST_NUMBA = {"gemma2", "falcon"}


def _hf_greedy(model, ids: torch.Tensor):
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                             min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0,
                             output_logits=True, return_dict_in_generate=True)
    return out.sequences.numpy(), [s.numpy() for s in out.logits]


def _step_inputs(func, ids: np.ndarray, start: int) -> list[np.ndarray]:
    """@prefill's or @decode's leading inputs, by name: `ids` sit at positions start.., every
    token so far is real (the attention mask, where the program takes one, is all ones)."""
    batch, t = ids.shape
    named = {"input_ids": ids, "position_ids": np.tile(np.arange(start, start + t), (batch, 1)),
             "attention_mask": np.ones((batch, start + t), np.int64)}
    return [named[a.name_hint] for a in func.args if a.name_hint in named]


def _greedy(run, module, ids: np.ndarray):
    """(tokens [B, PROMPT + NEW_TOKENS], logits of each new token) from prefill and decode."""
    logits, *state = run("prefill", *_step_inputs(module.func("prefill"), ids, 0))
    steps, tokens = [logits[:, -1]], [ids]
    for i in range(NEW_TOKENS - 1):
        tokens.append(steps[-1].argmax(-1)[:, None])
        logits, *state = run("decode", *_step_inputs(module.func("decode"), tokens[-1],
                                                     PROMPT + i), *state)
        steps.append(logits[:, -1])
    tokens.append(steps[-1].argmax(-1)[:, None])
    return np.concatenate(tokens, axis=1), steps


def _check(run, module, model, generate=None):
    ids, (want_tokens, want_logits) = _reference(model)
    tokens, logits = _greedy(run, module, ids.numpy())
    worst = max(float(np.abs(g - w).max()) for g, w in zip(logits, want_logits))
    assert worst < 1e-4, f"max |pimc - HF| logits = {worst}"
    assert (tokens == want_tokens).all()
    if generate is not None:
        assert (generate(ids.numpy(), NEW_TOKENS) == want_tokens).all()


_captured: dict[str, tuple] = {}
_references: dict[int, tuple] = {}


def _reference(model):
    """The prompt and HF generate's tokens and logits for it, once per model."""
    if id(model) not in _references:
        ids = torch.randint(0, model.config.vocab_size, (BATCH, PROMPT),
                            generator=torch.Generator().manual_seed(3))
        _references[id(model)] = ids, _hf_greedy(model, ids)
    return _references[id(model)]


def _capture(name: str):
    if name not in _captured:
        model = families.get(name).build()
        module, store = capture(model)
        verify(module)
        _captured[name] = model, module, store
    return _captured[name]


# The CI suite keeps 10 families whose graphs differ (parallel blocks, ALiBi, multi-query with
# its own mask, soft-caps, sliding and full layers, q/k norms, a LayerNorm spelled out, learned
# positions, a shared MoE expert); the others repeat a form these cover (llama-like decoders, the
# zoo's llama/qwen2/gpt2/mixtral tests) and run with -m slow, as every numba-cpu case but two.
CI_INTERPRETER = {"falcon", "falcon_alibi", "gemma2", "gemma3", "gptj", "gpt_neox", "cohere",
                  "opt", "phi", "qwen2_moe"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in CI_INTERPRETER
                                               else pytest.mark.slow)
                                  for n in sorted(families.FAMILIES)])
def test_interpreter_matches_hf(name):
    """The captured module and the raised one (default pipeline: one llm.attention per layer,
    whatever form the family's attention takes)."""
    from pimc.runtime.interpreter import run
    model, module, store = _capture(name)
    raised = parse(print_module(module))
    PassManager(build("default")).run(raised)
    for m in (module, raised):
        _check(lambda func, *inputs: run(m, func, inputs, store), m, model)
    for f in raised.funcs:
        attention = sum(op.name == "llm.attention" for op in f.body.ops)
        assert attention == model.config.num_hidden_layers, (f.sym_name, attention)


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST_NUMBA else pytest.mark.slow)
                                  for n in sorted(families.FAMILIES)])
def test_numba_cpu_matches_hf(name, tmp_path):
    model, module, store = _capture(name)
    path = tmp_path / f"{name}.mlir"  # the interpreter test's capture, compiled as a file
    pimc.Program(module, store).save(path)
    prog = pimc.compile(str(path), backend="numba-cpu")
    _check(prog.run, prog.ir, model, prog.generate)


def test_unknown_family_names_the_known_ones():
    with pytest.raises(pimc.errors.UnknownNameError, match="llama"):
        families.get("lama")
