"""The AttAcc section of bench/sim_fidelity.py: pimsim's HBM3-PIM decode-attention kernels
(`--layout attacc`) against AttAcc's Ramulator-measured cycles in
tests/fixtures/reference/attacc/attacc_hbm3pim_subset.csv.gz.

Sample (default): a fixed, evenly spaced choice of L in each (placement, power constraint, head
configuration) stratum: 40 rows for BA and BG, 14 for BUFFER (its kernels are 8x longer), so
2 x 2 x 94 = 376 rows cover every placement, power setting and head configuration. `--full`
runs all 6,156. Per row: command counts (must equal AttAcc's), cycles error, and, on every
fourth row, the default (pimc) layout's cycles beside. The checker re-verifies channel 0's
command log of the shortest kernel of every placement x power (channels never share a rule).
"""
from __future__ import annotations

import csv
import gzip
import statistics
from multiprocessing import Pool
from pathlib import Path

CSV = Path(__file__).parents[1] / "tests/fixtures/reference/attacc/attacc_hbm3pim_subset.csv.gz"
PER_STRATUM = {"BA": 40, "BG": 40, "BUFFER": 14}
TARGET_MEDIAN, BOUND_MAX = 0.05, 0.15


def sample(rows: list[dict], full: bool) -> list[dict]:
    if full:
        return rows
    strata: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["pim_type"], r["power_constraint"], r["nhead_per_hbm"], r["dhead"], r["dbyte"])
        strata.setdefault(key, []).append(r)
    chosen = []
    for key, group in sorted(strata.items()):
        group.sort(key=lambda r: int(r["L"]))
        k = PER_STRATUM[key[0]]
        chosen += [group[round(i * (len(group) - 1) / (k - 1))] for i in range(k)]
    return chosen


def _run(job):
    index, ref, check = job
    from pimc.runtime.pimsim.attacc import run_attention
    from pimc.backends.pim.attention_stream import MAC_COMMAND
    from pimc.runtime.pimsim.check import check_log

    pl, pc = ref["pim_type"], ref["power_constraint"] == "1"
    shape = (int(ref["L"]), int(ref["nhead_per_hbm"]), int(ref["dhead"]), int(ref["dbyte"]))
    result = run_attention(*shape, placement=pl, power_constraint=pc, layout="attacc", log=check)
    names = {MAC_COMMAND[pl]: "n_mac", "WRGB": "n_wrgb", "MVSB": "n_mvsb", "MVGB": "n_mvgb",
             "SFM": "n_sfm"}
    out = dict(index=index, pim_type=pl, power_constraint=int(pc), L=shape[0],
               nhead=shape[1], dhead=shape[2], dbyte=shape[3],
               cycles=result.cycles, ref_cycles=int(ref["cycles"]),
               commands={n: (result.commands.get(n, 0), int(ref[k])) for n, k in names.items()})
    if check:
        log = result.log[result.log["channel"] == 0]
        violations = check_log(result.spec, log)
        out.update(checker_violations=len(violations), checked_commands=len(log),
                   first_violation=str(violations[0]) if violations else None)
    if index % 4 == 0:
        out["pimc_layout_cycles"] = run_attention(*shape, placement=pl, power_constraint=pc,
                                                  layout="pimc").cycles
    return out


def run(full: bool, metric, processes: int | None = None) -> dict:
    with gzip.open(CSV, "rt", newline="") as f:
        rows = sample(list(csv.DictReader(f)), full)
    checked, jobs = set(), []
    for i, r in enumerate(rows):
        key = (r["pim_type"], r["power_constraint"])
        check = key not in checked and r["nhead_per_hbm"] == "188" and r["L"] == "2048"
        checked |= {key} if check else set()
        jobs.append((i, r, check))
    with Pool(processes) as pool:
        results = sorted(pool.imap_unordered(_run, jobs, chunksize=1), key=lambda o: o["index"])
    out_rows, groups = [], {}
    for o in results:
        row = dict(workload=f"{o['pim_type']} pc{o['power_constraint']} L{o['L']} "
                            f"h{o['nhead']} d{o['dhead']} {'fp16' if o['dbyte'] == 2 else 'int8'}",
                   metrics=dict(cycles=metric(o["cycles"], o["ref_cycles"])),
                   commands={n: metric(a, b) for n, (a, b) in o["commands"].items()})
        for key in ("pimc_layout_cycles", "checker_violations", "checked_commands",
                    "first_violation"):
            if key in o:
                row[key] = o[key]
        out_rows.append(row)
        groups.setdefault(f"{o['pim_type']} pc{o['power_constraint']}", []).append(
            abs(row["metrics"]["cycles"]["error"]))
    by_group = {g: dict(rows=len(e), median_abs_error=statistics.median(e),
                        max_abs_error=max(e),
                        ok=statistics.median(e) <= TARGET_MEDIAN and max(e) <= BOUND_MAX)
                for g, e in sorted(groups.items())}
    table = ["| placement x power | rows | median abs error | max abs error | ok |",
             "|---|---:|---:|---:|---|"]
    table += [f"| {g} | {s['rows']} | {100 * s['median_abs_error']:.2f}% | "
              f"{100 * s['max_abs_error']:.2f}% | {'yes' if s['ok'] else 'NO'} |"
              for g, s in by_group.items()]
    table += ["", *layout_table(out_rows)]
    return dict(reference="AttAcc (scale-snu/attacc_simulator c1540de, Ramulator2 HBM3-PIM), "
                          "attacc_hbm3pim_subset.csv, --layout attacc",
                sample="full" if full else "fixed stratified sample", bounds=dict(cycles=BOUND_MAX),
                target_median=TARGET_MEDIAN, by_group=by_group, table_md=table, rows=out_rows)


def layout_table(rows: list[dict]) -> list[str]:
    """pimc's own layout beside AttAcc's (rows that ran both): median cycles ratio per group."""
    ratios: dict[str, list[float]] = {}
    for r in rows:
        if "pimc_layout_cycles" in r:
            group = " ".join(r["workload"].split()[:2])
            ratios.setdefault(group, []).append(r["pimc_layout_cycles"] /
                                                r["metrics"]["cycles"]["pimsim"])
    lines = ["| placement x power | rows | pimc layout / attacc layout cycles (median, min, max) |",
             "|---|---:|---|"]
    lines += [f"| {g} | {len(v)} | {statistics.median(v):.3f} ({min(v):.3f}, {max(v):.3f}) |"
              for g, v in sorted(ratios.items())]
    return lines
