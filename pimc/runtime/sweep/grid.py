"""A sweep grid: the TOML file `pimc sweep --grid` reads, validated and crossed into points.

```toml
targets = ["neupims", "attacc-bank"]       # presets or target .toml files
kv = ["none", "method=l2norm,ratio=0.5"]   # kv-compress options ("none": no compression)
[set]                                      # any `--set` key path -> the values to cross
"memory.channels" = [8, 16]
pim = [{placement = "bank", units_per_channel = 16},     # a list of tables: keys that change
       {placement = "bankgroup", units_per_channel = 4}]  # together, one axis
[workload]                                 # a static batch, all arriving at once
batch = [1, 16]
prompt_len = [128]
gen_len = [32]
[options]                                  # SimOptions fields, crossed as well
sub_batches = [1, 2]
```

Every table is optional except `targets`. A value that is not a list is one value. Every point's
target is validated when the grid is loaded, as `pimc simulate --set` would, so a bad key or value
stops the sweep before any work with one line naming the key path and what is allowed.

The simulator has no KV-compression option of its own: a `kv` entry runs the `kv-compress` pass
over the placed IR, so the step costs include the ops it inserts, but the KV capacity is still
counted from @decode's cache arguments, uncompressed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pimc.errors import PimcError, unknown_name_message
from pimc.passes.cost_model import COST_MODELS
from pimc.passes.pipeline_parser import parse_pipeline
from pimc.passes.place_devices import POLICIES
from pimc.runtime.system.simulate import SimOptions
from pimc.targets import Target, get_target
from pimc.targets.load import validate_target

SECTIONS = ("targets", "set", "kv", "workload", "options")
WORKLOAD = {"batch": 1, "prompt_len": 128, "gen_len": 32}  # pimc simulate's defaults
NO_KV = "none"


class GridError(PimcError):
    """A sweep grid that cannot be run: one line naming the file, the key path and what is
    allowed there."""


@dataclass(frozen=True)
class Point:
    """One simulation: `params` are its columns in the results (JSON values only), and `key`
    a stable hash of them, the identity a resumed sweep skips by."""

    params: dict
    key: str
    target: Target
    kv: str
    workload: dict
    options: SimOptions


def point_key(params: dict) -> str:
    """sha256 of the parameters as canonical JSON: the same point hashes the same in every run
    and on every machine, whatever order the grid listed its keys in."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Grid:
    source: str
    targets: list[tuple[str, Target]]
    sets: dict[str, list]  # key path -> values
    kv: list[str]
    workload: dict[str, list]
    options: dict[str, list]

    def param_names(self) -> list[str]:
        """The parameter columns, in row order (after `model`)."""
        sets = {path: None for key, values in self.sets.items() for value in values
                for path, _ in _flatten({key: value})}
        return ["target", *sets, "kv", *self.workload, *self.options]

    def points(self, model: str) -> list[Point]:
        """Every combination, targets outermost, each target built and validated."""
        set_keys, opt_keys, load_keys = list(self.sets), list(self.options), list(self.workload)
        found: list[Point] = []
        for name, base in self.targets:
            for set_values in itertools.product(*self.sets.values()):
                assigned = {path: value for key, chosen in zip(set_keys, set_values)
                            for path, value in _flatten({key: chosen})}
                target = _apply(base, assigned, f"{self.source}: [set] on target '{name}'")
                for opt_values in itertools.product(*self.options.values()):
                    opts = dict(zip(opt_keys, opt_values))
                    options = _options(opts, self.source)
                    for kv, load in itertools.product(
                            self.kv, itertools.product(*self.workload.values())):
                        workload = dict(zip(load_keys, load))
                        params = {"model": model, "target": name, **assigned, "kv": kv,
                                  **workload, **opts}
                        found.append(Point(params, point_key(params), target, kv, workload,
                                           options))
        return found


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GridError(f"cannot read grid '{path}': {getattr(e, 'strerror', None) or e}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"{path}: {e}") from None
    return parse_grid(table, str(path))


def parse_grid(table: dict, source: str = "<grid>") -> Grid:
    unknown = [k for k in table if k not in SECTIONS]
    if unknown:
        raise GridError(f"{source}: {unknown[0]}: unknown key; allowed: {', '.join(SECTIONS)}")
    if "targets" not in table:
        raise GridError(f"{source}: targets: missing; give a list of target presets or .toml "
                        "files")
    names = _axis(table["targets"], "targets", source, (str,), "a target name")
    targets = []
    for i, name in enumerate(names):
        try:
            targets.append((name, get_target(name)))
        except PimcError as e:
            raise GridError(f"{source}: targets[{i}]: {e.message}") from None
    sets = {path: _axis(values, f"set.{path}", source, (str, int, float, bool, dict),
                        "a value or a table of values")
            for path, values in _flatten(_table(table.get("set", {}), "set", source))}
    misplaced = next((path for path in sets if path in SECTIONS), None)
    if misplaced:  # TOML puts a key written below [set] into that table
        raise GridError(f"{source}: set.{misplaced}: '{misplaced}' is a top-level key; write "
                        "it above the first [table]")
    for path, values in sets.items():
        for i, value in enumerate(values):
            for sub, leaf in _flatten(value if isinstance(value, dict) else {}):
                if not isinstance(leaf, (str, int, float, bool)):
                    raise GridError(f"{source}: set.{path}[{i}].{sub}: expected a value, got "
                                    f"{_show(leaf)}")
    kv = _axis(table.get("kv", [NO_KV]), "kv", source, (str,), "kv-compress options")
    for i, entry in enumerate(kv):
        _check_kv(entry, f"{source}: kv[{i}]")
    workload = _workload(_table(table.get("workload", {}), "workload", source), source)
    options = _option_axes(_table(table.get("options", {}), "options", source), source)
    grid = Grid(source, targets, sets, kv, workload, options)
    grid.points("")  # builds every target and SimOptions: their errors surface now
    return grid


def _table(value, where: str, source: str) -> dict:
    if not isinstance(value, dict):
        raise GridError(f"{source}: {where}: expected a table, got {_show(value)}")
    return value


def _flatten(table: dict, prefix: str = ""):
    """`[set] memory.channels = [..]` (TOML nests dotted keys) and `"memory.channels" = [..]`
    both give the key path memory.channels."""
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, path + ".")
        else:
            yield path, value


def _axis(values, where: str, source: str, types: tuple, what: str) -> list:
    values = values if isinstance(values, list) else [values]
    if not values:
        raise GridError(f"{source}: {where}: empty list; give at least one {what}")
    seen = []
    for i, value in enumerate(values):
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise GridError(f"{source}: {where}[{i}]: expected {what}, got {_show(value)}")
        if value in seen and type(value) is type(seen[seen.index(value)]):
            raise GridError(f"{source}: {where}[{i}]: {_show(value)} is listed twice")
        seen.append(value)
    return values


def _workload(table: dict, source: str) -> dict[str, list]:
    axes = {}
    for key, default in WORKLOAD.items():
        values = _axis(table.get(key, default), f"workload.{key}", source, (int,),
                       "a positive integer")
        bad = next((i for i, v in enumerate(values) if v < 1), None)
        if bad is not None:
            raise GridError(f"{source}: workload.{key}[{bad}]: must be >= 1, got {values[bad]}")
        axes[key] = values
    unknown = [k for k in table if k not in WORKLOAD]
    if unknown:
        raise GridError(f"{source}: workload.{unknown[0]}: unknown key; allowed: "
                        f"{', '.join(WORKLOAD)}")
    return axes


def _option_axes(table: dict, source: str) -> dict[str, list]:
    fields = {f.name: f for f in dataclasses.fields(SimOptions)}
    axes = {}
    for key, values in table.items():
        if key not in fields:
            raise GridError(f"{source}: options.{key}: unknown key; allowed: "
                            f"{', '.join(fields)}")
        default = fields[key].default
        # a None default (max_batch, kv_capacity_tokens) stands for an integer left unset
        types = (int,) if default is None else (type(default),)
        what = "an integer" if types == (int,) else f"a {types[0].__name__}"
        axes[key] = _axis(values, f"options.{key}", source, types, what)
    return axes


def _options(values: dict, source: str) -> SimOptions:
    try:
        options = SimOptions(**values)
        # names SimOptions leaves to the simulator's first use, checked here before any work
        COST_MODELS.get(options.cost_model, where="cost_model: ")
        if options.policy not in POLICIES:
            raise PimcError(unknown_name_message("policy", options.policy, list(POLICIES)))
        return options
    except PimcError as e:
        where = ", ".join(f"options.{k} = {_show(v)}" for k, v in values.items())
        raise GridError(f"{source}: {where}: {e.message}") from None


def _apply(target: Target, assigned: dict, where: str) -> Target:
    """`target` with the key paths set, validated as a target file would be."""
    if not assigned:
        return target
    table = target.model_dump(exclude_none=True)
    for path, value in assigned.items():
        node, parts = table, path.split(".")
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise GridError(f"{where}: set.{'.'.join(parts[:depth + 1])} is a value, not a "
                                "table")
        node[parts[-1]] = value
    try:
        return validate_target(table, where)
    except PimcError as e:
        raise GridError(e.message) from None


def _check_kv(entry: str, where: str) -> None:
    if entry == NO_KV:
        return
    try:
        passes = parse_pipeline(f"kv-compress{{{entry}}}")
        passes[0].check_options()
    except PimcError as e:
        raise GridError(f"{where}: {entry!r}: {e.message} (or \"{NO_KV}\")") from None


def kv_pipeline(entry: str) -> str:
    return "" if entry == NO_KV else f"kv-compress{{{entry}}}"


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "a nested list"
    return repr(value)
