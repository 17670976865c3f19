"""The `pimc` command line, run in-process through `pimc.cli.main(argv)` (plus one real
subprocess for the console script). User errors: exit 2, exactly one `pimc: error:` line (plus a
caret block for text), no traceback, and nothing written to `-o`."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys

import pytest

import pimc
from pimc.cli import main
from pimc.errors import ParseError
from pimc.passes import PASSES

GOOD = """\
builtin.module {
  func.func @f(%x: tensor<Bx4xf16>, %w: tensor<4x8xf16>) -> tensor<Bx8xf16> {
    %t = "llm.transpose"(%x) {perm = [0, 1]} : (tensor<Bx4xf16>) -> tensor<Bx4xf16> loc("a.py":1:2)
    %h = "llm.matmul"(%t, %w) : (tensor<Bx4xf16>, tensor<4x8xf16>) -> tensor<Bx8xf16>
    %dead = "llm.neg"(%h) : (tensor<Bx8xf16>) -> tensor<Bx8xf16>
    func.return %h : tensor<Bx8xf16>
  }
}
"""
# GOOD after canonicalize: the identity transpose is gone and the matmul reads %x.
CANONICAL = GOOD.replace(
    '    %t = "llm.transpose"(%x) {perm = [0, 1]} : (tensor<Bx4xf16>) -> tensor<Bx4xf16> loc("a.py":1:2)\n',
    "").replace('"llm.matmul"(%t, %w)', '"llm.matmul"(%x, %w)')
BAD_LINE = '    %h = "llm.matmul"(%t, %q) : (tensor<Bx4xf16>, tensor<4x8xf16>) -> tensor<Bx8xf16>'
BAD = GOOD.replace('    %h = "llm.matmul"(%t, %w)', '    %h = "llm.matmul"(%t, %q)')
PREVIOUS = "previous content\n"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, out, err, *fragments, caret=False):
    assert code == 2
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.rstrip("\n").split("\n")
    assert sum(line.startswith("pimc: error:") for line in lines) == 1
    assert lines[0].startswith("pimc: error: ")
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    if caret:
        assert len(lines) == 3 and lines[2].strip() == "^"
    else:
        assert len(lines) == 1, err
    return lines


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.mlir"
    path.write_text(GOOD)
    return path


@pytest.fixture
def out_file(tmp_path):
    path = tmp_path / "out.mlir"
    path.write_text(PREVIOUS)
    return path


def assert_untouched(out_file):
    assert out_file.read_text() == PREVIOUS
    assert [p.name for p in out_file.parent.iterdir() if p.name.startswith(".")] == []


# ---- basics -------------------------------------------------------------------------------------

def test_version(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0 and out == f"pimc {pimc.__version__}\n" and err == ""
    assert re.fullmatch(r"\d+\.\d+\.\d+", pimc.__version__)


def test_console_script_runs(tmp_path):
    """The installed `pimc` executable (the pyproject console script) works end to end."""
    exe = shutil.which("pimc") or pytest.skip("pimc console script not on PATH")
    bad = tmp_path / "bad.mlir"
    bad.write_text(BAD)
    ok = subprocess.run([exe, "opt", "-"], input=GOOD, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout == GOOD, ok.stderr
    fail = subprocess.run([exe, "opt", str(bad)], capture_output=True, text=True, timeout=60)
    assert fail.returncode == 2 and fail.stdout == ""
    assert fail.stderr.startswith(f"pimc: error: {bad}:4:") and "Traceback" not in fail.stderr


def test_passes_text(capsys):
    code, out, err = run(capsys, "passes")
    assert code == 0 and err == ""
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(names) and {"canonicalize", "cse", "dce"} <= set(names)
    line = next(line for line in out.splitlines() if line.startswith("dce "))
    assert "nobody uses" in line


def test_passes_json(capsys):
    code, out, err = run(capsys, "passes", "--format", "json")
    assert code == 0 and err == ""
    rows = {row["name"]: row for row in json.loads(out)}
    assert {"canonicalize", "cse", "dce"} <= set(rows)
    assert rows["canonicalize"]["options"] == {"max-iterations": "int"}
    assert rows["cse"]["options"] == {}
    assert all(row["summary"] for row in rows.values())


def test_passes_bad_format(capsys):
    assert_user_error(*run(capsys, "passes", "--format", "yaml"), "--format", "json")


def test_no_arguments_prints_help(capsys):
    code, out, err = run(capsys)
    assert code in (0, 2) and "opt" in out + err and "Traceback" not in out + err


# ---- opt ----------------------------------------------------------------------------------------

def test_opt_file_round_trips(capsys, good):
    code, out, err = run(capsys, "opt", str(good))
    assert (code, out, err) == (0, GOOD, "")


def test_opt_runs_a_pipeline(capsys, good):
    code, out, err = run(capsys, "opt", str(good), "-p", "canonicalize")
    assert (code, err) == (0, "") and out == CANONICAL
    code, out, _ = run(capsys, "opt", str(good), "-p", " canonicalize , dce ")
    assert code == 0 and "%dead" not in out and "llm.transpose" not in out


def test_opt_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(GOOD))
    code, out, err = run(capsys, "opt", "-")
    assert (code, out, err) == (0, GOOD, "")


def test_opt_stdin_error_names_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(BAD))
    lines = assert_user_error(*run(capsys, "opt", "-"), "<stdin>:4:", caret=True)
    assert "%q" in lines[0]


def test_opt_stdin_not_utf8(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe{"), encoding="utf-8"))
    assert_user_error(*run(capsys, "opt", "-"), "<stdin>", "UTF-8")


def test_opt_output_file(capsys, good, out_file):
    code, out, err = run(capsys, "opt", str(good), "-o", str(out_file), "-p", "canonicalize")
    assert (code, out, err) == (0, "", "")
    assert out_file.read_text() == CANONICAL


def test_opt_no_locations(capsys, good):
    code, out, _ = run(capsys, "opt", str(good), "--no-locations")
    assert code == 0 and "loc(" not in out
    assert out == GOOD.replace(' loc("a.py":1:2)', "")


# ---- errors: nothing written, one line, exit 2 --------------------------------------------------

def test_malformed_file_gives_position_and_caret(capsys, tmp_path, out_file):
    bad = tmp_path / "bad.mlir"
    bad.write_text(BAD)
    col = BAD_LINE.index("%q") + 1
    lines = assert_user_error(*run(capsys, "opt", str(bad), "-o", str(out_file)),
                              f"{bad}:4:{col}:", "%q", caret=True)
    assert lines[1] == BAD_LINE
    assert lines[2] == " " * (col - 1) + "^"
    assert_untouched(out_file)


def test_verify_error_writes_nothing(capsys, tmp_path, out_file):
    bad = tmp_path / "bad.mlir"
    bad.write_text(GOOD.replace("perm = [0, 1]", "perm = [0, 0]"))
    code, out, err = run(capsys, "opt", str(bad), "-o", str(out_file))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"pimc: error: {bad}:3:5") and "'llm.transpose' op" in err
    assert sum(line.startswith("pimc: error:") for line in err.splitlines()) == 1
    assert_untouched(out_file)


@pytest.mark.parametrize("pipeline, fragments", [
    ("canonicalise", ["unknown pass 'canonicalise'", "did you mean 'canonicalize'",
                      "valid: " + ", ".join(sorted(PASSES))]),
    ("canonicalize{max-iterations=abc}", ["max-iterations", "int", "'abc'"]),
    ("canonicalize{max-iteration=3}", ["unknown option 'max-iteration'",
                                       "did you mean 'max-iterations'", "valid: max-iterations"]),
    ("canonicalize{max-iterations=0}", ["max-iterations", ">= 1"]),
])
def test_pipeline_errors(capsys, good, out_file, pipeline, fragments):
    code, out, err = run(capsys, "opt", str(good), "-p", pipeline, "-o", str(out_file))
    assert out == ""
    assert "Traceback" not in err and code == 2
    assert sum(line.startswith("pimc: error:") for line in err.splitlines()) == 1
    for f in fragments:
        assert f in err.splitlines()[0], (f, err)
    assert_untouched(out_file)


def test_pipeline_syntax_error_has_caret(capsys, good):
    lines = assert_user_error(*run(capsys, "opt", str(good), "-p", "cse,{"), "<pipeline>:1:5:",
                              caret=True)
    assert lines[1] == "cse,{" and lines[2] == "    ^"


def test_bad_flag_is_one_line(capsys, good, out_file):
    assert_user_error(*run(capsys, "opt", str(good), "--bogus", "-o", str(out_file)), "--bogus")
    assert_untouched(out_file)


def test_bad_subcommand_is_one_line(capsys):
    assert_user_error(*run(capsys, "optt"), "optt")


def test_missing_argument_is_one_line(capsys):
    assert_user_error(*run(capsys, "opt"))


def test_missing_file(capsys, tmp_path, out_file):
    missing = tmp_path / "nope.mlir"
    assert_user_error(*run(capsys, "opt", str(missing), "-o", str(out_file)), str(missing),
                      "No such file")
    assert_untouched(out_file)


def test_directory_as_input(capsys, tmp_path):
    assert_user_error(*run(capsys, "opt", str(tmp_path)), str(tmp_path))


def test_non_utf8_file(capsys, tmp_path, out_file):
    bad = tmp_path / "latin1.mlir"
    bad.write_bytes("// caf\u00e9\n".encode("latin-1") + GOOD.encode())
    assert_user_error(*run(capsys, "opt", str(bad), "-o", str(out_file)), str(bad), "UTF-8")
    assert_untouched(out_file)


def test_unwritable_output_is_a_user_error(capsys, good, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "out.mlir"
    assert_user_error(*run(capsys, "opt", str(good), "-o", str(target)), str(target))
    assert not target.parent.exists()
    assert_user_error(*run(capsys, "opt", str(good), "-o", str(tmp_path)), str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.mlir"]  # no temp file left


def test_unknown_print_ir_pass(capsys, good):
    assert_user_error(*run(capsys, "opt", str(good), "-p", "cse", "--print-ir-after", "cs"),
                      "unknown pass 'cs'", "did you mean 'cse'")


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text(BAD)
    with pytest.raises(ParseError, match="%q"):
        main(["--debug", "opt", str(bad)])
    with pytest.raises(ParseError):
        main(["opt", str(bad), "--debug"])


# ---- instruments --------------------------------------------------------------------------------

def test_print_ir_before_and_after(capsys, good):
    code, out, err = run(capsys, "opt", str(good), "-p", "canonicalize,dce",
                         "--print-ir-before", "canonicalize", "--print-ir-after", "dce")
    assert code == 0
    before = "// -----// IR Dump Before canonicalize //----- //\n"
    after = "// -----// IR Dump After dce //----- //\n"
    assert err.count("IR Dump") == 2
    assert err.startswith(before + GOOD)
    dumped_after = err[err.index(after) + len(after):]
    assert "llm.transpose" not in dumped_after and "%dead" not in dumped_after
    assert dumped_after.strip() == out.strip()


def test_print_ir_after_all(capsys, good):
    code, out, err = run(capsys, "opt", str(good), "-p", "canonicalize,cse,dce",
                         "--print-ir-after-all")
    assert code == 0
    headers = re.findall(r"// -----// IR Dump (\w+) ([\w-]+) //----- //", err)
    assert headers == [("After", "canonicalize"), ("After", "cse"), ("After", "dce")]
    first = err.split("// -----// IR Dump After cse")[0]
    assert CANONICAL in first  # the dump after canonicalize is the canonicalized module


def test_time_passes(capsys, good):
    code, out, err = run(capsys, "opt", str(good), "-p", "canonicalize,cse", "--time-passes")
    assert code == 0 and out
    assert "Pass execution timing report" in err
    rows = re.findall(r"^\s+([0-9.]+)\s+([0-9.]+)%\s+(\S+)$", err, re.M)
    assert [name for *_, name in rows] == ["canonicalize", "cse", "Total"]
    seconds = [float(s) for s, _, _ in rows]
    assert abs(seconds[0] + seconds[1] - seconds[2]) < 1e-5
    assert float(rows[-1][1]) == 100.0


# ---- split input ---------------------------------------------------------------------------------

def test_split_input_file(capsys, tmp_path):
    second = GOOD.replace("@f", "@g")
    path = tmp_path / "multi.mlir"
    path.write_text(GOOD + "// -----\n" + second + "// -----\n" + "builtin.module {\n}\n")
    code, out, err = run(capsys, "opt", str(path), "--split-input-file")
    assert (code, err) == (0, "")
    assert out.split("// -----\n") == [GOOD, second, "builtin.module {\n}\n"]


def test_split_input_file_reports_every_bad_chunk_at_its_real_line(capsys, tmp_path, out_file):
    chunks = [GOOD, BAD, GOOD, "builtin.module {\n  oops\n}\n"]
    path = tmp_path / "multi.mlir"
    path.write_text("// -----\n".join(chunks))
    code, out, err = run(capsys, "opt", str(path), "--split-input-file", "-o", str(out_file))
    assert code == 2 and out == "" and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("pimc: error:")]
    bad_line = GOOD.count("\n") + 1 + 4  # the chunk starts after GOOD and one marker line
    oops_line = 3 * (GOOD.count("\n") + 1) + 2
    assert len(errors) == 2
    assert errors[0].startswith(f"pimc: error: {path}:{bad_line}:")
    assert errors[1].startswith(f"pimc: error: {path}:{oops_line}:3:")
    assert_untouched(out_file)


def test_without_split_the_marker_is_just_a_comment(capsys, tmp_path):
    path = tmp_path / "one.mlir"
    path.write_text("// -----\n" + GOOD)
    code, out, _ = run(capsys, "opt", str(path))
    assert (code, out) == (0, GOOD)
