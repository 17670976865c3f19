"""Hardware targets: pydantic models of an xPU + HBM (+ PIM, + Logic-PIM) system, TOML loading,
and the built-in presets in presets/*.toml."""
from pimc.targets.load import (TARGETS, get_target, load_target, override, parse_target,
                               preset_names)
from pimc.targets.spec import DeviceSpec, Target

__all__ = ["TARGETS", "DeviceSpec", "Target", "get_target", "load_target", "override",
           "parse_target", "preset_names"]
