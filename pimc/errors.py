"""The PimcError hierarchy: every user-facing failure is one of these.

A PimcError renders as a single headline (what is wrong, where, what is allowed), optionally
followed by a context block (the source line with a caret, or the offending op). The CLI prints
`pimc: error: <headline>` and the block, and exits with code 2.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class PimcError(Exception):
    """Base of every error pimc reports to a user (exit code 2 in the CLI)."""

    def __init__(self, message: str, context: str = ""):
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message + ("\n" + self.context if self.context else "")


@dataclass(frozen=True, slots=True)
class SourcePos:
    """A position in a text file, 1-based, for diagnostics."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def caret_block(source: str, line: int, col: int) -> str:
    """The source line at `line` and a caret under column `col` (both 1-based)."""
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1].expandtabs(1)
    return f"{text}\n{' ' * max(col - 1, 0)}^"


class ParseError(PimcError):
    """Malformed IR text (or a pipeline string): reported at file:line:col with a caret."""

    def __init__(self, pos: SourcePos, message: str, source: str = ""):
        super().__init__(f"{pos}: {message}", caret_block(source, pos.line, pos.col))
        self.pos = pos


class VerifyError(PimcError):
    """An op (or module) breaks an invariant; the context shows the op as text."""


class UnknownNameError(PimcError):
    """A registry lookup failed: names what was asked, the valid names and a close match."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], where: str = ""):
        valid = sorted(valid)
        super().__init__(f"{where}{unknown_name_message(kind, name, valid)}")
        self.name, self.valid = name, valid


class OptionError(PimcError):
    """A pass or command option that does not exist or has the wrong type."""


class PassFailure(PimcError):
    """A pass broke the IR (verification after the pass failed) or could not run."""


def unknown_name_message(kind: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; valid: {', '.join(valid) or '(none)'}"


class TargetError(PimcError):
    """A hardware target that cannot be read, parsed or validated: names the file (or --set),
    the key path, and what is allowed there."""
