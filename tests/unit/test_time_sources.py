"""The simulate report says, per device, which model each share of its time came from, so a
run labelled `sim` whose PIM kernels fell back to the roofline shows it."""
import json

import pytest

from pimc.cli import main


def _simulate(capsys, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["simulate", "llama-tiny", "-t", "neupims", "--batch", "2", "--prompt-len", "16",
                 "--gen-len", "4", "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _by_device(sources: dict[str, float]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for key, share in sources.items():
        device, _, model = key.partition(".")
        out.setdefault(device, {})[model] = share
    return out


@pytest.mark.parametrize("extra, pim_model", [
    ((), "roofline"),
    (("--pim-timing", "neupims-mha"), "neupims-mha"),
])
def test_each_device_reports_the_models_behind_its_time(capsys, extra, pim_model):
    out = _simulate(capsys, *extra)
    sources = _by_device(out["time_sources"])
    assert set(sources) == {"npu", "pim"}
    for shares in sources.values():
        assert sum(shares.values()) == pytest.approx(1.0)
    assert set(sources["npu"]) <= {"npusim", "roofline"} and sources["npu"]["npusim"] > 0.5
    assert pim_model in sources["pim"]


def test_the_text_report_prints_the_sources(capsys):
    capsys.readouterr()
    assert main(["simulate", "llama-tiny", "-t", "neupims", "--batch", "2", "--prompt-len", "16",
                 "--gen-len", "4"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("times from"))
    assert "npu: " in line and "% npusim" in line and "pim: " in line
