"""ONNX files as the ecosystem's exporters write them, imported by pimc and run against
onnxruntime on the very same file.

The fixtures (tests/fixtures/onnx/, made by make_fixtures.py with the real exporters from tiny
seeded random-weight HF configs) are optimum's `text-generation-with-past` graphs (one graph for
prefill and decode, HF's padding + causal mask expanded in the graph) and
`torch.onnx.export(dynamo=True)` graphs without a cache. Each is run for a prefill (an empty
past, batch 2, 5 tokens, the second row left-padded by 2) and, where the graph takes a past, a
decode step (the prefill's presents as the past, one new token), on pimc's reference interpreter
and on numba-cpu, and every output (logits and each present.N.key/value) must equal
onnxruntime's within 1e-4.
"""
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import pimc
from pimc.frontend.onnx import import_onnx
from pimc.ir import parse, print_module
from pimc.passes import PassManager
from pimc.passes.pipelines import build
from pimc.runtime.interpreter import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onnx"
# Every fixture imports (optimum's qwen3_moe through onnx_moe.py, test_onnx_moe.py).
CASES = [f"{d}/{f.stem}" for d in ("optimum", "dynamo")
         for f in sorted((FIXTURES / d).glob("*.onnx"))]
# Masks that stay spelled out after raise-llm-ops: OPT's additive finfo.min mask with padding
# (a fully padded query averages the values there; llm.attention's flags would give zeros).
# dynamo's gemma2 soft-caps the scores (tanh(x / c) * c), which raise-llm-ops does not fold into
# llm.attention yet, so its attention stays as ops.
MASKS_KEPT = {"optimum/opt", "dynamo/gemma2"}
# Sliding-window layers per fixture (gemma2 alternates sliding and global layers).
WINDOWS = {"mistral": [4, 4], "gemma2": [4, None]}
TOLERANCE = 1e-4
PADS = 2  # left pads of the second row


class Case:
    """One fixture: the ORT session, pimc's imported module, and inputs for each step."""

    def __init__(self, name: str):
        self.path = FIXTURES / f"{name}.onnx"
        self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()
        self.module, self.store = import_onnx(self.path)
        self.vocab = self.session.get_outputs()[0].shape[-1]

    @property
    def has_past(self) -> bool:
        return any(i.name.startswith("past_key_values") for i in self.inputs)

    def feeds(self, rng, tokens: int, past: list | None = None, batch: int = 2) -> list:
        """The graph's inputs in its order: HF's left-padded mask and positions."""
        done = 0 if past is None else past[0].shape[2]
        mask = np.ones((batch, done + tokens), np.int64)
        mask[1, :PADS] = 0
        positions = np.where(mask == 1, np.cumsum(mask, 1) - 1, 1)[:, done:]
        caches = iter(past or [])
        values = {"input_ids": rng.integers(3, self.vocab, (batch, tokens)),
                  "attention_mask": mask, "position_ids": positions}
        out = []
        for i in self.inputs:
            if i.name in values:
                out.append(values[i.name])
            elif i.name.startswith("past_key_values"):
                empty = (batch, i.shape[1], 0, i.shape[3])
                out.append(next(caches) if past is not None else np.zeros(empty, np.float32))
            else:
                raise AssertionError(f"no test value for input {i.name}")
        return out

    def reference(self, feeds: list) -> list:
        return self.session.run(None, {i.name: x for i, x in zip(self.inputs, feeds)})


@pytest.fixture(scope="module", params=CASES)
def case(request):
    return Case(request.param)


def _steps(case: Case, seed: int = 0):
    """(inputs, onnxruntime's outputs) for the prefill and, with a past, one decode step."""
    rng = np.random.default_rng(seed)
    prefill = case.feeds(rng, tokens=5)
    want = case.reference(prefill)
    steps = [(prefill, want)]
    if case.has_past:
        decode = case.feeds(rng, tokens=1, past=want[1:])
        steps.append((decode, case.reference(decode)))
    return steps


def _check(got: list, want: list, names: list[str], what: str) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} outputs, onnxruntime gives {len(want)}"
    for name, a, b in zip(names, got, want):
        assert a.shape == b.shape, f"{what}: {name} is {a.shape}, onnxruntime's {b.shape}"
        err = float(np.abs(np.asarray(a, np.float64) - b).max()) if b.size else 0.0
        assert err <= TOLERANCE, f"{what}: {name} differs from onnxruntime by {err:.3g}"


def test_interpreter_equals_onnxruntime(case):
    names = [o.name for o in case.session.get_outputs()]
    for step, (inputs, want) in zip(("prefill", "decode"), _steps(case)):
        got = run(case.module, "main", inputs, case.store)
        _check(got, want, names, f"{case.path.name} {step}")


def test_numba_cpu_equals_onnxruntime(case):
    prog = pimc.compile(str(case.path), target=None, backend="numba-cpu")
    names = [o.name for o in case.session.get_outputs()]
    for step, (inputs, want) in zip(("prefill", "decode"), _steps(case)):
        _check(prog(*inputs), want, names, f"{case.path.name} {step} (numba-cpu)")


def test_program_mirrors_the_graph(case):
    """@main takes the graph's inputs and returns its outputs, each in the graph's order."""
    fn = case.module.func("main")
    assert case.module.attributes["pimc.entry"].value == "main"
    assert [a.name_hint for a in fn.args] == [i.name.replace(".", "_") for i in case.inputs]
    assert len(fn.function_type.results) == len(case.session.get_outputs())


def test_masks_become_attention_flags(case):
    """After the default pipeline each mask is causal/window flags plus attention_mask as a
    [B, 1, 1, S] boolean (or nothing, without one), whatever ops the exporter spelled it with;
    the raised module still equals onnxruntime."""
    name = f"{case.path.parent.name}/{case.path.stem}"
    raised = parse(print_module(case.module))
    PassManager(build("default")).run(raised)
    fn = raised.func("main")
    attention = [op for op in fn.body.ops if op.name == "llm.attention"]
    if name in MASKS_KEPT:
        assert all(len(op.operands) == 4 for op in attention)
        return
    ops = {op.name for op in fn.body.ops}
    assert not ops & {"llm.compare", "llm.logical", "llm.where", "llm.take"}, sorted(ops)
    assert [op.attr("window") for op in attention] == \
        WINDOWS.get(case.path.stem, [None] * len(attention))
    for op in attention:
        assert op.attr("causal")
        if len(op.operands) == 4:
            reshape = op.operands[3].op
            assert str(op.operands[3].type).endswith("x1x1x(S+T)xi1>")
            assert reshape.operands[0].op.operands[0].name_hint == "attention_mask"
    names = [o.name for o in case.session.get_outputs()]
    for step, (inputs, want) in zip(("prefill", "decode"), _steps(case)):
        _check(run(raised, "main", inputs, case.store), want, names, f"{name} {step} raised")
