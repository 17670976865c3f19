"""`pimc sweep MODEL --grid sweep.toml`: design-space exploration on Dask.

Crosses the grid's targets, target overrides, KV methods and workloads (see
pimc/runtime/sweep/grid.py for the file), simulates each point as one Dask task on a local
cluster (`--workers`) or an existing one (`--scheduler tcp://host:8786`, whose workers need pimc
installed), writes one row per point to `--out` (parquet or CSV) and, with `--plot`, tokens/s
against energy per token with the Pareto front marked. Run it again after an interruption and it
simulates only the points not yet in the results.
"""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from pimc.errors import PimcError

FORMATS = ("text", "json")


def sweep(model: Annotated[str, typer.Argument(help="A zoo model (pimc models), .mlir or .onnx.")],
          grid: Annotated[str, typer.Option("--grid", help="The grid TOML (examples/sweep.toml).")],
          out: Annotated[str, typer.Option("--out", "-o", help="Results: a .parquet or .csv file; an existing one is resumed.")] = "sweep.parquet",
          scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="An existing Dask scheduler, e.g. tcp://host:8786.")] = None,
          workers: Annotated[int, typer.Option("--workers", help="Local cluster: worker processes (ignored with --scheduler).")] = 2,
          plot: Annotated[Optional[str], typer.Option("--plot", help="Write tokens/s vs energy per token, Pareto front marked (.png, .svg, .pdf).")] = None,
          format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """Sweep MODEL over a grid of hardware and workloads; one Dask task per point."""
    from pimc.runtime.sweep import front_rows, load_grid, plot_pareto, run_sweep
    from pimc.runtime.sweep.results import X, Y

    if format not in FORMATS:
        raise PimcError(f"--format: unknown format '{format}'; valid: {', '.join(FORMATS)}")
    spec = load_grid(grid)
    result = run_sweep(lambda: _placed_ir(model), model, spec, out, scheduler=scheduler,
                       workers=workers)
    keys = set(result.computed) | set(result.resumed)
    mine = [row for row in result.rows if row["point"] in keys]
    failed = [row for row in mine if row.get("error")]
    names = spec.param_names()
    front = front_rows(mine)
    if plot:
        plot_pareto(mine, plot, f"{model}: {len(mine)} points")
    if format == "json":
        typer.echo(json.dumps(dict(points=len(mine), computed=len(result.computed),
                                   resumed=len(result.resumed), failed=len(failed), out=out,
                                   plot=plot, pareto=front), indent=2, default=str))
        return
    lines = [f"{model}: {len(mine)} points, {len(result.computed)} simulated, "
             f"{len(result.resumed)} already in {out}, {len(failed)} failed; results in {out}"]
    if failed:
        lines.append(f"first failure: {_params(failed[0], names)}: {failed[0]['error']}")
    lines.append(f"Pareto front ({len(front)} points, tokens/s vs energy per token):")
    lines += [f"  {row[Y]:>14,.1f} tok/s  {row[X] * 1e3:10.4g} mJ/token  {_params(row, names)}"
              for row in front]
    if plot:
        lines.append(f"plot: {plot}")
    typer.echo("\n".join(lines))


def _placed_ir(model: str) -> str:
    """The model's IR after the default pipeline, as text for the workers."""
    from pimc.api import capture
    from pimc.ir import print_module
    from pimc.passes import PassManager
    from pimc.passes.pipelines import build

    module, _ = capture(model)
    PassManager(build("default")).run(module)
    return print_module(module)


def _params(row: dict, names: list[str]) -> str:
    return " ".join(f"{name}={row.get(name)}" for name in names)
