"""The plug-in contract (docs/backends.md): an out-of-tree backend, pip-installed, is found through
the `pimc.backends` entry point and compiles a zoo model; two installed backends with one name
are refused, naming both distributions."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pimc.backends import registry
from pimc.cli import main
from pimc.errors import PimcError
from pimc.ir import parse

PLUGIN = Path(__file__).resolve().parents[1] / "plugin_example"
TARGET = PLUGIN / "example-npu.toml"


def _plugin_env(tmp_path_factory) -> dict[str, str]:
    """The environment in which `pimc` sees example-npu: as it is when CI has pip-installed the
    plugin, else with the plugin pip-installed (offline, from source) into a temporary folder
    put on PYTHONPATH."""
    env = dict(os.environ)
    if any(ep.name == "example-npu" for ep in entry_points(group=registry.GROUP)):
        return env
    target, source = tmp_path_factory.mktemp("plugin_site"), tmp_path_factory.mktemp("src")
    # pip builds in the source folder; a copy keeps parallel workers out of each other's way
    shutil.copytree(PLUGIN, source / "plugin", ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source / "plugin")],
        capture_output=True, text=True, timeout=300)
    if install.returncode != 0:
        pytest.skip("cannot pip-install tests/plugin_example here (it needs setuptools "
                    f"installed for --no-build-isolation): {install.stderr.strip()[-300:]}")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    return _plugin_env(tmp_path_factory)


def _pimc(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pimc.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_installed_plugin_is_listed_with_its_distribution(plugin_env):
    run = _pimc(["backends", "--format", "json"], plugin_env, PLUGIN)
    assert run.returncode == 0, run.stderr
    rows = {r["name"]: r for r in json.loads(run.stdout)}
    assert rows["example-npu"]["distribution"] == "pimc-example-npu"
    assert rows["example-npu"]["executes"] is False and rows["null"]["distribution"] == "pimc"


def test_installed_plugin_compiles_llama_tiny_to_its_asm(plugin_env):
    """The issue's command, run in the plugin's folder so that `-t example-npu.toml` resolves."""
    run = _pimc(["compile", "llama-tiny", "-t", "example-npu.toml", "--backend", "example-npu",
                 "--emit", "asm", "--context", "64"], plugin_env, PLUGIN)
    assert run.returncode == 0, run.stderr
    asm = run.stdout
    assert ".func @prefill  ; B=1, S=64, T=64" in asm and ".func @decode  ; B=1, S=64, T=1" in asm
    # q_proj of layer 0 in @prefill: [64 x 64] x [64 x 64] on one 32x32 array = 2 N x 2 K
    # tiles, each 2*32 + 32 + M - 2 = 158 cycles at M = 64 (SCALE-Sim's weight-stationary fold).
    # The temporaries' numbers follow the graph's value count (any new input shifts them), so
    # they match any number; the tile, its array and its cycles are what this checks.
    q_proj = [line for line in asm.splitlines() if "self_attn.q_proj.weight^T" in line]
    first = re.fullmatch(r"GEMM a0 t(\d+)\[0:64, 0:32\] <- t(\d+)\[0:64, 0:32\] \* "
                         r"model\.layers\.0\.self_attn\.q_proj\.weight\^T\[0:32, 0:32\] ; 158",
                         " ".join(q_proj[0].split()))
    assert first and first[1] != first[2], q_proj[0]  # written to a new temporary, not its input
    assert sum(1 for line in q_proj[:4] if line.endswith("; 158")) == 4
    # decode: M = 1, so 2*32 + 32 + 1 - 2 = 95 cycles a tile
    assert any(line.endswith("; 95") and "q_proj" in line for line in asm.splitlines())


def _example_npu():
    sys.path.insert(0, str(PLUGIN))
    try:
        from pimc_example_npu import ExampleNpuBackend
    finally:
        sys.path.remove(str(PLUGIN))
    return ExampleNpuBackend()


def test_example_npu_cycles_match_a_hand_count():
    """One linear (M = 2*4 = 8, K = 64, N = 96) and one silu on 2x4x96 elements: 3 N x 2 K
    tiles of 2*32 + 32 + 8 - 2 = 102 cycles, and 768 elements / 32 lanes = 24 cycles."""
    module = parse(f"""builtin.module attributes {{pimc.target = "{TARGET}"}} {{
  func.func @f(%x: tensor<Bx4x64xf32>, %w: tensor<96x64xf32>) -> tensor<Bx4x96xf32> {{
    %y = "llm.linear"(%x, %w) : (tensor<Bx4x64xf32>, tensor<96x64xf32>) -> tensor<Bx4x96xf32>
    %z = "llm.silu"(%y) : (tensor<Bx4x96xf32>) -> tensor<Bx4x96xf32>
    func.return %z : tensor<Bx4x96xf32>
  }}
}}""")
    backend, dumped = _example_npu(), {}
    asm = backend.compile(module, {"batch": 2}, dump=dumped.__setitem__)
    assert dumped["tile"].cycles("f") == 6 * 102 + 24
    gemms = [line for line in asm.splitlines() if line.lstrip().startswith("GEMM")]
    assert len(gemms) == 6 and all(line.endswith("; 102") for line in gemms)
    assert "GEMM.ACC a0 y[0:8, 64:96] <- x[0:8, 32:64] * w^T[32:64, 64:96]" in asm
    assert asm.rstrip().endswith(f"total @f: {6 * 102 + 24} cycles = 0.636 us")


def test_example_npu_refuses_an_op_outside_its_rule_table():
    module = parse(f"""builtin.module attributes {{pimc.target = "{TARGET}"}} {{
  func.func @f(%x: tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi64>) {{
    %v, %i = "llm.topk"(%x) {{k = 2}} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
    func.return %v, %i : tensor<4x2xf32>, tensor<4x2xi64>
  }}
}}""")
    with pytest.raises(PimcError, match="backend 'example-npu' has no rule for 'llm.topk'"):
        _example_npu().compile(module)


def test_tutorial_quotes_the_example_package_verbatim():
    """docs/backends.md shows code from tests/plugin_example; each quoted block must still be
    in the file it names, so the tutorial cannot drift from the package CI installs."""
    docs = (PLUGIN.parents[1] / "docs" / "backends.md").read_text()
    quotes = re.findall(r"<!-- from (\S+) -->\n```\w*\n(.*?)```", docs, re.S)
    assert len(quotes) >= 5
    for path, block in quotes:
        assert block in (PLUGIN.parents[1] / path).read_text(), f"docs/backends.md quotes {path}"


# ---- two distributions, one backend name -------------------------------------------------------

def _fake_distribution(site: Path, dist: str, entry_point: str) -> None:
    """A real (if minimal) installed distribution: a dist-info folder importlib.metadata reads."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[pimc.backends]\n{entry_point}\n")


@pytest.fixture
def fresh_registry():
    registry._entry_points.cache_clear()
    yield
    registry._entry_points.cache_clear()


def test_two_distributions_with_one_backend_name_are_both_named(tmp_path, monkeypatch,
                                                               fresh_registry, capsys):
    _fake_distribution(tmp_path, "acme-npu", "twin = acme_npu:Backend")
    _fake_distribution(tmp_path, "other-npu", "twin = other_npu:Backend")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PimcError, match=r"two installed packages register backend 'twin': "
                       r"(acme-npu \(acme_npu:Backend\) and other-npu \(other_npu:Backend\)|"
                       r"other-npu \(other_npu:Backend\) and acme-npu \(acme_npu:Backend\))"):
        registry.names()
    assert main(["backends"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pimc: error: two installed packages register backend 'twin'")
    assert "acme-npu" in err and "other-npu" in err


def test_a_plugin_reusing_a_builtin_name_is_refused(tmp_path, monkeypatch, fresh_registry):
    """Even pointing at the very object pimc registers, another distribution may not take
    a name pimc already has."""
    _fake_distribution(tmp_path, "shadow-null", "null = pimc.backends.null:NullBackend")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PimcError, match=r"register backend 'null': .*(pimc|shadow-null) .*"
                                        r"and (shadow-null|pimc) "):
        registry.get("null")


def test_registry_is_whole_again_without_the_fakes(fresh_registry):
    assert {"null", "numba-cpu"} <= set(registry.names())
