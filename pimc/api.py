"""`pimc.compile()` and `Program`: the public entry points (architecture.md §9)."""
from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pimc.errors import OptionError, PimcError
from pimc.ir import ModuleOp, parse_file, print_module, verify
from pimc.ir.weights import WeightsStore
from pimc.output import write_atomically



class Program:
    """A compiled model: its IR (`ir`), its weights store (`weights`) and how it was built."""

    def __init__(self, ir: ModuleOp, weights: WeightsStore, backend: str = "null",
                 pipeline: str = "", executable: Any = None, target: Any = None):
        self.ir, self.weights, self.backend, self.pipeline = ir, weights, backend, pipeline
        self.executable = executable
        self.target = target  # the Target it was placed for (None: unplaced, or loaded from text)
        self._bound = False  # weights bind on the first run: an analysis-only program of a
        # full-size model (captured on the meta device) never touches its weights

    def run(self, func: str, *inputs) -> list:
        """Run `@func` on the backend's compiled code."""
        if self.executable is None:
            from pimc.backends.registry import EXECUTING_DEFAULT
            raise PimcError(f"backend '{self.backend}' does not execute; compile with "
                            f"backend='{EXECUTING_DEFAULT}' (or another backend that executes, "
                            "see `pimc backends`) to run, or use Program.interpret")
        if not self._bound:
            self.executable.bind_weights(self.weights, self.ir)
            self._bound = True
        return self.executable.run(self.ir, func, inputs)

    def __call__(self, *inputs) -> list:
        """Run the program's entry: the function the module names (`pimc.entry`, an imported
        ONNX graph's, whose inputs and outputs mirror the file), else @prefill, else the only
        function. As in HF, trailing `position_ids` and `attention_mask` may be left out: they
        default to `arange` over the tokens and to all ones."""
        funcs = [f.sym_name for f in self.ir.funcs]
        entry = self.ir.attributes.get("pimc.entry")
        name = entry.value if entry is not None else "prefill" if "prefill" in funcs else funcs[0]
        return self.run(name, *default_inputs(self.ir.func(name), inputs))

    @property
    def tokenizer(self):
        """The tokenizer of the checkpoint the program was compiled from (a GGUF vocabulary or
        a folder's tokenizer files), or None."""
        if not hasattr(self, "_tokenizer"):
            from pimc.frontend.checkpoint import load_tokenizer
            source = self.ir.attributes.get("pimc.checkpoint")
            self._tokenizer = load_tokenizer(source.value) if source is not None else None
        return self._tokenizer

    def generate(self, input_ids, max_new_tokens: int = 16, eos: int | None = None,
                 lengths=None, pad_id: int | None = None):
        """Greedy decoding with the KV cache: prefill, then one @decode per new token.
        `input_ids` is [B, T], or a list of prompts of different lengths, or [B, T] right-padded
        with `lengths`; the result is [B, T + max_new_tokens], left-padded with `pad_id`.
        With a tokenizer, `input_ids` may be a string (the result is the prompt's text and its
        continuation, as HF's text-generation pipeline returns it) or a list of strings (a list
        of those); `eos` then defaults to the tokenizer's."""
        texts = [input_ids] if isinstance(input_ids, str) else input_ids \
            if isinstance(input_ids, list) and input_ids and \
            all(isinstance(t, str) for t in input_ids) else None
        if texts is not None:
            return self._generate_text(texts, max_new_tokens, eos, isinstance(input_ids, str))
        from pimc.runtime.generate import greedy, takes_attention_mask
        limit = self.ir.attributes.get("pimc.max_seq_len")
        return greedy(self.run, input_ids, max_new_tokens, eos,
                      limit.value if limit is not None else None,
                      getattr(self.executable, "kv_buffer", None), lengths, pad_id,
                      takes_attention_mask(self.ir))

    def _generate_text(self, texts: list[str], max_new_tokens: int, eos: int | None,
                       single: bool):
        tok = self.tokenizer
        if tok is None:
            raise PimcError("generate(): this program has no tokenizer (it was not compiled "
                            "from a checkpoint that carries one); pass token ids")
        eos = tok.eos_token_id if eos is None else eos
        rows = [tok(t).input_ids for t in texts]
        out = self.generate(rows, max_new_tokens, eos, pad_id=eos)
        width = out.shape[1] - max_new_tokens
        decoded = []
        for row, ids in zip(out, rows):
            new = row[width:].tolist()
            if eos is not None and eos in new:
                new = new[:new.index(eos)]
            decoded.append(tok.decode(list(ids) + new, skip_special_tokens=True))
        return decoded[0] if single else decoded

    def report(self, target: str | None = None, batch: int = 1, context: int = 2048,
               phase: str = "decode", **options):
        """Per-op shape, flops, bytes, Op/B, device and estimated time on `target` (default:
        the target the program was placed for); see pimc.analysis.Report. `options`: dtype,
        kv_dtype, moe_skew, policy, pin, overrides."""
        from pimc.analysis import report_for_program
        return report_for_program(self, target, batch, context, phase, **options)

    def op_histogram(self, func: str | None = None) -> Counter:
        funcs = [self.ir.func(func)] if func else list(self.ir.funcs)
        return Counter(op.name for f in funcs for op in f.body.ops if op.name != "func.return")

    def simulate(self, target: str | None = None, *, overrides=(), trace: str | None = None,
                 batch: int | None = None, prompt_len: int = 128, gen_len: int = 32,
                 requests: int | None = None, rate: float = 10.0, workload: str = "sharegpt",
                 seed: int = 0, requests_file: str | Path | None = None, **options) -> dict:
        """Simulated serving on `target` (default: the one the program was placed for), the
        report `pimc simulate` prints: a static batch, a Poisson request stream or a CSV
        request trace (`requests_file`, runtime/system/request_trace.py). `options`
        are runtime.system.simulate.SimOptions fields (sub_batches, cost_model, policy,
        max_batch, kv_capacity_tokens). The program's own IR is not changed."""
        from pimc.ir import parse
        from pimc.runtime.system.request_trace import requests_for
        from pimc.runtime.system.simulate import SimOptions, simulate_requests
        from pimc.targets import get_target
        name = target or self.target or getattr(self.ir.attributes.get("pimc.target"), "value",
                                                None)
        if name is None:
            raise PimcError("simulate(): the program was compiled without a target; give one")
        spec = get_target(name, overrides)
        reqs = requests_for(batch, prompt_len, gen_len, requests, rate, workload, seed,
                            requests_file)
        module = parse(print_module(self.ir))  # placement must not touch self.ir
        return simulate_requests(module, spec, reqs, SimOptions(**options), trace_path=trace)

    def interpret(self, func: str, *inputs) -> list:
        """Run `@func` with the reference interpreter (numpy); the slow, exact oracle."""
        from pimc.runtime.interpreter import run
        return run(self.ir, func, inputs, self.weights)

    def save(self, path: str | Path) -> None:
        """Write the IR to `path` and the weights store beside it (`<path>.safetensors`)."""
        path = Path(path)
        write_atomically(path, print_module(self.ir))
        self.weights.save(weights_path(path))

    def __repr__(self) -> str:
        funcs = ", ".join(f"@{f.sym_name}" for f in self.ir.funcs)
        return f"<pimc.Program {funcs}; {len(self.weights)} weights; backend={self.backend}>"


def default_inputs(func, inputs: tuple) -> tuple:
    """`inputs`, completed with HF's defaults for the trailing arguments a caller may leave out:
    `position_ids` as `arange(T)` per row, `attention_mask` as ones over the tokens. The
    defaults follow the first input, `input_ids` [B, T]."""
    import numpy as np
    args = list(func.args)
    if len(inputs) >= len(args) or not inputs:
        return inputs
    ids = np.asarray(inputs[0])
    filled = list(inputs)
    for arg in args[len(inputs):]:
        if arg.name_hint == "position_ids":
            filled.append(np.tile(np.arange(ids.shape[-1], dtype=np.int64), (ids.shape[0], 1)))
        elif arg.name_hint == "attention_mask":
            filled.append(np.ones(ids.shape, np.int64))
        else:
            raise PimcError(f"@{func.sym_name} takes {len(args)} inputs "
                            f"({', '.join(a.name_hint or '?' for a in args)}); got {len(inputs)}, "
                            f"and '{arg.name_hint}' has no default")
    return tuple(filled)


def weights_path(ir_path: Path) -> Path:
    return ir_path.with_name(ir_path.name + ".safetensors")


def load(path: str | Path) -> Program:
    """Read a Program written by `Program.save` (or any .mlir, with weights if they are beside)."""
    path = Path(path)
    if not path.exists():
        raise PimcError(f"cannot read '{path}': no such file")
    module = parse_file(path)
    verify(module)
    wpath = weights_path(path)
    return Program(module, WeightsStore.load(wpath) if wpath.exists() else WeightsStore())


def compile(model: Any, example_inputs=None, target: Any = "neupims",
            backend: str = "numba-cpu", pipeline: str = "default",
            dump: Callable[[str, Any], None] | None = None, backend_options: dict | None = None,
            overrides: Iterable[str] = (), **pass_options) -> Program:
    """Capture `model` into pimc IR, run `pipeline` over it, place it on `target`'s devices and
    hand it to `backend`.

    `model` is a zoo name ("llama-tiny", "smollm2-135m"), a path to a .mlir, .onnx or .gguf
    file or to a `save_pretrained` folder (config.json + safetensors), an onnx.ModelProto,
    an HF causal LM (captured as @prefill and @decode), any other nn.Module (with
    `example_inputs`), or an ExportedProgram. `target` is a preset (`pimc targets`) or a TOML
    file or a Target, `overrides` its `key.path=value` changes (the CLI's --set); the resolved
    Target rides in the pass context (every pass and the backend use that object), and with
    one, analyze-intensity and place-devices follow the pipeline (unless it places already);
    `target=None` skips placement. `pass_options` set options of passes
    in the pipeline by the pass's name in snake_case: `place_devices={"batch": 64}`;
    `backend_options` go to the backend's stages (the pim backend's batch, context, layout).
    """
    from pimc.backends import registry
    chosen = registry.get(backend)
    spec = None
    if target is not None:  # a bad target fails before the (slow) capture
        from pimc.targets import get_target
        spec = get_target(target, overrides)
    elif overrides:
        raise OptionError("compile(): overrides= need a target")
    passes = build_passes(pipeline, spec is not None, pass_options)
    module, weights = capture(model, example_inputs)
    from pimc.passes import PassManager
    PassManager(passes, target=spec).run(module)
    artifact = chosen.compile(module, {"target": spec, **(backend_options or {})}, dump=dump)
    return Program(module, weights, backend, pipeline,
                   artifact if chosen.capabilities.executes else None, spec)


def build_passes(pipeline: str, placed: bool, pass_options: dict) -> list:
    """The pipeline's passes, placement appended when `placed` (for the context's target),
    `pass_options` applied."""
    from pimc.passes import PASSES
    from pimc.passes.pipelines import passes_of
    passes = passes_of(pipeline)
    for key, options in pass_options.items():
        if not isinstance(options, dict):
            raise OptionError(f"compile(): {key}= takes a dict of pass options, got "
                              f"{type(options).__name__}")
    if placed and "place-devices" not in {p.name for p in passes}:
        passes += [PASSES.get("analyze-intensity")(), PASSES.get("place-devices")()]
    for key, options in pass_options.items():
        name = key.replace("_", "-")
        if name not in {p.name for p in passes}:
            raise OptionError(f"compile(): '{key}' names no pass of the pipeline; its passes: "
                              f"{', '.join(dict.fromkeys(p.name for p in passes))}")
        passes = [_with_options(p, options) if p.name == name else p for p in passes]
    return passes


def _with_options(p, options: dict):
    """`p` with `options` (Python values, or strings in pipeline syntax) replacing its own."""
    import dataclasses

    from pimc.errors import UnknownNameError
    from pimc.passes.base import convert_option
    fields, kwargs = p.option_types(), {}
    for key, value in options.items():
        kebab = key.replace("_", "-")
        if kebab not in fields:
            raise UnknownNameError("option", kebab, list(fields))
        field, typ = fields[kebab]
        kwargs[field] = convert_option(f"option '{kebab}' of pass '{p.name}'", value, typ) \
            if isinstance(value, str) else value
    return dataclasses.replace(p, **kwargs)


def capture(model: Any, example_inputs=None) -> tuple[ModuleOp, WeightsStore]:
    if isinstance(model, (str, Path)):
        text = str(model)
        if text.endswith(".mlir"):
            prog = load(text)
            return prog.ir, prog.weights
        if text.endswith(".onnx"):
            from pimc.frontend.onnx import import_onnx
            return import_onnx(text)
        if text.endswith(".gguf") or Path(text).is_dir() or "/" in text:
            from pimc.frontend.checkpoint import capture_checkpoint, open_checkpoint
            return capture_checkpoint(open_checkpoint(text))
        from pimc.frontend import zoo
        return zoo.capture(text)
    onnx = sys.modules.get("onnx")  # a ModelProto means onnx is imported already
    if onnx is not None and isinstance(model, onnx.ModelProto):
        from pimc.frontend.onnx import import_onnx
        return import_onnx(model)
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        from pimc.frontend.torch_export import import_exported
        module, store = ModuleOp(), WeightsStore()
        import_exported(model, "forward", {}, store, module)
        return module, store
    if isinstance(model, torch.nn.Module):
        if hasattr(model, "config") and hasattr(model, "set_attn_implementation"):
            from pimc.frontend.hf import capture as capture_hf
            return capture_hf(model)
        if example_inputs is None:
            raise PimcError(f"compile({type(model).__name__}) needs example_inputs to trace it")
        from pimc.frontend.torch_export import export
        return export(model, example_inputs)
    raise PimcError(f"cannot compile a {type(model).__name__}; expected a zoo name, a .mlir, "
                    ".onnx or .gguf path, a save_pretrained folder, an onnx.ModelProto, an nn.Module or a "
                    "torch.export.ExportedProgram")
