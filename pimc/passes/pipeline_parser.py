"""Pipeline strings, as in mlir-opt/xdsl-opt: `canonicalize,cse,place-devices{op-b-threshold=8}`.

Grammar: element (',' element)*, element = pass-name ['{' key '=' value (',' key '=' value)* '}'].
A value is any text without ',', '{', '}' or whitespace, or a double-quoted string.
"""
from __future__ import annotations

import re

from pimc.errors import ParseError, SourcePos, UnknownNameError
from pimc.passes.base import Pass

_NAME = re.compile(r"[a-z][a-z0-9-]*")
_KEY = re.compile(r"[a-z][a-z0-9-]*")
_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"|[^,{}\s"]+')
SOURCE = "<pipeline>"


class _Cursor:
    def __init__(self, text: str):
        self.text, self.i = text, 0

    def error(self, message: str, at: int | None = None) -> ParseError:
        col = (self.i if at is None else at) + 1
        return ParseError(SourcePos(SOURCE, 1, col), message, self.text)

    def skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def expect(self, regex: re.Pattern, what: str) -> tuple[str, int]:
        self.skip_ws()
        m = regex.match(self.text, self.i)
        if not m:
            found = repr(self.text[self.i]) if self.i < len(self.text) else "end of pipeline"
            raise self.error(f"expected {what}, found {found}")
        self.i = m.end()
        return m.group(), m.start()

    def take(self, ch: str) -> bool:
        self.skip_ws()
        if self.text.startswith(ch, self.i):
            self.i += 1
            return True
        return False


def parse_pipeline(text: str) -> list[Pass]:
    """Parse a pipeline string into configured pass instances."""
    from pimc.passes import PASSES

    cur, passes = _Cursor(text), []
    cur.skip_ws()
    if cur.i == len(text):
        return passes
    while True:
        name, at = cur.expect(_NAME, "a pass name (lower-case, kebab-case)")
        if name not in PASSES:
            raise UnknownNameError("pass", name, PASSES, where=f"{SOURCE}:1:{at + 1}: ")
        options: dict[str, str] = {}
        if cur.take("{"):
            while not cur.take("}"):
                if options and not cur.take(","):
                    raise cur.error("expected ',' or '}' between pass options")
                key, key_at = cur.expect(_KEY, "an option name")
                if key in options:
                    raise cur.error(f"option '{key}' is given twice", key_at)
                if not cur.take("="):
                    raise cur.error(f"expected '=' after option '{key}'")
                value, _ = cur.expect(_VALUE, f"a value for option '{key}'")
                options[key] = value[1:-1] if value.startswith('"') else value
        passes.append(PASSES.get(name).from_options(options))
        if not cur.take(","):
            break
    cur.skip_ws()
    if cur.i != len(text):
        raise cur.error(f"expected ',' or end of pipeline, found {text[cur.i]!r}")
    return passes


def pipeline_text(passes: list[Pass]) -> str:
    return ",".join(p.pipeline_text() for p in passes)
