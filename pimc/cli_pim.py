"""`pimc pim-kernel KERNEL -t TARGET`: run one PIM kernel's command stream through pimsim and
print cycles, time, command counts, achieved bandwidth and energy.

Kernels live in `KERNELS`, a registry of name -> runner. A runner is called as
`runner(target, opts)` with the resolved pimc Target (after `--set`) and `opts`, a dict of every
CLI option (None where not given: context, heads, head_dim, dtype, rows, cols, elements, layout),
and returns a dict with at least `cycles`, `time_s`, `commands` (name -> count), `bandwidth_gbps`
and `energy_j`; other keys are printed too. Register with `register_kernel("gemv", runner)`.
"""
from __future__ import annotations

import json
from typing import Annotated, Callable, Optional

import typer

from pimc.errors import PimcError, UnknownNameError

FORMATS = ("text", "json")
KernelRunner = Callable[[object, dict], dict]
KERNELS: dict[str, KernelRunner] = {}


def register_kernel(name: str, runner: KernelRunner) -> None:
    KERNELS[name] = runner


def require(opts: dict, *names: str, kernel: str) -> None:
    """One-line error for a kernel option that was not given."""
    for name in names:
        if opts.get(name) is None:
            raise PimcError(f"--{name.replace('_', '-')}: required by kernel '{kernel}'")


def _attention(target, opts: dict) -> dict:
    from pimc.runtime.pimsim.attacc import run_attention_for_target
    require(opts, "context", "heads", "head_dim", kernel="attention")
    return run_attention_for_target(target, context=opts["context"], heads=opts["heads"],
                                    head_dim=opts["head_dim"], dtype=opts["dtype"],
                                    layout=opts["layout"] or "pimc").summary()


register_kernel("attention", _attention)


def _hbm_pim(kernel: str) -> KernelRunner:
    """Samsung HBM-PIM kernels (pimsim.hbmpim, PIMSimulator's sequences): -t hbm-pim."""
    def run(target, opts: dict) -> dict:
        from pimc.runtime.pimsim.hbmpim import run_kernel_for_target
        return run_kernel_for_target(kernel, target, opts)
    return run


for _name in ("gemv", "add", "mul", "relu"):
    register_kernel(_name, _hbm_pim(_name))


def pim_kernel(kernel: Annotated[str, typer.Argument(help="attention (AttAcc decode attention); others as registered (gemv, add, mul, relu).")],
               target: Annotated[str, typer.Option("--target", "-t", help="A pimc target with [pim] (attacc-bank, attacc-bankgroup, attacc-buffer, hbm-pim...).")],
               set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override one target field: key.path=value (e.g. pim.power_constraint=false).")] = None,
               context: Annotated[Optional[int], typer.Option("--context", help="attention: context length L.")] = None,
               heads: Annotated[Optional[int], typer.Option("--heads", help="attention: heads per HBM stack.")] = None,
               head_dim: Annotated[Optional[int], typer.Option("--head-dim", help="attention: head dimension.")] = None,
               dtype: Annotated[Optional[str], typer.Option("--dtype", help="fp16 or int8 (default: the target's pim.dtype).")] = None,
               rows: Annotated[Optional[int], typer.Option("--rows", help="gemv: outputs.")] = None,
               cols: Annotated[Optional[int], typer.Option("--cols", help="gemv: inputs.")] = None,
               elements: Annotated[Optional[int], typer.Option("--elements", help="add/mul/relu: elements.")] = None,
               layout: Annotated[Optional[str], typer.Option("--layout", help="attention: pimc (default) or attacc (AttAcc's trace generator, quirks included).")] = None,
               format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """Simulate one PIM kernel cycle by cycle (pimsim)."""
    from pimc.targets import get_target

    if format not in FORMATS:
        raise PimcError(f"--format: unknown format '{format}'; valid: {', '.join(FORMATS)}")
    if kernel not in KERNELS:
        raise UnknownNameError("PIM kernel", kernel, list(KERNELS), where="pim-kernel: ")
    tgt = get_target(target, set_ or ())
    opts = dict(context=context, heads=heads, head_dim=head_dim, dtype=dtype, rows=rows,
                cols=cols, elements=elements, layout=layout)
    out = KERNELS[kernel](tgt, opts)
    if format == "json":
        typer.echo(json.dumps(out, indent=2))
        return
    commands = "  ".join(f"{name} {count:,}" for name, count in out["commands"].items())
    energy = "-" if out.get("energy_j") is None else f"{out['energy_j'] * 1e6:.3f} uJ"
    lines = [f"kernel          {kernel} on {tgt.name}",
             f"cycles          {out['cycles']:,} ({out['time_s'] * 1e6:.3f} us)",
             f"commands        {commands}",
             f"bandwidth       {out['bandwidth_gbps']:.2f} GB/s (achieved, bytes the units read)",
             f"energy          {energy}"]
    shown = {"cycles", "time_s", "commands", "bandwidth_gbps", "energy_j"}
    lines += [f"{key:<15} {value}" for key, value in out.items() if key not in shown]
    typer.echo("\n".join(lines))
