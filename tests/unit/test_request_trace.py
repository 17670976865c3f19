"""Request traces from CSV (runtime/system/request_trace.py): NeuPIMs' format and pimc's own,
served by the continuous-batching loop, and one-line errors with file:line:col."""
from __future__ import annotations

import json

import pytest

from pimc.cli import main
from pimc.errors import PimcError
from pimc.runtime.system.request_trace import load_requests
from pimc.runtime.system.serving import Request, serve
from test_serving import FixedSteps  # prefill 10 s, decode 1 s, whatever the shape


def write(tmp_path, text, name="trace.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_pimc_format_with_arrivals(tmp_path):
    path = write(tmp_path, "arrival_s,prompt_len,output_len\n0.5,12,3\n0,7,1\n\n")
    assert load_requests(path) == [Request(0, 0.5, 12, 3), Request(1, 0.0, 7, 1)]


def test_neupims_trace_format_takes_the_output_length_from_the_caller(tmp_path):
    # the first rows of casys-kaist/NeuPIMs request-traces/clb/share-gpt2-bs512-ms7B-tp4-clb-0.csv
    path = write(tmp_path, "seq_len,ch_idx\n2048,26\n2048,12\n1004,6\n")
    reqs = load_requests(path, default_output_len=3)
    assert [(r.prompt_len, r.output_len, r.arrival_s) for r in reqs] == \
        [(2048, 3, 0.0), (2048, 3, 0.0), (1004, 3, 0.0)]


def test_a_trace_is_served_whole(tmp_path):
    """Two requests at 0 and one at 20 s: the first two prefill [0,10] and decode [10,11]
    (output 2); the third is admitted at 20, prefills [20,30] and, with output 1, is done."""
    path = write(tmp_path, "arrival_s,prompt_len,output_len\n0,4,2\n0,4,2\n20,4,1\n")
    result = serve(load_requests(path), FixedSteps(), kv_capacity_tokens=100, max_batch=8)
    assert result.finish_s == {0: 11.0, 1: 11.0, 2: 30.0}
    assert result.tokens == {0: 2, 1: 2, 2: 1}


@pytest.mark.parametrize("text, default, message", [
    ("", None, r"trace.csv:1:1: empty request trace; expected a header line with prompt_len"),
    ("prompt_len\n5\n", None, r"trace.csv:1:1: request trace has no 'output_len' column "
                              r"\(header: prompt_len\); expected .* or --gen-len"),
    ("output_len,x\n5,1\n", None, r"trace.csv:1:1: request trace has no 'prompt_len' column"),
    ("prompt_len,seq_len,output_len\n1,2,3\n", None,
     r"trace.csv:1:12: column 'prompt_len' given twice \(prompt_len and seq_len\)"),
    ("prompt_len,output_len\n5,x\n", None, r"trace.csv:2:3: 'x' is not an integer >= 1"),
    ("prompt_len,output_len\n5,1\n0,1\n", None, r"trace.csv:3:1: '0' is not an integer >= 1"),
    ("arrival_s,prompt_len\n-1,4\n", 2, r"trace.csv:2:1: '-1' is not a number >= 0"),
    ("arrival_s,prompt_len\nnan,4\n", 2, r"trace.csv:2:1: 'nan' is not a number >= 0"),
    ("prompt_len,output_len\n5\n", None, r"trace.csv:2:1: 1 fields where the header has 2"),
    ("prompt_len,output_len\n", None, r"trace.csv:2:1: request trace has a header but no "),
])
def test_bad_traces_name_file_line_and_column(tmp_path, text, default, message):
    with pytest.raises(PimcError, match=message):
        load_requests(write(tmp_path, text), default)


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(PimcError, match=r"--requests-file: cannot read '.*nope.csv': No such"):
        load_requests(tmp_path / "nope.csv")


def test_cli_serves_a_trace(tmp_path, capsys):
    path = write(tmp_path, "arrival_s,prompt_len,output_len\n0,16,4\n0,12,2\n0.001,8,3\n")
    assert main(["simulate", "llama-tiny", "-t", "neupims", "--requests-file", str(path),
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["requests"] == 3 and out["tokens"] == 4 + 2 + 3


@pytest.mark.parametrize("args, message", [
    (["--batch", "2"], "--requests-file: give either a trace or --batch / --requests, not both"),
    ([], "trace.csv:2:4: 'x' is not an integer >= 1"),
])
def test_cli_trace_errors_are_one_line(tmp_path, capsys, args, message):
    path = write(tmp_path, "prompt_len,output_len\n16,x\n")
    assert main(["simulate", "llama-tiny", "--requests-file", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_program_simulate_takes_a_trace(tmp_path):
    import pimc
    path = write(tmp_path, "seq_len,ch_idx\n16,3\n12,0\n")
    out = pimc.compile("llama-tiny", target="neupims").simulate(requests_file=path, gen_len=2)
    assert out["requests"] == 2 and out["tokens"] == 4
