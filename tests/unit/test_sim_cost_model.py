"""The `sim` cost model (issue 7, item 6): PIM decode attention and GEMV timed by pimsim, memoised
in memory and on disk per target, the roofline for everything else.

Expected times come from calling the simulators directly with shapes worked out here (heads per
stack = ceil(batch x heads / 5 stacks) on attacc-bank), and from the roofline formula by hand."""
from __future__ import annotations

import json
import math

import pytest

from pimc.ir import parse
from pimc.passes import PassManager, parse_pipeline
from pimc.passes.analyze_intensity import Cost, evaluate, op_cost
from pimc.passes.cost_model import COST_MODELS, Roofline, get_cost_model
from pimc.runtime.pimsim import sim_cost
from pimc.runtime.pimsim.attacc import run_attention
from pimc.runtime.pimsim.hbmpim import run_kernel
from pimc.runtime.pimsim.sim_cost import SimCostModel, clear_memory_cache, kernel_of
from pimc.targets import get_target, override

MHA = """
func.func @decode(%q: tensor<Bx8x1x64xf16>, %k: tensor<Bx8xSx64xf16>, %v: tensor<Bx8xSx64xf16>, %x: tensor<Bx1x512xf16>) -> (tensor<Bx8x1x64xf16>, tensor<Bx1x1024xf16>) {
  %o = "llm.attention"(%q, %k, %v) : (tensor<Bx8x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx8x1x64xf16>
  %w = "llm.weight"() {handle = #pimc.weight<"up">} : () -> tensor<1024x512xf16>
  %h = "llm.linear"(%x, %w) : (tensor<Bx1x512xf16>, tensor<1024x512xf16>) -> tensor<Bx1x1024xf16>
  func.return %o, %h : tensor<Bx8x1x64xf16>, tensor<Bx1x1024xf16>
}"""

GQA = """
func.func @decode(%q: tensor<Bx16x1x64xf16>, %k: tensor<Bx8xSx64xf16>, %v: tensor<Bx8xSx64xf16>) -> tensor<Bx16x1x64xf16> {
  %o = "llm.attention"(%q, %k, %v) : (tensor<Bx16x1x64xf16>, tensor<Bx8xSx64xf16>, tensor<Bx8xSx64xf16>) -> tensor<Bx16x1x64xf16>
  func.return %o : tensor<Bx16x1x64xf16>
}"""


def op_named(module, name):
    return next(op for op in module.func("decode").walk() if op.name == name)


@pytest.fixture
def module():
    return PassManager(parse_pipeline("analyze-intensity")).run(parse(MHA))


@pytest.fixture
def cache(tmp_path):
    """A fresh disk cache and an empty in-process memo, so each test sees its own simulations."""
    clear_memory_cache()
    yield tmp_path
    clear_memory_cache()


def timed(model, module, name, device, dims):
    op = op_named(module, name)
    cost = evaluate(op_cost(op), dims)
    return model.op_time(cost, model.target.devices()[device], op, dims), cost, op


def test_registry_has_sim_and_loads_it_lazily():
    assert list(COST_MODELS) == ["roofline", "sim"]
    assert isinstance(get_cost_model("sim", get_target("attacc-bank")), SimCostModel)


@pytest.mark.parametrize("target, placement", [
    ("attacc-bank", "BA"), ("attacc-bg", "BG"), ("attacc-buffer", "BUFFER")])
def test_attention_time_is_attaccs_simulated_time(module, cache, target, placement):
    target = get_target(target)
    model = SimCostModel(target, cache)
    dims = {"B": 4, "S": 256, "T": 1}
    seconds, _, op = timed(model, module, "llm.attention", "pim", dims)
    assert kernel_of(op, dims) == ("attention", {"batch": 4, "heads": 8, "head_dim": 64,
                                                 "context": 256})
    # attacc-*.toml: 5 stacks, fp16 (2 bytes), AttAcc's power constraint on (nCCDAB 6)
    expected = run_attention(L=256, nhead=math.ceil(4 * 8 / 5), dhead=64, dbyte=2,
                             placement=placement, power_constraint=True)
    assert seconds == expected.time_s  # the presets' PIM overhead_s is 0
    assert model.op_source(target.devices()["pim"], op, dims) == "sim"
    assert model.stats == {"simulated": 1, "memory": 1}  # op_source asked the memo


def test_second_lookup_does_not_simulate_again(module, cache):
    model = SimCostModel(get_target("attacc-bank"), cache)
    dims = {"B": 2, "S": 128, "T": 1}
    first = timed(model, module, "llm.attention", "pim", dims)[0]
    again = timed(model, module, "llm.attention", "pim", dims)[0]
    assert first == again and model.stats == {"simulated": 1, "memory": 1}
    timed(model, module, "llm.attention", "pim", {"B": 2, "S": 129, "T": 1})  # a new shape
    assert model.stats["simulated"] == 2


def test_disk_cache_is_reused_and_keyed_by_the_target(module, cache):
    target = get_target("attacc-bank")
    dims = {"B": 2, "S": 128, "T": 1}
    first = SimCostModel(target, cache)
    t1 = timed(first, module, "llm.attention", "pim", dims)[0]
    (path,) = cache.iterdir()
    entries = json.loads(path.read_text())["kernels"]
    assert entries == {"attention batch=2,context=128,head_dim=64,heads=8":
                       {"time_s": t1, "cycles": entries[next(iter(entries))]["cycles"]}}
    clear_memory_cache()  # a new process: only the file remains
    second = SimCostModel(get_target("attacc-bank"), cache)
    assert timed(second, module, "llm.attention", "pim", dims)[0] == t1
    assert second.stats == {"disk": 1}
    # --set pim.power_constraint=false: another target, another file, a fresh simulation
    edited = SimCostModel(override(target, ["pim.power_constraint=false"]), cache)
    t3 = timed(edited, module, "llm.attention", "pim", dims)[0]
    assert edited.stats == {"simulated": 1} and len(list(cache.iterdir())) == 2
    unconstrained = run_attention(L=128, nhead=math.ceil(2 * 8 / 5), dhead=64, dbyte=2,
                                  placement="BA", power_constraint=False)
    assert t3 == unconstrained.time_s < t1


def test_gemv_on_hbm_pim_is_batch_kernels_of_pimsimulator(module, cache):
    target = get_target("hbm-pim")
    model = SimCostModel(target, cache)
    dims = {"B": 3, "S": 128, "T": 1}
    seconds, _, op = timed(model, module, "llm.linear", "pim", dims)
    assert kernel_of(op, dims) == ("gemv", {"batch": 3, "rows": 1024, "cols": 512})
    # hbm-pim.toml: 4 stacks x 8 channels x 2 pseudo-channels = 64 PIM channels; tCK 1 ns
    one = run_kernel("gemv", rows=1024, cols=512, channels=64)
    assert seconds == pytest.approx(3 * one.cycles * target.memory.timing.tCK_ns * 1e-9,
                                    rel=1e-12)
    assert model.op_source(target.devices()["pim"], op, dims) == "sim"


@pytest.mark.parametrize("target, name, device, dims", [
    ("attacc-bank", "llm.attention", "xpu", {"B": 4, "S": 256, "T": 1}),  # off PIM
    ("attacc-bank", "llm.linear", "xpu", {"B": 4, "S": 256, "T": 1}),
    ("neupims", "llm.linear", "npu", {"B": 64, "S": 256, "T": 1}),
    ("duplex", "llm.attention", "logic_pim", {"B": 4, "S": 256, "T": 1}),  # no Logic-PIM kernel
    ("hbm-pim", "llm.linear", "pim", {"B": 4, "S": 256, "T": 256}),  # prefill: not a GEMV
])
def test_everything_else_takes_exactly_the_roofline(module, cache, target, name, device, dims):
    spec = get_target(target)
    model = SimCostModel(spec, cache)
    seconds, cost, op = timed(model, module, name, device, dims)
    dev = spec.devices()[device]
    by_hand = max(cost.flops / dev.peak_flops, cost.bytes / dev.bandwidth_bytes_s) + dev.overhead_s
    assert seconds == pytest.approx(by_hand, rel=1e-15)
    assert seconds == Roofline(spec).op_time(cost, dev, op, dims)
    assert model.op_source(dev, op, dims) == "roofline"
    assert model.stats["simulated"] == 0 and model.op_time(Cost(0, 0, 0), dev, op, dims) == 0


@pytest.mark.parametrize("target", ["neupims", "hbm-pim", "attacc-bank"])
def test_every_pim_target_simulates_both_kernels(module, cache, target):
    model = SimCostModel(get_target(target), cache)
    pim = model.target.devices()["pim"]
    dims = {"B": 2, "S": 128, "T": 1}
    for name in ("llm.attention", "llm.linear"):
        assert timed(model, module, name, "pim", dims)[0] > 0
        assert model.op_source(pim, op_named(module, name), dims) == "sim"
    assert model.stats["simulated"] == 2


def test_gqa_attention_is_not_simulated(cache):
    module = PassManager(parse_pipeline("analyze-intensity")).run(parse(GQA))
    op = op_named(module, "llm.attention")
    assert kernel_of(op, {"B": 2, "S": 128, "T": 1}) is None  # 16 query heads over 8 KV heads


def test_a_kivi_quantised_cache_is_not_simulated(cache):
    """No kernel dequantises KIVI codes: such an attention takes the roofline, said so."""
    text = MHA.replace('"llm.attention"(%q, %k, %v) :',
                       '"llm.attention"(%q, %k, %v) {kv = {bits = 4, group = 32, residual = 32}} :')
    module = PassManager(parse_pipeline("analyze-intensity")).run(parse(text))
    op = op_named(module, "llm.attention")
    assert kernel_of(op, {"B": 2, "S": 128, "T": 1}) is None
    model = SimCostModel(get_target("neupims"), cache)
    assert model.op_source(model.target.devices()["pim"], op, {"B": 2, "S": 128, "T": 1}) == \
        "roofline"


def test_a_shape_the_simulator_rejects_falls_back_and_says_why(cache):
    model = SimCostModel(get_target("attacc-bank"), cache)
    seconds, why = model.kernel_time("attention", {"batch": 1, "heads": 8, "head_dim": 64,
                                                   "context": 8192})
    assert seconds is None and "context" in why and model.stats["simulated"] == 0
    assert list(cache.iterdir()) == []  # nothing written for a kernel that did not run


def test_place_devices_accepts_sim_and_progress_names_the_kernel(cache, monkeypatch):
    monkeypatch.setenv("PIMC_CACHE_DIR", str(cache))
    module = PassManager(parse_pipeline(
        "place-devices{target=attacc-bank,batch=4,context=128,cost-model=sim}")).run(parse(MHA))
    assert op_named(module, "llm.attention").attributes["device"].device == "pim"
    assert [p.name for p in (cache / "sim-costs").iterdir()][0].startswith("attacc-bank-")
    seen = []
    model = SimCostModel(get_target("attacc-bank"), cache)
    model.progress = seen.append
    model.kernel_time("attention", {"batch": 1, "heads": 8, "head_dim": 64, "context": 160})
    assert seen == ["simulating attention batch=1,context=160,head_dim=64,heads=8 on "
                    "attacc-bank (0 simulated so far)"]
    assert sim_cost.cache_dir() == cache / "sim-costs"


def test_lowered_pim_ops_get_the_same_simulated_times(module, cache):
    """After lower-to-pim, pim.attention and pim.gemv are the same kernels as the llm ops."""
    dims = {"B": 4, "S": 128, "T": 1}
    for target, name in (("attacc-bank", "attention"), ("hbm-pim", "linear")):
        model = SimCostModel(get_target(target), cache)
        lowered = PassManager(parse_pipeline(
            f"place-devices{{target={target},batch=4,context=128,pin=\"{name}:pim\"}},"
            "lower-to-pim,analyze-intensity")).run(parse(MHA))
        pim_name = "pim.attention" if name == "attention" else "pim.gemv"
        assert timed(model, lowered, pim_name, "pim", dims)[0] == \
            timed(model, module, f"llm.{name}", "pim", dims)[0]
        assert model.stats["simulated"] == 1  # one kernel, whichever op asked
