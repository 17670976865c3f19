"""The cuda backend: the llm dialect on an NVIDIA GPU through numba.cuda kernels.

It shares numba-cpu's driver generator, fusion and buffer planning and overrides the rules
whose kernels differ (codegen.py). It needs the optional extra (`pip install "pimc[cuda]"`);
importing this package does not import numba.cuda, so `pimc backends` lists it without the
extra, and the `load` stage says what to install. With NUMBA_ENABLE_CUDASIM=1 in the
environment (before numba.cuda is first imported) it runs in numba-cuda's simulator, with no GPU.
"""
from __future__ import annotations

from importlib.util import find_spec

from pimc.backends.base import Backend, Capabilities, Stage
from pimc.errors import PimcError

INSTALL_HINT = 'pip install "pimc[cuda]"'


def available() -> bool:
    """numba-cuda and the CUDA Python bindings are installed (a GPU is another matter)."""
    return find_spec("numba_cuda") is not None and find_spec("cuda") is not None


def _require() -> None:
    if not available():
        raise PimcError(f"backend 'cuda' needs numba-cuda, which is not installed; "
                        f"install the extra: {INSTALL_HINT}")


def _codegen(module):
    _require()
    from pimc.backends.cuda.codegen import emit_module
    return emit_module(module)


def _load(source: str):
    _require()
    from pimc.backends.cuda.executable import CudaExecutable
    return CudaExecutable(source)


def _ops() -> frozenset[str]:
    # the same op set as numba-cpu: every rule there has a device kernel or a host fallback here
    from pimc.backends.numba_cpu.codegen import RULES
    return frozenset(RULES.rules)


class CudaBackend(Backend):
    name = "cuda"
    capabilities = Capabilities(
        ops=_ops(), dtypes=frozenset({"f16", "bf16", "f32", "i1", "i32", "i64"}),
        devices=frozenset({"host", "npu", "xpu", "pim", "logic_pim"}), executes=True,
        summary="numba.cuda kernels on an NVIDIA GPU (or numba-cuda's simulator); computes in "
                f"f32; needs {INSTALL_HINT}")

    def stages(self, options=None) -> list[Stage]:
        return [Stage("codegen", _codegen, "Python driver source with @cuda.jit kernels"),
                Stage("load", _load, "compiled drivers, weights on the device")]
