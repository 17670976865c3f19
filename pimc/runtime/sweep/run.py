"""Run a sweep on Dask: one task per point, results journalled as each task finishes.

The model is captured and put through the default pipeline once, by the caller; its IR text is
scattered to every worker once, and each task parses its own copy (placement writes into the
module, so points cannot share one). The points already in the results file or its journal are
not submitted again.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pimc import progress
from pimc.errors import PimcError
from pimc.ir import parse
from pimc.passes import PassManager
from pimc.passes.pipeline_parser import parse_pipeline
from pimc.runtime.sweep.grid import NO_KV, Grid, kv_pipeline
from pimc.runtime.sweep.results import KEY, ResultStore
from pimc.runtime.system.simulate import SimOptions, make_requests, simulate_requests
from pimc.targets import Target


CONNECT_TIMEOUT = "10s"  # a scheduler that does not answer by then is reported, not waited on


@dataclass
class SweepResult:
    rows: list[dict]  # every row of the results file, this grid's points first
    computed: list[str]  # keys of the points simulated by this run, in completion order
    resumed: list[str]  # keys of this grid's points found done already
    complete: bool  # every point of the grid is done (the table was written)


def simulate_point(ir_text: str, target: Target, kv: str, workload: dict,
                   options: SimOptions) -> dict:
    """One point, on a worker: its metrics, or its error (a point the simulator refuses, such
    as weights too large for the memory, is a result of the sweep, not its end)."""
    start = time.perf_counter()
    try:
        module = parse(ir_text, "<sweep>")
        if kv != NO_KV:
            PassManager(parse_pipeline(kv_pipeline(kv))).run(module)
        requests = make_requests(batch=workload["batch"], prompt_len=workload["prompt_len"],
                                 gen_len=workload["gen_len"])
        report = simulate_requests(module, target, requests, options)
    except (PimcError, NotImplementedError) as e:
        return {"error": _first_line(e)}
    metrics: dict = {}
    for name, value in report.items():
        if isinstance(value, dict):  # utilisation per device
            metrics.update({f"{name}.{k}": v for k, v in value.items()
                            if isinstance(v, (int, float, str, bool))})
        elif isinstance(value, (int, float, str, bool)):
            metrics[name] = value
    return {**metrics, "error": None, "sim_s": time.perf_counter() - start}


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator:
    """A distributed.Client: to the cluster at `scheduler`, else to a LocalCluster of `workers`
    single-threaded processes (the simulator holds the GIL, so threads would not run in
    parallel)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise PimcError("pimc sweep needs dask.distributed: pip install 'pimc[sweep]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise PimcError(f"--scheduler '{scheduler}': cannot connect ({e})") from None
        with client:
            yield client
        return
    if workers < 1:
        raise PimcError(f"--workers: must be >= 1, got {workers}")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def run_sweep(ir: str | Callable[[], str], model: str, grid: Grid, out: str,
              client=None, scheduler: str | None = None, workers: int = 2,
              stop_after: int | None = None) -> SweepResult:
    """Simulate every point of `grid` not already in `out`, one Dask task each, on `client`
    (else one opened from `scheduler`/`workers`); `ir` is the placed-able IR text or a function
    that makes it, called only if a point is left to run. `stop_after` stops after that many
    points finish, as a kill would (the journal is kept, the table not written): for tests."""
    points = grid.points(model)
    store = ResultStore(out)
    order = [p.key for p in points]
    todo = [p for p in points if p.key not in store]
    resumed = [p.key for p in points if p.key in store]
    computed: list[str] = []
    if todo:
        text = ir() if callable(ir) else ir
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(dask_client(scheduler, workers))
            stack.callback(store.close)
            stopped = _run(client, text, todo, store, computed, stop_after)
        if stopped:
            return SweepResult(list(store.rows.values()), computed, resumed, False)
    rows = store.finish(order)
    return SweepResult(rows, computed, resumed, True)


def _run(client, text: str, todo: list, store: ResultStore, computed: list[str],
         stop_after: int | None) -> bool:
    from distributed import as_completed

    shared = client.scatter(text, broadcast=True, hash=False)  # a fresh key: no race with
    # the release of an earlier sweep's copy of the same text
    futures = {client.submit(simulate_point, shared, p.target, p.kv, p.workload, p.options,
                             pure=False): p for p in todo}
    with _bar(len(todo)) as advance:
        try:
            for future in as_completed(futures):
                point = futures[future]
                try:
                    metrics = future.result()
                except Exception as e:  # a worker lost, or a bug: the finished points stay
                    raise PimcError(f"sweep: point {point.key} ({_describe(point.params)}) "
                                    f"failed: {type(e).__name__}: {_first_line(e)}; "
                                    f"the {len(computed)} points finished are kept in "
                                    f"{store.journal}, run again to resume") from e
                store.append({KEY: point.key, **point.params,
                              **{k: v for k, v in metrics.items() if k not in point.params}})
                computed.append(point.key)
                advance()
                if stop_after is not None and len(computed) >= stop_after:
                    return True
        finally:
            client.cancel(list(futures))
    return False


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _describe(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items() if k != "model")


@contextlib.contextmanager
def _bar(total: int, force: bool = False) -> Iterator[Callable[[], None]]:
    """A rich bar of finished points on stderr, where progress is on and stderr a terminal."""
    if not (force or progress.active()):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True, force_terminal=force or None),
                  transient=True) as bar:
        task = bar.add_task("sweep", total=total)
        yield lambda: bar.advance(task)
