"""Caches keyed by the code that filled them: numba's on-disk cache of a kernel that calls into
another file, the generated modules, the simulated-cost files."""
import subprocess
import sys
import textwrap

import pytest

from pimc.caches import source_digest

CALLER = "from numba import njit\nfrom kernels_b import g\n\n@njit(cache=True)\ndef f():\n" \
         "    return g() + 1\n"
CALLEE = "from numba import njit\n\n@njit(cache=True)\ndef g():\n    return {value}\n"


def _run(folder, stamped: bool) -> int:
    """f() in a fresh process, with the package-wide stamps for `folder` or numba's own."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(folder)!r})
        if {stamped}:
            import pimc.numba_cache as nc
            nc.ROOTS.append(__import__("pathlib").Path({str(folder)!r}))
        from kernels_a import f
        print(f())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("stamped", [False, True], ids=["numba's stamp", "package stamp"])
def test_editing_a_callee_file_recompiles_the_caller(tmp_path, stamped):
    (tmp_path / "kernels_a.py").write_text(CALLER)
    (tmp_path / "kernels_b.py").write_text(CALLEE.format(value=1))
    assert _run(tmp_path, stamped) == 2
    (tmp_path / "kernels_b.py").write_text(CALLEE.format(value=41))  # kernels_a.py unchanged
    source_digest.cache_clear()
    # numba stamps f with kernels_a.py alone and serves its stale machine code (2); the
    # package stamp covers every file of the folder, so f is compiled again (42)
    assert _run(tmp_path, stamped) == (42 if stamped else 2)


def test_the_digest_changes_with_any_file_of_the_folder(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("y = 1\n")
    before = source_digest(tmp_path)
    source_digest.cache_clear()
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    assert source_digest(tmp_path) != before
    source_digest.cache_clear()
    (tmp_path / "sub" / "b.py").write_text("y = 1\n")
    assert source_digest(tmp_path) == before


def test_the_generated_modules_and_sim_costs_are_keyed_by_their_source(monkeypatch, tmp_path):
    from pimc.backends.numba_cpu import executable
    from pimc.runtime.pimsim import sim_cost
    from pimc.targets import get_target
    monkeypatch.setenv("PIMC_CACHE_DIR", str(tmp_path))
    module = executable.import_generated("VALUE = 7\n", "probe", "pimc_probe")
    assert module.VALUE == 7
    (written,) = tmp_path.glob("probe-*/pimc_probe_*.py")
    backend = executable.Path(executable.__file__).parent
    assert written.parent.name == f"probe-{source_digest(backend)}"
    key = sim_cost.target_key(get_target("neupims"))
    monkeypatch.setattr(sim_cost, "SIM_SOURCE", ("caches.py",))
    assert sim_cost.target_key(get_target("neupims")) != key
