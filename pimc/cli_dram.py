"""`pimc dram TRACE --memory hbm2`: run a DRAMsim3-format memory trace through pimsim and print
cycles, bandwidth, read latency, row-buffer hit rate, command counts and energy."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from pimc.errors import PimcError

FORMATS = ("text", "json")


def dram(trace: Annotated[Path, typer.Argument(help="A trace: one '<hex address> READ|WRITE <cycle>' per line.")],
         memory: Annotated[str, typer.Option("--memory", "-m", help="A pimsim preset (hbm2, hbm3, hbm3-npc, hbm2-pim) or a pimc target with bank timing (e.g. neupims).")] = "hbm2",
         frontend: Annotated[str, typer.Option("--frontend", help="default (each channel takes requests as soon as it has room) or dramsim3 (DRAMsim3's one-per-cycle blocking trace reader).")] = "default",
         format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """Simulate a memory trace cycle by cycle on a DRAM (pimsim)."""
    from pimc.runtime.pimsim import FRONTENDS, get_spec, read_trace, run_trace

    if format not in FORMATS:
        raise PimcError(f"--format: unknown format '{format}'; valid: {', '.join(FORMATS)}")
    if frontend not in FRONTENDS:
        raise PimcError(f"--frontend: unknown front end '{frontend}'; valid: "
                        f"{', '.join(FRONTENDS)}")
    start = time.perf_counter()
    spec = get_spec(memory)
    result = run_trace(read_trace(trace), spec, frontend)
    wall_s = time.perf_counter() - start  # reading the trace included
    if format == "json":
        out = result.summary()
        out["wall_s"] = wall_s
        typer.echo(json.dumps(out, indent=2))
        return
    peak = result.peak_bandwidth_gbps
    commands = "  ".join(f"{name} {count:,}" for name, count in result.commands.items())
    energy = "-" if result.energy_j is None else f"{result.energy_j * 1e6:.3f} uJ"
    lines = [
        f"{spec.describe()}",
        f"source          {spec.source}; front end {frontend}",
        f"requests        {result.requests:,} ({result.reads_done:,} reads and "
        f"{result.writes_done:,} writes done)",
        f"cycles          {result.cycles:,} ({result.time_s * 1e6:.2f} us)",
        f"bandwidth       {result.bandwidth_gbps:.2f} GB/s "
        f"({100 * result.bandwidth_gbps / peak:.1f}% of {peak:.1f} GB/s)",
        f"read latency    avg {result.avg_read_latency_cycles:.1f}, "
        f"p99 {result.p99_read_latency_cycles:.0f} cycles from acceptance; "
        f"avg {result.avg_read_latency_from_issue_cycles:.1f} from trace issue",
        f"row hit rate    {100 * result.row_hit_rate:.1f}%",
        f"commands        {commands}",
        f"energy          {energy}",
        f"wall            {wall_s:.3f} s",
    ]
    typer.echo("\n".join(lines))
