"""pimsim's simulation speed on DRAMsim3's reference traces, beside DRAMsim3's.

The three traces of tests/fixtures/reference/dramsim3/results_subset.csv (stream_read,
random_read, row_conflict; 200,000 requests each, from its gen_traces.py) run on HBM2 with the
dramsim3 front end, which reproduces DRAMsim3's cycle count. Speed is simulated cycles per wall
second:

- in process: reading the trace file and simulating it (`read_trace` + `run_trace`), numba's
  machine code already loaded; the median of RUNS runs. This is the figure the issue's bar
  (>= 0.3x DRAMsim3, goal >= 1x) is checked against.
- whole process: `python -m pimc.cli dram TRACE --frontend dramsim3 --format json` as a fresh
  process, timed like DRAMsim3's `dramsim3main` (start-up, simulation, output; numba's on-disk
  cache warm); the median of RUNS runs.

DRAMsim3's figures (`sim_cycles_per_wall_s`) were measured with the whole `dramsim3main` process
on a 2-core EPYC VM, like the machine this runs on (DRAMSIM3.md §3).

Writes bench/results/sim_speed.json and bench/results/sim_speed.md.
"""
from __future__ import annotations

import csv
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE = Path(__file__).parents[1] / "tests/fixtures/reference/dramsim3"
RESULTS = Path(__file__).parent / "results"
WORKLOADS = ("stream_read", "random_read", "row_conflict")
RUNS = 5
REQUIRED, GOAL = 0.3, 1.0  # x DRAMsim3's simulated cycles per second (issue 7)


def main() -> None:
    from pimc.runtime.pimsim import Trace, read_trace, run_trace

    reference = {r["workload"]: r for r in csv.DictReader(open(REFERENCE / "results_subset.csv"))}
    start = time.perf_counter()
    run_trace(Trace.from_requests([(0, "READ", 0)]), "hbm2", "dramsim3")
    warmup_s = time.perf_counter() - start  # numba's first-call set-up and loading the kernels
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(REFERENCE / "gen_traces.py"), tmp], check=True,
                       capture_output=True)
        for workload in WORKLOADS:
            path = Path(tmp) / f"{workload}.trace"
            runs, read_s = [], []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                trace = read_trace(path)
                t1 = time.perf_counter()
                result = run_trace(trace, "hbm2", "dramsim3")
                runs.append(time.perf_counter() - t0)
                read_s.append(t1 - t0)
            process = [_process_seconds(path) for _ in range(RUNS)]
            ref = reference[workload]
            ref_speed = float(ref["sim_cycles_per_wall_s"])
            wall, proc = statistics.median(runs), statistics.median(process)
            rows.append(dict(
                workload=workload, requests=result.requests, sim_cycles=result.cycles,
                dramsim3_sim_cycles=int(ref["sim_cycles"]),
                wall_s=wall, read_trace_s=statistics.median(read_s),
                simulate_s=wall - statistics.median(read_s),
                controller_ticks=result.controller_ticks,
                cycles_per_s=result.cycles / wall, process_wall_s=proc,
                process_cycles_per_s=result.cycles / proc,
                dramsim3_wall_s=float(ref["wall_s_median"]), dramsim3_cycles_per_s=ref_speed,
                ratio=result.cycles / wall / ref_speed,
                process_ratio=result.cycles / proc / ref_speed))
    ratios = [r["ratio"] for r in rows]
    summary = dict(min_ratio=min(ratios), geomean_ratio=statistics.geometric_mean(ratios),
                   min_process_ratio=min(r["process_ratio"] for r in rows),
                   required_ratio=REQUIRED, goal_ratio=GOAL,
                   meets_requirement=min(ratios) >= REQUIRED, meets_goal=min(ratios) >= GOAL,
                   kernel_load_s=warmup_s)
    machine = dict(python=platform.python_version(), processor=platform.processor() or
                   platform.machine(), cores=_cores())
    out = dict(benchmark="sim_speed", memory="hbm2", frontend="dramsim3", runs=RUNS,
               machine=machine, rows=rows, summary=summary)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_speed.json").write_text(json.dumps(out, indent=2) + "\n")
    (RESULTS / "sim_speed.md").write_text(_markdown(out))
    print(_markdown(out))


def _process_seconds(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pimc.cli", "dram", str(path), "--frontend",
                    "dramsim3", "--format", "json"], check=True, capture_output=True)
    return time.perf_counter() - start


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _markdown(out: dict) -> str:
    s = out["summary"]
    lines = [
        "# pimsim simulation speed vs DRAMsim3",
        "",
        f"HBM2 (DRAMsim3 HBM2_8Gb_x128), `--frontend dramsim3`, 200,000-request reference traces; "
        f"median of {out['runs']} runs on {out['machine']['cores']} cores. In process = read the "
        "trace + simulate (kernels loaded); whole process = `python -m pimc.cli dram` from a cold "
        "interpreter (numba's on-disk cache warm). DRAMsim3: whole `dramsim3main` process "
        "(DRAMSIM3.md §3).",
        "",
        "| workload | sim cycles (= DRAMsim3) | read trace s | simulate s | in process cycles/s "
        "| whole process s | whole process cycles/s | DRAMsim3 s | DRAMsim3 cycles/s | ratio "
        "| whole-process ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["rows"]:
        lines.append(
            f"| {r['workload']} | {r['sim_cycles']:,} ({r['dramsim3_sim_cycles']:,}) "
            f"| {r['read_trace_s']:.3f} | {r['simulate_s']:.3f} | {r['cycles_per_s'] / 1e3:,.0f}k "
            f"| {r['process_wall_s']:.2f} | {r['process_cycles_per_s'] / 1e3:,.0f}k "
            f"| {r['dramsim3_wall_s']:.2f} | {r['dramsim3_cycles_per_s'] / 1e3:,.0f}k "
            f"| {r['ratio']:.2f}x | {r['process_ratio']:.2f}x |")
    lines += [
        "",
        f"Minimum in-process ratio {s['min_ratio']:.2f}x DRAMsim3 (geometric mean "
        f"{s['geomean_ratio']:.2f}x): the issue requires >= {s['required_ratio']}x "
        f"({'met' if s['meets_requirement'] else 'NOT met'}), goal >= {s['goal_ratio']}x "
        f"({'met' if s['meets_goal'] else 'not met'}). Whole process: minimum "
        f"{s['min_process_ratio']:.2f}x: a fresh process spends about a second importing pimc "
        f"and numba and setting numba up (its first call, loading pimsim's kernels, took "
        f"{s['kernel_load_s']:.2f} s here) before it reads the trace.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
