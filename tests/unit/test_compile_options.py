"""pimc.compile(): target placement, per-pass options, and their errors."""
import pytest

import pimc
from pimc.errors import OptionError, UnknownNameError


def _devices(prog, func="decode"):
    return {op.name: op.attributes["device"].device for op in prog.ir.func(func).body.ops
            if "device" in op.attributes}


def test_default_target_places_every_op_and_the_program_still_runs():
    prog = pimc.compile("llama-tiny")  # architecture.md §9 defaults: target neupims, backend numba-cpu
    ops = [op for op in prog.ir.func("decode").body.ops if op.name != "func.return"]
    assert all("device" in op.attributes for op in ops)
    assert prog.ir.attributes["pimc.target"].value == "neupims"
    assert prog.generate([[1, 2, 3]], 3).shape == (1, 6)


def test_pass_options_reach_place_devices():
    prog = pimc.compile("llama-tiny", target="duplex", backend="null",
                        place_devices={"policy": "duplex", "pin": "linear:xpu", "batch": 2})
    devices = _devices(prog)
    assert devices["llm.linear"] == "xpu" and devices["llm.attention"] == "logic_pim"


def test_no_target_means_no_placement():
    prog = pimc.compile("llama-tiny", target=None, backend="null")
    assert not _devices(prog)


def test_unknown_target_lists_presets_before_capturing():
    with pytest.raises(UnknownNameError, match=r"unknown target 'neupim'.*did you mean 'neupims'"):
        pimc.compile("llama-tiny", target="neupim")


@pytest.mark.parametrize("kwargs, message", [
    ({"place_device": {"batch": 2}}, r"'place_device' names no pass of the pipeline; its passes: "
                                     r"canonicalize, raise-llm-ops, cse, dce, analyze-intensity, "
                                     r"place-devices"),
    ({"place_devices": 3}, r"place_devices= takes a dict of pass options, got int"),
    ({"place_devices": {"batchh": 2}}, r"unknown option 'batchh'.*did you mean 'batch'"),
    ({"place_devices": {"batch": 0}}, r"option 'batch' of pass 'place-devices' must be >= 1"),
])
def test_bad_pass_options(kwargs, message):
    with pytest.raises((OptionError, UnknownNameError), match=message):
        pimc.compile("llama-tiny", backend="null", **kwargs)


def test_program_report_has_the_documented_columns():
    prog = pimc.compile("llama-tiny", target="duplex", backend="null")
    report = prog.report(batch=4)
    assert {"op", "flops", "bytes", "op_b", "device", "est_time_s"} <= set(report.rows[0])
    linear = next(r for r in report.rows if r["op"] == "llm.linear")
    assert linear["op_b"] == pytest.approx(linear["flops"] / linear["bytes"])
    assert "| op" in report.to_markdown()
