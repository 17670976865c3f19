"""Design-space sweeps (`pimc sweep`): a grid of targets, target overrides, KV methods and
workloads, one Dask task per point, resumable results and the tokens/s-energy Pareto front."""
from pimc.runtime.sweep.grid import Grid, GridError, Point, load_grid, parse_grid, point_key
from pimc.runtime.sweep.results import (ResultStore, front_rows, pareto_front, plot_pareto,
                                        read_table)
from pimc.runtime.sweep.run import SweepResult, dask_client, run_sweep, simulate_point

__all__ = ["Grid", "GridError", "Point", "ResultStore", "SweepResult", "dask_client",
           "front_rows", "load_grid", "parse_grid", "pareto_front", "plot_pareto", "point_key",
           "read_table", "run_sweep", "simulate_point"]
