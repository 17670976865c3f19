"""Named pipelines: plain functions listing passes, each with the reason it is there."""
from __future__ import annotations

from pimc.passes.base import Pass
from pimc.passes.pipeline_parser import parse_pipeline


def cleanup() -> list[tuple[str, str]]:
    return [
        ("canonicalize", "fold the reshape/transpose/cast no-ops that frontends leave behind"),
        ("cse", "merge duplicate pure ops, such as repeated weight loads and identical views"),
        ("dce", "drop pure ops whose results nobody uses"),
    ]


def default() -> list[tuple[str, str]]:
    return [
        ("canonicalize", "fold view chains first, so patterns see one reshape, not three"),
        ("raise-llm-ops", "fold decomposed norms, rope, activations and linears into llm ops"),
        *cleanup(),
    ]


PIPELINES = {"cleanup": cleanup, "default": default}


def expand(pipeline: str) -> str:
    """`pipeline` with every named pipeline among its top-level steps written out:
    'default,kv-compress{method=quant}' -> 'canonicalize,raise-llm-ops,...,kv-compress{...}'."""
    steps, depth, start = [], 0, 0
    for i, ch in enumerate(pipeline + ","):
        depth += (ch == "{") - (ch == "}")
        if ch == "," and depth == 0:
            steps.append(pipeline[start:i].strip())
            start = i + 1
    return ",".join(",".join(s for s, _ in PIPELINES[step]()) if step in PIPELINES else step
                    for step in steps if step)


def passes_of(pipeline: str) -> list[Pass]:
    """The passes of a pipeline string whose steps may be named pipelines."""
    return parse_pipeline(expand(pipeline))


def build(name: str) -> list[Pass]:
    from pimc.errors import UnknownNameError
    if name not in PIPELINES:
        raise UnknownNameError("pipeline", name, PIPELINES)
    return parse_pipeline(",".join(step for step, _ in PIPELINES[name]()))
