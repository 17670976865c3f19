"""pimc: a compiler from LLM graphs to NPU + processing-in-memory hardware."""
__version__ = "0.1.0"

from pimc import targets  # noqa: E402  (architecture.md §9: presets and TOML hardware descriptions)
from pimc.api import Program, compile, load  # noqa: E402
from pimc.errors import PimcError  # noqa: E402

__all__ = ["PimcError", "Program", "compile", "load", "targets", "__version__"]
