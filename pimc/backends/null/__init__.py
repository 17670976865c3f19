"""The null backend: accepts every op and emits nothing (for capture, analysis and tests)."""
from __future__ import annotations

from pimc.backends.base import Backend, Capabilities, Stage


class NullBackend(Backend):
    name = "null"
    capabilities = Capabilities(summary="accepts everything, emits nothing")

    def stages(self, options=None) -> list[Stage]:
        return [Stage("verify-only", lambda module: module, "the module, unchanged")]
