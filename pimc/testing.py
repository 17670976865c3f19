"""Helpers for checking pimc against itself and others: seeded random weights and inputs for a
module, and an interpreter-based equivalence check of two modules (before/after a pass)."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.types import TensorType
from pimc.ir.weights import NUMPY_DTYPES, WeightsStore
from pimc.runtime.interpreter import run
from pimc.ir.shape_binding import Bindings


def random_weights(module: ModuleOp, seed: int = 0, scale: float = 0.1) -> WeightsStore:
    """A store with N(0, scale) data for every `llm.weight` handle in `module`."""
    rng, store = np.random.default_rng(seed), WeightsStore()
    for op in module.walk():
        if op.name == "llm.weight" and op.attr("handle") not in store:
            t = op.results[0].type
            data = rng.standard_normal([int(d) for d in t.shape]) * scale
            store.add(op.attr("handle"), data.astype(NUMPY_DTYPES[t.element.name]))
    return store


def random_inputs(module: ModuleOp, func: str, dims: Mapping[str, int], seed: int = 0,
                  int_high: int = 8) -> list[np.ndarray]:
    """Inputs for `@func` with symbolic dims set from `dims` (e.g. {"B": 2, "T": 5}); integer
    inputs are drawn from [0, int_high)."""
    import sympy

    rng, bindings = np.random.default_rng(seed), Bindings()
    bindings.values.update({sympy.Symbol(k, integer=True, positive=True): v
                            for k, v in dims.items()})
    arrays = []
    for arg in module.func(func).args:
        t = arg.type
        assert isinstance(t, TensorType)
        shape = bindings.shape(t)
        if t.element.is_float:
            arrays.append(rng.standard_normal(shape).astype(NUMPY_DTYPES[t.element.name]))
        else:
            arrays.append(rng.integers(0, int_high, shape).astype(NUMPY_DTYPES[t.element.name]))
    return arrays


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b), f"{len(a)} vs {len(b)} outputs"
    return max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))))
               if x.size else 0.0 for x, y in zip(a, b))


def assert_same_semantics(before: ModuleOp, after: ModuleOp, dims: Mapping[str, int],
                          weights: WeightsStore | None = None, atol: float = 1e-5,
                          seed: int = 0) -> None:
    """Every function of `before` gives the same outputs in `after` on seeded random inputs."""
    weights = weights or random_weights(before, seed)
    for f in before.funcs:
        inputs = random_inputs(before, f.sym_name, dims, seed)
        diff = max_abs_diff(run(before, f.sym_name, inputs, weights),
                            run(after, f.sym_name, inputs, weights))
        assert diff <= atol, f"@{f.sym_name}: max |before - after| = {diff} > {atol}"


def compare_with_hf(model, module, store, batch=2, prompt=13, steps=8,
                    references: Mapping[str, Callable[[str, list], list]] | None = None
                    ) -> dict[str, float]:
    """Max |interpreter - reference| over a prefill's logits and KV caches, then `steps` greedy
    decode steps' (feeding the interpreter's own cache back), for a module captured from the HF
    causal LM `model`. The reference is PyTorch ("torch"), plus any runner in `references`
    (`runner(func, inputs) -> outputs`, onnxruntime for example) given the same inputs."""
    import torch

    references = references or {}
    errors: dict[str, list[float]] = {"torch": [], **{name: [] for name in references}}

    def check(func, inputs, ref):
        outs = run(module, func, inputs, store)
        layers = ref.past_key_values.layers
        want = [ref.logits] + [l.keys for l in layers] + [l.values for l in layers]
        errors["torch"] += [float(np.abs(o - w.numpy()).max()) for o, w in zip(outs, want)]
        for name, runner in references.items():
            errors[name] += [float(np.abs(o - r).max()) for o, r in zip(outs, runner(func, inputs))]
        return outs

    from transformers import DynamicCache

    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (batch, prompt), generator=gen)
    pos, mask = torch.arange(prompt).repeat(batch, 1), torch.ones_like(ids)
    with torch.no_grad():  # full caches on every layer, as pimc's capture keeps them
        ref = model(input_ids=ids, position_ids=pos, attention_mask=mask,
                    past_key_values=DynamicCache(), use_cache=True)
    cache = check("prefill", [ids.numpy(), pos.numpy(), mask.numpy()], ref)[1:]
    past, tok = ref.past_key_values, ref.logits[:, -1].argmax(-1, keepdim=True)
    for step in range(steps):
        p, mask = torch.full((batch, 1), prompt + step), torch.ones((batch, prompt + step + 1),
                                                                    dtype=torch.long)
        with torch.no_grad():
            ref = model(input_ids=tok, position_ids=p, attention_mask=mask,
                        past_key_values=past, use_cache=True)
        cache = check("decode", [tok.numpy(), p.numpy(), mask.numpy(), *cache], ref)[1:]
        past, tok = ref.past_key_values, ref.logits[:, -1].argmax(-1, keepdim=True)
    return {name: max(values) for name, values in errors.items()}
