"""`pimc targets` (list the presets and their devices) and `pimc targets show NAME_OR_FILE`.

`show` prints the target as TOML, with the derived figures (bandwidths, PIM clock, devices) as
comments, so its output is itself a valid target file to copy and edit."""
from __future__ import annotations

import json
from typing import Annotated

import typer

from pimc.errors import PimcError

targets_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                          help="List the hardware targets, or show one.")

FORMATS = ("text", "json")


@targets_app.callback()
def list_targets(ctx: typer.Context,
                 format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """List the preset hardware targets with each device's peak FLOP/s and bandwidth."""
    if ctx.invoked_subcommand is not None:
        return
    from pimc.targets import get_target, preset_names
    _check_format(format)
    targets = [get_target(name) for name in preset_names()]
    if format == "json":
        typer.echo(json.dumps([_summary(t) for t in targets], indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    devices = Table(title="pimc targets (a .toml path works wherever a name does)")
    for column in ("target", "device", "kind"):
        devices.add_column(column, no_wrap=True)
    for column in ("TFLOP/s", "GB/s", "ridge Op/B"):
        devices.add_column(column, justify="right", no_wrap=True)
    descriptions = Table("target", "description")
    for target in targets:
        for i, device in enumerate(target.devices().values()):
            devices.add_row(target.name if i == 0 else "", device.name, device.kind,
                            f"{device.peak_flops / 1e12:.1f}", f"{device.bandwidth_bytes_s / 1e9:.0f}",
                            f"{device.ridge_op_b:.1f}", end_section=i == len(target.devices()) - 1)
        descriptions.add_row(target.name, target.description)
    console = Console()
    console.print(devices)
    console.print(descriptions)


@targets_app.command()
def show(target: Annotated[str, typer.Argument(help="A preset name or a path to a .toml file.")],
         set_: Annotated[list[str], typer.Option("--set", help="Override a key: key.path=value (repeatable).")] = [],
         format: Annotated[str, typer.Option("--format", help="text or json")] = "text"):
    """Print one target as TOML (derived figures as comments)."""
    from pimc.targets import get_target
    _check_format(format)
    spec = get_target(target, set_)
    if format == "json":
        typer.echo(json.dumps({**spec.model_dump(exclude_none=True), **_summary(spec)}, indent=2))
        return
    typer.echo(to_toml(spec), nl=False)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PimcError(f"--format: unknown format '{fmt}'; valid: {', '.join(FORMATS)}")


def _summary(target) -> dict:
    return {"name": target.name, "description": target.description,
            "memory_bandwidth_bytes_s": target.memory.peak_bandwidth,
            "devices": {name: {"kind": d.kind, "peak_flops": d.peak_flops,
                               "bandwidth_bytes_s": d.bandwidth_bytes_s,
                               "overhead_s": d.overhead_s, "ridge_op_b": d.ridge_op_b}
                        for name, d in target.devices().items()}}


def to_toml(target) -> str:
    """The target as TOML that loads back to an equal Target; derived figures are comments."""
    data = target.model_dump(exclude_none=True)
    lines = [f"{key} = {_toml_value(data.pop(key))}" for key in ("name", "description")]
    for section, table in data.items():
        nested = {k: v for k, v in table.items() if isinstance(v, dict)}
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if k not in nested]
        for sub, subtable in nested.items():
            lines += ["", f"[{section}.{sub}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in subtable.items()]
    lines += ["", "# derived (not read back):"] + [f"#   {line}" for line in _derived(target)]
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, float) and not 1e-3 <= abs(value) < 1e6 and value != 0:
        # 312e12 rather than 312000000000000.0: the shortest spelling that reads back exactly
        spellings = [repr(value)] + [_exponent(f"{value:.{digits}e}") for digits in range(17)]
        return min((s for s in spellings if float(s) == value), key=len)
    return repr(value)


def _exponent(text: str) -> str:
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def _derived(target) -> list[str]:
    mem = target.memory
    out = [f"memory: {mem.peak_bandwidth / 1e9:.1f} GB/s over {mem.total_channels} channels"]
    if mem.capacity_bytes is not None:
        out[0] += f", {mem.capacity_bytes / 2**30:.0f} GiB"
    if mem.has_banks:
        out.append(f"memory: {mem.banks_per_channel} banks per channel, {mem.access_bytes} B per "
                   f"column access, {mem.row_bytes} B rows")
    if target.pim is not None:
        pim = target.pim
        out.append(f"pim: {pim.units(mem)} units at {pim.clock_hz(mem) / 1e6:.1f} MHz, "
                   f"{pim.internal_bandwidth(mem) / mem.peak_bandwidth:.2f}x the external bandwidth")
    for d in target.devices().values():
        out.append(f"device {d.name} ({d.kind}): {d.peak_flops / 1e12:.2f} TFLOP/s, "
                   f"{d.bandwidth_bytes_s / 1e9:.1f} GB/s, ridge {d.ridge_op_b:.2f} Op/B, "
                   f"overhead {d.overhead_s:g} s")
    return out
