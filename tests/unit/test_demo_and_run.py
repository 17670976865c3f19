"""The README's main job and `pimc run`, as a user runs them (real processes)."""
import subprocess
import sys

from pimc.cli import main


def _pimc(*args):
    return subprocess.run([sys.executable, "-m", "pimc.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_demo_exits_0_and_checks_against_pytorch():
    proc = _pimc("demo")
    assert proc.returncode == 0, proc.stderr
    assert "16 greedy tokens equal HF generate" in proc.stdout
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr


def test_run_prints_tokens_and_speed(capsys):
    assert main(["run", "gpt2-tiny", "--prompt-ids", "1,2,3", "--max-new-tokens", "5"]) == 0
    out = capsys.readouterr()
    tokens = out.out.split()
    assert len(tokens) == 5 and all(t.isdigit() for t in tokens)
    assert "tokens/s" in out.err


def test_run_rejects_bad_prompt_ids(capsys):
    assert main(["run", "gpt2-tiny", "--prompt-ids", "1,x"]) == 2
    assert "pimc: error: --prompt-ids: expected comma-separated integers, got '1,x'" in capsys.readouterr().err
    assert main(["run", "gpt2-tiny", "--prompt-ids", "1,9999"]) == 2
    assert "token ids must be in 0..255" in capsys.readouterr().err


def test_compile_dumps_the_generated_driver(tmp_path, capsys):
    out = tmp_path / "driver.py"
    assert main(["compile", "gpt2-tiny", "-b", "numba-cpu", "--dump-stage", "codegen",
                 "-o", str(out)]) == 0
    source = out.read_text()
    compile(source, str(out), "exec")  # it is Python
    assert "def prefill(W, A, input_ids_0, position_ids_1, attention_mask_2, **dims):" in source
    assert "def decode(" in source and "K.attention(" in source


def test_dump_stage_errors(tmp_path, capsys):
    assert main(["compile", "gpt2-tiny", "-b", "numba-cpu", "--dump-stage", "asm"]) == 2
    assert "backend 'numba-cpu' has no stage 'asm'; valid: codegen, load" in capsys.readouterr().err
    out = tmp_path / "x"
    assert main(["compile", "gpt2-tiny", "-b", "numba-cpu", "--dump-stage", "load", "-o", str(out)]) == 2
    assert "stage 'load' produces Executable output, not text" in capsys.readouterr().err
    assert not out.exists()
