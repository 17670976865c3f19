"""One Target object per run: `--set` reaches placement, reports and the simulator exactly as a
TOML file with the same change does, on every command that takes -t, and in pimc.compile.

The reference is a TOML file written from the neupims preset's own text with one value edited,
so the comparison is `--set` against the file route the targets documentation describes."""
import json
from collections import Counter
from pathlib import Path

import pytest

import pimc
from pimc.cli import main
from pimc.ir import parse, print_module
from pimc.targets import get_target, override
from pimc.targets.load import PRESETS

# (the --set assignment, the preset line it edits, that line edited). pim.row_buffers is the
# issue's example; a slow NPU clock moves ops off the NPU, so it shows the override is used.
EDITS = {
    "pim.row_buffers=1": ("row_buffers = 2 ", "row_buffers = 1 "),
    "xpu.clock_hz=1e6": ("clock_hz = 1e9 ", "clock_hz = 1e6 "),
}


def _edited_toml(tmp_path: Path, assignment: str) -> Path:
    text = (PRESETS / "neupims.toml").read_text()
    old, new = EDITS[assignment]
    assert text.count(old) == 1
    path = tmp_path / "edited.toml"
    path.write_text(text.replace(old, new).replace('name = "neupims"', 'name = "edited"'))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """llama-tiny captured once, unplaced, as IR text (each command below then only parses)."""
    path = tmp_path_factory.mktemp("ir") / "llama-tiny.mlir"
    path.write_text(print_module(pimc.compile("llama-tiny", target=None, backend="null").ir))
    return str(path)


def _cli(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _devices(ir_text: str) -> list[tuple[str, str]]:
    module = parse(ir_text)
    return [(op.name, str(op.attributes["device"])) for f in module.funcs for op in f.body.ops
            if "device" in op.attributes]


@pytest.mark.parametrize("assignment", sorted(EDITS))
def test_compile_with_set_places_as_the_edited_toml(assignment, tiny, tmp_path, capsys):
    toml = _edited_toml(tmp_path, assignment)
    common = ("compile", tiny, "--emit", "ir", "--batch", "4")
    by_set = _devices(_cli(capsys, *common, "-t", "neupims", "--set", assignment))
    by_file = _devices(_cli(capsys, *common, "-t", str(toml)))
    plain = _devices(_cli(capsys, *common, "-t", "neupims"))
    assert by_set == by_file
    if assignment.startswith("xpu.clock_hz"):
        assert Counter(d for _, d in by_set) != Counter(d for _, d in plain)


def test_analyze_and_simulate_figures_equal_the_edited_toml(tiny, tmp_path, capsys):
    toml = _edited_toml(tmp_path, "xpu.clock_hz=1e6")
    analyze = ("analyze", tiny, "--batch", "4", "--context", "256", "--format", "json")
    by_set = json.loads(_cli(capsys, *analyze, "-t", "neupims", "--set", "xpu.clock_hz=1e6"))
    by_file = json.loads(_cli(capsys, *analyze, "-t", str(toml)))
    assert by_set == by_file
    simulate = ("simulate", tiny, "--batch", "2", "--prompt-len", "16", "--gen-len", "4",
                "--format", "json")
    by_set = json.loads(_cli(capsys, *simulate, "-t", "neupims", "--set", "xpu.clock_hz=1e6"))
    by_file = json.loads(_cli(capsys, *simulate, "-t", str(toml)))
    for report in (by_set, by_file):  # the target's name, which differs by construction
        report.pop("model_target")
    assert by_set == by_file


def test_opt_takes_the_target_and_its_overrides(tiny, tmp_path, capsys):
    pipeline = ("opt", tiny, "-p", "analyze-intensity,place-devices{batch=4}")
    by_set = _cli(capsys, *pipeline, "-t", "neupims", "--set", "xpu.clock_hz=1e6")
    by_file = _cli(capsys, *pipeline, "-t", str(_edited_toml(tmp_path, "xpu.clock_hz=1e6")))
    assert _devices(by_set) == _devices(by_file)
    assert 'pimc.target = "neupims{xpu.clock_hz=1e6}"' in by_set


def test_an_overridden_target_prints_as_a_name_that_reads_back():
    spec = override(get_target("neupims"), ["xpu.clock_hz=1e6", 'description="a, b"'])
    assert spec.name == 'neupims{xpu.clock_hz=1e6, description="a, b"}'
    assert get_target(spec.name) == spec
    assert override(spec, ["xpu.count=2"]).name == \
        'neupims{xpu.clock_hz=1e6, description="a, b", xpu.count=2}'


def test_the_program_keeps_its_target_object(tiny, tmp_path):
    prog = pimc.compile(tiny, target="neupims", backend="null",
                        overrides=["xpu.clock_hz=1e6"], place_devices={"batch": 4})
    assert prog.target == override(get_target("neupims"), ["xpu.clock_hz=1e6"])
    toml = _edited_toml(tmp_path, "xpu.clock_hz=1e6")
    ours = prog.simulate(batch=2, prompt_len=16, gen_len=4)
    theirs = prog.simulate(str(toml), batch=2, prompt_len=16, gen_len=4)
    ours.pop("model_target"), theirs.pop("model_target")
    assert ours == theirs


def test_set_without_a_target_is_one_line(tiny, capsys):
    assert main(["compile", tiny, "-t", "none", "--set", "xpu.count=2"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == \
        ["pimc: error: --set needs a target (-t)"]
    with pytest.raises(pimc.PimcError, match="overrides= need a target"):
        pimc.compile(tiny, target=None, overrides=["xpu.count=2"])
