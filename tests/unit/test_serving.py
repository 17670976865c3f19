"""runtime/system serving loop: hand-computed timelines with fixed step times, and the serving
invariants (nothing lost or duplicated, everything finishes, KV capacity held) on llama-tiny."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pimc.api import capture
from pimc.cli import main
from pimc.errors import PimcError
from pimc.passes import PassManager
from pimc.passes.pipelines import build
from pimc.runtime.system.schedule import Schedule
from pimc.runtime.system.serving import (WORKLOADS, Request, StepModel, fixed_requests,
                                         poisson_requests, serve)
from pimc.runtime.system.simulate import SimOptions, kv_bytes_per_token, simulate_requests
from pimc.targets import get_target


class FixedSteps(StepModel):
    """Prefill 10 s and decode 1 s whatever the shape: the loop's bookkeeping by hand."""

    def __init__(self):
        self.memo = {}

    def step(self, phase, batch, context):
        return [], Schedule([], 10.0 if phase == "prefill" else 1.0)


def test_static_batch_timeline_by_hand():
    # prefill [0,10] gives token 1; decodes end at 11, 12 give tokens 2, 3
    r = serve(fixed_requests(2, 5, 3), FixedSteps(), kv_capacity_tokens=100, max_batch=8)
    assert r.first_token_s == {0: 10.0, 1: 10.0} and r.finish_s == {0: 12.0, 1: 12.0}
    assert r.token_gaps_s == [1.0] * 4 and r.tokens == {0: 3, 1: 3}


def test_kv_capacity_queues_requests_until_memory_frees():
    # each request reserves 5 + 3 = 8 tokens; capacity 10 runs them one at a time
    r = serve(fixed_requests(2, 5, 3), FixedSteps(), kv_capacity_tokens=10, max_batch=8)
    assert r.finish_s == {0: 12.0, 1: 24.0} and r.max_kv_tokens == 8
    assert r.first_token_s[1] == 22.0
    with pytest.raises(PimcError, match="request 0: 8 tokens exceed the KV cache's 7 tokens"):
        serve(fixed_requests(1, 5, 3), FixedSteps(), kv_capacity_tokens=7, max_batch=8)


def test_late_arrivals_join_the_running_batch():
    reqs = [Request(0, 0.0, 4, 4), Request(1, 10.5, 4, 2)]
    r = serve(reqs, FixedSteps(), 100, 8)
    # 0: prefill [0,10], decode 11; 1 arrives at 10.5 and is admitted at 11: prefill [11,21],
    # then both decode [21,22]: request 1 is done (2 tokens), 0 decodes again at 23
    assert r.first_token_s[1] == 21.0 and r.finish_s == {1: 22.0, 0: 23.0}


def test_poisson_lengths_follow_the_cited_means():
    reqs = poisson_requests(4000, rate=5.0, workload="sharegpt", seed=1)
    prompts = np.array([r.prompt_len for r in reqs])
    outputs = np.array([r.output_len for r in reqs])
    gaps = np.diff([r.arrival_s for r in reqs])
    assert prompts.mean() == pytest.approx(WORKLOADS["sharegpt"].prompt_mean, rel=0.05)
    assert outputs.mean() == pytest.approx(WORKLOADS["sharegpt"].output_mean, rel=0.05)
    assert gaps.mean() == pytest.approx(1 / 5.0, rel=0.05)
    with pytest.raises(PimcError, match="--workload: unknown 'wiki'; valid: sharegpt, alpaca"):
        poisson_requests(3, 1.0, "wiki")


@pytest.fixture(scope="module")
def llama():
    module, _ = capture("llama-tiny")
    PassManager(build("default")).run(module)
    return module


def test_serving_invariants_on_llama_tiny(llama):
    reqs = poisson_requests(40, rate=2e5, workload="alpaca", seed=3)
    need = max(r.prompt_len + r.output_len for r in reqs)
    capacity = 3 * need  # tight: requests must queue for memory
    out = simulate_requests(llama, get_target("neupims"), reqs,
                            SimOptions(kv_capacity_tokens=capacity))
    assert out["requests"] == 40 and out["tokens"] == sum(r.output_len for r in reqs)
    assert out["max_kv_tokens"] <= capacity and out["kv_capacity_tokens"] == capacity
    assert out["ttft_p99_s"] >= out["ttft_p50_s"] > 0 and out["energy_j"] > 0


def test_kv_bytes_per_token_from_the_decode_signature(llama):
    # llama-tiny: 2 layers x (K + V) x 4 KV heads x head_dim 16 x 4 bytes (fp32)
    from pimc.frontend.zoo import get
    cfg = get("llama-tiny").config
    expected = cfg["num_hidden_layers"] * 2 * cfg["num_key_value_heads"] * \
        (cfg["hidden_size"] // cfg["num_attention_heads"]) * 4
    assert kv_bytes_per_token(llama) == expected
    assert kv_bytes_per_token(llama, bits=16) == expected / 2  # counted at the target's fp16


def test_cli_simulate_json_and_trace(tmp_path, capsys):
    path = tmp_path / "trace.json"
    assert main(["simulate", "llama-tiny", "-t", "neupims", "--batch", "4", "--prompt-len", "16",
                 "--gen-len", "4", "--trace", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] == 16 and out["iterations"] == 3
    assert {e["ph"] for e in json.loads(path.read_text())["traceEvents"]} == {"M", "X"}


@pytest.mark.parametrize("args, message", [
    (["--batch", "2", "--requests", "3"], "--batch/--requests: give a static batch or"),
    (["--requests", "0"], "--requests/--rate: need positive values"),
    (["--sub-batches", "0"], "--sub-batches: must be >= 1"),
    (["--format", "xml"], "--format: unknown format 'xml'"),
    (["-t", "nope"], "unknown target"),
])
def test_cli_simulate_bad_input(args, message, capsys):
    assert main(["simulate", "llama-tiny", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_program_simulate_matches_the_cli_and_keeps_the_ir(capsys):
    import pimc
    from pimc.ir import print_module
    prog = pimc.compile("llama-tiny", target="neupims")
    before = print_module(prog.ir)
    ours = prog.simulate(batch=4, prompt_len=16, gen_len=4)
    assert print_module(prog.ir) == before
    assert main(["simulate", "llama-tiny", "-t", "neupims", "--batch", "4", "--prompt-len", "16",
                 "--gen-len", "4", "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert ours["tokens_per_s"] == pytest.approx(cli["tokens_per_s"], rel=1e-12)
    with pytest.raises(PimcError, match="compiled without a target"):
        pimc.compile("llama-tiny", target=None).simulate(batch=1)
