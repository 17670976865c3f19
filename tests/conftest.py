"""Fixtures shared by several test files."""
import os

# No test uses a real GPU. numba-cuda reads this once, at the first `import numba.cuda` of a
# process, so it is set before any test module can import it; otherwise the cuda backend's
# simulator tests would skip on whichever xdist worker imported numba.cuda first. The PTX
# test runs its compiler in a subprocess without it.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

# Many tests run `pimc` in a subprocess (the lit suite alone ~80 times). Where the environment
# says PYTHONDONTWRITEBYTECODE, each of them would compile pimc's sources again (~0.4 s); the
# bytecode is written once here instead (py_compile writes whatever that variable says).
import compileall  # noqa: E402
from pathlib import Path  # noqa: E402

compileall.compile_dir(Path(__file__).resolve().parents[1] / "pimc", quiet=1)

import pytest  # noqa: E402
import torch  # noqa: E402


class Cumprod(torch.nn.Module):
    """A linear layer followed by torch.cumprod, an op no pimc frontend has a rule for."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)

    def forward(self, x):
        return torch.cumprod(self.proj(x), dim=-1)


@pytest.fixture
def unsupported_module() -> torch.nn.Module:
    return Cumprod()


@pytest.fixture
def cumprod_frame() -> str:
    """`conftest.py:<line>` of the torch.cumprod call: where errors must point."""
    import inspect
    lines, first = inspect.getsourcelines(Cumprod.forward)
    return f"conftest.py:{first + next(i for i, t in enumerate(lines) if 'cumprod' in t)}"
