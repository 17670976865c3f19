"""Load targets: preset names, user TOML files and `--set key.path=value` overrides, with errors
that name the file, the key path and what is allowed there, on one line."""
from __future__ import annotations

import difflib
import json
import re
import tomllib
import typing
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ValidationError

from pimc.errors import TargetError, caret_block
from pimc.registry import Registry
from pimc.targets.spec import Target

PRESETS = Path(__file__).parent / "presets"

TARGETS: Registry[Target] = Registry("target")


def _register_presets() -> None:
    for path in sorted(PRESETS.glob("*.toml")):
        TARGETS.register(path.stem, lambda path=path: load_target(path))


_register_presets()


def preset_names() -> list[str]:
    return list(TARGETS)


def get_target(target: str | Path | Target, overrides: Iterable[str] = ()) -> Target:
    """A Target from a preset name or a path to a TOML file (a name ending in .toml or holding a
    path separator is a path; a preset name wins over a same-named file in the current folder),
    with `overrides` (`key.path=value`, the CLI's --set) applied."""
    overrides = list(overrides)
    if overrides:
        return override(get_target(target), overrides)
    if isinstance(target, Target):
        return target
    text = str(target)
    overridden = _LABEL.match(text)
    if overridden:  # the name an overridden target prints as: base{key.path=value, ...}
        return override(get_target(overridden["base"]), split_assignments(overridden["sets"]))
    if isinstance(target, Path) or text.endswith(".toml") or "/" in text:
        return load_target(text)
    if text not in TARGETS and Path(text).is_file():
        return load_target(text)
    return TARGETS.get(text)


def module_target(module, who: str, explicit: str = "", error=TargetError) -> Target:
    """The target a pass or backend works for: `explicit` (a preset or TOML path) if given,
    else the module's `pimc.target` attribute, which place-devices sets. `who` starts the
    error, raised as `error`, when there is neither."""
    name = explicit
    if not name:
        attr = module.attributes.get("pimc.target")
        if not isinstance(getattr(attr, "value", None), str):
            raise error(f"{who} needs a target: give target=<preset or .toml> "
                        "(pimc compile -t) or run place-devices first (it sets pimc.target)")
        name = attr.value
    return get_target(name)


def load_target(path: str | Path) -> Target:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise TargetError(f"cannot read target '{path}': {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TargetError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    return parse_target(text, str(path))


def parse_target(text: str, filename: str = "<string>") -> Target:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _syntax_error(e, text, filename) from None
    return validate_target(table, filename)


def validate_target(table: dict, source: str) -> Target:
    try:
        return Target.model_validate(table)
    except ValidationError as e:
        raise TargetError(f"{source}: {describe_errors(e)}") from None


_LABEL = re.compile(r"^(?P<base>[^{}]+)\{(?P<sets>.*)\}$")
_ASSIGNMENT = re.compile(r'\s*([^=,{}]+=\s*(?:"[^"]*"|\'[^\']*\'|\[[^\]]*\]|[^,]*))\s*(?:,|$)')


def split_assignments(text: str) -> list[str]:
    """`a.b=1, c="x,y"` -> ['a.b=1', 'c="x,y"'] (commas inside quotes or brackets kept)."""
    found, pos = [], 0
    while pos < len(text):
        match = _ASSIGNMENT.match(text, pos)
        if match is None or match.end() == pos:
            raise TargetError(f"target '{{{text}}}': expected key.path=value[, ...] at "
                              f"'{text[pos:]}'")
        found.append(match[1].strip())
        pos = match.end()
    return found


def override(target: Target, assignments: Iterable[str]) -> Target:
    """`target` with `key.path=value` assignments applied (the CLI's --set). A value is read as a
    TOML value (2, 1.5e9, true, "x"); anything else is taken as a bare string. The result is
    named `base{key.path=value, ...}`, a name get_target reads back to the same target, so
    the IR's `pimc.target` and reports say which values were changed."""
    assignments = [a.strip() for a in assignments]
    if not assignments:
        return target
    table = target.model_dump(exclude_none=True)
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise TargetError(f"--set '{assignment}': expected key.path=value")
        node = table
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise TargetError(f"--set '{assignment}': {'.'.join(parts[:depth + 1])} is a "
                                  "value, not a table")
        node[parts[-1]] = _toml_value(raw.strip())
    if "name" not in {a.partition("=")[0].strip() for a in assignments}:
        base = _LABEL.match(target.name)
        sets = split_assignments(base["sets"]) if base else []
        stem = base["base"] if base else target.name
        table["name"] = f"{stem}{{{', '.join(sets + assignments)}}}"
    return validate_target(table, "--set")


def _toml_value(raw: str):
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


_POSITION = re.compile(r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$")


def _syntax_error(e: tomllib.TOMLDecodeError, text: str, filename: str) -> TargetError:
    """tomllib (Python 3.11) puts the position only in the message: move it to the front."""
    match = _POSITION.match(str(e))
    if match is None:
        return TargetError(f"{filename}: {e}")
    if match["line"] is None:  # at end of document: point past the last character
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
    else:
        line, col = int(match["line"]), int(match["col"])
    return TargetError(f"{filename}:{line}:{col}: {match['msg']}", caret_block(text, line, col))


# ---- pydantic errors as one line --------------------------------------------------------------

_EXPECTED = {"int_type": "an integer", "float_type": "a number", "string_type": "a string",
             "bool_type": "true or false", "model_type": "a table", "dict_type": "a table"}
_BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="),
           "less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}


def describe_errors(e: ValidationError) -> str:
    # A misspelt key is both unknown and, under its real name, missing: report only the spelling.
    errors = sorted(e.errors(include_url=False), key=lambda err: err["type"] != "extra_forbidden")
    guessed = {(*err["loc"][:-1], _close_key(err["loc"])) for err in errors
               if err["type"] == "extra_forbidden"}
    errors = [err for err in errors if not (err["type"] == "missing" and err["loc"] in guessed)]
    first = _describe(errors[0])
    return first if len(errors) == 1 else f"{first} (and {len(errors) - 1} more)"


def _close_key(loc: tuple) -> str | None:
    close = difflib.get_close_matches(str(loc[-1]), list(_section_model(loc[:-1]).model_fields), n=1)
    return close[0] if close else None


def _describe(error: dict) -> str:
    loc = tuple(str(p) for p in error["loc"])
    path = ".".join(loc)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx", {})
    if kind == "extra_forbidden":
        allowed = ", ".join(_section_model(loc[:-1]).model_fields)
        close = _close_key(loc)
        hint = f" (did you mean '{close}'?)" if close else ""
        return f"{path}: unknown key{hint}; allowed: {allowed}"
    if kind == "missing":
        return f"{path}: missing required key"
    if kind in _EXPECTED:
        return f"{path}: expected {_EXPECTED[kind]}, got {_show(value)}"
    if kind == "literal_error":
        return f"{path}: expected {ctx['expected']}, got {_show(value)}"
    if kind in _BOUNDS:
        bound, sign = _BOUNDS[kind]
        return f"{path}: must be {sign} {ctx[bound]:g}, got {_show(value)}"
    message = str(ctx["error"]) if kind == "value_error" else error["msg"]
    return f"{path}: {message}" if path else message


def _show(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    return f"{type(value).__name__} {value!r}"


def _section_model(loc: tuple[str, ...]) -> type[BaseModel]:
    """The model that validates the table at `loc` (e.g. ('memory', 'timing') -> Timing)."""
    model: type[BaseModel] = Target
    for key in loc:
        annotation = model.model_fields[key].annotation
        model = next(t for t in (annotation, *typing.get_args(annotation))
                     if isinstance(t, type) and issubclass(t, BaseModel))
    return model
