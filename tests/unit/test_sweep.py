"""pimc sweep: grid validation, the Pareto front against a brute-force numpy one, sweeps on a
2-worker dask LocalCluster, and resume after an interruption (a hook and a real SIGKILL)."""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pimc.api import capture
from pimc.cli import main
from pimc.errors import PimcError
from pimc.ir import parse, print_module
from pimc.passes import PassManager
from pimc.passes.pipelines import build
from pimc.runtime.sweep import (GridError, ResultStore, dask_client, load_grid, pareto_front,
                                parse_grid, point_key, read_table, run_sweep)
from pimc.runtime.system.simulate import SimOptions, make_requests, simulate_requests
from pimc.targets import get_target
from pimc.targets.load import override

pytest.importorskip("distributed")

# 2 targets x 2 channel counts x 3 batches x 2 generation lengths
GRID24 = {"targets": ["neupims", "npu-pim-naive"], "set": {"memory": {"channels": [4, 8]}},
          "workload": {"batch": [1, 4, 16], "prompt_len": [32], "gen_len": [8, 16]}}
GRID4 = {"targets": ["neupims"], "set": {"memory.channels": [4, 8]},
         "workload": {"batch": [1, 4], "prompt_len": [32], "gen_len": [8]}}


@pytest.fixture(scope="module")
def llama_ir() -> dict:
    """llama-tiny's IR as captured (for the CLI, from a .mlir) and after the default pipeline
    (what the workers parse)."""
    module, _ = capture("llama-tiny")
    raw = print_module(module)
    PassManager(build("default")).run(module)
    return {"raw": raw, "placed": print_module(module)}


@pytest.fixture(scope="module")
def client():
    with dask_client(workers=2) as c:
        yield c


def never() -> str:
    raise AssertionError("the IR was asked for, but every point was done already")


# ---- the grid ---------------------------------------------------------------------------------

def test_grid_crosses_every_axis_with_stable_keys():
    grid = parse_grid(GRID24)
    points = grid.points("llama-tiny")
    expected = list(itertools.product(["neupims", "npu-pim-naive"], [4, 8], [1, 4, 16], [8, 16]))
    assert [(p.params["target"], p.params["memory.channels"], p.params["batch"],
             p.params["gen_len"]) for p in points] == expected
    assert [p.target.memory.channels for p in points] == [e[1] for e in expected]
    # the key is sha256 of the canonical JSON of the parameters, whatever their order
    p = points[5]
    shuffled = dict(reversed(list(p.params.items())))
    canonical = json.dumps(shuffled, sort_keys=True, separators=(",", ":")).encode()
    assert p.key == point_key(shuffled) == hashlib.sha256(canonical).hexdigest()[:16]
    assert len({q.key for q in points}) == 24
    assert grid.param_names() == ["target", "memory.channels", "kv", "batch", "prompt_len",
                                  "gen_len"]


def test_grid_tables_change_keys_together_and_kv_runs_kv_compress():
    grid = parse_grid({"targets": ["neupims"], "kv": ["none", "method=quant,bits=4"],
                       "set": {"pim": [{"placement": "bank", "units_per_channel": 16},
                                       {"placement": "bankgroup", "units_per_channel": 4}]},
                       "options": {"sub_batches": [1, 2]}})
    points = grid.points("m")
    assert len(points) == 8
    assert {(p.target.pim.placement, p.target.pim.units_per_channel) for p in points} == {
        ("bank", 16), ("bankgroup", 4)}
    assert {p.options.sub_batches for p in points} == {1, 2}
    assert "pim.units_per_channel" in points[0].params and "pim" not in points[0].params


def test_the_example_grid_loads():
    grid = load_grid(Path(__file__).parents[2] / "examples" / "sweep.toml")
    points = grid.points("llama-tiny")
    assert len(points) == 2 * 2 * 2 * 2 * 2 * 2
    assert {(p.target.xpu.systolic_rows, p.target.xpu.flops) for p in points} == {
        (128, 2.0 * 8 * 128 * 128 * 1e9), (64, 2.0 * 8 * 64 * 64 * 1e9)}  # count 8 at 1 GHz


@pytest.mark.parametrize("table, message", [
    ({"targets": ["neupims"], "sets": {}}, "targets, set, kv, workload, options"),
    ({"set": {}}, "targets: missing"),
    ({"targets": ["neupims"], "set": {"kv": ["none"]}},
     "set.kv: 'kv' is a top-level key; write it above the first [table]"),
    ({"targets": ["neupimz"]}, "targets[0]: unknown target 'neupimz'"),
    ({"targets": ["neupims"], "set": {"memory.chanels": [4]}},
     "memory.chanels: unknown key (did you mean 'channels'?)"),
    ({"targets": ["neupims"], "set": {"pim.placement": ["die"]}},
     "pim.placement: expected 'bank', 'bankgroup' or 'buffer', got string \"die\""),
    ({"targets": ["neupims"], "set": {"memory.channels": [8, 0]}},
     "memory.channels: must be > 0, got int 0"),
    ({"targets": ["neupims"], "set": {"memory.channels": []}},
     "set.memory.channels: empty list"),
    ({"targets": ["neupims"], "set": {"memory.channels": [8, 8]}},
     "set.memory.channels[1]: 8 is listed twice"),
    ({"targets": ["neupims"], "workload": {"batch": [0]}}, "workload.batch[0]: must be >= 1"),
    ({"targets": ["neupims"], "workload": {"batch": ["4"]}},
     "workload.batch[0]: expected a positive integer, got \"4\""),
    ({"targets": ["neupims"], "workload": {"context": [4]}},
     "workload.context: unknown key; allowed: batch, prompt_len, gen_len"),
    ({"targets": ["neupims"], "options": {"sub_batch": [2]}}, "options.sub_batch: unknown key"),
    ({"targets": ["neupims"], "options": {"sub_batches": [0]}},
     "options.sub_batches = 0: --sub-batches: must be >= 1"),
    ({"targets": ["neupims"], "options": {"npu_timing": ["fast"]}}, "valid: auto, npusim"),
    ({"targets": ["neupims"], "options": {"cost_model": ["exact"]}},
     "options.cost_model = \"exact\": cost_model: unknown cost model 'exact'"),
    ({"targets": ["neupims"], "options": {"policy": ["best"]}},
     "options.policy = \"best\": unknown policy 'best'"),
    ({"targets": ["neupims"], "kv": ["method=zip"]}, "kv[0]: 'method=zip'"),
    ({"targets": ["neupims"], "kv": ["method=l2norm,ratio=1.5"]}, "option 'ratio' must be"),
])
def test_grid_errors_name_the_key_path_and_what_is_allowed(table, message):
    with pytest.raises(GridError) as info:
        parse_grid(table, "g.toml")
    assert info.value.message.startswith("g.toml: ") and "\n" not in info.value.message
    assert message in info.value.message


def test_cli_grid_error_is_one_line_and_exit_2(tmp_path, capsys):
    grid = tmp_path / "g.toml"
    grid.write_text('targets = ["neupims"]\n[set]\n"pim.placement" = ["die"]\n')
    assert main(["sweep", "llama-tiny", "--grid", str(grid), "--out",
                 str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimc: error: ") and "pim.placement" in err and "\n" not in err
    grid.write_text("targets = [\n")
    assert main(["sweep", "llama-tiny", "--grid", str(grid)]) == 2
    assert main(["sweep", "llama-tiny", "--grid", str(tmp_path / "none.toml")]) == 2
    assert not (tmp_path / "r.csv").exists()
    grid.write_text('targets = ["neupims"]\n')
    for out, message in ((tmp_path / "r.xlsx", "unknown format '.xlsx'; valid: .parquet, .csv"),
                         (tmp_path / "no" / "r.csv", "no such directory")):
        assert main(["sweep", "llama-tiny", "--grid", str(grid), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err


# ---- the Pareto front -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_pareto_front_equals_brute_force_numpy(seed):
    rng = np.random.default_rng(seed)
    n = 60
    # rounded to a few levels, so ties in one or both metrics are common
    tps = rng.integers(1, 8, n) * 1000.0
    ept = rng.integers(1, 8, n) * 1e-3
    ge, le = tps[None, :] >= tps[:, None], ept[None, :] <= ept[:, None]
    better = (tps[None, :] > tps[:, None]) | (ept[None, :] < ept[:, None])
    dominated = (ge & le & better).any(axis=1)  # [i, j]: j dominates i
    np.testing.assert_array_equal(pareto_front(tps, ept), ~dominated)


def test_pareto_front_by_hand():
    # (tps, energy): (3, 3) and (1, 1) are optimal; (2, 3) is beaten by (3, 3); both (1, 1)s stay
    assert pareto_front([3, 2, 1, 1, 1], [3, 3, 1, 1, 2]).tolist() == [True, False, True, True,
                                                                      False]
    assert pareto_front([], []).tolist() == []


# ---- sweeps on the cluster ----------------------------------------------------------------------

def test_small_sweep_matches_direct_simulation(llama_ir, client, tmp_path):
    out = tmp_path / "r.parquet"
    result = run_sweep(llama_ir["placed"], "llama-tiny", parse_grid(GRID4), str(out),
                       client=client)
    assert result.complete and len(result.computed) == 4 and not result.resumed
    rows = read_table(out)
    assert len(rows) == 4 and not (tmp_path / "r.parquet.partial.jsonl").exists()
    row = next(r for r in rows if r["memory.channels"] == 4 and r["batch"] == 4)
    # the same point simulated here, in this process, without the sweep
    target = override(get_target("neupims"), ["memory.channels=4"])
    direct = simulate_requests(parse(llama_ir["placed"]), target, make_requests(4, 32, 8),
                               SimOptions())
    for name in ("tokens_per_s", "energy_per_token_j", "ttft_p99_s", "kv_capacity_tokens"):
        assert row[name] == pytest.approx(direct[name], rel=1e-12), name
    assert row["utilisation.npu"] == pytest.approx(direct["utilisation"]["npu"])
    assert row["error"] is None and row["model"] == "llama-tiny"


def test_24_point_sweep_on_two_workers(llama_ir, client, tmp_path):
    from distributed import get_task_stream
    out = tmp_path / "r.csv"
    start = time.perf_counter()
    with get_task_stream(client) as stream:
        result = run_sweep(llama_ir["placed"], "llama-tiny", parse_grid(GRID24), str(out),
                           client=client)
    elapsed = time.perf_counter() - start
    rows = read_table(out)
    assert result.complete and len(result.computed) == 24 and len(rows) == 24
    assert all(r["error"] is None and r["tokens_per_s"] > 0 for r in rows)
    # one task per point, spread over both workers
    tasks = [t for t in stream.data if "simulate_point" in t["key"]]
    assert len(tasks) == 24 and len({t["worker"] for t in tasks}) == 2
    assert elapsed < 120


def test_an_existing_scheduler_and_failed_points(llama_ir, client, tmp_path, monkeypatch):
    # 40 tokens per request cannot fit a 16-token KV cache: those points fail, the rest run
    grid = parse_grid({"targets": ["neupims"], "options": {"kv_capacity_tokens": [16, 4096]},
                       "workload": {"batch": [2], "prompt_len": [32], "gen_len": [8]}})
    out = tmp_path / "r.csv"
    result = run_sweep(llama_ir["placed"], "llama-tiny", grid, str(out),
                       scheduler=client.scheduler.address)
    rows = {r["kv_capacity_tokens"]: r for r in read_table(out)}
    assert result.complete and len(rows) == 2
    assert "exceed the KV cache" in rows[16]["error"] and rows[16]["tokens_per_s"] is None
    assert rows[4096]["error"] is None and rows[4096]["tokens_per_s"] > 0
    # not IR text at all: the worker's failure stops the sweep with one line, journal kept
    with pytest.raises(PimcError, match=r"sweep: point \w+ \(target=neupims .*\) failed: "
                                        r".*; the 0 points finished are kept in .*s2.csv.part"):
        run_sweep(lambda: 12345, "llama-tiny", grid, str(tmp_path / "s2.csv"), client=client)
    monkeypatch.setattr("pimc.runtime.sweep.run.CONNECT_TIMEOUT", "1s")
    with pytest.raises(PimcError, match=r"--scheduler 'tcp://127.0.0.1:1': cannot connect"):
        run_sweep(llama_ir["placed"], "llama-tiny", grid, str(tmp_path / "s.csv"),
                  scheduler="tcp://127.0.0.1:1")


def test_resume_after_a_stop_computes_only_the_rest(llama_ir, client, tmp_path):
    out = tmp_path / "r.csv"
    grid = parse_grid(GRID24)
    everything = {p.key for p in grid.points("llama-tiny")}
    first = run_sweep(llama_ir["placed"], "llama-tiny", grid, str(out), client=client,
                      stop_after=5)
    journal = tmp_path / "r.csv.partial.jsonl"
    assert not first.complete and len(first.computed) == 5 and not out.exists()
    assert [json.loads(line)["point"] for line in journal.read_text().splitlines()] == \
        first.computed
    second = run_sweep(llama_ir["placed"], "llama-tiny", grid, str(out), client=client)
    assert second.complete and sorted(second.resumed) == sorted(first.computed)
    assert set(second.computed) == everything - set(first.computed)
    assert len(second.computed) == 19 and not journal.exists()
    assert sorted(r["point"] for r in read_table(out)) == sorted(everything)
    third = run_sweep(never, "llama-tiny", grid, str(out), client=client)
    assert third.complete and not third.computed and len(third.resumed) == 24


def test_journal_drops_a_line_cut_by_a_kill(tmp_path):
    out = tmp_path / "r.csv"
    journal = tmp_path / "r.csv.partial.jsonl"
    journal.write_text('{"point": "a", "x": 1}\n{"point": "b", "x"')
    store = ResultStore(out)
    assert "a" in store and "b" not in store
    store.append({"point": "c", "x": 3})
    store.close()
    assert [json.loads(line)["point"] for line in journal.read_text().splitlines()] == ["a", "c"]
    assert store.finish(["c", "a"]) == [{"point": "c", "x": 3}, {"point": "a", "x": 1}]
    assert read_table(out) == [{"point": "c", "x": 3}, {"point": "a", "x": 1}]


def test_cli_writes_results_and_plot(llama_ir, tmp_path, capsys):
    model = tmp_path / "llama.mlir"
    model.write_text(llama_ir["raw"])
    grid = tmp_path / "g.toml"
    grid.write_text('targets = ["neupims"]\nkv = ["none", "method=l2norm,ratio=0.5"]\n'
                    '[workload]\nbatch = [1, 8]\nprompt_len = 32\ngen_len = 8\n')
    out, plot = tmp_path / "r.parquet", tmp_path / "p.png"
    args = ["sweep", str(model), "--grid", str(grid), "--out", str(out), "--plot", str(plot),
            "--workers", "2", "--format", "json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["points"] == report["computed"] == 4 and report["failed"] == 0
    rows = read_table(out)
    tps, ept = (np.array([r[k] for r in rows]) for k in ("tokens_per_s", "energy_per_token_j"))
    dominated = [any(t2 >= t and e2 <= e and (t2 > t or e2 < e) for t2, e2 in zip(tps, ept))
                 for t, e in zip(tps, ept)]
    assert sorted(r["point"] for r in report["pareto"]) == sorted(
        r["point"] for r, d in zip(rows, dominated) if not d)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args) == 0  # a second run finds every point done
    assert json.loads(capsys.readouterr().out)["computed"] == 0


@pytest.mark.slow
def test_a_killed_sweep_restarts_without_redoing_points(llama_ir, client, tmp_path):
    model = tmp_path / "llama.mlir"
    model.write_text(llama_ir["raw"])
    grid = tmp_path / "g.toml"
    grid.write_text('targets = ["neupims", "npu-pim-naive"]\n[set]\n"memory.channels" = [4, 8]\n'
                    '[workload]\nbatch = [1, 4, 16]\nprompt_len = 32\ngen_len = [64, 128]\n')
    out = tmp_path / "r.csv"
    journal = tmp_path / "r.csv.partial.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "pimc.cli", "sweep", str(model), "--grid",
                             str(grid), "--out", str(out), "--workers", "2"],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (journal.exists() and journal.read_text().count("\n") >= 3):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its cluster and workers, mid-sweep
        proc.wait()
    done = {json.loads(line)["point"] for line in journal.read_text().splitlines()}
    assert 3 <= len(done) < 24 and not out.exists()
    rest = run_sweep(llama_ir["placed"], str(model), load_grid(grid), str(out), client=client)
    assert set(rest.resumed) == done and not set(rest.computed) & done
    assert len(rest.computed) == 24 - len(done) and len(read_table(out)) == 24



def test_progress_bar_counts_points(capsys):
    from pimc.runtime.sweep.run import _bar
    with _bar(3, force=True) as advance:
        for _ in range(3):
            advance()
    assert "3/3" in capsys.readouterr().err
    with _bar(3) as advance:  # off a terminal: nothing drawn
        advance()
    assert capsys.readouterr().err == ""
