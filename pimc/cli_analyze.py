"""`pimc analyze MODEL -t TARGET`: per-op arithmetic intensity, device placement and estimated
time of one decode step or prefill, as a rich table, JSON rows or a roofline PNG.

Every option is checked before the model is captured (a 70B capture takes seconds), so a typo
fails at once with one `pimc: error:` line and writes nothing."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from pimc.errors import PimcError

FORMATS = ("table", "json")


def analyze(model: Annotated[str, typer.Argument(help="A zoo name (see `pimc models`), a .mlir or an .onnx file.")],
            target: Annotated[str, typer.Option("-t", "--target", help="A preset (see `pimc targets`) or a .toml file.")],
            batch: Annotated[int, typer.Option("--batch", "-B", help="Sequences in the batch (B).")] = 1,
            context: Annotated[int, typer.Option("--context", "-S", help="Tokens of context: the past length in decode (S), the prompt in prefill (T).")] = 2048,
            phase: Annotated[str, typer.Option("--phase", help="decode (one new token per sequence) or prefill.")] = "decode",
            per_op: Annotated[bool, typer.Option("--per-op", help="One row per op instead of per op type and shape.")] = False,
            plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a roofline PNG here.")] = None,
            format: Annotated[str, typer.Option("--format", help="table, or json (the rows as a JSON list, nothing else on stdout).")] = "table",
            dtype: Annotated[str, typer.Option("--dtype", help="Count float tensors as f16 (default, as the targets' peaks and Duplex), bf16, f32, or ir (as captured).")] = "f16",
            kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache element type: ir, f32, f16, bf16, i8, i4, i2.")] = "ir",
            moe_skew: Annotated[str, typer.Option("--moe-skew", help="MoE routing: uniform, a Zipf exponent, or expert weights '4,2,1,1'.")] = "uniform",
            policy: Annotated[str, typer.Option("--policy", help="Placement: pick-min, neupims, attacc or duplex.")] = "pick-min",
            pin: Annotated[str, typer.Option("--pin", help="Pin ops to devices: 'attention:pim,moe:logic_pim'.")] = "",
            cost_model: Annotated[str, typer.Option("--cost-model", help="roofline, or sim: PIM decode attention and GEMV timed by the cycle-level simulator (cached per target), the rest by the roofline.")] = "roofline",
            set_: Annotated[list[str], typer.Option("--set", help="Override a target key: key.path=value (repeatable).")] = []):
    """Arithmetic intensity (Op/B), device placement and estimated time per op, with totals per
    device and the estimated time per token."""
    from pimc.analysis.report import Options, analyze as run_analysis, resolve_target
    from pimc.analysis.roofline_plot import check_plot_path

    if format not in FORMATS:
        raise PimcError(f"--format: unknown format '{format}'; valid: {', '.join(FORMATS)}")
    options = dict(dtype=dtype, kv_dtype=kv_dtype, moe_skew=moe_skew, policy=policy, pin=pin,
                   cost_model=cost_model)
    Options(phase, batch, context, **options).check_target(resolve_target(target, set_))
    if plot is not None:
        check_plot_path(plot)
    if not model.endswith((".mlir", ".onnx")):  # what pimc.api.capture reads as a zoo name
        from pimc.frontend.zoo import get
        get(model)  # an unknown name lists the models now, not after the target and imports

    from rich.console import Console
    # A spinner on stderr that names each step (and, with --cost-model sim, each kernel being
    # simulated); rich draws it only on a terminal, so pipes and --format json see nothing.
    status = Console(stderr=True).status("")
    with status:
        report = run_analysis(model, target, batch, context, phase, overrides=set_,
                              progress=lambda text: status.update(f"{text}..."), **options)
        if plot is not None:
            status.update(f"plotting {plot}...")
            from pimc.analysis.roofline_plot import plot_roofline
            plot_roofline(report, plot)
    if format == "json":
        sys.stdout.write(report.to_json(per_op=per_op) + "\n")
    else:
        print_tables(report, per_op)
    if plot is not None:
        sys.stderr.write(f"wrote {plot}\n")


def print_tables(report, per_op: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from pimc.analysis.report import format_time, si
    # a pipe or file has no width; rich would assume 80 columns and cut every number short
    console = Console() if sys.stdout.isatty() else Console(width=200)
    table = Table(title=report.title())
    columns = ["op", "loc", "shape"] if per_op else ["op", "shape", "count"]
    for name in columns:
        table.add_column(name, no_wrap=name != "loc", justify="right" if name == "count" else "left")
    # which rows the simulator timed; with the roofline model every row would say "roofline"
    sources = report.options.cost_model != "roofline"
    for name in ("flops", "bytes", "Op/B", "device", "est. time", "bound") + \
            (("time from",) if sources else ()):
        table.add_column(name, justify="right" if name in ("flops", "bytes", "Op/B", "est. time")
                         else "left", no_wrap=True)
    if not per_op:
        table.add_column("share", justify="right", no_wrap=True)
    for r in report.rows if per_op else report.by_type():
        first = [r["op"], r["loc"], r["shape"]] if per_op else [r["op"], r["shape"], str(r["count"])]
        rest = [si(r["flops"]), si(r["bytes"], "B"), f"{r['op_b']:.2f}", r["device"],
                format_time(r["est_time_s"]), r["bound"]] + ([r["time_source"]] if sources else [])
        table.add_row(*first, *rest, *([] if per_op else [f"{100 * r['share']:.1f}%"]))
    console.print(table)
    totals = report.totals()
    devices = Table(title="per device")
    for name in ("device", "ops", "flops", "bytes", "est. time", "share"):
        devices.add_column(name, justify="left" if name == "device" else "right", no_wrap=True)
    for name, d in totals["devices"].items():
        devices.add_row(name, str(d["ops"]), si(d["flops"]), si(d["bytes"], "B"),
                        format_time(d["est_time_s"]), f"{100 * d['share']:.1f}%")
    console.print(devices)
    console.print(report.summary())

