"""Hardware targets: every preset loads, its derived figures match hand computations from public
figures and the reference simulators' configs, user TOML files work wherever a preset name does,
and each kind of bad input is one line naming the file, the key path and what is allowed."""
from __future__ import annotations

import json
import re

import pytest

from pimc.cli import main
from pimc.errors import PimcError, TargetError, UnknownNameError
from pimc.ir.attrs import DEVICES
from pimc.targets import Target, get_target, load_target, override, preset_names
from pimc.targets.load import PRESETS
from pimc.targets.spec import Timing

PRESET_NAMES = ["attacc-bank", "attacc-bg", "attacc-buffer", "duplex", "gpu-a100", "gpu-h100",
                "hbm-pim", "neupims", "npu-only", "npu-pim-naive"]

# A roofline-only system: one HBM2 stack laid out as DRAMsim3's HBM2_8Gb_x128 (8 x 128-bit
# channels at 2 Gb/s = 256 GB/s, tests/fixtures/reference/dramsim3/hbm2_8gb_x128.md).
MINIMAL = """\
name = "mine"
description = "a test system"

[xpu]
kind = "npu"
dtype = "fp16"
peak_flops = 1e14

[memory]
standard = "HBM2"
stacks = 1
channels = 8
pseudo_channels = 1
device_width_bits = 128
data_rate_gbps = 2.0
"""


def write(tmp_path, text, name="mine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path, text) -> tuple[str, TargetError]:
    path = write(tmp_path, text)
    with pytest.raises(TargetError) as info:
        load_target(path)
    assert "\n" not in info.value.message
    return str(path), info.value


# ---- presets ------------------------------------------------------------------------------------

def test_every_preset_is_listed():
    assert preset_names() == PRESET_NAMES


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_loads_with_sane_devices(name):
    target = get_target(name)
    assert target.name == name and target.description
    devices = target.devices()
    assert devices and set(devices) <= set(DEVICES)
    for key, device in devices.items():
        assert device.name == key
        assert device.peak_flops > 0 and device.bandwidth_bytes_s > 0 and device.overhead_s >= 0
    assert get_target(name) is target  # presets are parsed once


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_number_in_a_preset_cites_its_source(name):
    """architecture.md §6: a number without a `# source:` comment is a number nobody can check."""
    text = (PRESETS / f"{name}.toml").read_text()
    numbers = [line for line in text.splitlines()
               if re.match(r"^\s*\w+\s*=\s*[-+]?\d", line)]
    assert numbers
    missing = [line for line in numbers if "# source:" not in line]
    assert not missing, f"{name}.toml: numbers without a source: {missing}"


def test_neupims_matches_hand_computation():
    t = get_target("neupims")
    # 32 channels x 128 bits x 2 Gb/s / 8 = 1024 GB/s: 32 x DRAMsim3's 32 GB/s per HBM2 channel.
    assert t.memory.total_channels == 32
    assert t.memory.peak_bandwidth == 32 * 128 * 2e9 / 8 == 1024e9
    # 8 systolic arrays x 128 x 128 MACs x 2 FLOPs x 1 GHz.
    assert t.devices()["npu"].peak_flops == 8 * 128 * 128 * 2 * 1e9
    # A COMP command every 2 tCK (1 ns) drives 16 banks x 16 multipliers in each of 32 channels.
    pim = t.devices()["pim"]
    assert pim.peak_flops == pytest.approx(32 * 16 * 16 * 2 / 2e-9)  # 8.192 TFLOP/s
    assert pim.bandwidth_bytes_s == pytest.approx(32 * 16 * 16 * 2 / 2e-9)  # fp16 operands
    assert pim.bandwidth_bytes_s == 8 * t.memory.peak_bandwidth
    assert t.pim.row_buffers == 2 and t.pim.op_b == 1.0
    assert t.memory.capacity_bytes == 32 * 2**30  # neupims.json HBM_size 32 (GB)


def test_neupims_timing_is_dramsim3_hbm2():
    """The values of tests/fixtures/reference/dramsim3/hbm2_8gb_x128.md, so that a cycle-level
    simulator fed this target can match DRAMsim3's results."""
    m = get_target("neupims").memory
    expected = dict(tCK_ns=1.0, CL=14, CWL=4, tRCD=14, tRCDWR=14, tRP=14, tRAS=34, tRC=48,
                    tCCD_S=1, tCCD_L=2, tRRD_S=4, tRRD_L=6, tFAW=30, tWR=16, tRTP_S=5, tRTP_L=5,
                    tWTR_S=6, tWTR_L=8, tRFC=260, tREFI=3900, tRTRS=2)
    assert m.timing == Timing(**expected)
    assert (m.access_bytes, m.row_bytes, m.banks_per_channel) == (64, 2048, 16)
    assert m.burst_tck == 2  # BL4 on a DDR bus


def test_naive_and_npu_only_are_neupims_variants():
    neupims, naive, only = (get_target(n) for n in ("neupims", "npu-pim-naive", "npu-only"))
    assert naive.pim.row_buffers == 1
    assert naive.model_copy(update={"name": "neupims", "description": neupims.description,
                                    "pim": neupims.pim}) == neupims
    assert only.pim is None and set(only.devices()) == {"npu"}
    assert (only.xpu, only.memory) == (neupims.xpu, neupims.memory)


@pytest.mark.parametrize("name, bandwidth, flops", [
    ("gpu-a100", 1555e9, 312e12),   # A100 SXM4 40GB datasheet: 1555 GB/s, 312 TFLOPS FP16
    ("gpu-h100", 3.35e12, 989.4e12),  # H100 SXM5 80GB datasheet: 3.35 TB/s, 989.4 TFLOPS FP16
])
def test_gpu_rooflines_match_datasheets(name, bandwidth, flops):
    t = get_target(name)
    assert set(t.devices()) == {"xpu"}
    xpu = t.devices()["xpu"]
    assert xpu.bandwidth_bytes_s == pytest.approx(bandwidth, rel=1e-3)
    assert xpu.peak_flops == flops and xpu.kind == "gpu"


@pytest.mark.parametrize("name, multiple", [("attacc-bank", 16), ("attacc-bg", 4),
                                             ("attacc-buffer", 1)])
def test_attacc_hbm3_pim(name, multiple):
    t = get_target(name)
    # 5 stacks x 16 channels x 2 pseudo-channels x 32 bits x 5.2 Gb/s / 8 = 5 x 665.6 GB/s.
    assert t.memory.peak_bandwidth == pytest.approx(5 * 665.6e9)
    assert t.memory.capacity_bytes == 5 * 16 * 2**30  # MEM_CAPACITY_PER_HBM 16 GiB
    assert t.memory.burst_tck == pytest.approx(2, abs=1e-3)  # nBL 2 (BL8, 4 beats per tCK)
    # Internal bandwidth over external: 64 units x 32 B per nCCDAB 4 tCK against 32 B per tCK of
    # a channel's pins (bank); 16 units per 4 tCK (bank group); 2 units per nBL 2 (buffer).
    # Those are without the power constraint (HBM3_5.2Gbps_NPC); AttAcc's default keeps it, and
    # nCCDAB = nCCDSB = 6 cut the bank and bank-group multiples by 4/6 (ATTACC.md §2).
    unconstrained = override(t, ["pim.power_constraint=false"]) if multiple > 1 else t
    ratio = unconstrained.devices()["pim"].bandwidth_bytes_s / t.memory.peak_bandwidth
    assert ratio == pytest.approx(multiple, rel=1e-3)
    constrained = t.devices()["pim"].bandwidth_bytes_s / t.memory.peak_bandwidth
    assert constrained == pytest.approx(multiple * (4 / 6 if multiple > 1 else 1), rel=1e-3)
    assert t.devices()["xpu"].peak_flops == 312e12


def test_power_constraint_needs_an_unconstrained_interval():
    with pytest.raises(PimcError, match="power_constraint: false needs mac_interval_npc_tck"):
        override(get_target("neupims"), ["pim.power_constraint=false"])


def test_duplex_logic_pim_and_bank_pim_bands():
    t = get_target("duplex")
    devices, external = t.devices(), t.memory.peak_bandwidth
    assert set(devices) == {"xpu", "pim", "logic_pim"}
    assert devices["logic_pim"].bandwidth_bytes_s == 4 * external
    assert devices["logic_pim"].ridge_op_b == 8
    assert devices["pim"].bandwidth_bytes_s == pytest.approx(16 * external, rel=1e-3)
    assert devices["pim"].ridge_op_b == 1
    assert devices["xpu"].peak_flops == 989.4e12


def test_hbm_pim_matches_aquabolt_xl():
    t = get_target("hbm-pim")
    m = t.memory
    assert m.peak_bandwidth / m.stacks == pytest.approx(307.2e9)  # 1024 pins x 2.4 Gb/s per stack
    assert t.pim.clock_hz(m) == pytest.approx(300e6, rel=1e-3)  # 1.2 GHz / tCCD_L 4
    # 128 units per stack (8 per pseudo-channel, one per 2 banks) x 16 lanes x 2 x 300 MHz.
    assert t.pim.peak_flops(m) / m.stacks == pytest.approx(128 * 16 * 2 * 300e6, rel=1e-3)
    assert t.pim.internal_bandwidth(m) / m.peak_bandwidth == pytest.approx(4, rel=1e-3)
    assert m.banks_per_channel // t.pim.units_per_channel == 4  # 2 banks per unit, in 1 of 2 ranks


# ---- user files ---------------------------------------------------------------------------------

def test_user_file_works_where_a_preset_name_does(tmp_path, capsys):
    path = write(tmp_path, MINIMAL)
    target = get_target(str(path))
    assert get_target(path) == target == load_target(path)
    assert target.memory.peak_bandwidth == 256e9 and target.memory.timing is None
    assert set(target.devices()) == {"npu"}
    code = main(["targets", "show", str(path)])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and 'name = "mine"' in out


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_show_output_is_a_target_file(name, tmp_path, capsys):
    assert main(["targets", "show", name]) == 0
    path = write(tmp_path, capsys.readouterr().out)
    assert load_target(path) == get_target(name)


def test_preset_name_wins_over_a_same_named_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MINIMAL, name="neupims")
    write(tmp_path, MINIMAL, name="plain")
    assert get_target("neupims").name == "neupims"
    assert get_target("plain").name == "mine"  # an existing file that is no preset is a path


def test_override_sets_a_key_path(capsys):
    t = override(get_target("neupims"), ["memory.data_rate_gbps=2.4", "pim.mac_interval_tck = 4",
                                          "memory.timing.tCK_ns=0.8333"])
    assert t.memory.peak_bandwidth == pytest.approx(1228.8e9)
    assert t.pim.clock_hz(t.memory) == pytest.approx(300e6, rel=1e-3)
    assert override(t, ["description=plain words"]).description == "plain words"  # bare string
    with pytest.raises(TargetError, match=r"^--set: memory: data_rate_gbps x timing.tCK_ns = 2.4"):
        override(get_target("neupims"), ["memory.data_rate_gbps=2.4"])
    with pytest.raises(TargetError, match=r"^--set: memory\.timing\.tRCDX: unknown key"):
        override(get_target("neupims"), ["memory.timing.tRCDX=3"])
    assert main(["targets", "show", "neupims", "--set", "pim.row_buffers=1"]) == 0
    assert "row_buffers = 1" in capsys.readouterr().out
    with pytest.raises(TargetError, match="expected key.path=value"):
        override(get_target("neupims"), ["memory.stacks"])
    with pytest.raises(TargetError, match="memory.stacks is a value, not a table"):
        override(get_target("neupims"), ["memory.stacks.x=1"])


# ---- bad input ----------------------------------------------------------------------------------

def test_unknown_key_names_file_key_path_and_allowed_keys(tmp_path):
    text = (PRESETS / "neupims.toml").read_text().replace("\ntRCD = 14", "\ntRCDX = 14")
    path, e = error_of(tmp_path, text)
    allowed = ", ".join(Timing.model_fields)
    # The misspelling is the whole story: tRCD's "missing" error is not repeated.
    assert e.message == (f"{path}: memory.timing.tRCDX: unknown key (did you mean 'tRCD'?); "
                         f"allowed: {allowed}")
    assert "CL, CWL, tRCD, tRCDWR" in e.message


def test_unknown_section(tmp_path):
    path, e = error_of(tmp_path, MINIMAL + "\n[energie]\ndram_pj_per_bit = 1\n")
    assert e.message == (f"{path}: energie: unknown key (did you mean 'energy'?); allowed: name, "
                         "description, xpu, host, memory, pim, logic_pim, energy")


@pytest.mark.parametrize("old, new, expected", [
    ("stacks = 1", 'stacks = "four"', 'memory.stacks: expected an integer, got string "four"'),
    ("stacks = 1", "stacks = 1.5", "memory.stacks: expected an integer, got float 1.5"),
    ("stacks = 1", "stacks = true", "memory.stacks: expected an integer, got true"),
    ("peak_flops = 1e14", 'peak_flops = "fast"', 'xpu.peak_flops: expected a number'),
    ('kind = "npu"', 'kind = "tpu"', "xpu.kind: expected 'npu' or 'gpu', got string \"tpu\""),
    ("stacks = 1", "stacks = 0", "memory.stacks: must be > 0, got int 0"),
    ('[xpu]\nkind = "npu"\ndtype = "fp16"\npeak_flops = 1e14\n', "xpu = 3\n",
     "xpu: expected a table, got int 3"),
])
def test_wrong_type_names_key_path_and_expected_type(tmp_path, old, new, expected):
    path, e = error_of(tmp_path, MINIMAL.replace(old, new, 1))
    assert e.message.startswith(f"{path}: {expected}"), e.message


@pytest.mark.parametrize("drop, key", [("name = \"mine\"\n", "name"),
                                       ("stacks = 1\n", "memory.stacks")])
def test_missing_required_field_names_key_path(tmp_path, drop, key):
    path, e = error_of(tmp_path, MINIMAL.replace(drop, ""))
    assert e.message == f"{path}: {key}: missing required key"


def test_missing_timing_key(tmp_path):
    text = (PRESETS / "neupims.toml").read_text()
    path, e = error_of(tmp_path, re.sub(r"\ntRP = 14[^\n]*", "", text))
    assert e.message == f"{path}: memory.timing.tRP: missing required key"


def test_several_errors_are_one_line(tmp_path):
    path, e = error_of(tmp_path, MINIMAL.replace("stacks = 1\n", "").replace("channels = 8\n", ""))
    assert e.message == f"{path}: memory.stacks: missing required key (and 1 more)"


@pytest.mark.parametrize("extra, expected", [
    ("\n[pim]\nplacement = \"bank\"\nunits_per_channel = 16\nlanes = 16\ndtype = \"fp16\"\n"
     "mac_interval_tck = 2\n", "pim: needs [memory.timing]"),
    ("", "xpu: give peak_flops, or count, systolic_rows, systolic_cols and clock_hz"),
])
def test_cross_field_rules(tmp_path, extra, expected):
    text = MINIMAL + extra if extra else MINIMAL.replace("peak_flops = 1e14\n", "")
    path, e = error_of(tmp_path, text)
    assert e.message.startswith(f"{path}: {expected}"), e.message


def test_pim_units_must_fit_the_channel(tmp_path):
    text = (PRESETS / "neupims.toml").read_text().replace("units_per_channel = 16",
                                                          "units_per_channel = 17")
    path, e = error_of(tmp_path, text)
    assert e.message == (f"{path}: pim.units_per_channel: 17 bank-level units, but a channel "
                         "has room for 16")


def test_bad_literal_lists_allowed_values(tmp_path):
    text = (PRESETS / "neupims.toml").read_text().replace('placement = "bank"', 'placement = "bnk"')
    path, e = error_of(tmp_path, text)
    assert e.message.startswith(f"{path}: pim.placement: expected 'bank', 'bankgroup' or 'buffer'")


def test_malformed_toml_gives_file_line_col_and_caret(tmp_path):
    path, e = error_of(tmp_path, MINIMAL.replace("stacks = 1", "stacks = = 1"))
    line = MINIMAL.splitlines().index("stacks = 1") + 1
    assert re.match(rf"^{re.escape(path)}:{line}:10: ", e.message), e.message
    assert e.context == "stacks = = 1\n" + " " * 9 + "^"


def test_malformed_toml_at_end_of_document(tmp_path):
    path, e = error_of(tmp_path, 'name = "unterminated')
    assert e.message.startswith(f"{path}:1:")


def test_unknown_target_lists_presets_with_did_you_mean():
    with pytest.raises(UnknownNameError) as info:
        get_target("neupim")
    assert info.value.message == ("unknown target 'neupim' (did you mean 'neupims'?); valid: "
                                  + ", ".join(PRESET_NAMES))


def test_missing_file(tmp_path):
    with pytest.raises(TargetError, match=r"cannot read target '.*nope\.toml': No such file"):
        get_target(str(tmp_path / "nope.toml"))


# ---- CLI ----------------------------------------------------------------------------------------

def one_error_line(capsys, *argv, lines=1) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    err_lines = err.rstrip("\n").split("\n")
    assert len(err_lines) == lines and err_lines[0].startswith("pimc: error: ")
    return err_lines[0]


def test_cli_lists_presets(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for name in PRESET_NAMES:
        assert name in out
    assert "logic_pim" in out and "TFLOP/s" in out and "Aquabolt-XL" in out


def test_cli_lists_json(capsys):
    assert main(["targets", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == PRESET_NAMES
    assert rows["neupims"]["devices"]["npu"]["peak_flops"] == 262144e9
    assert rows["neupims"]["memory_bandwidth_bytes_s"] == 1024e9


def test_cli_show_json(capsys):
    assert main(["targets", "show", "duplex", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert Target.model_validate({k: data[k] for k in Target.model_fields if k in data}) \
        == get_target("duplex")
    assert data["devices"]["logic_pim"]["ridge_op_b"] == 8


def test_cli_errors_are_one_line_exit_2(capsys, tmp_path):
    line = one_error_line(capsys, "targets", "show", "neupim")
    assert "did you mean 'neupims'" in line and "gpu-h100" in line
    bad = write(tmp_path, MINIMAL.replace("stacks = 1", "stackz = 1"))
    line = one_error_line(capsys, "targets", "show", str(bad))
    assert line.startswith(f"pimc: error: {bad}: memory.stackz: unknown key (did you mean "
                           "'stacks'?); allowed: standard, ")
    malformed = write(tmp_path, MINIMAL.replace("stacks = 1", "stacks = = 1"), name="m.toml")
    line = one_error_line(capsys, "targets", "show", str(malformed), lines=3)
    assert line.startswith(f"pimc: error: {malformed}:")
    assert one_error_line(capsys, "targets", "--format", "yaml").endswith("valid: text, json")


def test_the_pim_isa_is_declared_not_inferred_from_the_geometry():
    """neupims with one unit per two banks (Samsung's geometry) still takes NeuPIMs' command
    stream; 'hbm-pim' on a geometry that is not Samsung's is one line naming the key."""
    from pimc.backends.pim.emit import samsung
    halved = override(get_target("neupims"), ["pim.units_per_channel=8"])
    assert halved.pim.isa == "neupims" and not samsung(halved)
    assert samsung(get_target("hbm-pim"))
    with pytest.raises(TargetError, match=r"pim\.isa: 'hbm-pim' has one PIM block per two banks.*"
                                          r"units_per_channel = 8\); this target has 16 bank"):
        override(get_target("neupims"), ['pim.isa="hbm-pim"'])
    with pytest.raises(TargetError, match=r"pim\.isa: .*'attacc', 'neupims' or 'hbm-pim'"):
        override(get_target("neupims"), ['pim.isa="newton"'])
