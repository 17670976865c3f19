"""The `pimc` command line (typer). User errors print one `pimc: error: ...` line (plus a caret
block for text errors) and exit 2; `--debug` anywhere on the line shows the traceback instead."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer vendors click

import pimc
from pimc.cli_analyze import analyze
from pimc.cli_dram import dram
from pimc.cli_pim import pim_kernel
from pimc.cli_simulate import simulate
from pimc.cli_sweep import sweep
from pimc.cli_targets import targets_app
from pimc.errors import PimcError
from pimc.output import split_chunks, write_atomically

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="pimc: compile LLM graphs to NPU + processing-in-memory hardware.")
app.add_typer(targets_app, name="targets")
app.command()(analyze)
app.command()(dram)
app.command("pim-kernel")(pim_kernel)
app.command()(simulate)
app.command()(sweep)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pimc {pimc.__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False,
          debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False):
    """pimc: compile LLM graphs to NPU + processing-in-memory hardware."""


@app.command()
def opt(file: Annotated[str, typer.Argument(help="IR file to read; '-' (the default) reads stdin.")] = "-",
        pipeline: Annotated[str, typer.Option("-p", "--pipeline", help="Passes, e.g. 'canonicalize,cse'.")] = "",
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
        split_input_file: Annotated[bool, typer.Option("--split-input-file", help="Treat '// -----' as separating independent inputs.")] = False,
        print_ir_before: Annotated[list[str], typer.Option("--print-ir-before", help="Print the IR before this pass (repeatable).")] = [],
        print_ir_after: Annotated[list[str], typer.Option("--print-ir-after", help="Print the IR after this pass (repeatable).")] = [],
        print_ir_after_all: Annotated[bool, typer.Option("--print-ir-after-all", help="Print the IR after every pass.")] = False,
        time_passes: Annotated[bool, typer.Option("--time-passes", help="Report each pass's wall time.")] = False,
        verify_each: Annotated[bool, typer.Option("--verify-each/--no-verify-each", help="Verify after every pass.")] = True,
        locations: Annotated[bool, typer.Option("--locations/--no-locations", help="Print loc(...) annotations.")] = True,
        target: Annotated[Optional[str], typer.Option("-t", "--target", help="The target passes work for (a preset or .toml); else the one a placed input names.")] = None,
        set_: Annotated[list[str], typer.Option("--set", help="Override a target key: key.path=value (repeatable).")] = []):
    """Parse, verify, run a pass pipeline and print IR (like mlir-opt)."""
    from pimc.ir import parse, print_module, verify
    from pimc.passes import PASSES, PassManager, parse_pipeline

    passes = parse_pipeline(pipeline)
    spec = _target(target, set_)
    for name in [*print_ir_before, *print_ir_after]:
        PASSES.get(name, where="--print-ir-before/after: ")
    source = _read(file)
    filename = "<stdin>" if file == "-" else file
    chunks = split_chunks(source) if split_input_file else [source]
    outputs, failed = [], False
    for chunk in chunks:
        try:
            module = parse(chunk, filename)
            verify(module)
            PassManager(passes, verify_each=verify_each, print_before=tuple(print_ir_before),
                        print_after=tuple(print_ir_after), print_after_all=print_ir_after_all,
                        time_passes=time_passes, target=spec).run(module)
            outputs.append(print_module(module, print_locations=locations))
        except PimcError as e:
            if not split_input_file:
                raise
            _report(e)
            failed = True
    text = "// -----\n".join(outputs)
    if failed:
        raise typer.Exit(2)  # nothing is written when any chunk failed
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)


@app.command()
def passes(format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """List the registered passes and their options."""
    from pimc.passes import PASSES
    from pimc.passes.base import type_name
    _check_format(format)
    rows = [{"name": name, "summary": cls.summary(),
             "options": {k: type_name(t) for k, (_, t) in cls.option_types().items()}}
            for name, cls in PASSES.items()]
    if format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['name']:<{width}}  {r['summary']}")


@app.command("compile")
def compile_(model: Annotated[str, typer.Argument(help="A zoo name (see `pimc models`), a .mlir or an .onnx file.")],
             emit: Annotated[str, typer.Option("--emit", help="What to write: ir (text), program (ir + weights), pim-cmds (PIM command streams) or a stage of the backend (npu-schedule).")] = "ir",
             output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write here instead of stdout (ir only).")] = None,
             pipeline: Annotated[str, typer.Option("-p", "--pipeline", help="A named pipeline or a pipeline string.")] = "default",
             target: Annotated[str, typer.Option("-t", "--target", help="Place ops for this target (see `pimc targets`); 'none' skips placement.")] = "neupims",
             set_: Annotated[list[str], typer.Option("--set", help="Override a target key: key.path=value (repeatable).")] = [],
             batch: Annotated[int, typer.Option("--batch", help="B for placement (and for the pim-cmds shapes).")] = 1,
             context: Annotated[int, typer.Option("--context", help="S for placement (and for the pim-cmds shapes).")] = 2048,
             policy: Annotated[str, typer.Option("--policy", help="Placement policy: pick-min, neupims, attacc or duplex.")] = "pick-min",
             layout: Annotated[str, typer.Option("--layout", help="pim-cmds data layout: pimc or attacc (AttAcc's generator, quirks included).")] = "pimc",
             locations: Annotated[bool, typer.Option("--locations/--no-locations", help="Print loc(...) annotations.")] = True,
             backend: Annotated[str, typer.Option("-b", "--backend", help="Backend (see `pimc backends`).")] = "null",
             dump_stage: Annotated[Optional[str], typer.Option("--dump-stage", help="Write this backend stage's output instead of the IR.")] = None):
    """Capture a model into pimc IR, run a pipeline over it and place it on a target."""
    from pimc.api import compile as compile_model
    from pimc.backends import registry
    from pimc.ir import print_module
    stage_names = [s.name for s in registry.get(backend).stages()]  # --emit STAGE = --dump-stage
    if emit not in ("ir", "program", "pim-cmds", *stage_names):
        raise PimcError(f"--emit: unknown kind '{emit}'; valid: ir, program, pim-cmds, or a stage "
                        f"of backend '{backend}': {', '.join(stage_names)}")
    if emit in stage_names:
        dump_stage = emit
    if emit == "program" and output is None:
        raise PimcError("--emit program needs -o PATH (it writes PATH and PATH.safetensors)")
    if layout not in ("pimc", "attacc"):
        raise PimcError(f"--layout: unknown '{layout}'; valid: pimc, attacc")
    chosen = None if target == "none" else target
    if emit == "pim-cmds":
        if chosen is None:
            raise PimcError("--emit pim-cmds needs a target with PIM (-t)")
        backend, dump_stage = registry.providing_stage("pim-cmds"), "pim-cmds"
        from pimc.passes.pipelines import expand
        pipeline = f"{expand(pipeline)},analyze-intensity,place-devices,lower-to-pim"
    if dump_stage is not None:
        stages = [s.name for s in registry.get(backend).stages()]
        if dump_stage not in stages:
            raise PimcError(f"--dump-stage: backend '{backend}' has no stage '{dump_stage}'; "
                            f"valid: {', '.join(stages)}")
    dumped: dict = {}
    placement = {"place_devices": {"batch": batch, "context": context, "policy": policy}} \
        if chosen else {}
    if set_ and chosen is None:
        raise PimcError("--set needs a target (-t)")
    prog = compile_model(model, target=chosen, overrides=set_, backend=backend,
                         pipeline=pipeline,
                         backend_options={"batch": batch, "context": context, "layout": layout},
                         dump=lambda name, artifact: dumped.setdefault(name, artifact),
                         **placement)
    if dump_stage is not None:
        artifact = dumped[dump_stage]  # text, or an artifact that prints itself (`.text()`)
        text = artifact if isinstance(artifact, str) else \
            artifact.text() if callable(getattr(artifact, "text", None)) else None
        if text is None:
            raise PimcError(f"--dump-stage: stage '{dump_stage}' produces "
                            f"{type(dumped[dump_stage]).__name__} output, not text")
        _write(output, text)
        return
    if emit == "program":
        prog.save(output)
    else:
        _write(output, print_module(prog.ir, print_locations=locations))
    for f in prog.ir.funcs:
        ops = sum(1 for _ in f.body.ops)
        attn = sum(1 for op in f.body.ops if op.name == "llm.attention")
        sys.stderr.write(f"@{f.sym_name}: {ops} ops, {attn} llm.attention\n")


@app.command()
def backends(format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """List the installed backends (entry-point group pimc.backends) and their capabilities."""
    from pimc.backends import registry
    _check_format(format)
    rows = []
    for name in registry.names():
        caps = registry.get(name).capabilities
        rows.append({"name": name, "distribution": registry.distribution(name),
                     "summary": caps.summary, "executes": caps.executes,
                     "devices": sorted(caps.devices),
                     "ops": "all" if caps.ops is None else sorted(caps.ops)})
    if format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        ops = r["ops"] if r["ops"] == "all" else f"{len(r['ops'])} ops"
        typer.echo(f"{r['name']:<12} {r['distribution']:<10} {ops:<8} {r['summary']}")


@app.command()
def models(format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """List the model zoo: tiny models that run, full-size ones for analysis."""
    from pimc.frontend.zoo import describe
    _check_format(format)
    rows = describe()
    if format == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        params = f"{r['published_params'] / 1e9:.2f}B" if r["published_params"] else "-"
        typer.echo(f"{r['name']:<14} {r['family']:<11} {r['layers']:>3} layers  {params:>8}  "
                   f"{r['source']}")


@app.command()
def run(model: Annotated[str, typer.Argument(help="A zoo name, a .gguf file, a save_pretrained folder or a saved program (.mlir with weights beside).")],
        prompt: Annotated[Optional[str], typer.Option("--prompt", help="Text to continue (the model's tokenizer encodes it).")] = None,
        prompt_ids: Annotated[Optional[str], typer.Option("--prompt-ids", help="Comma-separated token ids, e.g. 1,2,3 (default 1).")] = None,
        max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Tokens to generate.")] = 16,
        eos: Annotated[Optional[int], typer.Option("--eos", help="Stop at this token id (with --prompt: the tokenizer's end token by default).")] = None):
    """Generate greedily with the numba-cpu backend; print the text (or tokens) and tokens/s."""
    import time

    from pimc.api import compile as compile_model
    if prompt is not None and prompt_ids is not None:
        raise PimcError("--prompt and --prompt-ids exclude each other; give one")
    if max_new_tokens < 1:
        raise PimcError(f"--max-new-tokens: must be >= 1, got {max_new_tokens}")
    ids = _prompt_ids(prompt_ids or "1") if prompt is None else None
    from pimc.backends.registry import EXECUTING_DEFAULT
    prog = compile_model(model, backend=EXECUTING_DEFAULT)
    if prompt is not None:
        if prog.tokenizer is None:
            raise PimcError(f"--prompt: '{model}' has no tokenizer (only checkpoints such as "
                            ".gguf files and zoo models with real weights do); use --prompt-ids")
        ids = prog.tokenizer(prompt).input_ids
        eos = prog.tokenizer.eos_token_id if eos is None else eos
    vocab = next(op for op in prog.ir.walk() if op.name == "llm.embedding").operands[1].type.shape[0]
    if not all(0 <= t < vocab for t in ids):
        raise PimcError(f"--prompt-ids: token ids must be in 0..{vocab - 1}, got {prompt_ids}")
    prog.generate([ids], 2)  # warm-up: JIT-compiles (or loads) @prefill's and @decode's kernels
    start = time.perf_counter()
    out = prog.generate([ids], max_new_tokens, eos)
    elapsed = time.perf_counter() - start
    new = out[0, len(ids):].tolist()
    if eos is not None and eos in new:  # generate pads finished rows with eos
        new = new[:new.index(eos) + 1]
    if prompt is not None:
        typer.echo(prog.tokenizer.decode(ids + new, skip_special_tokens=True))
    else:
        typer.echo(" ".join(map(str, new)))
    sys.stderr.write(f"{len(new)} tokens in {elapsed:.3f} s: {len(new) / elapsed:.1f} tokens/s\n")


def _prompt_ids(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise PimcError(f"--prompt-ids: expected comma-separated integers, got '{text}'") from None


@app.command()
def demo(model: Annotated[str, typer.Option("--model", help="The zoo model to run: llama-tiny (random weights), or one with real weights (smollm2-135m, gemma3-270m; the models extra).")] = "llama-tiny"):
    """Compile a model, run it on numba-cpu and check it against PyTorch/HF (no download)."""
    from pimc.demo import run_demo
    run_demo(model=model)


def _write(output: Path | None, text: str) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)


def _target(name: str | None, sets: list[str]):
    """The Target `-t` and `--set` name, resolved once (None: neither given)."""
    from pimc.targets import get_target
    if name is None:
        if sets:
            raise PimcError("--set needs a target (-t)")
        return None
    return get_target(name, sets)


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        raise PimcError(f"--format: unknown format '{fmt}'; valid: text, json")


def _read(file: str) -> str:
    """The text of `file` ('-' is stdin), decoded as UTF-8 whatever the locale says."""
    try:
        if file == "-":  # the raw bytes: a text stdin may use surrogateescape or the locale
            stdin = getattr(sys.stdin, "buffer", None)
            return stdin.read().decode() if stdin is not None else sys.stdin.read()
        return Path(file).read_text(encoding="utf-8")
    except OSError as e:
        raise PimcError(f"cannot read '{file}': {e.strerror}") from None
    except UnicodeDecodeError as e:
        name = "<stdin>" if file == "-" else file
        raise PimcError(f"{name}: not UTF-8 text (byte {e.start}: {e.reason})") from None


def _report(e: PimcError) -> None:
    sys.stderr.write(f"pimc: error: {e.message}\n")
    if e.context:
        sys.stderr.write(e.context + "\n")


@functools.cache
def _command():
    return typer.main.get_command(app)  # building it costs ~6 ms; tests call main() thousands of times


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    command = _command()
    try:
        code = command.main(args=args, prog_name="pimc", standalone_mode=False)
        # without standalone mode, click returns a typer.Exit's code instead of raising it
        return code if isinstance(code, int) else 0
    except PimcError as e:
        if debug:
            raise
        _report(e)
        return 2
    except NotImplementedError as e:  # a feature that does not exist yet: say so, exit 2
        if debug:
            raise
        sys.stderr.write(f"pimc: error: not implemented: {e}\n")
        return 2
    except typer.Exit as e:
        return e.exit_code
    except NoArgsIsHelpError:  # typer has already printed the help
        return 0
    except ClickException as e:  # bad flags and arguments
        if debug:
            raise
        sys.stderr.write(f"pimc: error: {' '.join(e.format_message().split())}\n")
        return 2
    except typer.Abort:
        sys.stderr.write("pimc: aborted\n")
        return 130


def entry() -> None:
    from pimc import progress
    progress.enable()  # a person at a terminal: long simulations draw a bar on stderr
    sys.exit(main())


if __name__ == "__main__":
    entry()
