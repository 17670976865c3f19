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
    """A named pipeline's text, or `pipeline` itself when it is already a pipeline string."""
    return ",".join(step for step, _ in PIPELINES[pipeline]()) if pipeline in PIPELINES \
        else pipeline


def build(name: str) -> list[Pass]:
    from pimc.errors import UnknownNameError
    if name not in PIPELINES:
        raise UnknownNameError("pipeline", name, PIPELINES)
    return parse_pipeline(",".join(step for step, _ in PIPELINES[name]()))
