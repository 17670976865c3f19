"""`pimc analyze` and the Report behind it (pimc.analysis): hand-counted flops and bytes, JSON
rows, the roofline PNG, Program reports and every bad-input case (exit 2, one line, no file)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from pathlib import Path

import pytest

from pimc.analysis import Report, analyze, report_for_program
from pimc.analysis.report import ROW_KEYS
from pimc.cli import main
from pimc.errors import PimcError
from pimc.ir import parse_file, print_module
from pimc.ir.weights import WeightsStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REQUIRED = {"op", "flops", "bytes", "op_b", "device", "est_time_s"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    """llama-tiny (hidden 64, FFN 128, 4 heads, 2 KV heads, vocab 256) as IR text: captured
    once (seconds), parsed per test (milliseconds)."""
    from pimc.frontend.zoo import capture
    path = tmp_path_factory.mktemp("ir") / "llama-tiny.mlir"
    path.write_text(print_module(capture("llama-tiny")[0]))
    return path


@pytest.fixture(scope="module")
def tiny(tiny_file) -> Report:
    """llama-tiny decoding 4 sequences at context 64 on duplex, counted at f16."""
    return analyze(parse_file(tiny_file), "duplex", batch=4, context=64)


def test_gate_proj_matches_a_hand_count(tiny):
    # x: 4x1x64 times w: 128x64 -> 4x1x128; 2 flops per multiply-add; f16 is 2 bytes
    row = next(r for r in tiny.rows if r["loc"] == "model.layers.0.mlp.gate_proj")
    assert (row["op"], row["shape"], row["dtype"]) == ("llm.linear", "4x1x128", "f16")
    assert row["flops"] == 2 * 4 * 128 * 64
    assert row["bytes"] == 2 * (4 * 64 + 128 * 64 + 4 * 128)
    assert row["op_b"] == pytest.approx(row["flops"] / row["bytes"])
    assert row["device"] in tiny.target.devices() and row["est_time_s"] > 0


def test_dtype_ir_counts_the_captured_f32(tiny_file):
    f32 = analyze(parse_file(tiny_file), "duplex", batch=4, context=64, dtype="ir")
    row = next(r for r in f32.rows if r["loc"] == "model.layers.0.mlp.gate_proj")
    assert row["dtype"] == "f32" and row["bytes"] == 4 * (4 * 64 + 128 * 64 + 4 * 128)


def test_rows_by_type_and_totals_agree(tiny):
    assert all(set(ROW_KEYS) <= set(r) for r in tiny.rows)
    groups = tiny.by_type()
    assert sum(g["count"] for g in groups) == len(tiny.rows)
    assert [g["est_time_s"] for g in groups] == sorted((g["est_time_s"] for g in groups),
                                                       reverse=True)
    totals = tiny.totals()
    assert totals["flops"] == pytest.approx(sum(r["flops"] for r in tiny.rows))
    assert sum(d["est_time_s"] for d in totals["devices"].values()) == \
        pytest.approx(totals["est_time_s"])
    assert totals["tokens"] == 4
    assert totals["tokens_per_s"] == pytest.approx(4 / totals["est_time_s"])
    assert all(r["est_time_s"] >= r["transfer_s"] >= 0 for r in tiny.rows)
    assert {r["device"] for r in tiny.rows} <= set(tiny.target.devices())


def test_markdown_has_the_tables_and_the_time(tiny):
    text = tiny.to_markdown()
    assert "| op | shape | count |" in text and "| device | ops |" in text
    assert "decode step" in text and "tokens/s" in text
    assert text.count("\n| llm.") == len(tiny.by_type())
    assert tiny.to_markdown(per_op=True).count("\n| llm.") == len(tiny.rows)


def test_prefill_binds_the_prompt_length(tiny_file):
    report = analyze(parse_file(tiny_file), "neupims", batch=2, context=16, phase="prefill")
    row = next(r for r in report.rows if r["loc"] == "model.layers.0.mlp.gate_proj")
    assert row["shape"] == "2x16x128" and row["flops"] == 2 * 2 * 16 * 128 * 64
    assert report.totals()["tokens"] == 2 * 16


def test_policy_neupims_puts_attention_on_pim(tiny_file):
    report = analyze(parse_file(tiny_file), "neupims", batch=64, context=512, policy="neupims")
    devices = {r["op"]: r["device"] for r in report.rows if r["op"] != "llm.attention"}
    assert set(devices.values()) == {"npu"}
    assert {r["device"] for r in report.rows if r["op"] == "llm.attention"} == {"pim"}


def test_program_report_keeps_a_placement_in_the_ir(tiny_file):
    from pimc.api import Program
    from pimc.passes import PassManager, parse_pipeline
    module = parse_file(tiny_file)
    prog = Program(module, WeightsStore())
    with pytest.raises(PimcError, match="needs a hardware target"):
        report_for_program(prog)
    PassManager(parse_pipeline("canonicalize,raise-llm-ops,analyze-intensity{dtype=f16},"
                               "place-devices{target=neupims,policy=neupims}")).run(module)
    report = report_for_program(prog, batch=64, context=512)  # target: the IR's pimc.target
    assert report.target.name == "neupims"
    assert {r["device"] for r in report.rows if r["op"] == "llm.attention"} == {"pim"}
    assert {r["device"] for r in report.rows if r["op"] == "llm.linear"} == {"npu"}
    elsewhere = report_for_program(prog, "duplex", batch=64, context=512)  # placed afresh
    assert {r["device"] for r in elsewhere.rows} <= {"xpu", "pim", "logic_pim"}
    kept = {op.attributes["device"].device for op in module.walk() if "device" in op.attributes}
    assert kept == {"npu", "pim"}  # the IR keeps its own placement


# ---- the command ----------------------------------------------------------------------------------

@pytest.mark.parametrize("per_op", [False, True])
def test_json_is_the_only_stdout(capsys, tiny_file, per_op):
    code, out, err = run(capsys, "analyze", str(tiny_file), "-t", "duplex", "--batch", "4",
                         "--context", "64", "--format", "json", *(["--per-op"] if per_op else []))
    assert code == 0 and "error" not in err
    rows = json.loads(out)
    assert isinstance(rows, list) and rows and all(REQUIRED <= set(r) for r in rows)
    assert ("loc" in rows[0]) == per_op and ("count" in rows[0]) != per_op
    linear = next(r for r in rows if r["op"] == "llm.linear" and r["shape"] == "4x1x128")
    assert linear["flops"] == 2 * 4 * 128 * 64 * (1 if per_op else linear.get("count", 1))


def test_table_and_plot(capsys, tmp_path):
    plot = tmp_path / "r.png"
    code, out, err = run(capsys, "analyze", "llama-tiny", "-t", "neupims", "--batch", "8",
                         "--plot", str(plot))
    assert code == 0 and "llm.attention" in out and "per device" in out
    assert "decode step" in out and f"wrote {plot}" in err
    data = plot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["r.png"]  # no temporary file left behind


@pytest.mark.parametrize("argv, fragments", [
    (["-t", "no-such-target"], ["unknown target 'no-such-target'", "duplex", "neupims"]),
    (["-t", "duplex", "--phase", "verify"], ["unknown phase 'verify'", "decode, prefill"]),
    (["-t", "duplex", "--batch", "0"], ["batch must be an integer >= 1, got 0"]),
    (["-t", "duplex", "--context", "-5"], ["context must be an integer >= 1"]),
    (["-t", "duplex", "--format", "yaml"], ["--format", "table, json"]),
    (["-t", "duplex", "--dtype", "f8"], ["unknown dtype 'f8'"]),
    (["-t", "duplex", "--policy", "fastest"], ["unknown policy 'fastest'", "pick-min"]),
    (["-t", "neupims", "--pin", "attention:logic_pim"], ["no logic_pim device", "npu, pim"]),
    (["-t", "duplex", "--moe-skew", "lots"], ["moe-skew", "'lots'"]),
    (["-t", "duplex", "--set", "xpu.peak_flops=fast"], ["xpu.peak_flops"]),
    (["-t", "duplex", "--batch", "two"], ["--batch", "valid integer"]),
    (["-t", "duplex", "--cost-model", "cycle-sim"], ["unknown cost model 'cycle-sim'",
                                                     "valid: roofline, sim"]),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, fragments):
    plot = tmp_path / "r.png"
    code, out, err = run(capsys, "analyze", "llama-tiny", *argv, "--plot", str(plot))
    assert_one_error_line(code, out, err, fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, fragments", [
    ("missing/r.png", ["no such directory"]),
    (".", ["is a directory"]),
    ("r.svg", ["only .png"]),
])
def test_bad_plot_path(capsys, tmp_path, name, fragments):
    code, out, err = run(capsys, "analyze", "llama-tiny", "-t", "duplex",
                         "--plot", str(tmp_path / name))
    assert_one_error_line(code, out, err, fragments)
    assert list(tmp_path.iterdir()) == []


# ---- --cost-model sim ----------------------------------------------------------------------------

from test_sim_cost_model import MHA  # noqa: E402  the same small decode module


@pytest.fixture
def sim_env(tmp_path, monkeypatch):
    """An MHA decode attention and a linear as a .mlir file, and an empty simulation cache."""
    from pimc.runtime.pimsim.sim_cost import clear_memory_cache
    monkeypatch.setenv("PIMC_CACHE_DIR", str(tmp_path / "cache"))
    clear_memory_cache()
    path = tmp_path / "mha.mlir"
    path.write_text(MHA)
    yield path, tmp_path / "cache" / "sim-costs"
    clear_memory_cache()


def test_cost_model_sim_times_pim_attention_and_caches_it(capsys, sim_env):
    import math
    from pimc.runtime.pimsim.attacc import run_attention
    from pimc.runtime.pimsim.sim_cost import clear_memory_cache
    path, cache = sim_env
    argv = ["analyze", str(path), "-t", "attacc-bank", "-B", "4", "-S", "128", "--cost-model",
            "sim", "--format", "json", "--per-op", "--pin", "linear:xpu"]
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""  # no progress text off a terminal
    rows = {r["op"]: r for r in json.loads(out)}
    attention, linear = rows["llm.attention"], rows["llm.linear"]
    assert (attention["device"], attention["time_source"]) == ("pim", "sim")
    # attacc-bank.toml: 5 stacks share 4 x 8 (sequence, head) pairs; k holds S = 128 keys
    by_sim = run_attention(L=128, nhead=math.ceil(4 * 8 / 5), dhead=64, dbyte=2,
                           placement="BA", power_constraint=True).time_s
    assert attention["est_time_s"] - attention["transfer_s"] == pytest.approx(by_sim, rel=1e-12)
    assert (linear["device"], linear["time_source"]) == ("xpu", "roofline")  # pinned off PIM
    (file,) = cache.iterdir()
    written = file.stat().st_mtime_ns
    clear_memory_cache()  # a second process: the file answers, nothing is simulated or written
    assert run(capsys, *argv)[1] == out and file.stat().st_mtime_ns == written
    code, out, _ = run(capsys, *argv, "--set", "pim.power_constraint=false")
    assert code == 0 and len(list(cache.iterdir())) == 2  # another target, another file
    assert json.loads(out)[0]["est_time_s"] < attention["est_time_s"]


def test_cost_model_sim_table_says_where_times_come_from(capsys, sim_env):
    path, _ = sim_env
    for target in ("attacc-bank", "neupims", "hbm-pim"):
        code, out, _ = run(capsys, "analyze", str(path), "-t", target, "-B", "2", "-S", "128",
                           "--cost-model", "sim", "--pin", "attention:pim")
        assert code == 0 and "time from" in out and "sim costs" in out
        attention = next(line for line in out.splitlines() if "llm.attention" in line)
        assert "│ sim " in attention, (target, attention)
    code, out, _ = run(capsys, "analyze", str(path), "-t", "attacc-bank", "-B", "2", "-S", "128")
    assert code == 0 and "time from" not in out  # the roofline model: every row is roofline


def test_unknown_model_lists_the_zoo(capsys):
    code, out, err = run(capsys, "analyze", "llama-huge", "-t", "duplex")
    assert_one_error_line(code, out, err, ["unknown model 'llama-huge'", "llama2-70b"])


def assert_one_error_line(code, out, err, fragments):
    assert code == 2 and out == ""
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("pimc: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.slow
def test_llama2_70b_on_duplex_in_under_20_s(tmp_path):
    """The issue's acceptance command, as a user runs it: a fresh process, imports included."""
    plot = tmp_path / "r.png"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pimc.cli", "analyze", "llama2-70b", "-t",
                           "duplex", "--batch", "64", "--context", "2048", "--plot", str(plot)],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert "logic_pim" in done.stdout and plot.read_bytes().startswith(PNG_SIGNATURE)
