"""The lit + FileCheck golden suite under tests/filecheck, run as pytest tests."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from pimc.ir.dialects import DIALECTS

SUITE = Path(__file__).parent / "filecheck"


def _lit_command() -> list[str]:
    # lit 23 has no __main__ (`python -m lit` fails); its console script sits beside python.
    script = Path(sys.executable).with_name("lit")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from lit.main import main; sys.exit(main())"]


def test_filecheck_suite():
    jobs = max(2, min(os.cpu_count() or 2, 8))
    result = subprocess.run([*_lit_command(), "-sv", f"-j{jobs}", str(SUITE)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"lit failed:\n{result.stdout}\n{result.stderr}"


def test_every_llm_op_has_a_round_trip_file():
    written = set()
    for path in (SUITE / "ops").glob("*.mlir"):
        written |= set(re.findall(r'"(llm\.[a-z_0-9]+)"\(', path.read_text()))
    missing = sorted(set(DIALECTS.get("llm")) - written)
    assert not missing, f"ops without a round-trip test in tests/filecheck/ops: {missing}"


def test_pimc_opt_round_trips_every_golden_file_to_a_fixed_point(tmp_path, capsys):
    """`pimc opt` output read back by `pimc opt` prints the same text, for every .mlir here
    (negative files: every chunk that is valid)."""
    from pimc.cli import main
    from pimc.errors import PimcError
    from pimc.ir import parse, print_module, verify
    from pimc.output import split_chunks

    files = sorted(p for p in Path(__file__).parent.joinpath("filecheck").rglob("*.mlir")
                   if "Output" not in p.parts)
    whole, chunks = 0, 0
    for path in files:
        capsys.readouterr()
        if main(["opt", str(path), "--split-input-file"]) == 0:
            first = capsys.readouterr().out
            again = tmp_path / "again.mlir"
            again.write_text(first)
            assert main(["opt", str(again), "--split-input-file"]) == 0, path
            assert capsys.readouterr().out == first, f"{path} is not a fixed point"
            whole += 1
            continue
        for chunk in split_chunks(path.read_text()):
            try:
                module = parse(chunk, str(path))
                verify(module)
            except PimcError:
                continue
            text = print_module(module)
            assert print_module(parse(text)) == text, path
            chunks += 1
    assert whole >= 12, (whole, chunks)  # the negative files hold only invalid chunks
