"""Passes, pass options, and the PassManager with its instruments.

A pass is a frozen dataclass with a kebab-case `name`, typed option fields (int, float, bool, str
or a Literal of strings) and `apply(ctx, module)`. Options are spelled in kebab case in pipeline
strings (`place-devices{op-b-threshold=8}`) and map to snake_case fields.
"""
from __future__ import annotations

import dataclasses
import re
import sys
import time
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TextIO

from pimc.errors import OptionError, PassFailure, VerifyError, unknown_name_message
from pimc.ir.core import gc_paused
from pimc.ir.dialects.builtin import ModuleOp
from pimc.ir.printer import print_module
from pimc.ir.verifier import verify
from pimc.targets.load import get_target, module_target
from pimc.targets.spec import Target


@dataclass
class Context:
    """What every pass can read: run-wide settings and the resolved target.

    `target` is the Target object itself (overrides applied), set by whoever starts the run
    (`pimc.compile`, the CLI) or by place-devices from its `target=` option; passes read it and
    never look a target up again by name. The module's `pimc.target` attribute only prints it;
    it is read back (`target_for`) only for IR that comes in as text."""

    verify_each: bool = True
    debug: bool = False
    target: Target | None = None

    def target_for(self, module: ModuleOp, who: str, explicit: str = "") -> Target:
        """The target `who` works for: its own `target=` option if given, else the run's, else
        the one a text module was placed for."""
        if explicit:
            return get_target(explicit)
        if self.target is None:
            self.target = module_target(module, who, error=OptionError)
        return self.target


@dataclass(frozen=True)
class Pass:
    name: ClassVar[str] = ""

    def apply(self, ctx: Context, module: ModuleOp) -> None:
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """The docstring's first paragraph, on one line."""
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())

    @classmethod
    def option_types(cls) -> dict[str, tuple[str, Any]]:
        """kebab-case option name -> (field name, type)."""
        hints = typing.get_type_hints(cls)
        return {f.name.replace("_", "-"): (f.name, hints[f.name]) for f in dataclasses.fields(cls)}

    @classmethod
    def from_options(cls, options: dict[str, str]) -> Pass:
        fields = cls.option_types()
        kwargs = {}
        for key, text in options.items():
            if key not in fields:
                raise OptionError(f"pass '{cls.name}': " + unknown_name_message(
                    "option", key, list(fields)))
            field, typ = fields[key]
            kwargs[field] = convert_option(f"option '{key}' of pass '{cls.name}'", text, typ)
        return cls(**kwargs)

    def pipeline_text(self) -> str:
        """This pass as a pipeline element, options that differ from the default included."""
        opts = []
        for key, (field, _) in self.option_types().items():
            value = getattr(self, field)
            default = next(f.default for f in dataclasses.fields(self) if f.name == field)
            if value != default:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                if not text or re.search(r"[\s,{}]", text):  # else it would not parse back
                    text = f'"{text}"'
                opts.append(f"{key}={text}")
        return self.name + (f"{{{','.join(opts)}}}" if opts else "")


def type_name(typ: Any) -> str:
    if typing.get_origin(typ) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(typ)))
    return getattr(typ, "__name__", str(typ))


def convert_option(what: str, text: str, typ: Any) -> Any:
    bad = OptionError(f"{what} expects {type_name(typ)}, got '{text}'")
    if typ is bool:
        if text.lower() not in ("true", "false", "1", "0"):
            raise bad
        return text.lower() in ("true", "1")
    if typ is int or typ is float:
        try:
            return typ(text)
        except ValueError:
            raise bad from None
    if typing.get_origin(typ) is Literal:
        if text not in typing.get_args(typ):
            raise bad
        return text
    if typ is str:
        return text
    raise OptionError(f"{what} has an unsupported option type {typ}")


class PassManager:
    """Runs passes in order with the instruments of mlir-opt: verify after each pass, print the
    IR before/after chosen passes (or all), and time each pass."""

    def __init__(self, passes: list[Pass], *, verify_each: bool = True,
                 print_before: tuple[str, ...] = (), print_after: tuple[str, ...] = (),
                 print_after_all: bool = False, time_passes: bool = False,
                 out: TextIO | None = None, target: Target | None = None):
        self.passes, self.verify_each, self.target = passes, verify_each, target
        self.print_before, self.print_after = set(print_before), set(print_after)
        self.print_after_all, self.time_passes = print_after_all, time_passes
        self.out = out
        self.timings: list[tuple[str, float]] = []

    def _dump(self, when: str, p: Pass, module: ModuleOp) -> None:
        out = self.out or sys.stderr
        out.write(f"// -----// IR Dump {when} {p.name} //----- //\n{print_module(module)}\n")

    def run(self, module: ModuleOp, ctx: Context | None = None) -> ModuleOp:
        ctx = ctx or Context(verify_each=self.verify_each, target=self.target)
        self.timings = []
        for p in self.passes:
            if p.name in self.print_before:
                self._dump("Before", p, module)
            start = time.perf_counter()
            with gc_paused():
                p.apply(ctx, module)
            self.timings.append((p.name, time.perf_counter() - start))
            if self.verify_each:
                try:
                    verify(module)
                except VerifyError as e:
                    raise PassFailure(f"pass '{p.name}' produced invalid IR: {e.message}",
                                      e.context) from None
            if self.print_after_all or p.name in self.print_after:
                self._dump("After", p, module)
        if self.time_passes:
            self.write_timings()
        return module

    def write_timings(self) -> None:
        out = self.out or sys.stderr
        total = sum(t for _, t in self.timings) or 1e-12
        out.write("===" + "-" * 60 + "===\n  Pass execution timing report\n")
        out.write("===" + "-" * 60 + "===\n  Wall Time (s)   %   Name\n")
        for name, t in self.timings:
            out.write(f"  {t:12.6f}  {100 * t / total:5.1f}%  {name}\n")
        out.write(f"  {total:12.6f}  100.0%  Total\n")
